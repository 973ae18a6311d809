"""Appending an export to a large workspace table: time and memory of `playbook import`.

Two cases, each on a fresh copy of the same workspace, each import in a process of its own so
that its peak memory (``ru_maxrss``) is its own:

- ``events``: 1,000 new PostHog events appended to an ``events.parquet`` of ``--events`` rows
  (the rows already there are carried over with every column and its precision);
- ``tickets``: 1,000 new Zendesk tickets appended to an ``escalations.csv`` of ``--tickets`` rows
  (the file's bytes kept, the result read back before it replaces the file);
- ``updates``: the same table, and an export of 1,000 of its tickets solved since: each of those
  rows has its resolution written in place, every other byte kept (a checkout from before
  updates existed skips them as already there).

With ``--against DIR`` (another checkout of the project, e.g. an earlier commit made with
``git worktree add``), the same imports run with that checkout's code in the same run, and the
ratio of the medians is printed.

    .venv/bin/python benchmarks/import_append.py [--events 1000000] [--tickets 20000] [--repeat 3] [--against DIR]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from pathlib import Path
from playbook.importers import run_import
preset, export, workspace = sys.argv[1:4]
started = time.perf_counter()
result = run_import(preset, [Path(export)], Path(workspace))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "written": result.rows_written + getattr(result, "rows_updated", 0)}))
"""


def write_inputs(folder: Path, events: int, tickets: int) -> dict[str, tuple[Path, Path, str]]:
    """Base workspaces and exports for both cases: {case: (workspace, export, preset)}."""
    import duckdb
    import pandas as pd

    ws_events = folder / "ws-events"
    ws_events.mkdir()
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT TIMESTAMP '2026-01-01' + to_microseconds(range * 997) AS ts, 'v' || (range % 50000) AS visitor_id, "
            "'a' || (range % 2000) AS account_id, 'app' AS product, 'f' || (range % 30) AS feature_id "
            "FROM range(?)) TO ? (FORMAT parquet)",
            [events, str(ws_events / "events.parquet")],
        )
    lines = ["uuid,event,properties,timestamp,distinct_id"]
    for i in range(1000):
        lines.append(f'n{i},new_event,"{{""$groups"": {{""company"": ""acme""}}}}",2026-06-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z,u{i}')
    (folder / "events.csv").write_text("\n".join(lines) + "\n")

    ws_tickets = folder / "ws-tickets"
    ws_tickets.mkdir()
    pd.DataFrame({
        "escalation_id": [f"E{i}" for i in range(tickets)], "account_id": [f"A{i % 500}" for i in range(tickets)],
        "product": "app", "team": "support", "priority": [f"P{1 + i % 4}" for i in range(tickets)], "category": "bug",
        "title": "Something broke, again", "opened_at": "2026-01-05T10:00:00Z", "first_response_at": "2026-01-05T11:00:00Z",
        "resolved_at": "", "reopened": 0,
    }).to_csv(ws_tickets / "escalations.csv", index=False)
    pages = {"tickets": [{"id": 900000 + i, "created_at": "2026-02-01T08:00:00Z", "type": "incident", "subject": f"Ticket {i}",
                          "priority": "high", "status": "open", "organization_id": 1000 + i} for i in range(1000)]}
    (folder / "tickets.json").write_text(json.dumps(pages))
    step = max(tickets // 1000, 1)
    solved = {"tickets": [{"id": f"E{i}", "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-01-09T10:00:00Z",
                           "type": "bug", "subject": "Something broke, again", "priority": ["urgent", "high", "normal", "low"][i % 4],
                           "status": "solved", "organization_id": f"A{i % 500}"} for i in range(0, tickets, step)][:1000],
              "metric_sets": [{"ticket_id": f"E{i}", "solved_at": "2026-01-09T10:00:00Z", "reopens": 0,
                               "reply_time_in_minutes": {"calendar": 60}} for i in range(0, tickets, step)][:1000]}
    (folder / "solved.json").write_text(json.dumps(solved))
    return {"events": (ws_events, folder / "events.csv", "posthog-events"),
            "tickets": (ws_tickets, folder / "tickets.json", "zendesk"),
            "updates": (ws_tickets, folder / "solved.json", "zendesk")}


def run_once(code: Path, preset: str, export: Path, base: Path, scratch: Path) -> dict:
    workspace = scratch / "ws"
    shutil.rmtree(workspace, ignore_errors=True)
    shutil.copytree(base, workspace)
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", CHILD, preset, str(export), str(workspace)], env=env, cwd=str(scratch),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="rows already in events.parquet")
    parser.add_argument("--tickets", type=int, default=20_000, help="rows already in escalations.csv")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path, default=None, help="another checkout of the project, measured in the same run")
    args = parser.parse_args()
    sides = {"this tree": ROOT} | ({f"against {args.against}": args.against.resolve()} if args.against else {})
    with tempfile.TemporaryDirectory(prefix="playbook-import-bench-") as tmp:
        inputs = write_inputs(Path(tmp), args.events, args.tickets)
        for case, (base, export, preset) in inputs.items():
            medians = {}
            for name, code in sides.items():
                runs = [run_once(code, preset, export, base, Path(tmp)) for _ in range(args.repeat)]
                seconds = statistics.median(r["seconds"] for r in runs)
                medians[name] = seconds
                each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
                print(f"{case:8} {name:40} median {seconds:6.2f} s (runs {each}), "
                      f"peak {max(r['peak_mb'] for r in runs):,.0f} MB, wrote or updated {runs[0]['written']:,}")
            if len(medians) == 2:
                mine, other = medians.values()
                print(f"{case:8} ratio {other / mine:.2f} (the other checkout's median over this tree's)")


if __name__ == "__main__":
    main()
