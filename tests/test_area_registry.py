"""Adding an area is one module, one notebook and one registry entry: a minimal area registered at
test time, rendered end to end by `playbook run` in a real kernel, and shown in the index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import AS_OF, make_params, visible_text
from playbook.areas import AREAS, Area, get_area, register

pytestmark = pytest.mark.e2e

MODULE = '''
"""Intake load: how many stakeholder requests the team received, and an action when many wait."""

from playbook.areas import Area, register
from playbook.figures import Action, AreaResult, Figure, Severity


class IntakeReport:
    def __init__(self, result):
        self.result = result


def report(ctx):
    requests = ctx.read("stakeholder_requests", "current")
    waiting = requests[requests["first_response_at"].isna()]
    figures = {
        "requests": Figure("requests", "requests received", len(requests), "count", rows=len(requests)),
        "unanswered": Figure("unanswered", "unanswered", len(waiting), "count", good="down", rows=len(waiting)),
    }
    actions = ()
    if len(waiting):
        actions = (Action("intake.unanswered", "requests", Severity.MEDIUM, f"{len(waiting)} requests of this period have no answer yet."),)
    return IntakeReport(AreaResult(figures, ("requests", "unanswered"), actions))


register(Area("intake", "Intake load", required=("stakeholder_requests",), module="intake_area", notebook_path=NOTEBOOK))
'''


def _notebook() -> nbformat.NotebookNode:
    params = nbformat.v4.new_code_cell('team = "mobile"\nparams_dir = "../params"\nworkspace = ""\nas_of = ""')
    params.metadata["tags"] = ["parameters"]
    body = textwrap.dedent("""\
        import playbook.api as pb

        ctx = pb.open_report("intake", team, params_dir=params_dir, workspace=workspace, as_of=as_of)
        pb.show_header(ctx, "Intake load")
        report = pb.build(ctx)
        pb.show_summary(report.result)""")
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "playbook", "display_name": "Python (playbook)", "language": "python"}
    return nb


@pytest.fixture
def intake(tmp_path, sample_workspace):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    notebook = plugins / "intake.ipynb"
    nbformat.write(_notebook(), notebook)
    (plugins / "intake_area.py").write_text(f"NOTEBOOK = {str(notebook)!r}\n" + MODULE)
    params = make_params(tmp_path, sample_workspace, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    defaults["extra_areas"] = ["intake_area"]
    (params / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    yield params, plugins
    AREAS.pop("intake", None)
    sys.modules.pop("intake_area", None)


def test_a_registered_area_renders_end_to_end(tmp_path, intake):
    params, plugins = intake
    out = tmp_path / "reports"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    command = [str(Path(sys.executable).parent / "playbook"), "run", "--params", str(params), "--out", str(out),
               "--as-of", AS_OF.isoformat(), "--area", "intake", "--area", "communication"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["reports"]["mobile/intake"]
    figures = entry["result"]["figures"]
    assert entry["status"] == "rendered" and figures["requests"]["value"] > 0
    report = visible_text((out / "mobile" / "intake.html").read_text())
    index = visible_text((out / "index.html").read_text())
    # The headline is the figures in the same words in the report and the index, under the area's title.
    headline = f"{figures['requests']['value']:,} requests received, {figures['unanswered']['value']:,} unanswered"
    assert "Intake load: Mobile" in report and headline in report
    assert "Intake load" in index and headline in index
    assert "Communication" in index  # the built-in areas render beside it
    # Editing the area's own module renders its report again (it is part of the report's inputs).
    module = plugins / "intake_area.py"
    module.write_text(module.read_text().replace('"requests received"', '"requests in"'))
    again = subprocess.run(command[:-2], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reports"]["mobile/intake"]["reused"] is False and "requests in" in (out / "mobile" / "intake.html").read_text()


def test_registering_and_looking_up_an_area():
    area = register(Area("scratch", "Scratch", required=("tools",), module="playbook.tools"))
    try:
        assert get_area("scratch") is area and area.notebook.name == "scratch.ipynb"
        assert callable(area.load().report)
    finally:
        AREAS.pop("scratch")


def test_an_extra_area_that_cannot_be_imported_is_named(tmp_path, sample_workspace):
    from playbook.config import load_areas
    from playbook.errors import UsageError

    params = make_params(tmp_path, sample_workspace)
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    (params / "defaults.yaml").write_text(yaml.safe_dump({**defaults, "extra_areas": ["no_such_area_module"]}))
    with pytest.raises(UsageError, match=r"extra_areas names the module 'no_such_area_module', which cannot be imported .*PYTHONPATH"):
        load_areas(params)


def test_a_built_in_area_cannot_be_replaced_and_names_are_slugs():
    from playbook.errors import UsageError

    with pytest.raises(UsageError, match=r"area 'tools' is one of the playbook's own; give your area another name"):
        register(Area("tools", "My tools", required=("tools",), module="my_tools"))
    # Not even under the built-in's own module name, with a notebook of its own.
    with pytest.raises(UsageError, match=r"area 'tools' is one of the playbook's own; give your area another name"):
        register(Area("tools", "Hijacked", required=("tools",), module="playbook.tools", notebook_path="/tmp/hijack.ipynb"))
    with pytest.raises(UsageError, match=r"area name '../escaped' is not allowed"):
        register(Area("../escaped", "Escaped", required=("tools",), module="x"))
    assert get_area("tools").module == ""  # the built-in entry is untouched


def test_a_broken_extra_area_module_is_named_without_a_traceback(tmp_path, sample_workspace, monkeypatch):
    from playbook.config import load_areas, load_params
    from playbook.errors import ParamsError, UsageError

    (tmp_path / "raising_area.py").write_text("raise ValueError('not configured')\n")
    (tmp_path / "exiting_area.py").write_text("import sys\nsys.exit()\n")
    (tmp_path / "needy_area.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    params = make_params(tmp_path, sample_workspace, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"], "extra_areas": ["x"]}})
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    (params / "defaults.yaml").write_text(yaml.safe_dump({**defaults, "extra_areas": ["raising_area"]}))
    with pytest.raises(UsageError, match=r"extra_areas: importing the module 'raising_area' failed: ValueError: not configured"):
        load_areas(params)
    # A module that exits is a failure too (a scheduled run must not end quietly with status 0).
    (params / "defaults.yaml").write_text(yaml.safe_dump({**defaults, "extra_areas": ["exiting_area"]}))
    with pytest.raises(UsageError, match=r"importing the module 'exiting_area' failed: SystemExit"):
        load_areas(params)
    (params / "defaults.yaml").write_text(yaml.safe_dump({**defaults, "extra_areas": ["needy_area"]}))
    with pytest.raises(UsageError, match=r"the module 'needy_area' imports 'no_such_dependency_xyz', which is not installed"):
        load_areas(params)
    # Every team and the runner read the same areas: a team's file cannot add its own.
    with pytest.raises(ParamsError, match=r"mobile.yaml, line \d+: extra_areas belongs in defaults.yaml"):
        load_params(params, "mobile")


def test_an_area_without_its_notebook_is_refused_before_anything_runs(tmp_path, sample_workspace):
    from playbook.errors import UsageError
    from playbook.runner import make_plan

    register(Area("scratch", "Scratch", required=("tools",), module="playbook.tools", notebook_path=str(tmp_path / "none.ipynb")))
    try:
        params = make_params(tmp_path, sample_workspace, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
        with pytest.raises(UsageError, match=r"no notebook for the area scratch \(.*none.ipynb\)"):
            make_plan(params, tmp_path / "out", areas=["scratch"])
    finally:
        AREAS.pop("scratch")
