"""The sample company is deterministic and carries the effects it claims to plant.

These checks use plain pandas on the raw CSV files, independently of the feedback module, so a
bug in the analysis cannot hide a generator that stopped planting.
"""

import filecmp
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from conftest import AS_OF, make_params, playbook_cli
from playbook.sample import PLANTED, TEAM_PRODUCTS, generate, sample_as_of


def test_same_seed_and_date_give_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sizes = dict(as_of=AS_OF, accounts=200, responses=500, feedback=100, events=5000, escalations=200, bugs=50)
    generate(a, seed=11, **sizes)
    generate(b, seed=11, **sizes)
    generate(c, seed=12, **sizes)
    names = sorted(p.name for p in a.glob("*.csv"))
    assert len(names) == 15
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
