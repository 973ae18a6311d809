"""The plan: which team x area reports to render, each input checked and hashed before any kernel starts."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import playbook
from playbook.areas import AREAS, Area, get_area
from playbook.config import check_team_name, ignored_team_files, list_teams, load_areas, load_params, load_snoozes, resolve_workspace, workspace_path
from playbook.errors import PlaybookError, SchemaError, UsageError
from playbook.history import history_path, read_or_warn
from playbook.period import resolve_period
from playbook.runner.outcomes import Outcome, Status
from playbook.warehouse import WarehouseError, is_url
from playbook.workspace import Workspace


@dataclass(frozen=True)
class Job:
    """One report to render: a team's notebook for one area, with everything the worker needs."""

    team: str
    team_name: str
    area: str
    area_title: str
    notebook: str
    params_dir: str
    out_dir: str
    as_of: str
    workspace: str
    period: tuple[str, str]
    timeout: int
    fingerprint: str = ""
    time_limit: int = 1800
    input_key: str = ""
    history: str = "-"

    @property
    def key(self) -> str:
        return f"{self.team}/{self.area}"


@dataclass
class Plan:
    """Jobs to execute, outcomes already decided before running (bad params, no data), and run facts.

    ``fingerprints`` maps ``team/area`` to the hash of the tables that report reads.
    """

    jobs: list[Job]
    decided: list[Outcome]
    params: dict[str, Any]
    fingerprints: dict[str, str]
    warnings: list[str]
    known_teams: list[str] = field(default_factory=list)
    history: Any = None
    snoozes: list[Any] = field(default_factory=list)


def make_plan(
    params_dir: Path,
    out_dir: Path,
    teams: list[str] | None = None,
    areas: list[str] | None = None,
    as_of: date | None = None,
    workspace: str | None = None,
    notebooks: Path | None = None,
    force: bool = False,
) -> Plan:
    """Decide which reports to render and check their inputs before any kernel starts.

    A report whose inputs are unchanged since its last good render (see :func:`input_key`) is
    reused as it is, without validating its tables again or starting a kernel, unless ``force``.

    Args:
        notebooks: a folder of ``<area>.ipynb`` to run instead of the project's notebooks.
        force: execute every report even when its inputs are unchanged.

    The history in ``out_dir`` is read here: each report's kernel reads its actions' ages from it,
    and a report is rendered again when the history it would read has changed. A history that
    cannot be read is kept as it is and left out of this run (a warning says so).

    Raises:
        UsageError: an unknown team or area, or a notebook missing from ``notebooks`` (nothing is run).
        ParamsError: ``params/actions.yaml`` is malformed (nothing is run).
    """
    params_dir = Path(params_dir).resolve()
    load_areas(params_dir)
    snoozes = load_snoozes(params_dir)
    known = list_teams(params_dir)
    if not known:
        raise UsageError(f"no team parameters found in {params_dir / 'teams'}; add a <team>.yaml there")
    # A team or area named twice is rendered once.
    teams = list(dict.fromkeys(teams or [])) or None
    areas = list(dict.fromkeys(areas or [])) or None
    for team in teams or []:
        check_team_name(team)
        if team not in known:
            raise UsageError(f"unknown team '{team}'; known teams: {', '.join(known)}")
    selected_areas: list[Area] = [get_area(a) for a in (areas or list(AREAS))]
    notebook_of = {a.name: str(a.notebook) for a in selected_areas}
    absent = [f"{a.name} ({a.notebook})" for a in selected_areas if notebooks is None and not a.notebook.is_file()]
    if absent:
        raise UsageError(f"no notebook for the area {', '.join(absent)}; an area needs its notebook (README, Add an area)")
    if notebooks is not None:
        notebook_of = {a.name: str(Path(notebooks).resolve() / f"{a.name}.ipynb") for a in selected_areas}
        absent = [Path(n).name for n in notebook_of.values() if not Path(n).is_file()]
        if absent:
            raise UsageError(f"the notebooks folder {notebooks} has no {', '.join(absent)}")
    as_of = as_of or date.today()
    jobs: list[Job] = []
    decided: list[Outcome] = []
    run_params: dict[str, Any] = {}
    fingerprints: dict[str, str] = {}
    warnings: list[str] = ignored_team_files(params_dir)
    opened: dict[tuple[str, str], Workspace | PlaybookError] = {}
    from playbook.render import read_manifest

    previous = read_manifest(Path(out_dir))["reports"]
    store = history_path(Path(out_dir).resolve())
    history = read_or_warn(store, warnings)
    notebook_hashes: dict[str, str] = {}
    for team in teams or known:
        try:
            params = load_params(params_dir, team)
        except PlaybookError as err:
            decided += [Outcome(team, a.name, Status.FAILED, team_name=team, reason=str(err)) for a in selected_areas]
            continue
        run_params[team] = params.model_dump(mode="json")
        period = resolve_period(params.period, as_of)
        ws_path = resolve_workspace(workspace, Path.cwd()) if workspace else workspace_path(params, params_dir)
        # A warehouse is opened once per mapping (teams may map its tables differently).
        opened_as = (str(ws_path), params.warehouse.model_dump_json() if is_url(ws_path) else "")
        if opened_as not in opened:
            try:
                opened[opened_as] = Workspace(ws_path, warehouse=params.warehouse)
            except WarehouseError as err:
                # The server or a team's mapping is wrong: nothing runs (exit 2), and the message
                # says whose params name the warehouse.
                _close(opened)
                raise WarehouseError(f"team {team} ({params_dir / 'teams' / (team + '.yaml')} and defaults.yaml): {err}") from None
            except PlaybookError as err:
                opened[opened_as] = err
        ws = opened[opened_as]
        for area in selected_areas:
            common = dict(team_name=params.name, period={"start": period.start.isoformat(), "end": period.end.isoformat()})
            if isinstance(ws, PlaybookError):
                decided.append(Outcome(team, area.name, Status.FAILED, reason=str(ws), **common))
                continue
            missing = [t for t in area.required if not ws.has(t)]
            if missing:
                reason = f"the workspace {ws_path} has no {', '.join(missing)} table" + ws.where(missing[0])
                decided.append(Outcome(team, area.name, Status.NO_DATA, reason=reason, **common))
                continue
            fingerprint = ws.fingerprint([t for t in area.tables if ws.has(t)])
            notebook = notebook_of[area.name]
            if notebook not in notebook_hashes:
                notebook_hashes[notebook] = _area_hash(area, notebook)
            past = history.digest(team, area.name, as_of) if history is not None else "-"
            key = input_key(notebook_hashes[notebook], run_params[team], fingerprint, period, as_of, past)
            fingerprints[f"{team}/{area.name}"] = fingerprint
            old = previous.get(f"{team}/{area.name}", {})
            if not force and _reusable(old, key, Path(out_dir)):
                decided.append(_reused(old, key))
                continue
            try:
                for table in area.tables:
                    if ws.has(table):
                        report = ws.load(table)
                        warnings += [line for line in report.describe() if line not in warnings]
            except SchemaError as err:
                if ws.is_warehouse:
                    # A warehouse table without a column of the contract, or of the wrong type, is
                    # a mapping to fix before anything runs, not one report's bad file.
                    _close(opened)
                    raise
                decided.append(Outcome(team, area.name, Status.FAILED, reason=str(err), **common))
                continue
            jobs.append(
                Job(
                    team=team,
                    team_name=params.name,
                    area=area.name,
                    area_title=area.title,
                    notebook=notebook_of[area.name],
                    params_dir=str(params_dir),
                    out_dir=str(Path(out_dir).resolve()),
                    as_of=as_of.isoformat(),
                    workspace=str(ws_path),
                    period=(period.start.isoformat(), period.end.isoformat()),
                    timeout=params.execution_timeout,
                    fingerprint=fingerprint,
                    time_limit=params.time_limit,
                    input_key=key,
                    history=str(store) if history is not None else "-",
                )
            )
    _close(opened)
    return Plan(jobs, decided, run_params, fingerprints, warnings, known, history, snoozes)


def _close(opened: dict[Any, Any]) -> None:
    for ws in opened.values():
        if isinstance(ws, Workspace):
            ws.close()


def _area_hash(area: Area, notebook: str) -> str:
    """The notebook's bytes, and for an area of your own its module's source (the playbook's own
    modules are in :func:`code_hash`), so editing either renders the area's reports again."""
    import importlib.util

    digest = hashlib.sha256(Path(notebook).read_bytes())
    module = area.module or f"playbook.{area.name}"
    spec = None if module.startswith("playbook.") else importlib.util.find_spec(module)
    if spec is not None and spec.origin and Path(spec.origin).is_file():
        # A package's every module file; a single module's own file.
        files = sorted(Path(spec.origin).parent.rglob("*.py")) if spec.submodule_search_locations else [Path(spec.origin)]
        for path in files:
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def code_hash() -> str:
    """A hash of the playbook's own code and templates, so an edited (or editable-installed)
    playbook never reuses a report an older build of it rendered under the same version."""
    digest = hashlib.sha256()
    root = Path(playbook.__file__).resolve().parent
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".py", ".j2", ".css", ".tpl", ".json"}):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def input_key(notebook_hash: str, params: dict[str, Any], fingerprint: str, period: Any, as_of: date, history: str = "") -> str:
    """Everything a report depends on, hashed: the notebook, the team's merged params, the data
    it reads, its period and as-of date, what it reads from the history (see
    :meth:`playbook.history.History.digest`), and the playbook's version and code."""
    facts = {
        "code": code_hash(),
        "notebook": notebook_hash,
        # Who receives a report is no part of it: changing recipients re-renders nothing.
        "params": {k: v for k, v in params.items() if k != "delivery"},
        "data": fingerprint,
        "period": [period.start.isoformat(), period.end.isoformat()],
        "as_of": as_of.isoformat(),
        "history": history,
        "playbook": playbook.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _reusable(old: dict[str, Any], key: str, out_dir: Path) -> bool:
    """The last render of this report was good, from the same inputs, and its HTML is still there."""
    return (
        old.get("status") == Status.RENDERED
        and old.get("input_key") == key
        and bool(old.get("html"))
        and (out_dir / str(old["html"])).is_file()
    )


def _reused(old: dict[str, Any], key: str) -> Outcome:
    known = {f for f in Outcome.__dataclass_fields__}
    outcome = Outcome(**{k: v for k, v in old.items() if k in known})
    outcome.input_key, outcome.reused, outcome.seconds, outcome.attempts = key, True, 0.0, 0
    return outcome

