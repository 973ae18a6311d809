"""Backfill against a full run: `playbook backfill --weeks 8` for every sample team against one `playbook run`.

The baseline is one `playbook run --force` of every team x area, measured in the same session.

Writes the sample workspace with `playbook sample` (default size, or smaller with ``--events``,
``--accounts``, ``--responses``, ``--feedback``; or reuses one with ``--workspace``), and a copy
of the project's params (``params/teams``, ``actions.yaml``) whose ``defaults.yaml`` points at it.
Then, ``--repeat`` times, each in fresh reports folders of its own (so the backfill never skips a
week a run recorded, and the run reuses nothing), with the same ``--jobs`` and ``--as-of``:

- backfill: `playbook backfill --weeks W` for every team and area (W weekly as-of dates ending on
  ``--as-of``, built without a kernel, into ``history.duckdb``);
- run: `playbook run --force`, every team x area rendered (kernel, every section, HTML export).

The two alternate which goes first. Each command runs under a small wrapper process that reads
the peak resident memory of any process in it (the command, its workers, the kernels) from
``getrusage(RUSAGE_CHILDREN)``; this script imports nothing heavy before the last run, since on
Linux a child starts with its parent's peak. Prints each run, then the medians, their ratio
backfill / run (below 1 is the issue's acceptance point) and the peaks. Fails if a command fails,
if the backfill did not compute every team x area x week, or if the run did not render every
report.

    .venv/bin/python benchmarks/backfill.py [--weeks 8] [--repeat 3] [--jobs 2] [--workspace DIR]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AS_OF = date(2026, 11, 27)
# Runs the command given as its arguments and prints one JSON line: the command's exit status,
# wall time, the peak memory of any of its processes (KiB on Linux) and the tail of its stderr.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
print(json.dumps({"rc": done.returncode, "seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stderr": done.stderr[-20000:], "stdout": done.stdout[-4000:]}))
"""
# The backfill's closing line and its plan line (`playbook backfill` writes both to stderr).
BACKFILLED = re.compile(r"^Backfilled (\d+) report-weeks \((\d+) already recorded", re.MULTILINE)
PLANNED = re.compile(r"for (\d+) team x area reports into", re.MULTILINE)
# `playbook sample` options that make a smaller sample for a quick check, with the sample's defaults.
SAMPLE_SIZES = {"events": "1,000,000", "accounts": "2,000", "responses": "10,000", "feedback": "3,000"}


def make_params(folder: Path, workspace: Path) -> list[str]:
    """A copy of the project's params (every team, the snoozes) whose defaults point at ``workspace``."""
    (folder / "teams").mkdir(parents=True)
    defaults = yaml.safe_load((ROOT / "params" / "defaults.yaml").read_text())
    defaults["workspace"] = str(workspace)
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    if (ROOT / "params" / "actions.yaml").exists():
        shutil.copy(ROOT / "params" / "actions.yaml", folder / "actions.yaml")
    teams = sorted((ROOT / "params" / "teams").glob("*.yaml"))
    for path in teams:
        shutil.copy(path, folder / "teams" / path.name)
    return [path.stem for path in teams]


def measure(command: list[str], what: str) -> dict:
    """Run ``command`` under the wrapper; its figures, or exit with its error output."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["rc"] != 0:
        sys.exit(f"{what} failed (exit status {figures['rc']}): {' '.join(command)}\n{figures['stderr']}{figures['stdout']}")
    return figures


def check_backfill(figures: dict, weeks: int) -> int:
    """The report-weeks the backfill computed; exits unless that is every planned team x area x week."""
    planned, done = PLANNED.search(figures["stderr"]), BACKFILLED.search(figures["stderr"])
    if not planned or not done:
        sys.exit(f"cannot read what the backfill did from its output:\n{figures['stderr']}")
    expected, computed, skipped = int(planned.group(1)) * weeks, int(done.group(1)), int(done.group(2))
    if computed != expected or skipped:
        sys.exit(f"the backfill computed {computed} report-weeks ({skipped} skipped), expected {expected} "
                 f"({planned.group(1)} reports x {weeks} weeks):\n{figures['stderr']}")
    return computed


def check_run(out: Path) -> int:
    """The reports the run rendered; exits if one was reused or did not render."""
    reports = json.loads((out / "manifest.json").read_text())["reports"]
    wrong = {key: report.get("status") for key, report in reports.items() if report.get("reused") or report.get("status") != "rendered"}
    if wrong:
        sys.exit(f"the run did not render every report afresh: {wrong}")
    return len(reports)


def check_history(out: Path, teams: list[str], weeks: int) -> str:
    """What the last backfill's history holds, read back from the store itself."""
    import duckdb

    with duckdb.connect(str(out / "history.duckdb"), read_only=True) as con:
        dates, reports, points = con.execute(
            "SELECT count(DISTINCT as_of), count(DISTINCT (team, area)), count(DISTINCT (team, area, as_of)) FROM runs"
        ).fetchone()
        named = {row[0] for row in con.execute("SELECT DISTINCT team FROM runs").fetchall()}
    if dates != weeks or points != reports * weeks or named != set(teams):
        sys.exit(f"the backfilled history holds {points} report-weeks over {dates} dates for teams {sorted(named)}; "
                 f"expected {weeks} dates for each of {reports} reports of teams {teams}")
    return f"{reports} reports x {dates} weekly dates = {points} report-weeks in history.duckdb"


def _seconds(runs: list[dict]) -> str:
    return " / ".join(f"{f['seconds']:.1f}" for f in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8, help="weekly as-of dates to backfill, ending on --as-of (default 8)")
    parser.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3,
                        help="runs of each side; the median is reported (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of both commands (default 2)")
    parser.add_argument("--as-of", default=AS_OF.isoformat(), help=f"as-of date of both commands and of the sample (default {AS_OF})")
    parser.add_argument("--workspace", type=Path,
                        help="reuse this sample workspace (written by `playbook sample` for the same --as-of) instead of writing one")
    parser.add_argument("--seed", type=int, default=7, help="sample seed (default 7)")
    for option, default in SAMPLE_SIZES.items():
        parser.add_argument(f"--{option}", type=int,
                            help=f"`playbook sample --{option}` (default: the sample's, {default}); smaller for a quick check")
    args = parser.parse_args()
    if args.repeat < 1 or args.weeks < 1:
        parser.error("--repeat and --weeks must be at least 1")
    as_of = date.fromisoformat(args.as_of)
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        tmp = Path(tmp)
        if args.workspace:
            workspace = args.workspace.resolve()
            if not workspace.exists():
                sys.exit(f"no workspace at {workspace}")
            sizes = f"reused {workspace}"
        else:
            workspace = tmp / "ws"
            command = [str(BIN / "playbook"), "sample", "--out", str(workspace), "--seed", str(args.seed), "--as-of", as_of.isoformat()]
            for option in SAMPLE_SIZES:
                if getattr(args, option) is not None:
                    command += [f"--{option}", str(getattr(args, option))]
            written = subprocess.run(command, capture_output=True, text=True)
            if written.returncode != 0:
                sys.exit(f"`playbook sample` failed:\n{written.stderr}")
            said = (written.stdout + written.stderr).strip()
            sizes = said.splitlines()[-1] if said else f"Wrote {workspace}"
        params = tmp / "params"
        teams = make_params(params, workspace)
        common = ["--params", str(params), "--as-of", as_of.isoformat(), "--jobs", str(args.jobs)]
        print(f"{sizes}\nteams: {', '.join(teams)}; --jobs {args.jobs}, --as-of {as_of}, {args.weeks} weeks\n", flush=True)
        filled, ran = [], []
        for i in range(args.repeat):
            folder = tmp / f"repeat{i + 1}"
            sides = [("backfill", folder / "backfill"), ("run", folder / "run")]
            # Alternate which side goes first, so that neither always meets a warm (or a cold) page cache.
            for side, out in sides if i % 2 == 0 else sides[::-1]:
                if side == "backfill":
                    command = [str(BIN / "playbook"), "backfill", "--weeks", str(args.weeks), "--out", str(out), *common]
                    figures = measure(command, "backfill")
                    figures["count"] = check_backfill(figures, args.weeks)
                    filled.append(figures)
                else:
                    figures = measure([str(BIN / "playbook"), "run", "--force", "--out", str(out), *common], "run")
                    figures["count"] = check_run(out)
                    ran.append(figures)
            print(f"repeat {i + 1}: backfill {filled[-1]['seconds']:.1f} s ({filled[-1]['count']} report-weeks), "
                  f"peak {filled[-1]['peak_kib'] / 1024:,.0f} MB; run {ran[-1]['seconds']:.1f} s ({ran[-1]['count']} reports), "
                  f"peak {ran[-1]['peak_kib'] / 1024:,.0f} MB", flush=True)
        stored = check_history(tmp / f"repeat{args.repeat}" / "backfill", teams, args.weeks)
        backfill = statistics.median(f["seconds"] for f in filled)
        run = statistics.median(f["seconds"] for f in ran)
        weeks_done, reports = filled[0]["count"], ran[0]["count"]
        if weeks_done != reports * args.weeks:
            sys.exit(f"the backfill computed {weeks_done} report-weeks, the run rendered {reports} reports: not the same reports")
        rows = [
            ("side", "median", "per item", "peak memory"),
            (f"backfill --weeks {args.weeks}", f"{backfill:.1f} s", f"{backfill / weeks_done:.3f} s a report-week ({weeks_done})",
             f"{max(f['peak_kib'] for f in filled) / 1024:,.0f} MB"),
            ("run --force", f"{run:.1f} s", f"{run / reports:.2f} s a report ({reports})",
             f"{max(f['peak_kib'] for f in ran) / 1024:,.0f} MB"),
        ]
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        print(f"\nmedian of {args.repeat}; {stored}; peak: of any one process, the largest over the repeats")
        for row in rows:
            print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        verdict = "faster than" if backfill < run else "NOT faster than"
        print(f"  ratio backfill / run: {backfill / run:.2f} ({args.weeks} weeks backfilled {verdict} one full run)")
        print(f"  runs: backfill {_seconds(filled)} s; run {_seconds(ran)} s")


if __name__ == "__main__":
    main()
