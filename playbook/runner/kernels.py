"""Kernels: each report's own, on Unix sockets in a private folder, and the clean-up after a killed run.

Parallel kernels picking random TCP ports race for them ("Address already in use", "Kernel died
before replying to kernel_info"), a known papermill problem; sockets in a folder of their own
never collide. A kernel that still fails to start is retried (see :mod:`playbook.runner.execute`).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
import weakref
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from playbook.errors import RunError

KERNEL_NAME = "playbook"
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

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        # The kernel is forked from this worker's forker (see playbook.runner.warm) unless told cold.
        from playbook.runner import warm

        if self.provisioner is None and warm.enabled():
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = warm.WarmProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

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


def worker_init() -> None:
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
        if not gone(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def kill_trees(roots: list[int]) -> None:
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


def gone(pid: int) -> bool:
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

