"""Shared fixtures: small seeded frames, a tiny sample workspace, params folders in tmp, and a
throwaway PostgreSQL server holding a small sample company (with its folder twin)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "params"
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"
AS_OF = date(2026, 11, 27)


@pytest.fixture(autouse=True)
def close_figs():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(20261127)


@pytest.fixture
def responses_df():
    """Ten answers over two weeks with nulls in comments; groups: 4 promoters, 2 passives, 4 detractors."""
    return pd.DataFrame(
        {
            "response_id": [f"R{i}" for i in range(10)],
            "account_id": ["A1", "A1", "A2", "A3", "A3", "A4", "A5", "A6", "A6", "A7"],
            "visitor_id": [None] * 10,
            "product": ["p1"] * 6 + ["p2"] * 4,
            "score": [10, 9, 9, 10, 8, 7, 0, 6, 3, 5],
            "comment": [
                "Love it",
                None,
                "Great support",
                "",
                "Fine, a bit slow",
                None,
                "So SLOW and it crashes",
                "Too expensive",
                "slowness everywhere",  # "slow" as part of a word does not count
                "Pricing is confusing",
            ],
            "submitted_at": pd.to_datetime(
                [
                    "2026-11-02 10:00", "2026-11-03 10:00", "2026-11-04 10:00", "2026-11-09 10:00",
                    "2026-11-10 10:00", "2026-11-11 10:00", "2026-11-12 10:00", "2026-11-13 10:00",
                    "2026-11-14 10:00", "2026-11-15 10:00",
                ]
            ),
        }
    )


@pytest.fixture
def accounts_df():
    return pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8"],
            "name": list("abcdefgh"),
            "segment": ["smb", "smb", "enterprise", "mid-market", "smb", "enterprise", "smb", "smb"],
            "plan": ["starter"] * 8,
            "region": ["NA"] * 8,
            "arr": [1000.0, 2000.0, 50000.0, 10000.0, 500.0, 80000.0, 0.0, 7000.0],
            "created_at": pd.to_datetime(["2025-01-01"] * 8),
            "churned_at": pd.to_datetime([None, None, None, None, None, None, None, "2026-06-01"]),
        }
    )


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory):
    """The sample company at its default size (seed 3, fixed as-of date), generated once per session."""
    from playbook.sample import generate

    path = tmp_path_factory.mktemp("sample-workspace")
    generate(path, seed=3, as_of=AS_OF)
    return path


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory):
    """A small sample company for smoke runs, where the figures do not matter."""
    from playbook.sample import generate

    path = tmp_path_factory.mktemp("tiny-workspace")
    generate(path, seed=3, as_of=AS_OF, accounts=200, responses=600, feedback=150, events=20_000, escalations=300, bugs=100)
    return path


def make_params(root: Path, workspace: Path | str, teams: dict[str, dict] | None = None) -> Path:
    """A params folder: the project's defaults pointing at ``workspace``, and the given teams.

    Teams default to the project's four sample teams.
    """
    params = root / "params"
    (params / "teams").mkdir(parents=True, exist_ok=True)
    defaults = yaml.safe_load((PARAMS / "defaults.yaml").read_text())
    defaults["workspace"] = str(workspace)
    # A stalled kernel times out quickly in tests and gets its one retry (see playbook.runner.execute._should_retry).
    defaults["execution_timeout"] = 120
    (params / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    if teams is None:
        for path in (PARAMS / "teams").glob("*.yaml"):
            shutil.copy(path, params / "teams" / path.name)
    else:
        for team, body in teams.items():
            (params / "teams" / f"{team}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return params


@pytest.fixture
def params_dir(tmp_path, sample_workspace):
    return make_params(tmp_path, sample_workspace)


def playbook_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the installed `playbook` command as a user would."""
    command = [str(Path(sys.executable).parent / "playbook"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def visible_text(html: str) -> str:
    """The text a reader sees: scripts and styles dropped, whitespace folded."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


BACKFILL_WEEKS = 8


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, sample_workspace):
    """What `playbook demo` does, on the sample teams: 8 weeks backfilled into the history before
    the as-of date, then one `playbook run`; shared by the tests that read its output."""
    from datetime import timedelta

    root = tmp_path_factory.mktemp("run")
    params = make_params(root, sample_workspace)
    out = root / "reports"
    before = (AS_OF - timedelta(days=7)).isoformat()
    filled = playbook_cli("backfill", "--weeks", str(BACKFILL_WEEKS), "--params", str(params), "--out", str(out), "--as-of", before, "--jobs", "2")
    assert filled.returncode == 0, filled.stdout + filled.stderr
    result = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", "2")
    return result, out


NO_SERVER = "no PostgreSQL server binary (initdb); install Debian's postgresql package"


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server (see tests/pgserver.py), stopped and removed at session end
    whatever the tests did. Without the server binaries the tests that need it are skipped, and
    fail in CI (where .ci installs Debian's postgresql package)."""
    from pgserver import PgServer, find_bin

    if find_bin() is None:
        if os.environ.get("CI"):
            pytest.fail(NO_SERVER)
        pytest.skip(NO_SERVER)
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class PgSample:
    """The sample company loaded into ``server``'s schema public, and the folder it came from.

    Attributes:
        url: the database's URL (no password; the playbook reads PGPASSWORD through libpq).
        twin: the folder of CSV/Parquet files the same company was generated into, which every
            comparison reads as the files' side.
        counts: rows per table in the twin's files.
    """

    server: object
    url: str
    twin: Path
    counts: dict[str, int]


# Sizes `playbook sample` can also be given (--accounts, --responses, --feedback, --events), so a
# CLI load of the same company has the same rows; small enough to load and build quickly.
PG_SAMPLE_SIZES = {"accounts": 200, "responses": 600, "feedback": 150, "events": 30_000}


@pytest.fixture(scope="session")
def pg_sample(pg_server, tmp_path_factory):
    """A small sample company (seed 7, as of 2026-11-27) written to a folder and copied once into
    the server's schema public with :func:`playbook.warehouse_load.copy_workspace`. The password
    is in the environment only while copying: other test files never see PGPASSWORD."""
    from playbook.sample import generate
    from playbook.warehouse_load import copy_workspace

    twin = tmp_path_factory.mktemp("pg-twin")
    counts = generate(twin, seed=7, as_of=AS_OF, **PG_SAMPLE_SIZES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSWORD", pg_server.password)
        copy_workspace(twin, pg_server.url)
    return PgSample(pg_server, pg_server.url, twin, counts)
