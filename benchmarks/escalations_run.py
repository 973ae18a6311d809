"""Escalations at scale: `playbook run --area escalations` for one team on a sample with N events.

Writes a sample workspace with ``--events`` usage events (Parquet), then renders the one report
``--repeat`` times and prints the median wall time and the peak resident memory of any process
in the run (the runner, its worker or the kernel), read from ``getrusage(RUSAGE_CHILDREN)``.

    .venv/bin/python benchmarks/escalations_run.py [--events 1000000] [--team growth] [--repeat 3]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from playbook.sample import generate  # noqa: E402
AS_OF = date(2026, 11, 27)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="usage events in the sample (default 1,000,000)")
    parser.add_argument("--team", default="growth", help="team to render (default growth)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        ws = Path(tmp) / "ws"
        # Generated in this process, so that the children's peak memory is the runs' alone.
        started = time.perf_counter()
        generate(ws, seed=7, as_of=AS_OF, events=args.events)
        generated = time.perf_counter() - started
        times = []
        for i in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "playbook"), "run", "--params", str(ROOT / "params"), "--workspace", str(ws), "--team", args.team,
                 "--area", "escalations", "--as-of", AS_OF.isoformat(), "--out", str(Path(tmp) / f"out{i}")],
                check=True, capture_output=True,
            )
            times.append(time.perf_counter() - started)
            print(f"run {i + 1}: {times[-1]:.2f} s", flush=True)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"\n{args.events:,} events: sample written in {generated:.1f} s")
        print(f"escalations report for {args.team}: median {statistics.median(times):.2f} s over {args.repeat} runs; "
              f"peak memory of one process {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
