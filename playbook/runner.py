"""The plan (teams x areas) and its execution: papermill in parallel processes, one report each.

Each report runs in its own worker process and its own kernel, so one failing team or area never
stops the others. Kernels talk to papermill over Unix sockets in a private folder rather than TCP
ports: parallel kernels picking random TCP ports race for them ("Address already in use",
"Kernel died before replying to kernel_info"), a known papermill problem; a kernel that still
fails to start is retried.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from jupyter_client.manager import AsyncKernelManager

import playbook
from playbook.areas import AREAS, Area, get_area
from playbook.config import check_team_name, ignored_team_files, list_teams, load_areas, load_params, workspace_path
from playbook.period import resolve_period
from playbook.errors import OutputWriteError, PlaybookError, RunError, RunInterrupted, SchemaError, UsageError
from playbook.render import TMP_MARK, TMP_SUFFIX, written_here
from playbook.workspace import Workspace

KERNEL_NAME = "playbook"
START_ATTEMPTS = 3
STATUS_RENDERED, STATUS_FAILED, STATUS_NO_DATA = "rendered", "failed", "no_data"


IPC_PREFIX = "pbk-"


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel listens on Unix sockets in a fresh private folder.

    Unix socket paths are limited to about 100 characters, so the folder is a short one under the
    system temporary directory rather than Jupyter's runtime folder.
    """

    # Each manager belongs to the thread that started it, so a report's time limit stops only its
    # own kernel when several reports share a process (threads of a Dask worker).
    owners: "weakref.WeakKeyDictionary[IPCKernelManager, int]" = weakref.WeakKeyDictionary()

    def __init__(self, **kwargs: Any) -> None:
        # Named after the process that owns the kernel, so a later run can tell a killed run's
        # folders from live ones (see remove_stale_kernel_folders).
        self._ipc_dir = tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{os.getpid()}-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(self._ipc_dir, "k"))
        super().__init__(**kwargs)
        IPCKernelManager.owners[self] = threading.get_ident()

    def kill_now(self) -> None:
        """Kill the kernel process from any thread (a report over its time limit)."""
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is None:
            process.kill()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client interrupts a kernel before shutting it down. Ours is idle by then (or
        # about to be killed), and the interrupt only makes it log "KeyboardInterrupt caught in
        # kernel" into the run's output.
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()


@dataclass(frozen=True)
class Job:
    """One report to render: a team's notebook for one area, with everything the worker needs."""

    team: str
    team_name: str
    area: str
    area_title: str
    notebook: str
    params_dir: str
    out_dir: str
    as_of: str
    workspace: str
    period: tuple[str, str]
    timeout: int
    fingerprint: str = ""
    time_limit: int = 1800
    input_key: str = ""

    @property
    def key(self) -> str:
        return f"{self.team}/{self.area}"


@dataclass
class Outcome:
    """What happened to one report."""

    team: str
    area: str
    status: str
    team_name: str = ""
    reason: str = ""
    headline: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    summary: list[str] = field(default_factory=list)
    data_notes: list[str] = field(default_factory=list)
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

    @property
    def key(self) -> str:
        return f"{self.team}/{self.area}"


@dataclass
class Plan:
    """Jobs to execute, outcomes already decided before running (bad params, no data), and run facts.

    ``fingerprints`` maps ``team/area`` to the hash of the tables that report reads.
    """

    jobs: list[Job]
    decided: list[Outcome]
    params: dict[str, Any]
    fingerprints: dict[str, str]
    warnings: list[str]
    known_teams: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def make_plan(
    params_dir: Path,
    out_dir: Path,
    teams: list[str] | None = None,
    areas: list[str] | None = None,
    as_of: date | None = None,
    workspace: str | None = None,
    notebooks: Path | None = None,
    force: bool = False,
) -> Plan:
    """Decide which reports to render and check their inputs before any kernel starts.

    A report whose inputs are unchanged since its last good render (see :func:`input_key`) is
    reused as it is, without validating its tables again or starting a kernel, unless ``force``.

    Args:
        notebooks: a folder of ``<area>.ipynb`` to run instead of the project's notebooks.
        force: execute every report even when its inputs are unchanged.

    Raises:
        UsageError: an unknown team or area, or a notebook missing from ``notebooks`` (nothing is run).
    """
    params_dir = Path(params_dir).resolve()
    load_areas(params_dir)
    known = list_teams(params_dir)
    if not known:
        raise UsageError(f"no team parameters found in {params_dir / 'teams'}; add a <team>.yaml there")
    # A team or area named twice is rendered once.
    teams = list(dict.fromkeys(teams or [])) or None
    areas = list(dict.fromkeys(areas or [])) or None
    for team in teams or []:
        check_team_name(team)
        if team not in known:
            raise UsageError(f"unknown team '{team}'; known teams: {', '.join(known)}")
    selected_areas: list[Area] = [get_area(a) for a in (areas or list(AREAS))]
    notebook_of = {a.name: str(a.notebook) for a in selected_areas}
    if notebooks is not None:
        notebook_of = {a.name: str(Path(notebooks).resolve() / f"{a.name}.ipynb") for a in selected_areas}
        absent = [Path(n).name for n in notebook_of.values() if not Path(n).is_file()]
        if absent:
            raise UsageError(f"the notebooks folder {notebooks} has no {', '.join(absent)}")
    as_of = as_of or date.today()
    jobs: list[Job] = []
    decided: list[Outcome] = []
    run_params: dict[str, Any] = {}
    fingerprints: dict[str, str] = {}
    warnings: list[str] = ignored_team_files(params_dir)
    opened: dict[Path, Workspace | PlaybookError] = {}
    from playbook.render import read_manifest

    previous = read_manifest(Path(out_dir))["reports"]
    notebook_hashes: dict[str, str] = {}
    for team in teams or known:
        try:
            params = load_params(params_dir, team)
        except PlaybookError as err:
            decided += [Outcome(team, a.name, STATUS_FAILED, team_name=team, reason=str(err)) for a in selected_areas]
            continue
        run_params[team] = params.model_dump(mode="json")
        period = resolve_period(params.period, as_of)
        ws_path = Path(workspace).resolve() if workspace else workspace_path(params, params_dir)
        if ws_path not in opened:
            try:
                opened[ws_path] = Workspace(ws_path)
            except PlaybookError as err:
                opened[ws_path] = err
        ws = opened[ws_path]
        for area in selected_areas:
            common = dict(team_name=params.name, period={"start": period.start.isoformat(), "end": period.end.isoformat()})
            if isinstance(ws, PlaybookError):
                decided.append(Outcome(team, area.name, STATUS_FAILED, reason=str(ws), **common))
                continue
            missing = [t for t in area.required if not ws.has(t)]
            if missing:
                reason = f"the workspace {ws_path} has no {', '.join(missing)} table"
                decided.append(Outcome(team, area.name, STATUS_NO_DATA, reason=reason, **common))
                continue
            fingerprint = ws.fingerprint([t for t in area.tables if ws.has(t)])
            notebook = notebook_of[area.name]
            if notebook not in notebook_hashes:
                notebook_hashes[notebook] = hashlib.sha256(Path(notebook).read_bytes()).hexdigest()
            key = input_key(notebook_hashes[notebook], run_params[team], fingerprint, period, as_of)
            fingerprints[f"{team}/{area.name}"] = fingerprint
            old = previous.get(f"{team}/{area.name}", {})
            if not force and _reusable(old, key, Path(out_dir)):
                decided.append(_reused(old, key))
                continue
            try:
                for table in area.tables:
                    if ws.has(table):
                        report = ws.load(table)
                        warnings += [line for line in report.describe() if line not in warnings]
            except SchemaError as err:
                decided.append(Outcome(team, area.name, STATUS_FAILED, reason=str(err), **common))
                continue
            jobs.append(
                Job(
                    team=team,
                    team_name=params.name,
                    area=area.name,
                    area_title=area.title,
                    notebook=notebook_of[area.name],
                    params_dir=str(params_dir),
                    out_dir=str(Path(out_dir).resolve()),
                    as_of=as_of.isoformat(),
                    workspace=str(ws_path),
                    period=(period.start.isoformat(), period.end.isoformat()),
                    timeout=params.execution_timeout,
                    fingerprint=fingerprint,
                    time_limit=params.time_limit,
                    input_key=key,
                )
            )
    for ws in opened.values():
        if isinstance(ws, Workspace):
            ws.close()
    return Plan(jobs, decided, run_params, fingerprints, warnings, known)


@functools.cache
def code_hash() -> str:
    """A hash of the playbook's own code and templates, so an edited (or editable-installed)
    playbook never reuses a report an older build of it rendered under the same version."""
    digest = hashlib.sha256()
    root = Path(playbook.__file__).resolve().parent
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".py", ".j2", ".css", ".tpl", ".json"}):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def input_key(notebook_hash: str, params: dict[str, Any], fingerprint: str, period: Any, as_of: date) -> str:
    """Everything a report depends on, hashed: the notebook, the team's merged params, the data
    it reads, its period and as-of date, and the playbook's version and code."""
    facts = {
        "code": code_hash(),
        "notebook": notebook_hash,
        "params": params,
        "data": fingerprint,
        "period": [period.start.isoformat(), period.end.isoformat()],
        "as_of": as_of.isoformat(),
        "playbook": playbook.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _reusable(old: dict[str, Any], key: str, out_dir: Path) -> bool:
    """The last render of this report was good, from the same inputs, and its HTML is still there."""
    return (
        old.get("status") == STATUS_RENDERED
        and old.get("input_key") == key
        and bool(old.get("html"))
        and (out_dir / str(old["html"])).is_file()
    )


def _reused(old: dict[str, Any], key: str) -> Outcome:
    known = {f for f in Outcome.__dataclass_fields__}
    outcome = Outcome(**{k: v for k, v in old.items() if k in known})
    outcome.input_key, outcome.reused, outcome.seconds, outcome.attempts = key, True, 0.0, 0
    return outcome


def check_kernel() -> None:
    """Fail early, with the fix, when the kernel the notebooks name is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise RunError(
            f"the Jupyter kernel '{KERNEL_NAME}' is not installed; run `make setup`, or "
            f"`{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}`"
        ) from None


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

    started = time.monotonic()
    out_dir = Path(job.out_dir)
    html_path = out_dir / job.team / f"{job.area}.html"
    nb_path = out_dir / job.team / f"{job.area}.ipynb"
    failed_path = out_dir / job.team / f"{job.area}.failed.ipynb"
    outcome = Outcome(
        job.team, job.area, STATUS_FAILED, team_name=job.team_name,
        period={"start": job.period[0], "end": job.period[1]}, fingerprint=job.fingerprint,
    )
    parameters = {"team": job.team, "params_dir": job.params_dir, "workspace": job.workspace, "as_of": job.as_of}
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
                outcome.reason = _disk_reason(err, out_dir) or _error_reason(err)
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
            outcome.status = STATUS_RENDERED
            outcome.headline = records.get("headline")
            outcome.result = records.get("result")
            outcome.summary = records.get("summary", {}).get("lines", [])
            outcome.data_notes = records.get("data_notes", {}).get("lines", [])
            outcome.rendered_at = _now()
            outcome.last_good_at = outcome.rendered_at
            outcome.input_key = job.input_key
        except Exception as err:  # noqa: BLE001
            outcome.reason = _disk_reason(err, out_dir) or f"export failed: {type(err).__name__}: {err}"
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


def _disk_reason(err: BaseException, out_dir: Path) -> str:
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
        outcome.status, outcome.reason = STATUS_FAILED, f"{path} was not written by the playbook; refusing to overwrite it"
        return
    write_atomic(path, no_data_html(outcome.team_name or outcome.team, area_title, outcome.reason, period))
    outcome.html = f"{outcome.team}/{outcome.area}.html"


LOCK_NAME = ".playbook-run.lock"


def _worker_init() -> None:
    """Make a worker die with the run that started it (Linux), so a killed run leaves no orphans.

    Its kernel follows: ipykernel exits when its parent process goes away.
    """
    # Ctrl-C reaches every process of the terminal's group; the run itself decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def remove_leftovers(out_dir: Path, teams: list[str]) -> list[Path]:
    """Delete the temporary files a killed run left behind, and nothing else.

    Only files the playbook names as its own (``.<file>.playbook-<pid>-<random>.tmp`` and
    ``.<area>.playbook-<pid>.partial.ipynb``), whose writing process is gone, in the reports
    folder and in the folders of known teams: a ``.tmp`` of anyone else's is never touched.
    """
    removed = []
    for folder in [out_dir, *(out_dir / team for team in teams)]:
        for pattern in (f".*{TMP_MARK}*{TMP_SUFFIX}", f".*{TMP_MARK}*{PARTIAL_SUFFIX}"):
            for path in folder.glob(pattern):
                if _owner_pid(path.name) is not None and _gone(_owner_pid(path.name)) and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


PARTIAL_SUFFIX = ".partial.ipynb"


def _owner_pid(name: str) -> int | None:
    """The pid in a temporary file's name (see render.TMP_MARK), or None when it holds none."""
    tail = name.split(TMP_MARK, 1)[1] if TMP_MARK in name else ""
    digits = tail.split("-", 1)[0].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def foreign_entries(out_dir: Path, teams: list[str]) -> list[str]:
    """What a reports folder holds that a run did not write: anything but the index, the
    manifest, the run lock and the folders of known teams (sorted names)."""
    if not out_dir.is_dir():
        return []
    ours = {"index.html", "manifest.json", LOCK_NAME, *teams}
    try:
        names = [entry.name for entry in out_dir.iterdir()]
    except OSError:
        return []
    return sorted(n for n in names if n not in ours and not (n.startswith(".") and TMP_MARK in n))


def remove_stale_kernel_folders(tmp: Path | None = None) -> list[Path]:
    """Delete kernel socket folders whose owning process is gone (a run killed by SIGKILL).

    Only this user's folders named ``pbk-<pid>-*`` are considered, and only when no process with
    that pid exists; a folder of a live process is left alone.
    """
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{IPC_PREFIX}*-*"):
        try:
            pid = int(path.name[len(IPC_PREFIX):].split("-", 1)[0])
            if not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
        except (ValueError, OSError):
            continue
        if not _gone(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _kill_trees(roots: list[int]) -> None:
    """SIGKILL these processes and every process they started (found in /proc on Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    todo, found = list(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in reversed(found):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _gone(pid: int) -> bool:
    """No process runs under this pid: none exists, or only an unreaped zombie (a killed worker)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # another user's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


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
            handle.write(f"pid {os.getpid()}, started {_now()}")
            handle.flush()
        except OSError:
            pass  # who holds the lock is only information; the flock itself is held
        yield
    finally:
        handle.close()


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
    theirs = [name for name in ("index.html", "manifest.json") if not written_here(out_dir / name)]
    if theirs:
        raise RunError(f"{out_dir} holds {' and '.join(theirs)} that the playbook did not write; refusing to overwrite "
                       f"{'them' if len(theirs) > 1 else 'it'}: give another --out")
    with output_lock(out_dir):
        return _run_locked(plan, out_dir, jobs, as_of, on_done, dask)


def _on_dask(address: str, jobs: list[Job]) -> Iterator[tuple[Job, Outcome | BaseException]]:
    """Each job as a task on the Dask cluster at ``address``, yielded as it finishes."""
    try:
        from distributed import Client, as_completed as completed
    except ImportError:
        raise RunError("--dask needs the distributed package: pip install 'playbook[cluster]'") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise RunError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    with client:
        futures = {client.submit(execute_job, job, pure=False, key=f"playbook-{job.team}-{job.area}-{os.getpid()}-{time.time_ns()}"): job
                   for job in jobs}
        for future in completed(futures):
            job = futures[future]
            try:
                yield job, future.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails only its report
                yield job, err


def _dask_workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="10s") as client:
        return len(client.scheduler_info().get("workers", {})) or 1


def _run_locked(
    plan: Plan, out_dir: Path, jobs: int | None, as_of: date | None, on_done: Callable[[Outcome, int, int], None] | None,
    dask: str | None = None,
) -> list[Outcome]:
    from playbook.render import read_manifest, write_index, write_manifest

    if plan.jobs:
        check_kernel()
    remove_leftovers(out_dir, plan.known_teams)
    remove_stale_kernel_folders()
    previous = read_manifest(out_dir)
    outcomes: list[Outcome] = []
    total = len(plan.jobs) + len(plan.decided)
    for outcome in plan.decided:
        if outcome.status == STATUS_NO_DATA:
            write_no_data(out_dir, outcome, AREAS[outcome.area].title)
        outcomes.append(outcome)
        if on_done:
            on_done(outcome, len(outcomes), total)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(plan.jobs) or 1))
    interrupted = False
    try:
        if plan.jobs and dask:
            for job, result in _on_dask(dask, plan.jobs):
                if isinstance(result, BaseException):
                    result = Outcome(job.team, job.area, STATUS_FAILED, team_name=job.team_name, reason=f"Dask task failed: {result}")
                outcomes.append(result)
                if on_done:
                    on_done(result, len(outcomes), total)
            workers = _dask_workers(dask)
        elif plan.jobs:
            _run_local(plan.jobs, workers, outcomes, on_done, total)
    except KeyboardInterrupt:
        interrupted = True
        done = {o.key for o in outcomes}
        outcomes += [
            Outcome(job.team, job.area, STATUS_FAILED, team_name=job.team_name, period={"start": job.period[0], "end": job.period[1]},
                    reason="the run was interrupted (Ctrl-C) before this report finished")
            for job in plan.jobs if job.key not in done
        ]
    for outcome in outcomes:
        old = previous["reports"].get(outcome.key, {})
        if outcome.status == STATUS_FAILED:
            # Say which last good report is still in place, and keep linking to it.
            html = Path(out_dir) / outcome.team / f"{outcome.area}.html"
            if html.exists() and old.get("last_good_at") and written_here(html):
                outcome.html = f"{outcome.team}/{outcome.area}.html"
                outcome.last_good_at = old.get("last_good_at")
                outcome.headline = outcome.headline or old.get("headline")
                outcome.result = outcome.result or old.get("result")
    if any(o.reused for o in outcomes):
        # Reused reports were not validated this time; their data warnings are the last run's.
        plan.warnings += [w for w in previous.get("warnings", []) if w not in plan.warnings]
    manifest = build_manifest(previous, outcomes, plan, as_of or date.today(), workers)
    outcomes = sorted(outcomes, key=lambda o: (o.team, o.area))
    for name, write in (("manifest.json", write_manifest), ("index.html", write_index)):
        try:
            write(out_dir, manifest)
        except OSError as err:
            reason = _disk_reason(err, out_dir) or f"{err.strerror or err}"
            raise OutputWriteError(f"could not write {out_dir / name}: {reason}; the previous {name} is kept as it was", outcomes) from None
    if interrupted:
        finished = sum(1 for o in outcomes if o.status != STATUS_FAILED or "interrupted" not in o.reason)
        raise RunInterrupted(
            f"interrupted: {finished} of {len(outcomes)} reports finished and are in the index; "
            "the others keep their last good report. Run again to finish them", outcomes)
    return outcomes


def _run_local(jobs: list[Job], workers: int, outcomes: list[Outcome], on_done: Callable[[Outcome, int, int], None] | None,
               total: int) -> None:
    """Each job in a pool of worker processes; on Ctrl-C the workers (and their kernels) are stopped at once."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
    stopped = False
    try:
        futures = {pool.submit(execute_job, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - a worker crash fails only its report
                outcome = Outcome(job.team, job.area, STATUS_FAILED, team_name=job.team_name, reason=f"worker crashed: {err}")
            outcomes.append(outcome)
            if on_done:
                on_done(outcome, len(outcomes), total)
    except KeyboardInterrupt:
        stopped = True
        # Workers ignore SIGINT (see _worker_init), so the run decides: they and their kernels
        # (each in a session of its own, out of the terminal's reach) are stopped at once.
        workers = multiprocessing.active_children()
        _kill_trees([w.pid for w in workers if w.pid])
        raise
    finally:
        pool.shutdown(wait=not stopped, cancel_futures=True)


def build_manifest(previous: dict[str, Any], outcomes: list[Outcome], plan: Plan, as_of: date, workers: int) -> dict[str, Any]:
    """The run's record: versions, parameters, data fingerprints, and every report's status."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("papermill", "nbconvert", "nbclient", "ipykernel", "duckdb", "pandas", "seaborn", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    # Reports of teams or areas that no longer exist drop out of the index; the others carry over.
    reports = {
        key: entry
        for key, entry in previous.get("reports", {}).items()
        if isinstance(entry, dict) and entry.get("team") in plan.known_teams and entry.get("area") in AREAS
    }
    for outcome in outcomes:
        reports[outcome.key] = asdict(outcome)
    periods = sorted({f"{o.period['start']} to {o.period['end']}" for o in outcomes if o.period})
    fingerprints = sorted(set(plan.fingerprints.values()))
    return {
        "playbook_version": playbook.__version__,
        "generated_at": _now(),
        "as_of": as_of.isoformat(),
        "period": "; ".join(periods),
        "fingerprint": ", ".join(fingerprints),
        "fingerprints": plan.fingerprints,
        "workers": workers,
        "versions": versions,
        "params": {k: v for k, v in {**previous.get("params", {}), **plan.params}.items() if k in plan.known_teams},
        "warnings": plan.warnings,
        "reused": sum(1 for o in outcomes if o.reused),
        "executed": sum(1 for o in outcomes if o.status == STATUS_RENDERED and not o.reused),
        "reports": reports,
    }


def exit_status(outcomes: list[Outcome], plan: Plan) -> int:
    """0 when nothing failed; 2 when every report failed before running (bad params or data); else 1."""
    failed = [o for o in outcomes if o.status == STATUS_FAILED]
    if not failed:
        return 0
    if not plan.jobs and len(failed) == len(outcomes):
        return 2
    return 1


__all__ = ["Job", "Outcome", "Plan", "make_plan", "run_plan", "execute_job", "exit_status"]
