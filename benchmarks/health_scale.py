"""Product health at scale: the playbook's DuckDB computations against a plain pandas reference.

Writes a sample workspace with ``--events`` usage events (Parquet), then, for one team, computes
the event metrics of the escalations & product-health report both ways, each in a fresh process
so that its peak memory (``ru_maxrss``) is its own:

- playbook: ``Workspace.relation("events")`` read as ``health.Events`` (which validates the table against the contract
  first, as a report does) and ``playbook.health``: daily stickiness (DAU, WAU, MAU), feature
  adoption, weekly retention cohorts, active days per account;
- reference: the same events read into pandas, and the same metrics with straightforward
  vectorised pandas (``groupby``/``nunique``/``merge``), no SQL.

Each side runs ``--repeat`` times (median reported); the benchmark fails unless both give the
same numbers, and prints the time ratio reference / playbook and both peaks.

    .venv/bin/python benchmarks/health_scale.py [--events 10000000] [--team growth] [--repeat 3]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 11, 27)


def _period():
    from playbook.period import resolve_period

    return resolve_period("last_30_days", AS_OF)


def playbook_side(workspace: Path, products: list[str]) -> dict[str, pd.DataFrame]:
    from playbook import health
    from playbook.workspace import Workspace

    period = _period()
    with Workspace(workspace) as ws:
        events = health.Events(ws.con, ws.relation("events", products))
        features = ws.read("features", products=products)
        daily = health.stickiness(events, period)[["day", "dau", "wau", "mau"]]
        adoption = health.feature_adoption(events, features, period)[["feature_id", "accounts", "visitors"]]
        cohorts = health.retention(events, period.end)[["cohort", "size", "offset_weeks", "retained"]]
        days = health.active_days(events, {"now": period, "before": period.previous()})
    return {"stickiness": daily, "adoption": adoption, "retention": cohorts, "active_days": days}


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
    for name in a:
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


def run_side(side: str, workspace: Path, products: list[str], tmp: Path) -> dict:
    out = tmp / f"{side}.pkl"
    subprocess.run([sys.executable, __file__, "--child", side, str(workspace), json.dumps(products), str(out)], check=True)
    return pickle.loads(out.read_bytes())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="usage events in the sample (default 10,000,000)")
    parser.add_argument("--team", default="growth", help="team whose products are measured (default growth)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median is reported (default 3)")
    args = parser.parse_args()
    from playbook.sample import TEAM_PRODUCTS

    products = list(TEAM_PRODUCTS[args.team])
    with tempfile.TemporaryDirectory(prefix="pb-health-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        # In its own process: Linux carries a process's peak memory over into the children it
        # starts, so a sample written here would be counted in both sides' peaks.
        subprocess.run([str(Path(sys.executable).parent / "playbook"), "sample", "--out", str(tmp / "ws"), "--seed", "7",
                        "--as-of", AS_OF.isoformat(), "--events", str(args.events)], check=True, capture_output=True)
        counts = {"events": run_count(tmp / "ws")}
        print(f"sample: {counts['events']:,} events written in {time.perf_counter() - started:.1f} s", flush=True)
        pb, ref = [], []
        for i in range(args.repeat):
            pb.append(run_side("playbook", tmp / "ws", products, tmp))
            ref.append(run_side("pandas", tmp / "ws", products, tmp))
            print(f"run {i + 1}: playbook {pb[-1]['seconds']:.2f} s ({pb[-1]['peak_mb']:.0f} MB), "
                  f"pandas {ref[-1]['seconds']:.2f} s ({ref[-1]['peak_mb']:.0f} MB)", flush=True)
        differ = same(pb[0]["result"], ref[0]["result"])
        if differ:
            sys.exit(f"the two sides disagree on: {', '.join(differ)}")
        t_pb, t_ref = statistics.median(r["seconds"] for r in pb), statistics.median(r["seconds"] for r in ref)
        m_pb, m_ref = max(r["peak_mb"] for r in pb), max(r["peak_mb"] for r in ref)
        print(f"\n{counts['events']:,} events, team {args.team} ({', '.join(products)}), median of {args.repeat}; same numbers on both sides:")
        print(f"  playbook (DuckDB, validated):   {t_pb:7.2f} s   peak {m_pb:6.0f} MB")
        print(f"  pandas reference:               {t_ref:7.2f} s   peak {m_ref:6.0f} MB")
        print(f"  ratio pandas / playbook: {t_ref / t_pb:.2f}x")


if __name__ == "__main__":
    main()
