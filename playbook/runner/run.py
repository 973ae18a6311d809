"""A run: the output folder held for one run at a time, the plan's jobs on an executor, then the
manifest and the index (written by :mod:`playbook.render`); a killed run's leftovers cleaned up."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

from playbook.areas import AREAS
from playbook.errors import OutputWriteError, RunError, RunInterrupted
from playbook.history import HISTORY_NAME, HISTORY_WARNING, History, Point, history_path, params_hash, read_or_warn
from playbook.render import DELIVERY_LOG, TMP_MARK, TMP_SUFFIX, owner_pid, written_here
from playbook.runner.execute import PARTIAL_SUFFIX, disk_reason, write_no_data
from playbook.runner.executors import DaskExecutor, Executor, LocalExecutor
from playbook.runner.kernels import check_kernel, gone, remove_stale_kernel_folders
from playbook.runner.outcomes import Outcome, Status, now
from playbook.runner.plan import Plan

LOCK_NAME = ".playbook-run.lock"


def remove_leftovers(out_dir: Path, teams: list[str]) -> list[Path]:
    """Delete the temporary files a killed run left behind, and nothing else.

    Only files the playbook names as its own (``.<file>.playbook-<pid>-<random>.tmp`` and
    ``.<area>.playbook-<pid>.partial.ipynb``), whose writing process is gone, in the reports
    folder and in the folders of known teams: a ``.tmp`` of anyone else's is never touched.
    """
    removed = []
    for folder in [out_dir, *(out_dir / team for team in teams)]:
        # (DuckDB's write-ahead log of a history file being written is named after it: .tmp.wal)
        for pattern in (f".*{TMP_MARK}*{TMP_SUFFIX}", f".*{TMP_MARK}*{PARTIAL_SUFFIX}", f".*{TMP_MARK}*{TMP_SUFFIX}.wal"):
            for path in folder.glob(pattern):
                if owner_pid(path.name) is not None and gone(owner_pid(path.name)) and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def foreign_entries(out_dir: Path, teams: list[str]) -> list[str]:
    """What a reports folder holds that a run did not write: anything but the index, the
    manifest, the history, the run lock, the delivery log and the folders of known teams (sorted names)."""
    if not out_dir.is_dir():
        return []
    ours = {"index.html", "manifest.json", "actions.html", HISTORY_NAME, LOCK_NAME, DELIVERY_LOG, *teams}
    try:
        names = [entry.name for entry in out_dir.iterdir()]
    except OSError:
        return []
    return sorted(n for n in names if n not in ours and not (n.startswith(".") and TMP_MARK in n))


@contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold the output folder for one run at a time; a second run refuses with who holds it.

    The lock is an advisory ``flock`` on a file in the folder, so the system drops it when the
    holder dies, even by SIGKILL: a crashed run never blocks the next scheduled one.

    Raises:
        RunError: another run holds the folder.
    """
    path = out_dir / LOCK_NAME
    try:
        # Never through a link: the lock file is the run's own, and a link would have it write elsewhere.
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), "a+", encoding="utf-8")
    except OSError as err:
        raise RunError(f"cannot use {path} as the run's lock ({err.strerror}); it must be a plain file of the playbook's") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunError(
                f"another playbook run is writing to {out_dir} ({holder}); wait for it to finish or pass another --out"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, started {now()}")
            handle.flush()
        except OSError:
            pass  # who holds the lock is only information; the flock itself is held
        yield
    finally:
        handle.close()


def record_outcomes(history: History, outcomes: list[Outcome], params: dict[str, Any]) -> History:
    """``history`` with the figures and actions of every report this run rendered (a reused
    report adds nothing: its figures are already there, unless the history lost them); the same
    object when there is nothing to add."""
    return history.record_many(
        Point(o.team, o.area, date.fromisoformat(o.as_of), o.result, ((o.period or {}).get("start"), (o.period or {}).get("end")),
              o.fingerprint or "", params_hash(params[o.team], o.area))
        for o in outcomes
        if o.status == Status.RENDERED and o.result and o.as_of and o.team in params
        # A reused report's point is there already, unless the history lost it (a restored backup).
        and (not o.reused or history.recorded(o.team, o.area, date.fromisoformat(o.as_of)) is None)
    )


def _record_history(out_dir: Path, plan: Plan, outcomes: list[Outcome]) -> History | None:
    """Add this run's rendered reports to the history and write it; the history the index and
    the actions page then read. A history that cannot be read or written is kept as it was,
    with a warning (the reports, the index and the manifest are written all the same)."""
    from playbook.history import HistoryError

    if plan.history is None:
        return None
    # Read again under the lock: a backfill may have added weeks since the plan read it.
    past = read_or_warn(history_path(out_dir), plan.warnings)
    if past is None:
        return None
    history = record_outcomes(past, outcomes, plan.params)
    if history is past:
        return past
    try:
        history.write(history_path(out_dir))
    except (OSError, HistoryError) as err:
        reason = disk_reason(err, out_dir) if isinstance(err, OSError) else ""
        plan.warnings.append(f"{HISTORY_WARNING}{reason or err}; this run's figures are not in the history, and the index's trends and the "
                             "actions page read the history as it was")
        return past
    return history


def run_plan(
    plan: Plan,
    out_dir: Path,
    jobs: int | None = None,
    as_of: date | None = None,
    on_done: Callable[[Outcome, int, int], None] | None = None,
    dask: str | None = None,
) -> list[Outcome]:
    """Execute the plan's jobs in parallel processes, then write the manifest and the index.

    Args:
        plan: from :func:`make_plan`.
        out_dir: the reports folder.
        jobs: worker processes (default: the number of cores).
        as_of: the run's as-of date, for the manifest.
        on_done: called with (outcome, done, total) as each report finishes (progress display).
        dask: the address of a Dask scheduler; each report then runs on the cluster's workers,
            which must reach the workspace, the params and this folder at the same paths and
            have the ``playbook`` kernel installed.

    Raises:
        RunError: the folder cannot be written, or another run is writing to it.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as err:
        raise RunError(f"cannot write to the output folder {out_dir}: {err.strerror or err}") from err
    theirs = [name for name in ("index.html", "manifest.json", "actions.html") if not written_here(out_dir / name)]
    if theirs:
        raise RunError(f"{out_dir} holds {' and '.join(theirs)} that the playbook did not write; refusing to overwrite "
                       f"{'them' if len(theirs) > 1 else 'it'}: give another --out")
    with output_lock(out_dir):
        return _run_locked(plan, out_dir, jobs, as_of, on_done, dask)


def _run_locked(
    plan: Plan, out_dir: Path, jobs: int | None, as_of: date | None, on_done: Callable[[Outcome, int, int], None] | None,
    dask: str | None = None,
) -> list[Outcome]:
    from playbook.render import build_manifest, read_manifest, write_actions, write_index, write_manifest

    if plan.jobs:
        check_kernel()
    remove_leftovers(out_dir, plan.known_teams)
    remove_stale_kernel_folders()
    previous = read_manifest(out_dir)
    outcomes: list[Outcome] = []
    total = len(plan.jobs) + len(plan.decided)

    def finished(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done:
            on_done(outcome, len(outcomes), total)

    for outcome in plan.decided:
        if outcome.status == Status.NO_DATA:
            write_no_data(out_dir, outcome, AREAS[outcome.area].title)
        finished(outcome)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(plan.jobs) or 1))
    interrupted = False
    try:
        if plan.jobs:
            executor: Executor = DaskExecutor(dask) if dask else LocalExecutor(workers)
            workers = executor.workers
            for _, outcome in executor.run(plan.jobs):
                finished(outcome)
    except KeyboardInterrupt:
        interrupted = True
        done = {o.key for o in outcomes}
        outcomes += [
            Outcome(job.team, job.area, Status.FAILED, team_name=job.team_name, period={"start": job.period[0], "end": job.period[1]},
                    reason="the run was interrupted (Ctrl-C) before this report finished")
            for job in plan.jobs if job.key not in done
        ]
    for outcome in outcomes:
        old = previous["reports"].get(outcome.key, {})
        if outcome.status == Status.FAILED:
            # Say which last good report is still in place, and keep linking to it.
            html = Path(out_dir) / outcome.team / f"{outcome.area}.html"
            if html.exists() and old.get("last_good_at") and written_here(html):
                outcome.html = f"{outcome.team}/{outcome.area}.html"
                outcome.last_good_at = old.get("last_good_at")
                outcome.headline = outcome.headline or old.get("headline")
                outcome.result = outcome.result or old.get("result")
                outcome.as_of = outcome.as_of or old.get("as_of")
    if any(o.reused for o in outcomes):
        # Reused reports were not validated this time; their data warnings are the last run's.
        # (A warning about the history is this run's own, never carried over.)
        plan.warnings += [w for w in previous.get("warnings", []) if w not in plan.warnings and not w.startswith(HISTORY_WARNING)]
    history = _record_history(out_dir, plan, outcomes)
    manifest = build_manifest(
        previous, [asdict(o) for o in outcomes], as_of or date.today(), workers,
        known_teams=plan.known_teams, params=plan.params, fingerprints=plan.fingerprints, warnings=plan.warnings,
    )
    outcomes = sorted(outcomes, key=lambda o: (o.team, o.area))
    writes = [("manifest.json", write_manifest), ("index.html", lambda d, m: write_index(d, m, history, plan.snoozes)),
              ("actions.html", lambda d, m: write_actions(d, m, history, plan.snoozes))]
    for name, write in writes:
        try:
            write(out_dir, manifest)
        except OSError as err:
            reason = disk_reason(err, out_dir) or f"{err.strerror or err}"
            raise OutputWriteError(f"could not write {out_dir / name}: {reason}; the previous {name} is kept as it was", outcomes) from None
    if interrupted:
        finished_count = sum(1 for o in outcomes if o.status != Status.FAILED or "interrupted" not in o.reason)
        raise RunInterrupted(
            f"interrupted: {finished_count} of {len(outcomes)} reports finished and are in the index; "
            "the others keep their last good report. Run again to finish them", outcomes)
    return outcomes
