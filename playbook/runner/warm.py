"""Warm kernels: each report's kernel is forked from a process that has the libraries imported.

A kernel started from scratch spends about 1.6 s of CPU importing IPython, pandas, matplotlib,
seaborn, DuckDB and the playbook before the notebook's first cell runs, and a run pays it for
every report. Here each worker process starts one *forker*: a plain Python process (started with
exec, so it inherits no threads) that imports those modules once and then, for every report,
forks a child that becomes the kernel (``IPKernelApp``, what ``python -m ipykernel_launcher``
runs). The imported modules are shared copy-on-write; everything else is the report's own. The
only threads the forker has when it forks are OpenBLAS's (which handles a fork): DuckDB's
default connection, which `import duckdb` opens with a thread pool, is closed first.

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

A kernel starts cold (the ordinary way) whenever being forked could make it differ: when its
environment is not the one the forker imported under (a kernel spec's ``env``, a variable the
worker changed since; the variables Jupyter sets for every kernel do not count), when its folder holds a
``matplotlibrc`` (matplotlib reads it at import), when its folder does not exist (so the error is
the ordinary one), or when the forker cannot run. ``PLAYBOOK_KERNELS=cold`` in a worker's
environment starts every kernel the ordinary way.

A forked kernel ends as a cold one does: through the interpreter's own exit, so ``atexit``
handlers run and open DuckDB connections are closed (removing their spill folders). The forker
waits for each kernel it forked and the worker for its forker, so the peak memory of a kernel is
counted in its worker's ``RUSAGE_CHILDREN``, as a cold kernel's is. That exit (atexit handlers,
then the interpreter's teardown) takes about 0.7 s, which the worker waits for, as it does for a
cold kernel. ``tests/test_warm_process.py`` holds a forked kernel to each point above.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
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
# The forker's command line (``python -c``, whose first path entry is its folder).
BOOT = "import sys; del sys.path[0]; from playbook.runner.warm import serve; serve(int(sys.argv[1]))"
ENV_SWITCH = "PLAYBOOK_KERNELS"
# Variables Jupyter sets for each kernel (jupyter_client's launcher and provisioners): a kernel
# whose environment differs from its forker's in these only is still forked.
PER_KERNEL_PREFIXES = ("JPY_", "IPY_", "PYDEVD_")
PER_KERNEL = frozenset({"PYTHONEXECUTABLE"})


def enabled() -> bool:
    """Warm kernels unless ``PLAYBOOK_KERNELS=cold`` (or the platform cannot fork and pidfd)."""
    return os.environ.get(ENV_SWITCH, "warm").lower() != "cold" and hasattr(os, "fork") and hasattr(os, "pidfd_open")


# ---------------------------------------------------------------- the forker process (its own main)


def _with_backend(env: Any) -> dict[str, str]:
    """``env`` as a kernel sees it: an unset or empty MPLBACKEND is the inline backend, as ipykernel
    makes it (kernelapp.init_gui_pylab)."""
    return {**env, "MPLBACKEND": env.get("MPLBACKEND") or INLINE_BACKEND}


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _become_kernel(request: dict[str, Any], ready: int) -> int:
    """In the forked child: become the kernel ``request`` describes, run it, and return its exit
    code (the caller leaves through ``sys.exit``, so the interpreter ends as a cold kernel's does)."""
    try:
        os.setsid()
        _die_with_parent()
        os.write(ready, b"1")
        os.close(ready)
        # The forker reaps its kernels, not their children: a kernel's own subprocesses are waited
        # for as usual. SIGINT stays ignored, as in a cold kernel started by a worker that ignores
        # it (ipykernel sets its own handling of it either way); SIGPIPE stays ignored, as Python
        # sets it at start.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the kernel's own stdin, for its lifetime
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What `python -m ipykernel_launcher` would have: its own argv (the launcher takes the
        # kernel's folder off the path, as BOOT took the forker's), and a random state of NumPy's
        # of its own (Python's `random` reseeds itself at fork).
        sys.argv = [request["launcher"], *request["argv"]]
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()
        from ipykernel.kernelapp import IPKernelApp

        # ipykernel read JPY_PARENT_PID when the forker imported it, before this kernel's
        # environment existed; the kernel watches its real parent, the forker, as a cold kernel
        # watches the worker that started it (and prints no "ipython kernel" banner).
        app = IPKernelApp.instance(parent_handle=os.getppid())
        app.initialize(request["argv"])
        _after_shell()
        app.start()
        return 0
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 0
    except BaseException:  # noqa: BLE001 - told on stderr, as a kernel failing to start would
        import traceback

        traceback.print_exc()
        return 1


def _after_shell() -> None:
    """What modules imported before the shell existed would have done at import inside it."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None and hasattr(widgets, "_handle_ipython"):
        widgets._handle_ipython()  # registers the widget comm target with the kernel


def serve(replies_fd: int) -> None:
    """The forker's loop: one JSON request per line on stdin, one JSON reply per line on the pipe
    ``replies_fd`` (its stdout stays the worker's, so nothing a module prints there is mistaken for
    a reply)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(_with_backend(os.environ))
    failed = []
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception as err:  # noqa: BLE001 - the kernel will meet (and report) the same error
            failed.append(f"{name}: {type(err).__name__}: {err}")
    # `import duckdb` opens a default connection with a pool of worker threads. DuckDB's state is
    # not fork-safe (duckdb/duckdb-python#292): a child forked with that pool live, once it has run
    # queries on its own connections, aborts at exit in C++ ("terminate called without an active
    # exception"). Closing it joins the threads; a kernel's `duckdb.sql()` opens a new one.
    out = os.fdopen(replies_fd, "w", buffering=1)
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None:
        try:
            duckdb.default_connection().close()
        except Exception as err:  # noqa: BLE001 - then every kernel starts cold, rather than abort
            out.write(json.dumps({"error": f"could not close DuckDB's default connection: {type(err).__name__}: {err}"}) + "\n")
            return
    import importlib.util

    launcher = getattr(importlib.util.find_spec("ipykernel_launcher"), "origin", None) or "ipykernel_launcher"
    out.write(json.dumps({"ready": True, "failed": failed}) + "\n")
    # Kernels this process forked, each reaped once the worker holds its pidfd (so the pid is not
    # reused while the worker may still open it). Waiting for them, rather than ignoring SIGCHLD,
    # counts their peak memory in this process's RUSAGE_CHILDREN, which the worker inherits.
    watched: set[int] = set()

    def reap(*_: Any) -> None:
        for pid in list(watched):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                watched.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    for line in sys.stdin:
        request = json.loads(line)
        if "watch" in request:  # the worker holds this kernel's pidfd now
            watched.add(int(request["watch"]))
            reap()
            continue
        ready_r, ready_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as err:
            os.close(ready_r)
            os.close(ready_w)
            out.write(json.dumps({"error": f"fork failed: {err}"}) + "\n")
            continue
        if pid == 0:
            os.close(ready_r)
            out.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            request["launcher"] = launcher
            sys.exit(_become_kernel(request, ready_w))
        os.close(ready_w)
        # Reply once the child leads its own session, so a signal to its group reaches it.
        os.read(ready_r, 1)
        os.close(ready_r)
        out.write(json.dumps({"pid": pid}) + "\n")
    # Retired (stdin closed): the kernels die with this process, so it outlives the running ones.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break


# ---------------------------------------------------------------- the worker's side


def _differences(env: dict[str, str], base: dict[str, str]) -> list[str]:
    """The variables in which a kernel's environment differs from its forker's, apart from those
    Jupyter sets per kernel."""
    env, base = _with_backend(env), _with_backend(base)
    keys = set(env) ^ set(base) | {k for k in set(env) & set(base) if env[k] != base[k]}
    return sorted(k for k in keys if k not in PER_KERNEL and not k.startswith(PER_KERNEL_PREFIXES))


def _starter() -> None:
    """The thread that starts every forker of this process, for the process's lifetime.

    ``PR_SET_PDEATHSIG`` follows the *thread* that started a process: a forker started from a
    Dask executor thread would die (with every kernel it forked) when that thread ends.
    """
    while True:
        job, done = _STARTS.get()
        try:
            done.put((job(), None))
        except BaseException as err:  # noqa: BLE001 - handed to the thread that asked
            done.put((None, err))


_STARTS: queue.Queue = queue.Queue()
_STARTER: list[threading.Thread] = []
_STARTER_LOCK = threading.Lock()


def _start_in_starter(job: Any) -> Any:
    with _STARTER_LOCK:
        if not _STARTER or not _STARTER[0].is_alive():
            _STARTER[:] = [threading.Thread(target=_starter, name="playbook-forker-starter", daemon=True)]
            _STARTER[0].start()
    done: queue.Queue = queue.Queue()
    _STARTS.put((job, done))
    value, err = done.get()
    if err is not None:
        raise err
    return value


class Forker:
    """The worker's handle on its forker process: started on first use, one request at a time."""

    _lock = threading.Lock()
    _running: dict[tuple[str, ...], Forker] = {}
    _retired: list[Forker] = []
    _waits_at_exit = False

    def __init__(self, python: tuple[str, ...]) -> None:
        self.env = env = _with_backend(os.environ)
        replies, self._replies_w = os.pipe()
        self.problem = ""
        self.lock = threading.Lock()
        try:
            # Started in a neutral folder, which is taken off the path before anything is imported:
            # the playbook and matplotlib's settings come from where a kernel's would, not from
            # whichever folder the worker was started in.
            self.process = _start_in_starter(lambda: subprocess.Popen(
                [*python, "-c", BOOT, str(self._replies_w)], stdin=subprocess.PIPE,
                text=True, bufsize=1, close_fds=True, pass_fds=(self._replies_w,), cwd="/", env=env,
            ))
        finally:
            os.close(self._replies_w)
        self.replies = os.fdopen(replies, "r", buffering=1)
        ready = self._reply(READY_SECONDS)
        if not ready.get("ready"):
            self.problem = ready.get("error", "the kernel forker did not start")

    def _reply(self, seconds: float) -> dict[str, Any]:
        readable, _, _ = select.select([self.replies], [], [], seconds)
        line = self.replies.readline() if readable else ""
        if not line:
            return {"error": "the kernel forker stopped answering" if readable else f"no answer from the kernel forker in {seconds:.0f} s"}
        try:
            reply = json.loads(line)
        except ValueError:
            return {"error": f"the kernel forker answered {line[:200]!r}"}
        return reply if isinstance(reply, dict) else {"error": f"the kernel forker answered {line[:200]!r}"}

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def retire(self) -> None:
        """Take no more requests: the forker exits once the kernels it started have (another
        thread's report may still be running in one)."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass
        Forker._retired.append(self)

    @classmethod
    def retire_all(cls, seconds: float = 30) -> None:
        """At the worker's exit: retire every forker and wait for it (so its kernels' peak memory
        reaches this process's RUSAGE_CHILDREN, and no forker outlives its worker unreaped)."""
        with cls._lock:
            for forker in list(cls._running.values()):
                forker.retire()
            cls._running.clear()
        deadline = time.monotonic() + seconds
        for forker in cls._retired:
            try:
                forker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                forker.process.kill()
                forker.process.wait()
        cls._retired.clear()

    @property
    def alive(self) -> bool:
        return not self.problem and self.process.poll() is None

    def fits(self, env: dict[str, str], cwd: str) -> str:
        """Why a kernel with ``env`` in ``cwd`` must start cold rather than from this forker ("" if
        it need not)."""
        if not os.path.isdir(cwd):
            return f"its folder {cwd} does not exist"
        if os.path.exists(os.path.join(cwd, "matplotlibrc")):
            return f"{cwd} has a matplotlibrc, which matplotlib reads at import"
        differ = _differences(env, self.env)
        if differ:
            return f"its environment differs from the forker's in {', '.join(differ[:5])}"
        return ""

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str) -> ForkedKernel:
        """A new kernel process running ``ipykernel_launcher argv`` in ``cwd`` with ``env``."""
        with self.lock:
            self._send({"argv": argv, "env": env, "cwd": cwd})
            reply = self._reply(60)
            if "pid" not in reply:
                raise RuntimeError(reply.get("error", "the kernel forker gave no kernel"))
            kernel = ForkedKernel(int(reply["pid"]))
            # Only now may the forker reap it: until then its pid cannot be reused.
            self._send({"watch": kernel.pid})
        return kernel

    @classmethod
    def get(cls, python: tuple[str, ...]) -> Forker | None:
        """This process's forker for the interpreter command ``python`` (the kernel spec's, with its
        options), started if need be; None when it cannot run (kernels then start cold)."""
        with cls._lock:
            current = cls._running.get(python)
            if current is None or not current.alive:
                if current is not None:
                    current.retire()
                if not cls._waits_at_exit:
                    cls._waits_at_exit = True
                    atexit.register(cls.retire_all)
                try:
                    current = cls._running[python] = Forker(python)
                except (OSError, ValueError):
                    cls._running.pop(python, None)
                    return None
            return current if current.alive else None


class ForkedKernel:
    """The parts of :class:`subprocess.Popen` jupyter_client uses, for a kernel the forker started.

    It is the forker's child, not ours: it is watched and signalled through a pidfd, which stays
    bound to this very process even once its pid is reused. Its exit status is the forker's to
    collect, so ``returncode`` is 0 for any exit (a crash included) and minus the signal for one
    we sent; the runner judges a report by what its kernel answered, not by this code.
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
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        if forker is None or forker.fits(env, cwd):
            return await super().launch_kernel(cmd, **kwargs)
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

