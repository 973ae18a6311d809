"""Start kernels the way a report's worker does and say what each one sees (for test_warm_process).

    python tests/warm_probe.py KERNEL_FOLDER [KERNELS] [MEGABYTES]

Runs KERNELS kernels one after the other through ``IPCKernelManager`` (warm unless
``PLAYBOOK_KERNELS=cold``), each in KERNEL_FOLDER; in each, the probe cell prints one JSON line
of what the kernel sees, registers an ``atexit`` handler that writes a file, spills a DuckDB sort
to a private folder and, with MEGABYTES, touches that much memory. After every kernel has been
shut down (gracefully, as nbclient does) and the worker's forkers have been waited for (as at a
worker's exit), it prints one last JSON line: this process's pid and the peak memory of any of
its descendants that were waited for (``RUSAGE_CHILDREN``). With ``PROBE_SET_AFTER_FIRST=v`` the
worker sets ``PROBE_VAR=v`` in its own environment after the first kernel.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playbook.runner.kernels import IPCKernelManager  # noqa: E402
from playbook.runner.warm import Forker  # noqa: E402

PROBE = """\
import atexit, json, os, sys
import duckdb, matplotlib, numpy
marks = {marks!r}
atexit.register(lambda: open(os.path.join(marks, "atexit-" + str(os.getpid())), "w").write("ran"))
spill = os.path.join(marks, "spill-" + str(os.getpid()))
con = duckdb.connect(config={{"memory_limit": "30MB", "temp_directory": spill, "threads": 1}})
con.execute("SELECT count(*) FROM (SELECT (random() * 1e9)::BIGINT a, repeat('x', 40) b FROM range(1500000) ORDER BY a, b)").fetchone()
duckdb.connect().execute("SELECT sum(range) FROM range(10000000)").fetchone()  # on all cores
ballast = b"\\x01" * ({megabytes} * 2 ** 20)
import playbook
print(json.dumps({{
    "pid": os.getpid(), "parent": os.getppid(), "argv0": os.path.basename(sys.argv[0]),
    "path": sys.path, "cwd": os.getcwd(), "backend": matplotlib.get_backend(), "dpi": matplotlib.rcParams["figure.dpi"],
    "random": numpy.random.random(), "playbook": playbook.__file__,
    "spilled": os.path.isdir(spill), "probe_var": os.environ.get("PROBE_VAR"),
}}))
"""


async def probe(folder: str, marks: str, megabytes: int) -> dict:
    manager = IPCKernelManager(kernel_name="playbook")
    await manager.start_kernel(cwd=folder)
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        msg_id = client.execute(PROBE.format(marks=marks, megabytes=megabytes))
        printed, error = "", None
        while True:
            msg = await client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=False)
    if error:
        raise SystemExit(f"the probe failed in the kernel: {error}")
    return json.loads(printed.strip().splitlines()[-1])


async def main(folder: str, kernels: int, megabytes: int) -> None:
    marks = os.environ["PROBE_MARKS"]
    for n in range(kernels):
        if n == 1 and os.environ.get("PROBE_SET_AFTER_FIRST"):
            os.environ["PROBE_VAR"] = os.environ["PROBE_SET_AFTER_FIRST"]
        print(json.dumps(await probe(folder, marks, megabytes)), flush=True)


if __name__ == "__main__":
    folder = sys.argv[1]
    kernels = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    megabytes = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    asyncio.run(main(folder, kernels, megabytes))
    Forker.retire_all()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"worker": os.getpid(), "children_peak_mb": peak}), flush=True)
