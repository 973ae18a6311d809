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
            conda_side |= {_name(r) for r in dep.get("pip", []) if r != "-e ."}
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


def test_duckdb_and_its_postgres_extension_are_pinned_to_one_version():
    """DuckDB loads only an extension built for its exact version: both pins move together, in
    pyproject.toml and environment.yml, and the installed pair matches."""
    import duckdb

    from playbook.warehouse import extension_directory

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(r): r.split("==", 1)[1] for r in project["dependencies"] if "==" in r}
    assert pins["duckdb-ext-postgres"].startswith(pins["duckdb"] + ".")
    env = (ROOT / "environment.yml").read_text()
    assert f"python-duckdb={pins['duckdb']}" in env and f"duckdb-ext-postgres=={pins['duckdb-ext-postgres']}" in env
    assert duckdb.__version__ == pins["duckdb"]
    assert (extension_directory() / f"v{duckdb.__version__}").is_dir()
