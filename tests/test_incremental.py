"""Incremental runs: a report whose inputs are unchanged since its last good render is reused,
not re-executed; a change to one team's params, to a table, or --force re-renders what it touches."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import yaml

from conftest import AS_OF, make_params, playbook_cli


def _run(params, out, *extra):
    result = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", "2",
                          "--area", "feedback", "--area", "tools", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    executed = sorted(k for k, r in manifest["reports"].items() if not r["reused"])
    return result, manifest, executed


def test_unchanged_reports_are_reused_and_changes_re_render_only_what_they_touch(tmp_path, tiny_workspace):
    workspace = tmp_path / "ws"
    shutil.copytree(tiny_workspace, workspace)
    teams = {"alpha": {"name": "Alpha", "products": ["mobile-app"]}, "beta": {"name": "Beta", "products": ["insights"]}}
    params = make_params(tmp_path, workspace, teams=teams)
    out = tmp_path / "reports"
    everything = ["alpha/feedback", "alpha/tools", "beta/feedback", "beta/tools"]

    _, first, executed = _run(params, out)
    assert executed == everything and first["executed"] == 4 and first["reused"] == 0
    html = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*/*.html")}

    # Nothing changed: nothing runs, no report is rewritten, the manifest says so.
    result, second, executed = _run(params, out)
    assert executed == [] and second["reused"] == 4 and second["executed"] == 0
    assert "reused   alpha/feedback" in result.stdout and "4 unchanged since their last render, reused" in result.stdout
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*/*.html")} == html
    assert second["reports"]["alpha/feedback"]["headline"] == first["reports"]["alpha/feedback"]["headline"]
    assert second["reports"]["alpha/feedback"]["rendered_at"] == first["reports"]["alpha/feedback"]["rendered_at"]

    # One team's params change: only that team's reports run again.
    team_file = params / "teams" / "alpha.yaml"
    team_file.write_text(yaml.safe_dump({**teams["alpha"], "feedback": {"drop_alert": 7}}))
    _, third, executed = _run(params, out)
    assert executed == ["alpha/feedback", "alpha/tools"]

    # A table changes: the reports that read it run again, the others do not.
    answers = pd.read_csv(workspace / "nps_responses.csv", dtype=str)
    answers.iloc[:-1].to_csv(workspace / "nps_responses.csv", index=False)
    _, fourth, executed = _run(params, out)
    assert executed == ["alpha/feedback", "beta/feedback"]
    assert fourth["reports"]["beta/feedback"]["fingerprint"] != third["reports"]["beta/feedback"]["fingerprint"]

    # --force runs everything; a new as-of date is a new report too.
    _, _, executed = _run(params, out, "--force")
    assert executed == everything
    result = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", "2026-11-26", "--area", "tools")
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["reports"]["alpha/tools"]["reused"] and not manifest["reports"]["beta/tools"]["reused"]


def test_a_report_whose_html_went_missing_is_rendered_again(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    out = tmp_path / "reports"
    _run(params, out)
    (out / "alpha" / "tools.html").unlink()
    _, _, executed = _run(params, out)
    assert executed == ["alpha/tools"]
    assert (out / "alpha" / "tools.html").is_file()
