"""The sample company is deterministic and carries the effects it claims to plant.

These checks use plain pandas on the raw CSV files, independently of the feedback module, so a
bug in the analysis cannot hide a generator that stopped planting.
"""

import filecmp
import shutil
from datetime import date, timedelta
from pathlib import Path

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import AS_OF, make_params, playbook_cli
from playbook.sample import PLANTED, TEAM_PRODUCTS, generate, sample_as_of


def test_same_seed_and_date_give_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sizes = dict(as_of=AS_OF, accounts=200, responses=500, feedback=100, events=5000, escalations=200, bugs=50)
    generate(a, seed=11, **sizes)
    generate(b, seed=11, **sizes)
    generate(c, seed=12, **sizes)
    names = sorted(p.name for p in a.glob("*.csv"))
    assert len(names) == 16
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert match == names and not mismatch and not errors
    events = [duckdb.execute("SELECT * FROM read_parquet(?)", [str(p / "events.parquet")]).df() for p in (a, b)]
    pd.testing.assert_frame_equal(*events)
    assert not filecmp.cmp(a / "nps_responses.csv", c / "nps_responses.csv", shallow=False)
    assert sample_as_of(a) == AS_OF


def test_default_sizes(tmp_path):
    counts = generate(tmp_path, as_of=AS_OF)
    assert counts["accounts"] == 2000 and counts["nps_responses"] == 10_000
    assert counts["feedback"] >= 3000 and counts["roadmap"] == 32
    assert 900_000 <= counts["events"] <= 1_200_000 and counts["features"] == 26


def _nps(scores):
    return 100 * ((scores >= 9).mean() - (scores <= 6).mean())


def test_planted_nps_drop_and_theme(sample_workspace):
    responses = pd.read_csv(sample_workspace / "nps_responses.csv", parse_dates=["submitted_at"])
    product = responses[responses["product"] == PLANTED.nps_drop_product]
    cut = pd.Timestamp(AS_OF - timedelta(days=29), tz="UTC")
    before_cut = pd.Timestamp(AS_OF - timedelta(days=59), tz="UTC")
    last = product[product["submitted_at"] >= cut]
    previous = product[(product["submitted_at"] >= before_cut) & (product["submitted_at"] < cut)]
    assert _nps(previous["score"]) - _nps(last["score"]) >= 30
    detractor_comments = last.loc[(last["score"] <= 6) & last["comment"].notna(), "comment"].str.lower()
    performance = detractor_comments.str.contains(r"\b(?:slow|crash\w*|freeze|loading|sluggish|laggy)\b")
    assert performance.mean() > 0.5
    # the other teams' products carry no such drop
    for team, products in TEAM_PRODUCTS.items():
        if team == PLANTED.nps_drop_team:
            continue
        other = responses[responses["product"].isin(products)]
        o_last = other[other["submitted_at"] >= cut]
        o_prev = other[(other["submitted_at"] >= before_cut) & (other["submitted_at"] < cut)]
        assert _nps(o_prev["score"]) - _nps(o_last["score"]) < 15


def test_planted_demand_item_has_most_arr_but_middling_rice(sample_workspace):
    feedback = pd.read_csv(sample_workspace / "feedback.csv")
    accounts = pd.read_csv(sample_workspace / "accounts.csv")
    roadmap = pd.read_csv(sample_workspace / "roadmap.csv")
    live = accounts[accounts["churned_at"].isna()].set_index("account_id")["arr"]
    team_items = roadmap[roadmap["team"] == PLANTED.nps_drop_team]
    demand = {
        item: live.reindex(feedback.loc[feedback["roadmap_item_id"] == item, "account_id"].unique()).fillna(0).sum()
        for item in team_items["item_id"]
    }
    assert max(demand, key=demand.get) == PLANTED.demand_item
    rice = (team_items["reach"] * team_items["impact"] * team_items["confidence"] / team_items["effort"]).tolist()
    planted_rice = rice[team_items["item_id"].tolist().index(PLANTED.demand_item)]
    rank = 1 + sum(r > planted_rice for r in rice)
    assert 3 <= rank <= len(rice) - 2


def _files(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


SMALL = ("--accounts", "20", "--responses", "50", "--feedback", "20", "--events", "1000")


def test_sample_data_is_never_written_over_a_folder_the_sample_did_not_write(tmp_path):
    real = tmp_path / "acme"
    real.mkdir()
    (real / "accounts.csv").write_text("account_id,name,segment,plan,region,arr,created_at,churned_at\n"
                                       + "".join(f"A{i},Acme {i},smb,pro,EU,1000,2024-01-01,\n" for i in range(200)))
    (real / "notes.txt").write_text("mine")
    before = _files(real)
    refusal = (f"error: {real} holds data the sample did not write (accounts.csv, notes.txt); refusing to overwrite it. "
               "Give another --out (or workspace in params), or move that data away yourself")
    by_out = playbook_cli("sample", "--out", str(real), *SMALL)
    assert (by_out.returncode, by_out.stderr.strip()) == (2, refusal)
    by_params = playbook_cli("sample", "--params", str(make_params(tmp_path, real)), *SMALL)
    assert (by_params.returncode, by_params.stderr.strip()) == (2, refusal)
    demo = playbook_cli("demo", "--params", str(make_params(tmp_path / "demo", real)), "--out", str(tmp_path / "reports"))
    assert (demo.returncode, demo.stderr.strip()) == (2, refusal)
    assert _files(real) == before


def test_a_sample_is_rewritten_only_while_nothing_else_has_written_to_it(tmp_path):
    from playbook.importers import run_import

    own = tmp_path / "sample"
    assert playbook_cli("sample", "--out", str(own), "--as-of", "2026-11-01", *SMALL).returncode == 0
    # Its own files, unchanged: a later as-of date replaces them.
    again = playbook_cli("sample", "--out", str(own), "--as-of", "2026-11-02", *SMALL)
    assert again.returncode == 0, again.stderr
    assert sample_as_of(own) == date(2026, 11, 2)
    # Once someone imports into it, it is their data.
    fixtures = Path(__file__).parent / "fixtures" / "imports"
    assert run_import("posthog-events", [fixtures / "posthog_events.csv"], own).rows_written == 3
    before = _files(own)
    refused = playbook_cli("sample", "--out", str(own), "--as-of", "2026-11-03", *SMALL)
    assert refused.returncode == 2
    assert "holds data the sample did not write (events.parquet (changed since the sample wrote it))" in refused.stderr
    assert _files(own) == before


def test_a_sample_json_of_someone_elses_or_an_old_sample_since_changed_is_not_proof(tmp_path):
    import json
    import os

    theirs = tmp_path / "data"
    theirs.mkdir()
    (theirs / "sample.json").write_text('[{"customer": "acme"}]')
    refused = playbook_cli("sample", "--out", str(theirs), *SMALL)
    assert refused.returncode == 2 and "holds data the sample did not write (sample.json)" in refused.stderr
    assert (theirs / "sample.json").read_text() == '[{"customer": "acme"}]'
    # A sample written before checksums were kept, imported into since: its table is newer than its marker.
    old = tmp_path / "old-sample"
    generate(old, seed=3, as_of=AS_OF, accounts=20, responses=50, feedback=20, events=1000)
    meta = json.loads((old / "sample.json").read_text())
    del meta["files"]
    (old / "sample.json").write_text(json.dumps(meta))
    stamp = (old / "sample.json").stat().st_mtime
    os.utime(old / "accounts.csv", (stamp + 3600, stamp + 3600))
    before = _files(old)
    refused = playbook_cli("sample", "--out", str(old), *SMALL)
    assert refused.returncode == 2 and "(accounts.csv (changed since the sample wrote it))" in refused.stderr
    assert _files(old) == before
    # Untouched since, it is the sample's own and is rewritten.
    os.utime(old / "accounts.csv", (stamp, stamp))
    assert playbook_cli("sample", "--out", str(old), *SMALL).returncode == 0


def test_an_old_sample_holding_real_data_copied_with_its_times_is_refused(tmp_path):
    import json
    import os

    old = tmp_path / "old-sample"
    generate(old, seed=3, as_of=AS_OF, accounts=20, responses=50, feedback=20, events=1000)
    meta = json.loads((old / "sample.json").read_text())
    del meta["files"]
    (old / "sample.json").write_text(json.dumps(meta))
    (old / ".DS_Store").write_bytes(b"\0")  # the desktop's own file: not a reason to refuse
    real = tmp_path / "accounts.csv"
    real.write_text("account_id,name,segment,plan,region,arr,created_at,churned_at\nA1,Our one real customer,smb,pro,EU,9000,2024-01-01,\n")
    stamp = (old / "sample.json").stat().st_mtime - 3600
    os.utime(real, (stamp, stamp))
    shutil.copy2(real, old / "accounts.csv")  # keeps the file's time, as cp -p, mv and rsync -a do
    before = _files(old)
    refused = playbook_cli("sample", "--out", str(old), *SMALL)
    assert refused.returncode == 2 and "(accounts.csv (changed since the sample wrote it))" in refused.stderr
    assert _files(old) == before


# -- issue 19: experiments measured from events, peeking, units in both arms --------------------


def _events(workspace: Path) -> pd.DataFrame:
    return duckdb.execute("SELECT * FROM read_parquet(?)", [str(workspace / "events.parquet")]).df()


def _exposures(workspace: Path, experiment: str) -> pd.DataFrame:
    rows = pd.read_csv(workspace / "exposures.csv", parse_dates=["exposed_at"])
    return rows[rows["experiment_id"] == experiment].assign(exposed_at=lambda f: f["exposed_at"].dt.tz_localize(None))


def _welch_z(control: np.ndarray, treatment: np.ndarray) -> float:
    return (treatment.mean() - control.mean()) / math.sqrt(control.var(ddof=1) / len(control) + treatment.var(ddof=1) / len(treatment))


def test_event_names_label_rows_and_add_none(tmp_path):
    """The events a sample writes are exactly the rows drawn without names (the same generators,
    the steps generate() takes before them), with names only on the planted product's rows."""
    from playbook.sample import DEFAULT_SLA, make_accounts, make_bugs, make_escalations, make_events

    generate(tmp_path, seed=5, as_of=AS_OF, accounts=200, responses=100, feedback=50, events=20_000, escalations=200, bugs=50)
    written = _events(tmp_path)
    accounts = make_accounts(np.random.default_rng(5), AS_OF, 200)
    health = np.random.default_rng([5, 2])
    sla = {p: (DEFAULT_SLA[p]["first_response_hours"], DEFAULT_SLA[p]["resolution_hours"]) for p in DEFAULT_SLA}
    make_bugs(health, AS_OF, make_escalations(health, AS_OF, accounts, 200, sla), 50)
    plain = make_events(health, AS_OF, accounts, 20_000)
    pd.testing.assert_frame_equal(written.drop(columns="event"), plain, check_dtype=False)
    named = written["event"].notna()
    assert named.any() and (written.loc[named, "product"] == PLANTED.guarded_product).all()
    assert set(written.loc[named, "event"]) == {kind for kind, _ in PLANTED.event_rates}


def _guarded_units(workspace: Path) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """The planted event experiment's exposures, start date and end date."""
    catalogue = pd.read_csv(workspace / "experiments.csv").set_index("experiment_id").loc[PLANTED.guarded]
    start, end = pd.Timestamp(catalogue["start_date"]), pd.Timestamp(catalogue["end_date"])
    return _exposures(workspace, PLANTED.guarded), start, end


@pytest.mark.parametrize("workspace", ["sample_workspace", "chunked_workspace"])
def test_planted_event_experiment_exposes_the_products_real_visitors(workspace, request):
    sample_workspace = request.getfixturevalue(workspace)
    events = _events(sample_workspace)
    units, start, end = _guarded_units(sample_workspace)
    catalogue = pd.read_csv(sample_workspace / "experiments.csv").set_index("experiment_id").loc[PLANTED.guarded]
    assert (catalogue["product"], catalogue["team"], catalogue["status"], catalogue["unit_type"]) == (
        PLANTED.guarded_product, PLANTED.guarded_team, "concluded", "visitor")
    on = events[(events["product"] == PLANTED.guarded_product) & (events["ts"] >= start) & (events["ts"] < end)]
    first = on.groupby("visitor_id")["ts"].min()
    assert units["unit_id"].is_unique
    assert units.set_index("unit_id")["exposed_at"].sort_index().equals(first.dt.floor("s").rename("exposed_at").rename_axis("unit_id"))
    # A fair split: within four standard deviations of half.
    treated = (units["variant"] == "treatment").sum()
    assert set(units["variant"]) == {"control", "treatment"} and abs(treated - len(units) / 2) < 4 * math.sqrt(len(units) / 4)
    assert units["converted"].isna().all()
    metrics = pd.read_csv(sample_workspace / "experiment_metrics.csv", dtype=str, keep_default_na=False)
    assert metrics[["experiment_id", "metric", "role", "kind", "event", "denominator_event", "window_days", "higher_is_better"]].values.tolist() == [
        [PLANTED.guarded, "task_completed", "goal", "binary", "task_completed", "", "14", "true"],
        [PLANTED.guarded, "app_crash", "guardrail", "continuous", "app_crash", "", "", "false"],
        [PLANTED.guarded, "search_success", "secondary", "ratio", "search_result_opened", "search_run", "14", "true"],
        [PLANTED.guarded, "help_opened", "secondary", "binary", "help_opened", "", "14", "false"],
    ]


@pytest.mark.parametrize("workspace", ["sample_workspace", "chunked_workspace"])
def test_planted_event_experiment_effects(workspace, request):
    """Each metric computed per unit from the raw events as the contract defines it: a clear win
    on the goal, opposite in the smb segment, a harmful guardrail, a clear ratio change, and
    fewer units opening help."""
    sample_workspace = request.getfixturevalue(workspace)
    events = _events(sample_workspace)
    units, start, end = _guarded_units(sample_workspace)
    accounts = pd.read_csv(sample_workspace / "accounts.csv")
    joined = events.merge(units[["unit_id", "variant", "exposed_at"]], left_on="visitor_id", right_on="unit_id")
    joined = joined[joined["ts"] >= joined["exposed_at"]]

    def per_unit(event: str, days: int | None) -> np.ndarray:
        stop = joined["exposed_at"] + pd.Timedelta(days=days) if days else end + pd.Timedelta(days=1)
        hit = joined[(joined["ts"] < stop) & ((joined["event"] == event) | (joined["feature_id"] == event))]
        return units["unit_id"].map(hit.groupby("unit_id").size()).fillna(0).to_numpy()

    treated = (units["variant"] == "treatment").to_numpy()
    owner = events.drop_duplicates("visitor_id").set_index("visitor_id")["account_id"]
    smb = (units["unit_id"].map(owner).map(accounts.set_index("account_id")["segment"]) == PLANTED.opposite_segment).to_numpy()
    goal = (per_unit(PLANTED.goal_metric, 14) > 0).astype(float)
    assert _welch_z(goal[~treated], goal[treated]) >= 5
    rest = goal[~smb & treated].mean() - goal[~smb & ~treated].mean()
    there = goal[smb & treated].mean() - goal[smb & ~treated].mean()
    spread = math.sqrt(sum(goal[m].var(ddof=1) / m.sum() for m in (smb & treated, smb & ~treated, ~smb & treated, ~smb & ~treated)))
    assert there < 0 < rest and (rest - there) / spread >= 4
    crashes = per_unit(PLANTED.guardrail_metric, None)
    assert _welch_z(crashes[~treated], crashes[treated]) >= 5
    helped = (per_unit(PLANTED.lower_metric, 14) > 0).astype(float)
    assert _welch_z(helped[~treated], helped[treated]) <= -4
    opened, searched = per_unit(PLANTED.ratio_event, 14), per_unit(PLANTED.ratio_denominator, 14)
    control, treatment = opened[~treated].sum() / searched[~treated].sum(), opened[treated].sum() / searched[treated].sum()
    assert treatment / control - 1 >= 0.25


@pytest.mark.parametrize("workspace", ["sample_workspace", "chunked_workspace"])
def test_planted_event_names_keep_their_base_rates_and_daily_totals(workspace, request):
    """Names are on the planted product only, at their base rates away from the experiment's
    treated units; while it runs, each kind's daily total moves well under the 30% a level shift needs."""
    sample_workspace = request.getfixturevalue(workspace)
    events = _events(sample_workspace)
    units, start, end = _guarded_units(sample_workspace)
    product = events[events["product"] == PLANTED.guarded_product]
    assert events.loc[events["product"] != PLANTED.guarded_product, "event"].isna().all()
    treated = units.loc[units["variant"] == "treatment", "unit_id"]
    away = product[~product["visitor_id"].isin(treated) | (product["ts"] < start)]
    shares = away["event"].value_counts() / len(away)
    for kind, rate in PLANTED.event_rates:
        assert shares[kind] == pytest.approx(rate, abs=0.005), kind
    daily = product.groupby([product["ts"].dt.floor("D"), "event"]).size().unstack(fill_value=0)
    before = daily[(daily.index >= start - pd.Timedelta(days=28)) & (daily.index < start)].mean()
    during = daily[(daily.index >= start) & (daily.index <= end)].mean()
    assert ((during / before - 1).abs() < 0.25).all(), (during / before - 1).round(3).to_dict()


def test_planted_units_in_both_arms(sample_workspace):
    rows = _exposures(sample_workspace, PLANTED.both_arms)
    arms = rows.groupby("unit_id")["variant"].nunique()
    assert (arms > 1).sum() == round(len(arms) * PLANTED.both_arms_share) > 0
    assert not rows.duplicated(["unit_id", "variant"]).any()
    # The second exposure comes later than the first.
    twice = rows[rows["unit_id"].isin(arms[arms > 1].index)].sort_values(["unit_id", "exposed_at"])
    assert (twice.groupby("unit_id")["exposed_at"].agg(lambda t: t.iloc[1] > t.iloc[0])).all()
    # No other experiment has a unit in two variants.
    every = pd.read_csv(sample_workspace / "exposures.csv")
    spread = every.groupby(["experiment_id", "unit_id"])["variant"].nunique()
    assert set(spread[spread > 1].index.get_level_values(0)) == {PLANTED.both_arms}


def test_planted_peeking_result(sample_workspace):
    """The fixed-horizon pooled z-test says significant; the always-valid interval of the issue
    (GrowthBook's tuning N = 5,000, alpha 0.05) still includes zero."""
    catalogue = pd.read_csv(sample_workspace / "experiments.csv").set_index("experiment_id").loc[PLANTED.peeking]
    assert (catalogue["name"], catalogue["status"]) == (PLANTED.peeking_name, "running")
    arms = _exposures(sample_workspace, PLANTED.peeking).groupby("variant")["converted"].agg(["sum", "size"])
    (x1, n1), (x2, n2) = arms.loc["control"], arms.loc["treatment"]
    assert x1 == round(n1 * PLANTED.peeking_control_rate)
    p1, p2, pooled = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert PLANTED.peeking_p_low < math.erfc(z / math.sqrt(2)) <= PLANTED.peeking_p
    alpha, tuning, n = 0.05, 5000, n1 + n2
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning
    half = math.sqrt(2 * (n * rho2 + 1) / (n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    assert 2.9 < half < 3.2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    assert p2 - p1 - half * se < 0 < p2 - p1 - 1.96 * se


# -- issue 23: a sample above a chunk of events is drawn and written in blocks -----------------

# The default sample's sizes, its events drawn in four blocks instead of one piece.
CHUNKED = dict(seed=3, as_of=AS_OF, events=1_000_000, chunk=250_000)


@pytest.fixture(scope="module")
def chunked_workspace(tmp_path_factory):
    """The default-size sample company with its events written in blocks (generated once per module)."""
    path = tmp_path_factory.mktemp("chunked-workspace")
    generate(path, **CHUNKED)
    return path


def _schema(path: Path) -> list[tuple]:
    return duckdb.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()


def test_a_sample_above_a_chunk_is_written_in_blocks_as_one_sorted_file(tmp_path):
    import hashlib
    import json

    sizes = dict(seed=3, as_of=AS_OF, accounts=200, responses=100, feedback=50, events=40_000, escalations=200, bugs=50)
    steps = []
    counts = generate(tmp_path / "blocks", chunk=10_000, progress=lambda done, total: steps.append((done, total)), **sizes)
    one = generate(tmp_path / "one", **sizes)
    blocks = tmp_path / "blocks"
    # Four blocks and the final sort, each reported once; nothing of them left behind.
    assert steps == [(k, 5) for k in range(1, 6)]
    assert sorted(p.name for p in blocks.iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    events = _events(blocks)
    meta = json.loads((blocks / "sample.json").read_text())
    assert counts["events"] == len(events) == meta["rows"]["events"] and 0.8 * 40_000 < len(events) < 1.25 * 40_000
    assert meta["files"]["events.parquet"] == hashlib.sha256((blocks / "events.parquet").read_bytes()).hexdigest()
    assert events["ts"].is_monotonic_increasing
    assert _schema(blocks / "events.parquet") == _schema(tmp_path / "one" / "events.parquet")
    # Every visitor belongs to one account, the one its id names.
    owners = events.groupby("visitor_id")["account_id"].agg(["nunique", "first"])
    assert (owners["nunique"] == 1).all()
    assert (owners["first"].str[1:] == owners.index.str[1:6]).all()
    # Other events than the single piece's, and every table that is not drawn from them unchanged.
    assert not filecmp.cmp(blocks / "events.parquet", tmp_path / "one" / "events.parquet", shallow=False)
    assert {k: v for k, v in counts.items() if k not in ("events", "exposures")} == {
        k: v for k, v in one.items() if k not in ("events", "exposures")}
    same = sorted(p.name for p in blocks.glob("*.csv") if p.name != "exposures.csv")
    assert filecmp.cmpfiles(blocks, tmp_path / "one", same, shallow=False)[0] == same
    # The same seed gives the same file, ties of time included.
    generate(tmp_path / "again", chunk=10_000, **sizes)
    assert filecmp.cmp(blocks / "events.parquet", tmp_path / "again" / "events.parquet", shallow=False)


def test_a_killed_writers_parts_are_removed_and_a_live_ones_kept(tmp_path):
    import os
    import subprocess

    from playbook.render import TMP_MARK

    # A process that has ended (its pid is free) left its parts; a running one is writing its own.
    ended = subprocess.Popen(["true"])
    ended.wait()
    out = tmp_path / "ws"
    out.mkdir()
    dead = out / f".events.parquet{TMP_MARK}{ended.pid}-abc.parts"
    live = out / f".events.parquet{TMP_MARK}{os.getpid()}-abc.parts"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "part-00000.parquet").write_bytes(b"x")
    generate(out, seed=3, as_of=AS_OF, accounts=200, responses=100, feedback=50, events=20_000,
             escalations=200, bugs=50, chunk=10_000)
    assert not dead.exists() and live.exists()


def test_impossible_sizes_are_refused():
    with pytest.raises(ValueError, match="events=-1"):
        generate("/nonexistent/never-written", events=-1)


def test_visitors_grow_with_the_events_from_a_million_on():
    from playbook.sample import EVENT_CHUNK, _plan_event_rows, _visitor_scale, make_accounts

    # Every sample drawn in one piece keeps the visitors it always had.
    assert _visitor_scale(1_000) == _visitor_scale(1_000_000) == _visitor_scale(EVENT_CHUNK) == 1
    assert _visitor_scale(100_000_000) == 10
    accounts = make_accounts(np.random.default_rng(1), AS_OF, 2000)
    one, three = (_plan_event_rows(np.random.default_rng(2), AS_OF, accounts, scale) for scale in (1, 3))

    def visitors(rows):
        return pd.DataFrame({"acc": rows.acc, "vis": rows.vis}).drop_duplicates().groupby("acc").size()

    # Three times the visitors, in every segment.
    segment = accounts["segment"].to_numpy()
    for name in ("smb", "mid-market", "enterprise"):
        ratio = visitors(three)[segment[visitors(three).index] == name].sum() / visitors(one)[segment[visitors(one).index] == name].sum()
        assert ratio == pytest.approx(3, rel=0.1), name
    assert visitors(three).sum() / visitors(one).sum() == pytest.approx(3, rel=0.05)


def _daily(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(frame["ts"].dt.normalize()).size()


def _adopting_share(events: pd.DataFrame, product: str, feature: str, first: pd.Timestamp, days: int) -> float:
    """The share of the accounts active on ``product`` in ``days`` days from ``first`` that used ``feature``."""
    span = events[(events["product"] == product) & (events["ts"] >= first) & (events["ts"] < first + pd.Timedelta(days=days))]
    return span.loc[span["feature_id"] == feature, "account_id"].nunique() / span["account_id"].nunique()


@pytest.mark.parametrize("workspace", ["sample_workspace", "chunked_workspace"])
def test_planted_health_effects_in_the_events(workspace, request):
    """The health effects the escalations and enablement reports state, counted from the raw
    events: a one-day level shift, a core feature few accounts use, a slow launch and the drop
    in new analytics accounts' retention after the planted release."""
    path = request.getfixturevalue(workspace)
    events = _events(path)
    features = pd.read_csv(path / "features.csv", parse_dates=["released_at"]).set_index("feature_id")
    released = features["released_at"].dt.tz_localize(None)
    end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    # The tracking change: a step down in the product's daily events on its day.
    shift = pd.Timestamp(AS_OF - timedelta(days=PLANTED.level_shift_days_ago))
    daily = _daily(events[events["product"] == PLANTED.level_shift_product]).reindex(pd.date_range(shift - pd.Timedelta(days=7), periods=14))
    assert daily.iloc[7:].median() / daily.iloc[:7].median() - 1 <= -0.5
    # The low-adoption core feature, over the last 30 days.
    (product,) = TEAM_PRODUCTS[PLANTED.low_adoption_team]
    assert _adopting_share(events, product, PLANTED.low_adoption_feature, end - pd.Timedelta(days=30), 30) < 0.10
    # The slow launch: far fewer accounts try it in its first 30 days than in the next 30.
    launch, slow_product = released[PLANTED.slow_adoption_feature], features.loc[PLANTED.slow_adoption_feature, "product"]
    first = _adopting_share(events, slow_product, PLANTED.slow_adoption_feature, launch, 30)
    assert first < 0.5 * _adopting_share(events, slow_product, PLANTED.slow_adoption_feature, launch + pd.Timedelta(days=30), 30)
    # New analytics accounts created since the release come back after their first week far less often.
    accounts = pd.read_csv(path / "accounts.csv", parse_dates=["created_at"]).set_index("account_id")["created_at"].dt.tz_localize(None)
    mine = events[events["product"].isin(TEAM_PRODUCTS[PLANTED.retention_team])]
    created = accounts.reindex(mine["account_id"].unique())
    created = created[(created >= events["ts"].min().normalize()) & (created < end - pd.Timedelta(days=14))]
    week_end = created.dt.normalize() + pd.to_timedelta(7 - created.dt.day_of_week, unit="D")
    late = mine[mine["account_id"].isin(created.index) & (mine["ts"] >= mine["account_id"].map(week_end))]
    back = created.index.isin(late["account_id"].unique())
    since = (created >= released[PLANTED.retention_release].normalize()).to_numpy()
    assert since.sum() >= 20 and back[~since].mean() - back[since].mean() >= 0.25
