"""Product health at scale: the playbook's DuckDB computations against a plain pandas reference.

Writes a sample workspace with ``--events`` usage events (Parquet; or reuses ``--workspace``),
then, for one team, computes the event metrics of the escalations & product-health report both
ways, each in a fresh process so that its peak memory (``ru_maxrss``) is its own:

- playbook: ``Workspace.relation("events")`` read as ``health.Events`` (which validates the table against the contract
  first, as a report does) and ``playbook.health``: daily stickiness (DAU, WAU, MAU), feature
  adoption, weekly retention cohorts, active days per account, then the lifecycle and PES of
  the period and the one before (timed, not compared);
- reference: the same events read into pandas, and the same metrics with straightforward
  vectorised pandas (``groupby``/``nunique``/``merge``), no SQL. It holds every event in memory
  (some 30 GB at 100 million), so by default it runs only up to 20 million events.

Each side runs ``--repeat`` times (median reported); the benchmark fails unless both give the
same numbers, and prints the time ratio reference / playbook and both peaks. With ``--report N``
it then renders the team's whole escalations report N times (``playbook run --area
escalations``), timed with the peak memory of any of its processes.

    .venv/bin/python benchmarks/health_scale.py [--events 10000000] [--team growth] [--repeat 3]
        [--reference auto|yes|no] [--report 0] [--workspace DIR] [--dense VISITORS] [--against DIR]

``--dense VISITORS`` replaces the sample's events with a denser shape, the one issue 23 measured:
``--events`` events spread evenly over 176 days, each of VISITORS visitors (one product each,
2,000 accounts) active on most days. The sample's visitors come back on some days only, so its
visitor-days are fewer: the dense shape is the hard case for the rolling windows.

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# A child measuring another checkout (--against) imports the playbook from there.
sys.path.insert(0, os.environ.get("HEALTH_SCALE_TREE") or str(ROOT))

AS_OF = date(2026, 11, 27)


def _period():
    from playbook.period import resolve_period

    return resolve_period("last_30_days", AS_OF)


REFERENCE_MAX = 20_000_000


def playbook_side(workspace: Path, products: list[str]) -> dict[str, pd.DataFrame]:
    from playbook import health
    from playbook.workspace import Workspace

    period = _period()
    laps: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        laps[name] = time.perf_counter() - started
        started = time.perf_counter()

    with Workspace(workspace) as ws:
        events = health.Events(ws.con, ws.relation("events", products))
        features = ws.read("features", products=products)
        lap("check")
        daily = health.stickiness(events, period)[["day", "dau", "wau", "mau"]]
        lap("stickiness")
        adoption = health.feature_adoption(events, features, period)[["feature_id", "accounts", "visitors"]]
        lap("adoption")
        cohorts = health.retention(events, period.end)[["cohort", "size", "offset_weeks", "retained"]]
        lap("retention")
        days = health.active_days(events, {"now": period, "before": period.previous()})
        lap("active_days")
        health.lifecycle(events, period.end, 7, 12)
        lap("lifecycle")
        health.pes(events, features, period)
        health.pes(events, features, period.previous())
        lap("pes")
    return {"stickiness": daily, "adoption": adoption, "retention": cohorts, "active_days": days, "_laps": laps}


def pandas_side(workspace: Path, products: list[str]) -> dict[str, pd.DataFrame]:
    """The reference: every metric from a pandas frame of the team's events."""
    import duckdb

    period = _period()
    # pyarrow is not a dependency, so DuckDB only reads the file into pandas, unfiltered.
    frame = duckdb.execute("SELECT * FROM read_parquet(?)", [str(workspace / "events.parquet")]).df()
    ev = frame[frame["product"].isin(products)]
    del frame
    start, end = pd.Timestamp(period.start), pd.Timestamp(period.end)
    day = ev["ts"].dt.normalize()

    # Stickiness: distinct visitors on the day, in the 7 days and in the 30 days ending it.
    visits = pd.DataFrame({"day": day, "visitor_id": ev["visitor_id"]})
    visits = visits[(visits["day"] >= start - pd.Timedelta(days=29)) & (visits["day"] <= end)].drop_duplicates()
    rows = []
    for d in pd.date_range(start, end, freq="D"):
        window = visits[(visits["day"] > d - pd.Timedelta(days=30)) & (visits["day"] <= d)]
        rows.append({
            "day": d,
            "dau": window.loc[window["day"] == d, "visitor_id"].nunique(),
            "wau": window.loc[window["day"] > d - pd.Timedelta(days=7), "visitor_id"].nunique(),
            "mau": window["visitor_id"].nunique(),
        })
    daily = pd.DataFrame(rows)

    # Feature adoption: accounts and visitors that used each feature in the period.
    span = ev[(ev["ts"] >= start) & (ev["ts"] < end + pd.Timedelta(days=1))]
    used = span.dropna(subset=["feature_id"]).groupby("feature_id").agg(accounts=("account_id", "nunique"), visitors=("visitor_id", "nunique"))
    features = duckdb.execute("SELECT feature_id FROM read_csv(?, all_varchar=true) WHERE product IN (SELECT UNNEST(?))",
                              [str(workspace / "features.csv"), list(products)]).df()
    adoption = features.merge(used.reset_index(), on="feature_id", how="left").fillna({"accounts": 0, "visitors": 0})

    # Retention: weekly cohorts by first event; share active N weeks later, complete weeks only.
    week = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    firsts = week.groupby(ev["account_id"]).min().rename("cohort")
    last_week = end - pd.Timedelta(days=end.weekday())
    first_cohort = last_week - pd.Timedelta(weeks=11)
    firsts = firsts[(firsts >= first_cohort) & (firsts <= last_week)]
    weeks = pd.DataFrame({"account_id": ev["account_id"], "week": week})[ev["ts"] < end + pd.Timedelta(days=1)].drop_duplicates()
    joined = weeks.merge(firsts.reset_index(), on="account_id")
    joined["offset_weeks"] = (joined["week"] - joined["cohort"]).dt.days // 7
    retained = joined.groupby(["cohort", "offset_weeks"])["account_id"].nunique().rename("retained")
    sizes = firsts.value_counts().rename("size")
    grid = [(c, int(n), o) for c, n in sizes.sort_index().items() for o in range(9) if c + pd.Timedelta(days=7 * o + 6) <= end]
    cohorts = pd.DataFrame(grid, columns=["cohort", "size", "offset_weeks"])
    cohorts = cohorts.merge(retained.reset_index(), on=["cohort", "offset_weeks"], how="left").fillna({"retained": 0})

    # Active days per account in the period and the one before.
    before = period.previous()
    span2 = pd.DataFrame({"account_id": ev["account_id"], "day": day})
    span2 = span2[(span2["day"] >= pd.Timestamp(before.start)) & (span2["day"] <= end)].drop_duplicates()
    now_mask = span2["day"] >= start
    before_mask = span2["day"] <= pd.Timestamp(before.end)
    days = pd.DataFrame({
        "now": span2[now_mask].groupby("account_id").size(),
        "before": span2[before_mask].groupby("account_id").size(),
    }).fillna(0).reset_index().rename(columns={"index": "account_id"})
    return {"stickiness": daily, "adoption": adoption, "retention": cohorts, "active_days": days}


def same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> list[str]:
    """Names of the metrics whose numbers differ (rows compared in a common order)."""
    differ = []
    for name in b:
        x, y = a[name].copy(), b[name].copy()
        key = list(x.columns[:1]) if name != "retention" else ["cohort", "offset_weeks"]
        x = x.sort_values(key, ignore_index=True)
        y = y[list(x.columns)].sort_values(key, ignore_index=True)
        for col in x.columns:
            if col in key:
                x[col], y[col] = x[col].astype(str).str[:10], y[col].astype(str).str[:10]
            else:
                x[col], y[col] = x[col].astype(float), y[col].astype(float)
        try:
            pd.testing.assert_frame_equal(x, y, check_dtype=False)
        except AssertionError:
            differ.append(name)
    return differ


def child(side: str, workspace: str, products: str, out: str) -> None:
    started = time.perf_counter()
    result = (playbook_side if side == "playbook" else pandas_side)(Path(workspace), json.loads(products))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_bytes(pickle.dumps({"seconds": seconds, "peak_mb": peak_mb, "result": result}))


def run_count(workspace: Path) -> int:
    import duckdb

    return int(duckdb.execute("SELECT count(*) FROM read_parquet(?)", [str(workspace / "events.parquet")]).fetchall()[0][0])


def run_side(side: str, workspace: Path, products: list[str], tmp: Path, tree: Path | None = None) -> dict:
    """One side in a fresh process; ``tree``: the playbook side of another checkout. A side that
    fails (runs out of memory) is reported with its error instead of stopping the benchmark."""
    out = tmp / f"{side}.pkl"
    out.unlink(missing_ok=True)
    env = {**os.environ, "HEALTH_SCALE_TREE": str(tree)} if tree else None
    done = subprocess.run([sys.executable, __file__, "--child", side, str(workspace), json.dumps(products), str(out)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    return pickle.loads(out.read_bytes())


# Runs a command and prints the peak resident memory of any process it started (KB).
MEASURE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
    "sys.stderr.write(r.stderr.decode()); r.check_returncode(); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


DENSE_DAYS = 176


def write_dense(workspace: Path, events: int, visitors: int) -> None:
    """Replace the workspace's events with ``events`` rows over DENSE_DAYS days ending on AS_OF,
    in time order (as an export appends them), from ``visitors`` visitors: DuckDB writes them
    from a range, so nothing is held in memory. Visitor v is in account v mod 2,000 (of the
    sample's) and product v mod 7, and uses one of its product's features on 6 events in 10."""
    import duckdb

    import pandas as pd

    products = ["insights", "dashboards", "mobile-app", "api", "integrations", "onboarding", "billing"]
    accounts = sorted(pd.read_csv(workspace / "accounts.csv", dtype=str)["account_id"])[:2000]
    features = pd.read_csv(workspace / "features.csv", dtype=str).sort_values("feature_id")
    ids = [features.loc[features["product"] == p, "feature_id"].tolist() for p in products]
    start = datetime.combine(AS_OF - timedelta(days=DENSE_DAYS - 1), datetime.min.time())
    target = workspace / "events.parquet"
    # A plain projection of a range, no join or sort: DuckDB writes the rows in range order
    # (preserve_insertion_order), on every core, in bounded memory.
    with duckdb.connect(config={"memory_limit": "1GB", "temp_directory": str(workspace / ".dense-tmp")}) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            """
            COPY (
                WITH r AS (
                    SELECT $start + to_microseconds(CAST(i * (CAST($seconds AS BIGINT) * 1000000 // $n) AS BIGINT)) AS ts,
                           CAST(hash(i) % $visitors AS BIGINT) AS v, hash(i * 7 + 1) AS h FROM range($n) t(i)
                )
                SELECT ts, 'D' || lpad(CAST(v AS VARCHAR), 6, '0') AS visitor_id,
                       $accounts[1 + CAST(v % len($accounts) AS INTEGER)] AS account_id,
                       $products[1 + CAST(v % 7 AS INTEGER)] AS product,
                       CASE WHEN h % 10 < 6 THEN $ids[1 + CAST(v % 7 AS INTEGER)][1 + CAST((h // 10) % len($ids[1 + CAST(v % 7 AS INTEGER)]) AS INTEGER)] END AS feature_id,
                       CAST(NULL AS VARCHAR) AS event
                FROM r
            ) TO $out (FORMAT parquet, COMPRESSION zstd)
            """,
            {"start": start, "seconds": DENSE_DAYS * 86400, "n": events, "visitors": visitors, "products": products,
             "accounts": accounts, "ids": ids, "out": str(workspace / "events.dense.parquet")},
        )
    (workspace / "events.dense.parquet").replace(target)
    shutil.rmtree(workspace / ".dense-tmp", ignore_errors=True)


def time_report(workspace: Path, team: str, out: Path) -> tuple[float, float]:
    """One `playbook run` of the team's escalations report: seconds and the peak MB of any process."""
    bin_dir = Path(sys.executable).parent
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bin_dir / "playbook"), "run", "--params", str(ROOT / "params"), "--workspace",
         str(workspace), "--team", team, "--area", "escalations", "--as-of", AS_OF.isoformat(), "--out", str(out), "--force"],
        check=True, capture_output=True, text=True,
    )
    return time.perf_counter() - started, float(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--dense-child":
        write_dense(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="usage events in the sample (default 10,000,000)")
    parser.add_argument("--team", default="growth", help="team whose products are measured (default growth)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median is reported (default 3)")
    parser.add_argument("--reference", choices=("auto", "yes", "no"), default="auto",
                        help=f"run the pandas reference (auto: up to {REFERENCE_MAX:,} events; it holds them all in memory)")
    parser.add_argument("--report", type=int, default=0, metavar="N", help="then render the team's escalations report N times (default 0)")
    parser.add_argument("--workspace", type=Path, default=None, help="a sample folder to reuse instead of writing one")
    parser.add_argument("--dense", type=int, default=0, metavar="VISITORS",
                        help="replace the sample's events with --events dense events from VISITORS visitors (issue 23's shape)")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout of the project (git worktree add DIR COMMIT) whose playbook side is measured too")
    args = parser.parse_args()
    from playbook.sample import TEAM_PRODUCTS

    products = list(TEAM_PRODUCTS[args.team])
    with tempfile.TemporaryDirectory(prefix="pb-health-") as tmp:
        tmp = Path(tmp)
        ws = args.workspace or tmp / "ws"
        started = time.perf_counter()
        if args.workspace is None:
            # In its own process: Linux carries a process's peak memory over into the children it
            # starts, so a sample written here would be counted in both sides' peaks.
            subprocess.run([str(Path(sys.executable).parent / "playbook"), "sample", "--out", str(ws), "--seed", "7",
                            "--as-of", AS_OF.isoformat(), "--events", str(args.events if not args.dense else 20_000)],
                           check=True, capture_output=True)
            if args.dense:
                subprocess.run([sys.executable, __file__, "--dense-child", str(ws), str(args.events), str(args.dense)], check=True)
        counts = {"events": run_count(ws)}
        written = "reused" if args.workspace else f"written in {time.perf_counter() - started:.1f} s"
        print(f"sample: {counts['events']:,} events {written}", flush=True)
        reference = args.reference == "yes" or (args.reference == "auto" and counts["events"] <= REFERENCE_MAX)
        pb, ref, old = [], [], []
        for i in range(args.repeat):
            pb.append(run_side("playbook", ws, products, tmp))
            if "error" in pb[-1]:
                sys.exit(f"the playbook side failed: {pb[-1]['error']}")
            line = f"run {i + 1}: playbook {pb[-1]['seconds']:.2f} s ({pb[-1]['peak_mb']:.0f} MB: " + ", ".join(
                f"{k} {v:.1f}" for k, v in pb[-1]["result"]["_laps"].items()) + ")"
            if args.against:
                old.append(run_side("playbook", ws, products, tmp, args.against))
                line += (f", against {old[-1]['seconds']:.2f} s ({old[-1]['peak_mb']:.0f} MB: " + ", ".join(
                    f"{k} {v:.1f}" for k, v in old[-1]["result"]["_laps"].items()) + ")" if "error" not in old[-1]
                    else f", against failed: {old[-1]['error']}")
            if reference:
                ref.append(run_side("pandas", ws, products, tmp))
                line += f", pandas {ref[-1]['seconds']:.2f} s ({ref[-1]['peak_mb']:.0f} MB)"
            print(line, flush=True)
        t_pb, m_pb = statistics.median(r["seconds"] for r in pb), max(r["peak_mb"] for r in pb)
        scope = f"\n{counts['events']:,} events, team {args.team} ({', '.join(products)}), median of {args.repeat}"
        if reference:
            differ = same(pb[0]["result"], ref[0]["result"])
            if differ:
                sys.exit(f"the two sides disagree on: {', '.join(differ)}")
            t_ref, m_ref = statistics.median(r["seconds"] for r in ref), max(r["peak_mb"] for r in ref)
            print(f"{scope}; same numbers on both sides:")
            print(f"  playbook (DuckDB, validated):   {t_pb:7.2f} s   peak {m_pb:6.0f} MB")
            print(f"  pandas reference:               {t_ref:7.2f} s   peak {m_ref:6.0f} MB")
            print(f"  ratio pandas / playbook: {t_ref / t_pb:.2f}x")
        else:
            print(f"{scope} (no pandas reference at this size):")
            print(f"  playbook (DuckDB, validated):   {t_pb:7.2f} s   peak {m_pb:6.0f} MB")
        done = [r for r in old if "error" not in r]
        if args.against and done:
            differ = same(pb[0]["result"], {k: v for k, v in done[0]["result"].items() if k != "_laps"})
            t_old, m_old = statistics.median(r["seconds"] for r in done), max(r["peak_mb"] for r in done)
            print(f"  against {args.against}: {t_old:7.2f} s   peak {m_old:6.0f} MB ({len(done)} of {len(old)} runs finished); "
                  f"ratio {t_old / t_pb:.2f}x time, {m_old / m_pb:.2f}x memory; "
                  + (f"numbers differ on: {', '.join(differ)}" if differ else "same numbers"))
        elif args.against:
            print(f"  against {args.against}: no run finished ({old[0]['error']})")
        if args.report:
            runs = [time_report(ws, args.team, tmp / f"out{i}") for i in range(args.report)]
            for i, (seconds, peak) in enumerate(runs):
                print(f"report run {i + 1}: {seconds:.2f} s, peak {peak:,.0f} MB", flush=True)
            print(f"  escalations report ({args.team}): median {statistics.median(r[0] for r in runs):.2f} s, "
                  f"peak {max(r[1] for r in runs):,.0f} MB of one process")


if __name__ == "__main__":
    main()
