"""What one report needs to run: the team's parameters, the resolved period and the workspace.

Notebooks get a :class:`ReportContext` from :func:`open_report` in their first step; the same
call serves an ops lead in JupyterLab (defaults from the notebook's parameters cell) and the
scheduled runner (parameters injected by papermill).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, is_dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from typing import Any

import pandas as pd

from playbook.areas import Area, get_area
from playbook.config import Params, load_areas, load_params, project_root, resolve_workspace, workspace_path
from playbook.period import Period, resolve_period
from playbook.errors import ParamsError, SchemaError
from playbook.health import Events
from playbook.history import History, history_path
from playbook.schemas import EARLIEST, LATEST
from playbook.workspace import Workspace


@dataclass
class ReportContext:
    """One team's report on one area: parameters, period, and the workspace to read from."""

    area: Area
    params: Params
    as_of: date
    period: Period
    workspace: Workspace
    history: History | None = None
    # Narrows every table with accounts to the accounts with these values (segment, plan), for explorers.
    accounts: dict[str, str] | None = None

    @property
    def previous(self) -> Period:
        return self.period.previous()

    def has(self, table: str) -> bool:
        return self.workspace.has(table)

    def read(self, table: str, window: str | Period | None = None, whole_organisation: bool = False) -> pd.DataFrame:
        """Rows of ``table`` for the team, filtered in SQL: by the team's products where the table
        has a product column, else by its ``team`` column (every team for the team ``all``).

        Args:
            table: a canonical table.
            window: ``"current"`` (the period), ``"previous"`` (the period before), a
                :class:`Period`, or None for all time. Tables without a time column ignore it.
            whole_organisation: read every team's rows (to compare a team with the others).

        An optional table of the area that the workspace lacks reads as an empty frame with the
        contract's columns, so its sections can say "no data" instead of failing.
        """
        if table in self.area.optional and not self.workspace.has(table):
            return self.workspace.empty(table).df()
        span = {"current": self.period, "previous": self.previous}.get(window, window)  # type: ignore[arg-type]
        start, end = (span.start, span.end) if isinstance(span, Period) else (None, None)
        products = None if whole_organisation or table == "accounts" else self.params.products
        teams = None if whole_organisation or self.params.team == "all" else [self.params.team]
        return self.workspace.read(table, products=products, teams=teams, start=start, end=end, accounts=self.accounts)

    def events(self, whole_organisation: bool = False) -> Events:
        """The team's usage events (every team's with ``whole_organisation``) where DuckDB
        aggregates them (see :class:`playbook.health.Events`).

        An absent optional events table reads as no events, with the contract's columns.
        """
        if "events" in self.area.optional and not self.workspace.has("events"):
            return Events(self.workspace.con, self.workspace.empty("events"))
        products = None if whole_organisation else self.params.products
        return Events(self.workspace.con, self.workspace.relation("events", products=products, accounts=self.accounts))

    def data_notes(self) -> list[str]:
        """Rows set aside in the tables read so far, one line per reason."""
        return [line for report in self.workspace.reports.values() for line in report.describe()]

    def fingerprint(self) -> str:
        """Hash of the tables this area reads (the same figure the index and manifest show)."""
        return self.workspace.fingerprint([t for t in self.area.tables if self.workspace.has(t)])


def build(ctx: ReportContext) -> Any:
    """Read the area's tables for ``ctx`` and compute it (the registry entry's ``report``), then
    follow up its actions: the alert rules in params add theirs, and each action gets the date it
    was first seen from the history (when one is read), so every place reads the same ages.

    This is the one build of a report: the notebook's, and the backfill's without a kernel.
    """
    from playbook.alerts import apply_alerts

    report = ctx.area.report(ctx)
    result = apply_alerts(report.result, ctx.params.alerts, ctx.area.name)
    if ctx.history is not None:
        result = replace(result, actions=ctx.history.age(ctx.params.team, ctx.area.name, ctx.as_of, result.actions))
    if is_dataclass(report):
        return replace(report, result=result)
    # An area of the user's may return any object with a ``result``: a copy gets the new one.
    followed = copy.copy(report)
    followed.result = result
    return followed


def read_history(history: str | Path, params_dir: str | Path) -> History | None:
    """The history a report reads: ``history``'s file; "" for ``reports/history.duckdb`` in the
    project when there is one (an ops lead's notebook); "-" for none."""
    if history == "-":
        return None
    path = Path(history) if history else history_path(project_root(params_dir) / "reports")
    if not history and not path.exists():
        return None
    return History.read(path)


def parse_as_of(as_of: str | date | None) -> date:
    """The as-of date: an ISO date string, a date, or empty for today."""
    if isinstance(as_of, date):
        day = as_of
    elif not as_of:
        return date.today()
    else:
        try:
            day = date.fromisoformat(str(as_of))
        except ValueError:
            raise ParamsError(f"as_of: expected an ISO date such as 2026-11-27; found {as_of!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise ParamsError(f"as_of: {day.isoformat()} is outside the dates the playbook reads ({EARLIEST} to {LATEST}); "
                          "expected a date such as 2026-11-27")
    return day


def open_report(
    area: str,
    team: str,
    params_dir: str | Path = "../params",
    workspace: str | Path = "",
    as_of: str | date = "",
    period: str | None = None,
    products: list[str] | None = None,
    history: str | Path = "",
    accounts: dict[str, str] | None = None,
) -> ReportContext:
    """Load the team's parameters, resolve the period and open the workspace, checking required tables.

    Args:
        area: the focus area.
        team: the team whose ``params/teams/<team>.yaml`` applies.
        params_dir: the params folder (relative paths from the notebook's folder work).
        workspace: overrides the workspace in params when not empty.
        as_of: the day relative periods end on; empty means today.
        period: overrides the period in params (a relative period name), for explorers.
        products: narrows the team's products, for explorers.
        accounts: narrows every table with accounts to the accounts with these values
            (``segment``, ``plan``), for explorers.
        history: the history store the actions' ages come from: empty for the project's
            ``reports/history.duckdb`` when it exists, "-" for none (see :func:`read_history`).

    Raises:
        SchemaError: a table the area requires is absent ("no data").
    """
    load_areas(params_dir)
    spec = get_area(area)
    params = load_params(params_dir, team)
    overrides = {k: v for k, v in (("period", period), ("products", products)) if v}
    if overrides:
        params = params.model_copy(update=overrides)
    day = parse_as_of(as_of)
    path = resolve_workspace(workspace, Path.cwd()) if workspace else workspace_path(params, params_dir)
    ws = Workspace(path, warehouse=params.warehouse)
    missing = [t for t in spec.required if not ws.has(t)]
    if missing:
        ws.close()
        raise SchemaError(f"no data for {spec.title}: workspace {path} has no {', '.join(missing)} table")
    try:
        past = read_history(history, params_dir)
    except Exception:
        ws.close()
        raise
    return ReportContext(spec, params, day, resolve_period(params.period, day), ws, past, accounts or None)


def trend_window(period: Period, unit: str, buckets: int) -> Period:
    """The span a trend of ``buckets`` weeks or months ending with ``period`` covers."""
    days = 7 * buckets if unit == "week" else 31 * buckets
    return Period(period.end - timedelta(days=days), period.end)
