"""Conda users get what pip users get; notebooks are committed clean."""

import json
import re
import tomllib

import yaml

from conftest import ROOT

# conda-forge names that differ from PyPI's.
CONDA_NAMES = {"python-duckdb": "duckdb"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pip_side |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = set()
    installs_package = False
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            installs_package = "-e ." in dep.get("pip", [])
            continue
        name = _name(dep)
        if name not in ("python", "pip"):
            conda_side.add(CONDA_NAMES.get(name, name))
    assert conda_side == pip_side
    assert installs_package, "environment.yml must install the playbook package itself (pip: -e .)"
    assert "conda-forge" in env["channels"]


def test_notebooks_are_committed_without_outputs():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "playbook", path
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell must be tagged 'parameters'"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name} has outputs"
