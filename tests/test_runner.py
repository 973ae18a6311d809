"""End to end: the real `playbook` command, papermill, a Jupyter kernel and nbconvert."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import AS_OF, make_params, playbook_cli, visible_text
from playbook.runner import Job, execute_job, make_plan, run_plan
from playbook.sample import PLANTED

pytestmark = pytest.mark.e2e


def test_run_renders_every_team_and_the_index(sample_run):
    result, out = sample_run
    assert result.returncode == 0, result.stdout + result.stderr
    for team in ("analytics", "growth", "mobile", "platform"):
        assert (out / team / "feedback.html").stat().st_size > 10_000
        assert (out / team / "feedback.ipynb").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["reports"]["mobile/feedback"]
    assert entry["status"] == "rendered" and entry["period"] == {"start": "2026-10-29", "end": "2026-11-27"}
    assert manifest["as_of"] == "2026-11-27" and manifest["params"]["mobile"]["products"] == ["mobile-app"]
    assert manifest["versions"]["papermill"] and entry["fingerprint"]
    index = visible_text((out / "index.html").read_text())
    assert "Mobile" in index and "Feedback & NPS" in index
    # The index shows the headline figure and its change in the words the report's summary uses.
    nps = entry["result"]["figures"]["nps"]
    shown = f"NPS {nps['value']:+.0f} (down {abs(nps['value'] - nps['previous']):.0f} points)"
    assert shown in index and shown in visible_text((out / "mobile" / "feedback.html").read_text())


def test_planted_team_report_states_the_three_effects(sample_run):
    _, out = sample_run
    text = visible_text((out / PLANTED.nps_drop_team / "feedback.html").read_text())
    assert "What needs action" in text
    # (a) the fall, with both intervals, which do not overlap
    assert "NPS fell by" in text
    assert text.count("95% interval") >= 2
    assert "the two intervals do not overlap" in text
    # (b) the dominant detractor theme
    assert f"Detractors mostly talk about {PLANTED.dominant_theme}" in text
    # (c) the planted item first by ARR-weighted demand, with a middling RICE rank
    assert f"Highest ARR-weighted demand: {PLANTED.demand_item_title} ({PLANTED.demand_item}, idea)" in text
    # Ranked among the items still to build: Dark mode (RICE 1,600) has shipped; Android stability
    # fixes (5,000), Push notification settings (3,000) and Biometric login (1,000) rank above it.
    assert "yet its RICE score of 250 ranks only 4th of the 7 items not yet shipped" in text
    # no code reaches the reader
    assert "import playbook" not in text and "pb.show" not in text and "Traceback" not in text


def test_other_teams_do_not_report_a_fall(sample_run):
    _, out = sample_run
    for team in ("analytics", "platform"):
        text = visible_text((out / team / "feedback.html").read_text())
        assert "NPS fell by" not in text and "Summary: nothing needs action" in text


def test_unknown_team_exits_2_and_lists_known_teams(params_dir, tmp_path):
    result = playbook_cli("run", "--params", str(params_dir), "--out", str(tmp_path / "r"), "--team", "nosuchteam")
    assert result.returncode == 2
    assert "unknown team 'nosuchteam'; known teams: all, analytics, growth, mobile, platform" in result.stderr
    assert not (tmp_path / "r").exists()


def test_unsafe_team_name_is_refused(params_dir, tmp_path):
    result = playbook_cli("run", "--params", str(params_dir), "--out", str(tmp_path / "r"), "--team", "../../etc")
    assert result.returncode == 2 and "invalid team name '../../etc'" in result.stderr


def _copy_with_score(source: Path, target: Path, score: int) -> int:
    shutil.copytree(source, target)
    frame = pd.read_csv(target / "nps_responses.csv", dtype=str, keep_default_na=False)
    frame.loc[41, "score"] = str(score)
    frame.to_csv(target / "nps_responses.csv", index=False)
    return 41 + 1  # data rows are numbered from 1


def test_score_of_11_is_reported_with_file_column_and_count(sample_workspace, tmp_path):
    row = _copy_with_score(sample_workspace, tmp_path / "ws", 11)
    result = playbook_cli("validate", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    line = f"nps_responses.csv: 1 row set aside: column 'score' expected 0..10 (row {row}: 11)"
    assert line in result.stdout
    # A run uses the other rows, warns, and says so in the report's data-quality section.
    params = make_params(tmp_path, tmp_path / "ws", teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
    run = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stderr
    assert f"warning: {line}" in run.stderr
    text = visible_text((tmp_path / "out" / "mobile" / "feedback.html").read_text())
    assert "Data quality" in text and line in text
    # A report whose tables passed every check says so, rather than saying nothing.
    tools = visible_text((tmp_path / "out" / "mobile" / "tools.html").read_text())
    checked = re.search(r"Data quality Every row of ([\w., ]+) passed the data contract's checks: nothing was set aside or emptied\.", tools)
    assert checked and set(checked.group(1).split(", ")) == {"tools.csv", "tool_seats.csv"}
    assert "set aside and not used" not in tools


def test_broken_team_fails_alone_and_keeps_its_last_good_report(sample_workspace, tmp_path):
    root = tmp_path / "project"
    params = make_params(root, sample_workspace, teams={
        "mobile": {"name": "Mobile", "products": ["mobile-app"]},
        "growth": {"name": "Growth", "products": ["onboarding", "billing"]},
    })
    out = root / "reports"
    args = ["run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--area", "feedback"]
    first = playbook_cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    good = (out / "growth" / "feedback.html").read_bytes()
    # Growth now reads a workspace whose NPS file lost its score column.
    broken = root / "broken"
    shutil.copytree(sample_workspace, broken)
    frame = pd.read_csv(broken / "nps_responses.csv").drop(columns=["score"])
    frame.to_csv(broken / "nps_responses.csv", index=False)
    (params / "teams" / "growth.yaml").write_text(f"name: Growth\nproducts: [onboarding, billing]\nworkspace: {broken}\n")
    second = playbook_cli(*args)
    assert second.returncode == 1
    assert "FAILED   growth/feedback  nps_responses.csv: missing column 'score'" in second.stdout
    assert "the last good report" in second.stdout
    assert "1 failed: growth/feedback" in second.stderr
    # mobile's inputs did not change: its report is reused, untouched
    assert "reused   mobile/feedback" in second.stdout
    assert (out / "growth" / "feedback.html").read_bytes() == good
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reports"]["growth/feedback"]["status"] == "failed"
    assert manifest["reports"]["growth/feedback"]["last_good_at"]
    index = visible_text((out / "index.html").read_text())
    assert "failed" in index and "missing column 'score'" in index and "last good report" in index


def test_notebook_error_fails_that_report_with_its_reason(tmp_path, sample_workspace):
    """A notebook that raises mid-run: the reason is the exception, the traceback is kept, no HTML is written."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "playbook", "display_name": "Python (playbook)", "language": "python"}
    params_cell = new_code_cell("team = 'x'\nparams_dir = ''\nworkspace = ''\nas_of = ''")
    params_cell.metadata["tags"] = ["parameters"]
    nb.cells = [params_cell, new_code_cell("raise ValueError(f'boom for {team}')")]
    notebook = tmp_path / "boom.ipynb"
    nbformat.write(nb, notebook)
    job = Job("mobile", "Mobile", "feedback", "Feedback & NPS", str(notebook), str(tmp_path), str(tmp_path / "out"),
              AS_OF.isoformat(), str(sample_workspace), ("2026-10-29", "2026-11-27"), 60)
    outcome = execute_job(job)
    assert outcome.status == "failed"
    assert outcome.reason == "ValueError: boom for mobile"
    assert not (tmp_path / "out" / "mobile" / "feedback.html").exists()
    failed = nbformat.read(tmp_path / "out" / "mobile" / "feedback.failed.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for o in failed.cells[-1].outputs)


def test_24_parallel_executions_on_4_workers_without_a_failure(tmp_path, tiny_workspace):
    """Parallel kernels must not race for ports: 24 notebook runs, 4 at a time, none may fail."""
    teams = {f"team{i:02d}": {"name": f"Team {i}", "products": ["mobile-app", "insights"]} for i in range(24)}
    params = make_params(tmp_path, tiny_workspace, teams=teams)
    out = tmp_path / "reports"
    plan = make_plan(params, out, areas=["feedback"], as_of=AS_OF)
    assert len(plan.jobs) == 24
    outcomes = run_plan(plan, out, jobs=4, as_of=AS_OF)
    failures = [(o.key, o.reason) for o in outcomes if o.status != "rendered"]
    assert failures == []
    assert sum(1 for t in teams if (out / t / "feedback.html").exists()) == 24


def test_removed_teams_and_areas_leave_the_index():
    from datetime import date

    from playbook.render import build_manifest

    previous = {
        "reports": {
            "gone/feedback": {"team": "gone", "area": "feedback", "status": "rendered"},
            "mobile/retired-area": {"team": "mobile", "area": "retired-area", "status": "rendered"},
            "mobile/tools": {"team": "mobile", "area": "tools", "status": "rendered"},
        },
        "params": {"gone": {}, "mobile": {"name": "Mobile"}},
    }
    manifest = build_manifest(previous, [], date(2026, 11, 27), 1, known_teams=["mobile"], params={}, fingerprints={}, warnings=[])
    assert list(manifest["reports"]) == ["mobile/tools"]
    assert list(manifest["params"]) == ["mobile"]


def test_reports_hold_no_code_warnings_or_reprs_and_stay_small(sample_run):
    _, out = sample_run
    pages = sorted(out.glob("*/*.html"))
    assert len(pages) == 30
    for page in pages:
        raw = page.read_text()
        text = visible_text(raw)
        for bad in ("Traceback", "Warning", "object at 0x", "dtype:", "NaN", "import playbook", "pb.show", "could not be displayed"):
            assert bad not in text, f"{page}: {bad!r} shown to readers"
        assert "widget-state" not in raw and "<script src" not in raw
        assert page.stat().st_size < 3_000_000, f"{page} is over 3 MB"


def test_retry_rules():
    from playbook.runner.execute import _should_retry

    class CellTimeoutError(Exception):
        pass

    class PapermillExecutionError(Exception):
        pass

    assert _should_retry(RuntimeError("Kernel died before replying to kernel_info"), 1)
    assert _should_retry(RuntimeError("Kernel died before replying to kernel_info"), 2)
    assert not _should_retry(RuntimeError("Kernel died before replying to kernel_info"), 3)
    assert _should_retry(CellTimeoutError("A cell timed out"), 1) and not _should_retry(CellTimeoutError("again"), 2)
    assert not _should_retry(PapermillExecutionError("ValueError"), 1)
    assert not _should_retry(ValueError("boom"), 1)


def test_a_second_run_on_the_same_folder_refuses_clearly(params_dir, tmp_path):
    import fcntl

    from playbook.runner import LOCK_NAME

    out = tmp_path / "reports"
    out.mkdir()
    with open(out / LOCK_NAME, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 4242, started 2026-11-27T06:00:00+00:00")
        held.flush()
        result = playbook_cli("run", "--params", str(params_dir), "--out", str(out), "--team", "mobile", "--area", "feedback",
                              "--as-of", AS_OF.isoformat())
    assert result.returncode == 2
    assert f"another playbook run is writing to {out} (pid 4242, started 2026-11-27T06:00:00+00:00)" in result.stderr
    assert not (out / "index.html").exists()
    # once the holder is gone, the next run goes ahead
    again = playbook_cli("run", "--params", str(params_dir), "--out", str(out), "--team", "mobile", "--area", "feedback",
                         "--as-of", AS_OF.isoformat())
    assert again.returncode == 0, again.stderr
    assert (out / "mobile" / "feedback.html").exists()


def test_an_output_folder_that_cannot_be_written_exits_2(params_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    result = playbook_cli("run", "--params", str(params_dir), "--out", str(blocker / "reports"), "--team", "mobile",
                          "--as-of", AS_OF.isoformat())
    assert result.returncode == 2
    assert f"cannot write to the output folder {blocker / 'reports'}" in result.stderr
    assert blocker.read_text() == "a file where the reports folder should be"
