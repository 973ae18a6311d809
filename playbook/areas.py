"""The registry of focus areas: one entry per area, and nothing else in the playbook knows an area's name.

An entry names the area, its title, the tables it reads and the module that computes it. That
module provides ``report(ctx)`` (read the area's frames for a :class:`~playbook.context.ReportContext`
and run its pure build, returning a report whose ``result`` is an
:class:`~playbook.figures.AreaResult`) and, optionally, ``explorer_views()`` for JupyterLab. The
notebook ``notebooks/<name>.ipynb`` (or the entry's own) shows it. Modules load only when an area
is built, so listing areas stays cheap.

More areas register themselves: a module named in ``extra_areas`` (params/defaults.yaml) calls
:func:`register` when imported, in the runner and in every kernel alike (README, "Add an area").
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from playbook.errors import UsageError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# An area's name becomes a file name and a CLI word: the same plain slug a team's is.
AREA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Area:
    """One focus area.

    Attributes:
        name: the area's name in file names, the CLI and params.
        title: how reports and the index name it.
        required: tables without which the area has no data for a team.
        optional: tables whose sections are left out, with a note, when absent.
        module: the module with ``report(ctx)`` (and optionally ``explorer_views()``).
        notebook_path: the notebook that shows it; None for ``notebooks/<name>.ipynb``.
    """

    name: str
    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    module: str = ""
    notebook_path: str | None = None

    @property
    def notebook(self) -> Path:
        return Path(self.notebook_path) if self.notebook_path else NOTEBOOKS / f"{self.name}.ipynb"

    @property
    def tables(self) -> tuple[str, ...]:
        return self.required + self.optional

    def load(self) -> ModuleType:
        return importlib.import_module(self.module or f"playbook.{self.name}")

    def report(self, ctx: Any) -> Any:
        """Read the area's tables for ``ctx`` and compute it (the module's ``report``)."""
        return self.load().report(ctx)

    def views(self) -> dict[str, Any]:
        """The explorer's views by name (empty when the module offers none)."""
        make = getattr(self.load(), "explorer_views", None)
        return make() if make else {}

    def drills(self) -> dict[str, Any]:
        """The rows behind the area's figures, by figure key (the module's ``drilldowns()``;
        see :mod:`playbook.drill`); empty when the module offers none."""
        make = getattr(self.load(), "drilldowns", None)
        return make() if make else {}


AREAS: dict[str, Area] = {}
BUILT_IN: frozenset[str] = frozenset()  # set once the playbook's own areas are registered, below


def register(area: Area) -> Area:
    """Add ``area`` to the registry (the index lists areas in the order they register).

    Registering the same name again from the same module replaces the entry, so re-importing a
    module in a kernel is harmless; a name another module registered is refused, so an area of
    your own never silently replaces a built-in one.

    Raises:
        UsageError: the name is not a plain slug, or another module registered it.
    """
    if not AREA_NAME.match(area.name):
        raise UsageError(f"area name {area.name!r} is not allowed; use lowercase letters, digits, '-' and '_' (it becomes a file name)")
    known = AREAS.get(area.name)
    if area.name in BUILT_IN and area != known:
        raise UsageError(f"area '{area.name}' is one of the playbook's own; give your area another name")
    if known is not None and (known.module or f"playbook.{known.name}") != (area.module or f"playbook.{area.name}"):
        raise UsageError(f"area '{area.name}' is already registered by {known.module or 'playbook.' + known.name}; "
                         "give your area another name")
    AREAS[area.name] = area
    return area


# Every area named in DESIGN.md section 2, in the order the index lists them.
for _area in (
    Area("tools", "Tools", required=("tools", "tool_seats")),
    Area(
        "escalations",
        "Escalations & health",
        required=("escalations",),
        optional=("accounts", "bugs", "features", "events", "nps_responses"),
    ),
    Area("feedback", "Feedback & NPS", required=("nps_responses",), optional=("accounts", "feedback", "roadmap", "releases", "features")),
    Area(
        "communication",
        "Communication",
        required=("stakeholder_requests",),
        optional=("releases", "release_comms", "roadmap", "escalations", "bugs", "features"),
    ),
    Area("experiments", "Experiments", required=("experiments", "exposures"), optional=("events", "experiment_metrics", "accounts")),
    Area(
        "enablement",
        "Enablement",
        required=("releases",),
        optional=("trainings", "features", "escalations", "events"),
    ),
):
    register(_area)
# The playbook's own areas: never replaced by an area of the user's (see register).
BUILT_IN = frozenset(AREAS)


def load_extra_areas(modules: list[str]) -> None:
    """Import the modules params name in ``extra_areas``; each registers its area when imported."""
    for name in modules:
        try:
            importlib.import_module(name)
        except UsageError:
            raise
        except ModuleNotFoundError as err:
            if err.name and err.name != name and not name.startswith(f"{err.name}."):
                raise UsageError(f"extra_areas: the module '{name}' imports '{err.name}', which is not installed ({err})") from err
            raise UsageError(
                f"extra_areas names the module '{name}', which cannot be imported ({err}); "
                "put its folder on PYTHONPATH or install it"
            ) from err
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a module of the user's: say which and why, never exit quietly
            raise UsageError(f"extra_areas: importing the module '{name}' failed: {type(err).__name__}: {err}") from err


def get_area(name: str) -> Area:
    """The area called ``name``; a UsageError lists the areas that exist."""
    if name in AREAS:
        return AREAS[name]
    raise UsageError(f"unknown area '{name}'; available areas: {', '.join(AREAS)}")
