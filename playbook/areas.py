"""The focus areas the playbook renders, each with its notebook and the tables it reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playbook.errors import UsageError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# Every area named in DESIGN.md section 2, in the order the index lists them.
ALL_AREAS = ("tools", "escalations", "feedback", "communication", "experiments", "enablement")


@dataclass(frozen=True)
class Area:
    """One focus area.

    Attributes:
        name: the area's name in file names, the CLI and params.
        title: how reports and the index name it.
        required: tables without which the area has no data for a team.
        optional: tables whose sections are left out, with a note, when absent.
    """

    name: str
    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS / f"{self.name}.ipynb"

    @property
    def tables(self) -> tuple[str, ...]:
        return self.required + self.optional


AREAS: dict[str, Area] = {
    a.name: a
    for a in (
        Area("tools", "Tools", required=("tools", "tool_seats")),
        Area(
            "escalations",
            "Escalations & health",
            required=("escalations",),
            optional=("accounts", "bugs", "features", "events", "nps_responses"),
        ),
        Area("experiments", "Experiments", required=("experiments", "exposures"), optional=("events",)),
        Area(
            "communication",
            "Communication",
            required=("stakeholder_requests",),
            optional=("releases", "release_comms", "roadmap", "escalations", "bugs", "features"),
        ),
        Area(
            "enablement",
            "Enablement",
            required=("releases",),
            optional=("trainings", "features", "escalations", "events"),
        ),
        Area("feedback", "Feedback & NPS", required=("nps_responses",), optional=("accounts", "feedback", "roadmap", "releases", "features")),
    )
}


def get_area(name: str) -> Area:
    """The area called ``name``; a UsageError lists the areas that exist."""
    if name in AREAS:
        return AREAS[name]
    planned = " (planned, not built yet)" if name in ALL_AREAS else ""
    raise UsageError(f"unknown area '{name}'{planned}; available areas: {', '.join(AREAS)}")
