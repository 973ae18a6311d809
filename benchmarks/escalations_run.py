"""An area at scale: `playbook run --area escalations` (or ``--area experiments``, whose metrics
are computed per unit from the events) for one team on a sample with N events.

Writes a sample workspace with ``--events`` usage events (Parquet), then renders the one report
``--repeat`` times and prints the median wall time and the peak resident memory of any process
in the run (the runner, its worker or the kernel), read from ``getrusage(RUSAGE_CHILDREN)``.

    .venv/bin/python benchmarks/escalations_run.py [--events 1000000] [--team growth] [--area escalations] [--repeat 3]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AS_OF = date(2026, 11, 27)
MEASURE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
    "sys.stderr.write(r.stderr.decode()); r.check_returncode(); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="usage events in the sample (default 1,000,000)")
    parser.add_argument("--team", default="growth", help="team to render (default growth)")
    parser.add_argument("--area", default="escalations", help="area to render (default escalations; experiments reads events too)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        ws = Path(tmp) / "ws"
        # Written by a child, whose peak is then left out: on Linux a process carries its peak
        # memory over into the children it starts, so a sample generated here would be counted
        # in every run's peak.
        started = time.perf_counter()
        subprocess.run([str(BIN / "playbook"), "sample", "--out", str(ws), "--seed", "7", "--as-of", AS_OF.isoformat(),
                        "--events", str(args.events)], check=True, capture_output=True)
        generated = time.perf_counter() - started
        times, peaks = [], []
        for i in range(args.repeat):
            started = time.perf_counter()
            # A small wrapper process per run reads the peak of the run's own processes (runner,
            # worker, kernel), unmixed with the sample writer's.
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, str(BIN / "playbook"), "run", "--params", str(ROOT / "params"),
                 "--workspace", str(ws), "--team", args.team, "--area", args.area, "--as-of", AS_OF.isoformat(),
                 "--out", str(Path(tmp) / f"out{i}")],
                check=True, capture_output=True, text=True,
            )
            times.append(time.perf_counter() - started)
            peaks.append(float(done.stdout.strip().splitlines()[-1]) / 1024)
            print(f"run {i + 1}: {times[-1]:.2f} s, peak {peaks[-1]:,.0f} MB", flush=True)
        peak_mb = max(peaks)
        print(f"\n{args.events:,} events: sample written in {generated:.1f} s")
        print(f"{args.area} report for {args.team}: median {statistics.median(times):.2f} s over {args.repeat} runs; "
              f"peak memory of one process {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
