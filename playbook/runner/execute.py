"""One report's execution: papermill in a kernel of its own, then nbconvert; every failure becomes an outcome."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from playbook.render import TMP_MARK, written_here
from playbook.runner.kernels import KERNEL_NAME, IPCKernelManager
from playbook.runner.outcomes import Outcome, Status, now
from playbook.runner.plan import Job

START_ATTEMPTS = 3
PARTIAL_SUFFIX = ".partial.ipynb"


def _should_retry(err: BaseException, attempt: int) -> bool:
    """Retry a kernel that failed to start (up to START_ATTEMPTS), or a cell that timed out once.

    A timed-out cell is usually a kernel that stopped answering (a lost message leaves the client
    waiting); a fresh kernel gets one more try, a genuinely slow notebook fails the second time.
    """
    name, text = type(err).__name__, str(err)
    if "PapermillExecutionError" in name or "DeadKernel" in name:
        return False
    if "CellTimeoutError" in name:
        return attempt == 1
    starting = ("Kernel died before replying", "Address already in use", "kernel_info", "Kernel didn't respond", "TimeoutError")
    return attempt < START_ATTEMPTS and any(s in f"{name}: {text}" for s in starting)


def _error_reason(err: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return f"{err.ename}: {err.evalue}".strip()
    name = type(err).__name__
    if "DeadKernel" in name or "died" in str(err).lower():
        return f"the kernel died while running the notebook ({name}: {err})"
    if "CellTimeoutError" in name:
        return f"a cell ran longer than execution_timeout ({err})"
    return f"{name}: {err}"


def execute_job(job: Job) -> Outcome:
    """Run one notebook with papermill and export it; never raises (failures become outcomes)."""
    import nbformat
    import papermill

    from playbook.render import export_html, extract_records, write_atomic
    from playbook.widgets import SCHEDULED

    # The kernels started from here inherit it: an explorer in a scheduled run draws nothing.
    os.environ.setdefault(SCHEDULED, "1")
    started = time.monotonic()
    out_dir = Path(job.out_dir)
    html_path = out_dir / job.team / f"{job.area}.html"
    nb_path = out_dir / job.team / f"{job.area}.ipynb"
    failed_path = out_dir / job.team / f"{job.area}.failed.ipynb"
    outcome = Outcome(
        job.team, job.area, Status.FAILED, team_name=job.team_name,
        period={"start": job.period[0], "end": job.period[1]}, fingerprint=job.fingerprint,
    )
    parameters = {"team": job.team, "params_dir": job.params_dir, "workspace": job.workspace, "as_of": job.as_of,
                  "history": job.history}
    theirs = [p.name for p in (html_path, nb_path, failed_path) if not written_here(p)]
    if theirs:
        outcome.reason = (f"{out_dir / job.team} holds {', '.join(theirs)} that the playbook did not write; "
                          "refusing to overwrite it: give another --out")
        return outcome
    # papermill saves the executed notebook here even when a cell fails, so a failure keeps its
    # traceback for the ops lead while the last good report stays untouched.
    partial_path = out_dir / job.team / f".{job.area}{TMP_MARK}{os.getpid()}{PARTIAL_SUFFIX}"
    partial_path.parent.mkdir(parents=True, exist_ok=True)
    nb = None
    # The whole report's time limit: past it, the kernel is killed, whatever it is doing.
    over_time = threading.Event()
    me = threading.get_ident()

    def _time_up() -> None:
        over_time.set()
        for manager, owner in list(IPCKernelManager.owners.items()):
            if owner == me:
                manager.kill_now()

    watchdog = threading.Timer(job.time_limit, _time_up)
    watchdog.daemon = True
    watchdog.start()
    for attempt in range(1, START_ATTEMPTS + 1):
        outcome.attempts = attempt
        try:
            nb = papermill.execute_notebook(
                job.notebook,
                str(partial_path),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                request_save_on_cell_execute=False,
                execution_timeout=job.timeout,
                start_timeout=60,
                cwd=str(Path(job.notebook).parent),
                kernel_manager_class=IPCKernelManager,
            )
            break
        except Exception as err:  # noqa: BLE001 - every failure must become an outcome
            if not over_time.is_set() and _should_retry(err, attempt):
                time.sleep(0.5 * attempt)
                continue
            if over_time.is_set():
                outcome.reason = f"timed out after {job.time_limit} s (time_limit in params); the kernel was stopped"
            else:
                outcome.reason = disk_reason(err, out_dir) or _error_reason(err)
            _keep_failed(partial_path, failed_path)
            break
    watchdog.cancel()
    partial_path.unlink(missing_ok=True)
    if nb is not None:
        try:
            records = extract_records(nb)
            html = export_html(nb, f"{job.area_title}: {job.team_name}")
            write_atomic(nb_path, nbformat.writes(nb))
            write_atomic(html_path, html)
            failed_path.unlink(missing_ok=True)
            outcome.status = Status.RENDERED
            outcome.headline = records.get("headline")
            outcome.result = records.get("result")
            outcome.summary = records.get("summary", {}).get("lines", [])
            outcome.data_notes = records.get("data_notes", {}).get("lines", [])
            outcome.digests = records.get("digests")
            outcome.rendered_at = now()
            outcome.last_good_at = outcome.rendered_at
            outcome.input_key = job.input_key
            outcome.as_of = job.as_of
        except Exception as err:  # noqa: BLE001
            outcome.reason = disk_reason(err, out_dir) or f"export failed: {type(err).__name__}: {err}"
    if html_path.exists():
        outcome.html = f"{job.team}/{job.area}.html"
        outcome.ipynb = f"{job.team}/{job.area}.ipynb" if nb_path.exists() else None
    outcome.seconds = round(time.monotonic() - started, 2)
    return outcome


def _keep_failed(partial: Path, failed: Path) -> None:
    """Keep a failed run's notebook (with its traceback) for the ops lead, if it was written whole.

    A notebook cut short (a full disk) is no use to anyone: it is removed, and an earlier
    failure's notebook stays.
    """
    import nbformat

    if not partial.exists():
        return
    try:
        nbformat.read(partial, as_version=4)
    except Exception:  # noqa: BLE001 - empty, truncated or not JSON
        partial.unlink(missing_ok=True)
        return
    partial.replace(failed)


def disk_reason(err: BaseException, out_dir: Path) -> str:
    """A failure to write because the disk is full (or over quota), said so; else empty."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return (f"no space left on the device holding {out_dir} ({err.strerror}); free some space and run again "
                    "(the last good report is kept)")
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return ""


def write_no_data(job_out: Path, outcome: Outcome, area_title: str) -> None:
    """A report page that says the area has no data for the team (replacing nothing good)."""
    from playbook.render import no_data_html, write_atomic

    period = f"{outcome.period['start']} to {outcome.period['end']}" if outcome.period else ""
    path = job_out / outcome.team / f"{outcome.area}.html"
    if not written_here(path):
        outcome.status, outcome.reason = Status.FAILED, f"{path} was not written by the playbook; refusing to overwrite it"
        return
    write_atomic(path, no_data_html(outcome.team_name or outcome.team, area_title, outcome.reason, period))
    outcome.html = f"{outcome.team}/{outcome.area}.html"

