"""PostgreSQL against Parquet: one team's report from the same sample, read from a PostgreSQL server or from its folder.

The acceptance point of issue 21: 10 million events in PostgreSQL, the escalations report for one
team, time and peak memory of the run, and the same with the events as Parquet.

Writes the sample workspace with `playbook sample --events N` (or reuses one with
``--workspace``), starts a throwaway PostgreSQL server (``tests/pgserver.py``: its own data
folder, a free port on 127.0.0.1, password authentication, database ``analytics``) and copies the
same folder into it with the loader of `playbook sample --to` (``copy_workspace``; timed and
printed, not part of the comparison), then ``VACUUM ANALYZE`` so that no run meets a table still
being set up by autovacuum. Two copies of the project's params differ only in ``workspace:``: the
folder, or the server's URL. Then, ``--repeat`` times, alternating which goes first, each in a
fresh reports folder:

- parquet: `playbook run --force --team T --area A --as-of D --jobs J`, the events read from
  ``events.parquet`` (PGPASSWORD not in its environment);
- postgresql: the same command, every table read from the server (PGPASSWORD in its environment).

Each command runs under a small wrapper process that reads the peak resident memory of any
process in it (the runner, its worker, the kernel) from ``getrusage(RUSAGE_CHILDREN)``; the time
is the whole command (plan, kernel, every section, HTML export). The PostgreSQL server's own
memory and CPU are not in either figure. This script imports nothing heavy (the sample and the
load run in children of their own), since on Linux a child starts with its parent's peak.

Fails if a command fails, if either side did not render the report afresh from its own
workspace, or if the figures, headline and actions the two recorded in ``manifest.json``
differ. Prints each repeat, the medians, the ratios PostgreSQL / Parquet for time and memory, the
server's size of the events table (``pg_total_relation_size``) and, for each PostgreSQL run, the
rows of ``events`` the server read (``pg_stat_user_tables.seq_tup_read``: every row a scan
passed, before any filter) and, when ``pg_stat_statements`` can be loaded, the rows it sent for
statements on ``events`` (what DuckDB's scans fetched after the filters pushed to the server).

    .venv/bin/python benchmarks/warehouse.py [--events 10000000] [--team growth] [--area escalations] [--repeat 3] [--jobs 1] [--workspace DIR]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AS_OF = date(2026, 11, 27)
SIDES = ("parquet", "postgresql")
# Runs the command given as its arguments and prints one JSON line: the command's exit status,
# wall time, the peak memory of any of its processes (KiB on Linux) and the tail of its output.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
print(json.dumps({"rc": done.returncode, "seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stderr": done.stderr[-20000:], "stdout": done.stdout[-4000:]}))
"""
# The loader of `playbook sample --to`, on the folder already written: rows copied per table.
LOAD = """
import json, sys, time
from playbook.warehouse_load import copy_workspace
started = time.perf_counter()
copied = copy_workspace(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "rows": copied}))
"""
# Statements that read the events table, as pg_stat_statements records them (DuckDB's scans are
# `COPY (SELECT ... FROM "public"."events" WHERE ...) TO STDOUT`, one per range of pages).
EVENTS_STATEMENTS = re.compile(r'\bevents\b', re.IGNORECASE)
STATS_SCHEMA = "pb_bench_stats"
PAGE_RANGE = re.compile(r"ctid BETWEEN '\([0-9,]+\)'::tid AND '\([0-9,]+\)'::tid( AND )?")
# A float figure computed from the same rows in another order may differ in its last bits.
REL_TOL = 1e-9


def make_params(folder: Path, workspace: str) -> None:
    """A copy of the project's params whose defaults point at ``workspace`` (a folder or a URL)."""
    shutil.copytree(ROOT / "params", folder)
    defaults = yaml.safe_load((folder / "defaults.yaml").read_text())
    defaults["workspace"] = workspace
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))


def measure(command: list[str], what: str, env: dict[str, str], secret: str | None = None) -> dict:
    """Run ``command`` under the wrapper; its figures, or exit with its error output."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"the measuring wrapper of {what} failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["rc"] != 0:
        said = figures["stderr"] + figures["stdout"]
        sys.exit(f"{what} failed (exit status {figures['rc']}): {' '.join(command)}\n"
                 f"{said.replace(secret, '***') if secret else said}")
    return figures


def check_report(out: Path, team: str, area: str, workspace: str) -> dict:
    """The report's recorded result; exits unless it was rendered afresh from ``workspace``."""
    manifest = json.loads((out / "manifest.json").read_text())
    key = f"{team}/{area}"
    report = manifest["reports"].get(key)
    if report is None:
        sys.exit(f"{out}/manifest.json has no report {key}; it holds {sorted(manifest['reports'])}")
    if report.get("status") != "rendered" or report.get("reused"):
        sys.exit(f"{key} in {out} was not rendered afresh: status {report.get('status')!r}, reused {report.get('reused')!r}, "
                 f"reason {report.get('reason')!r}")
    if not (out / report["html"]).is_file():
        sys.exit(f"{key} in {out}: no HTML at {report['html']}")
    recorded = str(manifest["params"][team].get("workspace"))
    if recorded != workspace:
        sys.exit(f"{key} in {out} was read from {recorded}, not {workspace}")
    return report["result"]


def comparable(result: dict) -> dict:
    """What must be equal between the two sides: every figure, the headline and the actions."""
    return {
        "figures": result["figures"],
        "headline": result["headline"],
        "actions": [{k: a.get(k) for k in ("rule", "subject", "severity", "money", "text", "figures")} for a in result["actions"]],
    }


def differences(a: object, b: object, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats within REL_TOL count as equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{where}.{k}: only on the {'parquet' if k in a else 'postgresql'} side" for k in sorted(set(a) ^ set(b), key=str)]
        for k in sorted(set(a) & set(b), key=str):
            found += differences(a[k], b[k], f"{where}.{k}")
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, bool) or isinstance(b, bool):
        return [] if a is b else [f"{where}: {a!r} against {b!r}"]
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return [] if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=REL_TOL) else [f"{where}: {a!r} against {b!r}"]
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def events_read(server) -> tuple[int, int]:
    """Rows of public.events the server's scans have read so far, and the rows it holds."""
    line = server.psql(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0), n_live_tup "
        "FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = 'events'"
    )
    read, live = line.split("|")
    return int(read), int(live)


def settled_reads(server, before: int) -> int:
    """The events rows read since ``before``, once the run's server processes have reported them.

    A backend reports its table statistics when it goes idle or exits, which may be a moment
    after the client that used it has; so the count is read until it stops changing."""
    last = events_read(server)[0]
    for _ in range(20):
        time.sleep(0.25)
        now = events_read(server)[0]
        if now == last and now > before:
            break
        last = now
    return last - before


def enable_statements(server) -> str | None:
    """Load pg_stat_statements into the server (a restart) in a schema of its own; None when it
    worked, else why not (the rows sent are then not shown)."""
    try:
        server.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        command = [str(server.bin_dir / "pg_ctl"), "-D", str(server.data), "-l", str(server.folder / "server.log"),
                   "-m", "fast", "-w", "-t", "60", "restart"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            return f"the server did not restart with it: {done.stderr.strip() or done.stdout.strip()}"
        server.psql(f"CREATE SCHEMA {STATS_SCHEMA}; CREATE EXTENSION pg_stat_statements SCHEMA {STATS_SCHEMA}")
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        return str(err)
    return None


def reset_statements(server) -> None:
    server.psql(f"SELECT {STATS_SCHEMA}.pg_stat_statements_reset()")


def events_sent(server) -> dict[str, list[int]]:
    """Since the last reset, the statements naming the events table, each with its calls and the
    rows it returned (for DuckDB's COPY scans: the rows sent). DuckDB splits a scan into ranges of
    pages (``ctid BETWEEN ...``); the ranges of one scan are counted as one statement here."""
    out = server.psql(
        "SELECT calls, rows, regexp_replace(query, '\\s+', ' ', 'g') FROM "
        f"{STATS_SCHEMA}.pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE d.datname = current_database()"
    )
    shapes: dict[str, list[int]] = {}
    for line in out.splitlines():
        calls, rows, query = line.split("|", 2)
        if not EVENTS_STATEMENTS.search(query) or "pg_stat_statements" in query:
            continue
        shape = PAGE_RANGE.sub("", query).replace(" WHERE )", ")")
        totals = shapes.setdefault(shape, [0, 0])
        totals[0] += int(calls)
        totals[1] += int(rows)
    return shapes


def _mb(kib: float) -> str:
    return f"{kib / 1024:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="usage events in the sample (default 10,000,000)")
    parser.add_argument("--team", default="growth", help="team to render (default growth)")
    parser.add_argument("--area", default="escalations", help="area to render (default escalations)")
    parser.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3,
                        help="runs of each side; the median is reported (default 3)")
    parser.add_argument("--jobs", type=int, default=1, help="--jobs of both commands (default 1)")
    parser.add_argument("--as-of", default=AS_OF.isoformat(), help=f"as-of date of the runs and of the sample (default {AS_OF})")
    parser.add_argument("--seed", type=int, default=7, help="sample seed (default 7)")
    parser.add_argument("--workspace", type=Path,
                        help="reuse this sample workspace (written by `playbook sample` for the same --as-of) instead of writing one; "
                             "--events and --seed are then ignored")
    args = parser.parse_args()
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be at least 1")
    as_of = date.fromisoformat(args.as_of)
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PgServer, find_bin

    if find_bin() is None:
        sys.exit("no PostgreSQL server binary (initdb) found; install Debian's postgresql package")
    quiet_env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        tmp = Path(tmp)
        if args.workspace:
            folder = args.workspace.resolve()
            if not (folder / "events.parquet").is_file():
                sys.exit(f"no events.parquet in {folder}: not a sample workspace with its events as Parquet")
            sizes = f"reused {folder}"
        else:
            folder = tmp / "ws"
            # Written by a child, whose peak is then left out of the runs' (a child starts with its parent's).
            written = subprocess.run([str(BIN / "playbook"), "sample", "--out", str(folder), "--seed", str(args.seed),
                                      "--as-of", as_of.isoformat(), "--events", str(args.events)], capture_output=True, text=True)
            if written.returncode != 0:
                sys.exit(f"`playbook sample` failed:\n{written.stderr}")
            said = (written.stdout + written.stderr).strip()
            sizes = said.splitlines()[-1] if said else f"Wrote {folder}"
        print(sizes, flush=True)
        parquet_bytes = (folder / "events.parquet").stat().st_size

        started = time.perf_counter()
        server = PgServer.start()
        try:
            print(f"PostgreSQL at {server.url}, started in {time.perf_counter() - started:.1f} s", flush=True)
            why_not = enable_statements(server)
            if why_not:
                print(f"pg_stat_statements not loaded ({why_not}); rows sent will not be shown", flush=True)
            pg_env = {**quiet_env, "PGPASSWORD": server.password}
            load = measure([sys.executable, "-c", LOAD, str(folder), server.url], "the load (copy_workspace)", pg_env, server.password)
            copied = json.loads(load["stdout"].strip().splitlines()[-1])
            started = time.perf_counter()
            server.psql("VACUUM ANALYZE")
            vacuumed = time.perf_counter() - started
            total = sum(copied["rows"].values())
            print(f"loaded {total:,} rows in {len(copied['rows'])} tables ({copied['rows'].get('events', 0):,} events) "
                  f"with copy_workspace in {copied['seconds']:.1f} s ({load['seconds']:.1f} s with its imports, "
                  f"peak {_mb(load['peak_kib'])}); VACUUM ANALYZE {vacuumed:.1f} s", flush=True)
            table_bytes = int(server.psql("SELECT pg_total_relation_size('public.events')"))

            params = {"parquet": tmp / "params-parquet", "postgresql": tmp / "params-postgresql"}
            sources = {"parquet": str(folder), "postgresql": server.url}
            for side in SIDES:
                make_params(params[side], sources[side])
            envs = {"parquet": quiet_env, "postgresql": pg_env}
            print(f"\n{args.team}/{args.area}, --as-of {as_of}, --jobs {args.jobs}\n", flush=True)

            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            reads, sent = [], []
            first = None
            for i in range(args.repeat):
                # Alternate which side goes first, so that neither always meets a warm (or a cold) cache.
                for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                    out = tmp / f"repeat{i + 1}" / side
                    command = [str(BIN / "playbook"), "run", "--force", "--params", str(params[side]), "--out", str(out),
                               "--team", args.team, "--area", args.area, "--as-of", as_of.isoformat(), "--jobs", str(args.jobs)]
                    if side == "postgresql":
                        before = events_read(server)[0]
                        if not why_not:
                            reset_statements(server)
                    figures = measure(command, f"the {side} run", envs[side], server.password)
                    if side == "postgresql":
                        reads.append(settled_reads(server, before))
                        if not why_not:
                            sent.append(events_sent(server))
                    runs[side].append(figures)
                latest = {side: comparable(check_report(tmp / f"repeat{i + 1}" / side, args.team, args.area, sources[side]))
                          for side in SIDES}
                found = differences(latest["parquet"], latest["postgresql"])
                if found:
                    sys.exit(f"repeat {i + 1}: the report's figures differ between Parquet and PostgreSQL "
                             f"({len(found)} differences):\n  " + "\n  ".join(found[:40]))
                # And the same as the first repeat's: a run that read other rows would differ here.
                first = first or latest["parquet"]
                found = differences(first, latest["parquet"])
                if found:
                    sys.exit(f"repeat {i + 1}: the report's figures differ from the first repeat's:\n  " + "\n  ".join(found[:40]))
                line = (f"repeat {i + 1}: parquet {runs['parquet'][-1]['seconds']:.2f} s, peak {_mb(runs['parquet'][-1]['peak_kib'])}; "
                        f"postgresql {runs['postgresql'][-1]['seconds']:.2f} s, peak {_mb(runs['postgresql'][-1]['peak_kib'])}; "
                        f"server read {reads[-1]:,} events rows")
                if sent:
                    line += f", sent {sum(r for _, r in sent[-1].values()):,} in {len(sent[-1])} distinct queries"
                print(line, flush=True)
            figures_count = len(latest["parquet"]["figures"])

            time_med = {side: statistics.median(f["seconds"] for f in runs[side]) for side in SIDES}
            peak_med = {side: statistics.median(f["peak_kib"] for f in runs[side]) for side in SIDES}
            rows = [("side", f"median of {args.repeat}", "peak memory (median)", "peak (largest)")]
            for side in SIDES:
                rows.append((side, f"{time_med[side]:.2f} s", _mb(peak_med[side]), _mb(max(f["peak_kib"] for f in runs[side]))))
            widths = [max(len(row[c]) for row in rows) for c in range(4)]
            events = copied["rows"].get("events", 0)
            print(f"\n{events:,} events; {args.team}/{args.area}: {figures_count} figures, headline and "
                  f"{len(latest['parquet']['actions'])} actions equal on both sides in every repeat; peak: of any one process")
            for row in rows:
                print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            print(f"  ratio postgresql / parquet: time {time_med['postgresql'] / time_med['parquet']:.2f}, "
                  f"memory {peak_med['postgresql'] / peak_med['parquet']:.2f}")
            print("  runs: " + "; ".join(f"{side} " + " / ".join(f"{f['seconds']:.2f}" for f in runs[side]) + " s" for side in SIDES))
            print(f"  events table: {table_bytes / 1e6:,.0f} MB on the server (pg_total_relation_size, with indexes and TOAST); "
                  f"events.parquet {parquet_bytes / 1e6:,.0f} MB")
            median_read = statistics.median(reads)
            passes = f" ({median_read / events:.1f} times the table)" if events else ""
            print(f"  rows of events the server read in a run (seq_tup_read, before filters): median {median_read:,.0f}{passes}")
            if sent:
                median_sent = statistics.median(sum(r for _, r in shapes.values()) for shapes in sent)
                share = f" ({median_sent / events:.1f} times the table)" if events else ""
                print(f"  rows of events the server sent in a run (pg_stat_statements): median {median_sent:,.0f}{share}; "
                      f"the last run's {len(sent[-1])} distinct queries on events (page ranges merged), most rows first:")
                for shape, (calls, rows_sent) in sorted(sent[-1].items(), key=lambda item: -item[1][1]):
                    print(f"    {rows_sent:>12,} rows, {calls:>3} calls  {shape[:300]}")
            print(f"  load (not compared): copy_workspace {copied['seconds']:.1f} s for {total:,} rows")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
