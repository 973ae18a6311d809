"""What happened to each report: the status of a report as an enum, and the outcome record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """A report's state after a run (a ``str``: the manifest's JSON and the index hold the plain word)."""

    RENDERED = "rendered"
    FAILED = "failed"
    NO_DATA = "no_data"


def now() -> str:
    """This moment, in UTC, to the second (the manifest's and outcomes' timestamps)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Outcome:
    """What happened to one report."""

    team: str
    area: str
    status: Status
    team_name: str = ""
    reason: str = ""
    headline: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    summary: list[str] = field(default_factory=list)
    data_notes: list[str] = field(default_factory=list)
    digests: dict[str, Any] | None = None  # communication's per-audience digests, for ``playbook deliver``
    seconds: float = 0.0
    html: str | None = None
    ipynb: str | None = None
    period: dict[str, str] | None = None
    fingerprint: str | None = None
    rendered_at: str | None = None
    last_good_at: str | None = None
    attempts: int = 0
    input_key: str | None = None
    reused: bool = False
    as_of: str | None = None

    @property
    def key(self) -> str:
        return f"{self.team}/{self.area}"


def exit_status(outcomes: list[Outcome], nothing_ran: bool) -> int:
    """0 when nothing failed; 2 when every report failed before running (bad params or data); else 1."""
    failed = [o for o in outcomes if o.status == Status.FAILED]
    if not failed:
        return 0
    if nothing_ran and len(failed) == len(outcomes):
        return 2
    return 1
