"""Fan-out benchmark: `playbook run` against the papermill + nbconvert command lines a user would script.

Both sides render the same reports (every built area for N teams) from the same sample workspace:

- baseline: for each report, `papermill` on the command line, then
  `jupyter nbconvert --to html --no-input`, one after the other;
- playbook: one `playbook run --jobs J` (each report's kernel forked from a process with the
  libraries imported, see ``playbook/runner/warm.py``);
- playbook, cold kernels: the same with ``PLAYBOOK_KERNELS=cold`` (each kernel started with
  ``python -m ipykernel_launcher``, importing everything afresh), as before warm kernels.

Each side runs ``--repeat`` times (median reported) and the ratios baseline / playbook and cold /
warm are printed. The visible summary of every report must be the same on every side (apart from
each action's age, "new this week", which only a reports folder's history gives), or the
benchmark fails, printing the first differing summaries.

Then incremental reruns on the first playbook run's folder (median of ``--repeat``): nothing
changed (every report reused), and one team's params changed (only its reports re-rendered),
each as a share of the full run.

    .venv/bin/python benchmarks/fanout.py [--teams 8] [--repeat 3] [--jobs 2]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playbook.areas import AREAS  # noqa: E402
from playbook.sample import TEAM_PRODUCTS, generate  # noqa: E402

AS_OF = date(2026, 11, 27)
BIN = Path(sys.executable).parent


def make_params(folder: Path, workspace: Path, teams: int) -> list[str]:
    """Params for ``teams`` teams: the four sample teams, then copies of them under new names."""
    (folder / "teams").mkdir(parents=True)
    defaults = yaml.safe_load((ROOT / "params" / "defaults.yaml").read_text())
    defaults["workspace"] = str(workspace)
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    base = list(TEAM_PRODUCTS.items())
    names = []
    for i in range(teams):
        team, products = base[i % len(base)]
        name = team if i < len(base) else f"{team}{i // len(base) + 1}"
        (folder / "teams" / f"{name}.yaml").write_text(yaml.safe_dump({"name": name.title(), "products": list(products)}))
        names.append(name)
    return names


def summary_text(html_path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    # An action's age ("new this week") comes from the reports folder's history, which a papermill
    # run outside `playbook run` has not got: it is left out of the comparison.
    for age in soup.select(".pb-age"):
        age.decompose()
    box = soup.select_one(".pb-summary")
    return " ".join(box.get_text(" ").split()) if box else ""


def run_baseline(params: Path, workspace: Path, teams: list[str], out: Path) -> float:
    started = time.perf_counter()
    for team in teams:
        for area in AREAS.values():
            executed = out / team / f"{area.name}.ipynb"
            executed.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [str(BIN / "papermill"), str(area.notebook), str(executed), "-k", "playbook", "--cwd", str(area.notebook.parent),
                 "-p", "team", team, "-p", "params_dir", str(params), "-p", "workspace", str(workspace),
                 "-p", "as_of", AS_OF.isoformat(), "--no-progress-bar"],
                check=True, capture_output=True,
            )
            subprocess.run(
                [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed)],
                check=True, capture_output=True,
            )
    return time.perf_counter() - started


def run_playbook(params: Path, out: Path, jobs: int, kernels: str = "warm") -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "playbook"), "run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", str(jobs)],
        check=True, capture_output=True, env={**os.environ, "PLAYBOOK_KERNELS": kernels},
    )
    return time.perf_counter() - started


def reran(out: Path) -> tuple[int, int]:
    """(reports reused, reports executed) in the folder's last run."""
    import json

    reports = json.loads((out / "manifest.json").read_text())["reports"].values()
    reused = sum(1 for r in reports if r.get("reused"))
    return reused, len(reports) - reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=8, help="teams to render (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median is reported (default 3)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="playbook run --jobs (default: cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        tmp = Path(tmp)
        workspace = tmp / "ws"
        generate(workspace, seed=7, as_of=AS_OF)
        params = tmp / "params"
        teams = make_params(params, workspace, args.teams)
        reports = len(teams) * len(AREAS)
        base_times, pb_times, cold_times = [], [], []
        for i in range(args.repeat):
            base_times.append(run_baseline(params, workspace, teams, tmp / f"base{i}"))
            pb_times.append(run_playbook(params, tmp / f"pb{i}", args.jobs))
            cold_times.append(run_playbook(params, tmp / f"cold{i}", args.jobs, "cold"))
            print(f"run {i + 1}: baseline {base_times[-1]:.1f}s, playbook {pb_times[-1]:.1f}s, "
                  f"playbook with cold kernels {cold_times[-1]:.1f}s", flush=True)
        mismatched = []
        for t in teams:
            for a in AREAS:
                said = {side: summary_text(tmp / f"{side}0" / t / f"{a}.html") for side in ("base", "pb", "cold")}
                if len(set(said.values())) > 1:
                    mismatched.append(f"{t}/{a}")
                    if len(mismatched) <= 3:
                        print(f"{t}/{a}:", *(f"  {side}: {text}" for side, text in said.items()), sep="\n")
        if mismatched:
            sys.exit(f"report summaries differ among the sides: {', '.join(mismatched)}")
        unchanged, one_team = [], []
        team_file = params / "teams" / f"{teams[0]}.yaml"
        for i in range(args.repeat):
            unchanged.append(run_playbook(params, tmp / "pb0", args.jobs))
            assert reran(tmp / "pb0") == (reports, 0), reran(tmp / "pb0")
            body = yaml.safe_load(team_file.read_text())
            body.setdefault("feedback", {})["drop_alert"] = 5 + i
            team_file.write_text(yaml.safe_dump(body))
            one_team.append(run_playbook(params, tmp / "pb0", args.jobs))
            assert reran(tmp / "pb0") == (reports - len(AREAS), len(AREAS)), reran(tmp / "pb0")
        base, pb, cold = statistics.median(base_times), statistics.median(pb_times), statistics.median(cold_times)
        print(f"\n{reports} reports ({len(teams)} teams x {len(AREAS)} areas), {os.cpu_count()} cores, median of {args.repeat}:")
        print(f"  baseline (papermill CLI + nbconvert CLI, sequential): {base:6.1f} s  ({base / reports:.2f} s/report)")
        print(f"  playbook run --jobs {args.jobs}:                            {pb:6.1f} s  ({pb / reports:.2f} s/report)")
        print(f"  playbook run --jobs {args.jobs}, cold kernels:              {cold:6.1f} s  ({cold / reports:.2f} s/report)")
        print(f"  ratio baseline / playbook: {base / pb:.2f}x (cold kernels: {base / cold:.2f}x; cold / warm {cold / pb:.2f}x)")
        still, one = statistics.median(unchanged), statistics.median(one_team)
        print(f"  rerun, nothing changed (all {reports} reused):          {still:6.1f} s  ({still / pb:.1%} of the full run)")
        print(f"  rerun, one team's params changed ({len(AREAS)} re-rendered):  {one:6.1f} s  ({one / pb:.1%} of the full run)")


if __name__ == "__main__":
    main()
