"""Warm kernels: each report's kernel is forked from a process that has the libraries imported.

A kernel started from scratch spends about 1.6 s of CPU importing IPython, pandas, matplotlib,
seaborn, DuckDB and the playbook before the notebook's first cell runs, and a run pays it for
every report. Here each worker process starts one *forker*: a plain Python process (started with
exec, so it inherits no threads) that imports those modules once and then, for every report,
forks a child that becomes the kernel (``IPKernelApp``, what ``python -m ipykernel_launcher``
runs). The imported modules are shared copy-on-write; everything else is the report's own.

Why a fresh fork rather than reusing one kernel for many reports: a report still gets a new
process, so nothing it does (a crash, ``os._exit``, a changed pandas option or matplotlib
setting, a module-level cache, a leaked thread or connection) can reach the next report, and
no list of "state to restore" has to be kept complete. The child is set up as jupyter_client's
``launch_kernel`` sets up a kernel: a session of its own (so the run's signals reach it only as
the provisioner sends them), the kernel's environment and working folder, stdin from
``/dev/null``; it dies with the forker, which dies with its worker.

What differs from a cold kernel, and why it does not change a report: the modules were imported
before the IPython shell existed. Modules that act on the running shell at import register with
it once the shell is up (:func:`_after_shell`); matplotlib reads ``MPLBACKEND`` at import, so the
forker sets the value ipykernel would set before importing it. The equivalence of every sample
report rendered both ways is checked by ``tests/test_warm_kernels.py``.

``PLAYBOOK_KERNELS=cold`` in a worker's environment starts every kernel the ordinary way.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

# ipykernel sets this before matplotlib is first imported in a kernel (kernelapp.init_gui_pylab);
# matplotlib reads it at import, so the forker sets it first.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# What the notebooks import (playbook.api brings pandas, DuckDB and the areas) and the kernel itself.
PRELOAD = (
    "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "comm",
    "numpy", "pandas", "duckdb", "matplotlib", "matplotlib.pyplot", "seaborn", "ipywidgets",
    "playbook.api", "playbook.areas",
)
READY_SECONDS = 120
ENV_SWITCH = "PLAYBOOK_KERNELS"


def enabled() -> bool:
    """Warm kernels unless ``PLAYBOOK_KERNELS=cold`` (or the platform cannot fork and pidfd)."""
    return os.environ.get(ENV_SWITCH, "warm").lower() != "cold" and hasattr(os, "fork") and hasattr(os, "pidfd_open")


# ---------------------------------------------------------------- the forker process (its own main)


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _become_kernel(request: dict[str, Any], ready: int) -> None:
    """In the forked child: become the kernel ``request`` describes; never returns."""
    code = 1
    try:
        os.setsid()
        _die_with_parent()
        os.write(ready, b"1")
        os.close(ready)
        # The forker reaps nothing: the kernel's own subprocesses are waited for as usual. SIGINT
        # stays ignored, as in a cold kernel started by a worker that ignores it (ipykernel sets
        # its own handling of it either way); SIGPIPE stays ignored, as Python sets it at start.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)  # fd 1 is the forker's pipe to the worker; the kernel writes where the worker does
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the kernel's own stdin, for its lifetime
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from ipykernel.kernelapp import IPKernelApp

        # ipykernel read JPY_PARENT_PID when the forker imported it, before this kernel's
        # environment existed; the kernel watches its real parent, the forker, as a cold kernel
        # watches the worker that started it (and prints no "ipython kernel" banner).
        app = IPKernelApp.instance(parent_handle=os.getppid())
        app.initialize(request["argv"])
        _after_shell()
        app.start()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0
    except BaseException:  # noqa: BLE001 - told on stderr, as a kernel failing to start would
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _after_shell() -> None:
    """What modules imported before the shell existed would have done at import inside it."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None and hasattr(widgets, "_handle_ipython"):
        widgets._handle_ipython()  # registers the widget comm target with the kernel


def serve() -> None:
    """The forker's loop: one JSON request per line on stdin, one JSON reply per line on stdout."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # `python -m` put the worker's folder first on sys.path; ipykernel_launcher removes it too.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    failed = []
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception as err:  # noqa: BLE001 - the kernel will meet (and report) the same error
            failed.append(f"{name}: {type(err).__name__}: {err}")
    # Children are reaped by the kernel: a kernel that exits leaves no zombie behind.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    out = os.fdopen(1, "w", buffering=1)
    out.write(json.dumps({"ready": True, "failed": failed}) + "\n")
    kernels: set[int] = set()
    for line in sys.stdin:
        request = json.loads(line)
        ready_r, ready_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as err:
            out.write(json.dumps({"error": f"fork failed: {err}"}) + "\n")
            continue
        if pid == 0:
            os.close(ready_r)
            _become_kernel(request, ready_w)
        os.close(ready_w)
        # Reply once the child leads its own session, so a signal to its group reaches it.
        os.read(ready_r, 1)
        os.close(ready_r)
        out.write(json.dumps({"pid": pid}) + "\n")
        kernels = {k for k in kernels if _running(k)} | {pid}
    # Retired (stdin closed): the kernels die with this process, so it outlives the running ones.
    while kernels:
        time.sleep(0.2)
        kernels = {k for k in kernels if _running(k)}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- the worker's side


class Forker:
    """The worker's handle on its forker process: started on first use, one request at a time.

    The forker dies with the thread that started it (``PR_SET_PDEATHSIG`` follows the parent
    thread): the worker's main thread for local runs, a Dask worker's long-lived executor thread
    otherwise. Should that thread end, the next report starts a new forker.
    """

    _lock = threading.Lock()
    _running: dict[tuple[str, ...], Forker] = {}

    def __init__(self, python: tuple[str, ...]) -> None:
        self.process = subprocess.Popen(
            [*python, "-m", "playbook.runner.warm"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1, close_fds=True,
        )
        self.problem = ""
        ready = self._reply(READY_SECONDS)
        if not ready.get("ready"):
            self.problem = ready.get("error", "the kernel forker did not start")
        self.lock = threading.Lock()

    def _reply(self, seconds: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], seconds)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            return {"error": "the kernel forker stopped answering" if readable else f"no answer from the kernel forker in {seconds:.0f} s"}
        return json.loads(line)

    def retire(self) -> None:
        """Take no more requests: the forker exits once the kernels it started have (another
        thread's report may still be running in one)."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass

    @property
    def alive(self) -> bool:
        return not self.problem and self.process.poll() is None

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str) -> ForkedKernel:
        """A new kernel process running ``ipykernel_launcher argv`` in ``cwd`` with ``env``."""
        assert self.process.stdin is not None
        with self.lock:
            self.process.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n")
            self.process.stdin.flush()
            reply = self._reply(60)
        if "pid" not in reply:
            raise RuntimeError(reply.get("error", "the kernel forker gave no kernel"))
        return ForkedKernel(int(reply["pid"]))

    @classmethod
    def get(cls, python: tuple[str, ...]) -> Forker | None:
        """This process's forker for the interpreter command ``python`` (the kernel spec's, with its
        options), started if need be; None when it cannot run (kernels then start cold)."""
        with cls._lock:
            current = cls._running.get(python)
            if current is None or not current.alive:
                if current is not None:
                    current.retire()
                try:
                    current = cls._running[python] = Forker(python)
                except OSError:
                    return None
            return current if current.alive else None


class ForkedKernel:
    """The parts of :class:`subprocess.Popen` jupyter_client uses, for a kernel the forker started.

    It is the forker's child, not ours: it is watched and signalled through a pidfd, which stays
    bound to this very process even once its pid is reused. Its exit status is the forker's to
    collect, so ``returncode`` is 0 for an exit and minus the signal for one we sent.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._sent = 0
        self._fd: int | None = os.pidfd_open(pid)

    def _exited(self, timeout: float | None) -> bool:
        if self._fd is None:
            return True
        readable, _, _ = select.select([self._fd], [], [], timeout)
        if readable:
            os.close(self._fd)
            self._fd = None
            self.returncode = -self._sent if self._sent else 0
        return bool(readable)

    def poll(self) -> int | None:
        return self.returncode if self._exited(0) else None

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired([str(self.pid)], timeout or 0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self._fd is None:
            return
        try:
            signal.pidfd_send_signal(self._fd, signum)
            self._sent = self._sent or signum
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class WarmProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel forked from this worker's forker.

    Anything but this interpreter's ``ipykernel_launcher`` (another kernel spec), or a forker that
    cannot run, starts the ordinary way.
    """

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        forker = None
        # [this interpreter, its options..., "-m", "ipykernel_launcher", kernel arguments...]
        at = next((i for i in range(1, len(cmd) - 1) if cmd[i:i + 2] == ["-m", "ipykernel_launcher"]), None)
        if at is not None and cmd[0] == sys.executable:
            forker = Forker.get(tuple(cmd[:at]))
        if forker is None:
            return await super().launch_kernel(cmd, **kwargs)
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            self.process = forker.spawn(cmd[at + 2:], env, cwd)  # type: ignore[assignment]
        except (OSError, RuntimeError, ValueError) as err:
            # A forker that died (the OOM killer) or stopped answering costs this report only its
            # head start: its kernel starts cold, and the next report gets a new forker.
            forker.problem = f"{type(err).__name__}: {err}"
            return await super().launch_kernel(cmd, **kwargs)
        self.pid = self.process.pid
        self.pgid = self.process.pid  # the child leads a session of its own
        self.cwd = cwd
        return self.connection_info


if __name__ == "__main__":
    serve()
