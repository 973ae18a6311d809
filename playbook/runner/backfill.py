"""Backfill: the figures of past weekly as-of dates, into the history, without rendering HTML.

An area's build is pure (frames in, figures and actions out), so a past week needs no kernel:
each team x area is built for each as-of date in turn, oldest first, in worker processes that
open the workspace once. The results are the same objects a run's notebook records (the same
:func:`playbook.context.build`), so a backfilled point and a run's point of the same day agree.
A week already recorded from the same data and params is skipped; a failing team or area is
reported and never stops the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable

from playbook.history import History, Point, history_path, params_hash, week_dates


@dataclass(frozen=True)
class BackfillJob:
    """One team's report on one area, for several as-of dates (oldest first)."""

    team: str
    area: str
    params_dir: str
    workspace: str
    dates: tuple[date, ...]
    history: History = field(repr=False)
    force: bool = False


@dataclass
class BackfillOutcome:
    """What one job computed: per date, the result and its keys; or why it failed."""

    team: str
    area: str
    points: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    error: str = ""


_WORKSPACES: dict[tuple[str, str], Any] = {}


def _workspace(path: str, warehouse: Any = None) -> Any:
    """The worker's open workspace for ``path`` (opened once per process and mapping, validated once)."""
    from playbook.warehouse import is_url
    from playbook.workspace import Workspace

    key = (path, warehouse.model_dump_json() if warehouse is not None and is_url(path) else "")
    if key not in _WORKSPACES:
        _WORKSPACES[key] = Workspace(path, warehouse=warehouse)
    return _WORKSPACES[key]


def backfill_job(job: BackfillJob) -> BackfillOutcome:
    """Build the team's area for each date of ``job``; never raises (a failure is the outcome's)."""
    from playbook.areas import get_area
    from playbook.config import load_areas, load_params
    from playbook.context import ReportContext, build
    from playbook.period import resolve_period

    outcome = BackfillOutcome(job.team, job.area)
    try:
        load_areas(job.params_dir)
        params = load_params(job.params_dir, job.team)
        area = get_area(job.area)
        ws = _workspace(job.workspace, params.warehouse)
        fingerprint = ws.fingerprint([t for t in area.tables if ws.has(t)])
        digest = params_hash(params.model_dump(mode="json"), job.area)
        history = job.history
        for day in job.dates:
            known = history.recorded(job.team, job.area, day)
            # A run's own point is what its report states; a week from the same data and params is done.
            if known and not job.force and (known["source"] == "run" or (known["fingerprint"] == fingerprint
                                                                         and known["params_hash"] == digest)):
                outcome.skipped += 1
                continue
            period = resolve_period(params.period, day)
            ctx = ReportContext(area, params, day, period, ws, history)
            result = build(ctx).result
            point = {"as_of": day, "result": result, "period": (period.start, period.end), "fingerprint": fingerprint,
                     "params_hash": digest}
            # Later weeks age their actions from this one, as a weekly run would have.
            history = history.record(job.team, job.area, day, result, period=point["period"], fingerprint=fingerprint,
                                     params_hash=digest, source="backfill")
            outcome.points.append(point)
    except Exception as err:  # noqa: BLE001 - one team or area failing never stops the others
        outcome.error = f"{type(err).__name__}: {err}"
    return outcome


def plan_backfill(params_dir: Path, out_dir: Path, weeks: int, as_of: date, teams: list[str] | None = None,
                  areas: list[str] | None = None, workspace: str | None = None) -> tuple[list[BackfillJob], list[str], History]:
    """The jobs of a backfill, the notes on what is left out (no data), and the history read.

    Raises:
        UsageError: an unknown team or area.
        HistoryError: the history in ``out_dir`` cannot be read (nothing is written then).
    """
    from playbook.areas import AREAS, get_area
    from playbook.config import check_team_name, list_teams, load_areas, load_params, resolve_workspace, workspace_path
    from playbook.errors import UsageError
    from playbook.workspace import Workspace

    params_dir = Path(params_dir).resolve()
    load_areas(params_dir)
    known = list_teams(params_dir)
    for team in teams or []:
        check_team_name(team)
        if team not in known:
            raise UsageError(f"unknown team '{team}'; known teams: {', '.join(known)}")
    selected = [get_area(a).name for a in (areas or list(AREAS))]
    history = History.read(history_path(out_dir))
    dates = tuple(week_dates(as_of, weeks))
    jobs, notes = [], []
    for team in dict.fromkeys(teams or known):
        params = load_params(params_dir, team)
        ws_path = resolve_workspace(workspace, Path.cwd()) if workspace else workspace_path(params, params_dir)
        with Workspace(ws_path, warehouse=params.warehouse) as ws:
            present = {t for t in {t for a in selected for t in get_area(a).tables} if ws.has(t)}
        for area in selected:
            missing = [t for t in get_area(area).required if t not in present]
            if missing:
                notes.append(f"{team}/{area}: no data (the workspace has no {', '.join(missing)} table)")
                continue
            jobs.append(BackfillJob(team, area, str(params_dir), str(ws_path), dates, history))
    # The longest jobs first, so that none is left running alone at the end: the organisation's
    # reports, and areas that read the events, take longest.
    heavy = {a for a in selected if "events" in get_area(a).tables}
    jobs.sort(key=lambda j: (j.team != "all", j.area not in heavy))
    return jobs, notes, history


def run_backfill(jobs: list[BackfillJob], out_dir: Path, workers: int | None = None,
                 on_done: Callable[[BackfillOutcome, int, int], None] | None = None) -> tuple[History, list[BackfillOutcome]]:
    """Run the jobs in worker processes and write what they computed into the history.

    The history is written once, at the end, atomically, while holding the reports folder as a
    run does (so a backfill and a run never write it at once).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from playbook.runner.run import output_lock, remove_leftovers

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[BackfillOutcome] = []
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    with output_lock(out_dir):
        remove_leftovers(out_dir, [])
        # What to skip and how old each action is are decided from the history as it is now,
        # under the lock: a run may have recorded weeks since the plan read it.
        now = History.read(history_path(out_dir))
        jobs = [replace(job, history=now) for job in jobs]
        if workers == 1:
            for job in jobs:
                outcomes.append(backfill_job(job))
                if on_done:
                    on_done(outcomes[-1], len(outcomes), len(jobs))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {pool.submit(backfill_job, job): job for job in jobs}
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as err:  # noqa: BLE001 - a worker crash fails only its job
                        outcome = BackfillOutcome(job.team, job.area, error=f"the worker process failed: {err}")
                    outcomes.append(outcome)
                    if on_done:
                        on_done(outcome, len(outcomes), len(jobs))
        # Still the history read above: the lock has been held since.
        history = now.record_many(
            Point(o.team, o.area, p["as_of"], p["result"], p["period"], p["fingerprint"], p["params_hash"], "backfill")
            for o in sorted(outcomes, key=lambda o: (o.team, o.area)) for p in o.points
        )
        if any(o.points for o in outcomes):
            history.write(history_path(out_dir))
    return history, outcomes
