"""`playbook run --dask ADDRESS`: reports rendered on a Dask cluster's workers equal a local run's."""

from __future__ import annotations

import json

import pytest

from conftest import AS_OF, make_params, playbook_cli

distributed = pytest.importorskip("distributed", reason="the cluster extra (distributed) is not installed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def test_a_dask_cluster_renders_the_same_reports_as_a_local_run(tmp_path, tiny_workspace, cluster):
    teams = {"alpha": {"name": "Alpha", "products": ["mobile-app"]}, "beta": {"name": "Beta", "products": ["insights", "api"]}}
    params = make_params(tmp_path, tiny_workspace, teams=teams)
    common = ["run", "--params", str(params), "--as-of", AS_OF.isoformat(), "--area", "feedback", "--area", "escalations"]
    local = playbook_cli(*common, "--out", str(tmp_path / "local"))
    remote = playbook_cli(*common, "--out", str(tmp_path / "dask"), "--dask", cluster)
    assert local.returncode == 0, local.stdout + local.stderr
    assert remote.returncode == 0, remote.stdout + remote.stderr
    here = json.loads((tmp_path / "local" / "manifest.json").read_text())
    there = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert there["workers"] == 2
    assert sorted(there["reports"]) == ["alpha/escalations", "alpha/feedback", "beta/escalations", "beta/feedback"]
    for key, report in here["reports"].items():
        assert there["reports"][key]["status"] == "rendered"
        assert there["reports"][key]["headline"] == report["headline"], key
        assert there["reports"][key]["summary"] == report["summary"], key
        assert (tmp_path / "dask" / report["html"]).is_file()
    assert "alpha/feedback" in (tmp_path / "dask" / "index.html").read_text()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    result = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--area", "tools",
                          "--dask", "tcp://127.0.0.1:9", timeout=120)
    assert result.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
