"""Every figure of every run, kept in the reports folder (``reports/history.duckdb``).

Each rendered report adds its figures (all of them, not just the headline) and its actions to
the history, keyed by team, area and as-of date, with the period, the data fingerprint and a
hash of the team's params beside them. A run for an as-of date already recorded replaces that
date's rows; a report reused unchanged adds nothing. A change in the params hash between two
points marks a break in the series (the figure may have moved because its definition did).

The store is an embedded DuckDB file with three tables (``runs``, ``figures``, ``actions``) that
anyone can query. It is never changed in place: every write makes a whole new file beside it and
renames it over the old one (:func:`playbook.render.replacing`), so a run killed while writing
leaves the last complete history, and the next run completes it.

Actions age here: an action found in a team's report at its last recorded as-of date keeps the
``first_seen`` date it had then, so "open for N weeks" counts the unbroken series of runs that
found it (after Gainsight's calls to action, which stay open until closed). This is what the
report's summary, the actions page and the index all read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from playbook.errors import PlaybookError
from playbook.figures import AreaResult, result_from_dict

HISTORY_NAME = "history.duckdb"
# How a warning about the history begins (a run's own: it is never carried to the next run).
HISTORY_WARNING = "history: "
# The store's layout; a file with another version is read as far as it goes and rewritten in this one.
VERSION = 1
# Params that change neither a figure's definition nor its value: editing them breaks no series.
# (The workspace's path is not one: what the data holds is in the fingerprint.)
UNSCORED_PARAMS = frozenset({"execution_timeout", "time_limit", "owners", "alerts", "extra_areas", "name", "workspace"})

RUN_COLUMNS = {
    "team": "str", "area": "str", "as_of": "date", "period_start": "date", "period_end": "date",
    "fingerprint": "str", "params_hash": "str", "source": "str", "recorded_at": "str", "playbook_version": "str",
}
FIGURE_COLUMNS = {
    "team": "str", "area": "str", "as_of": "date", "figure": "str", "label": "str", "unit": "str", "good": "str",
    "subject": "str", "value": "float", "previous": "float", "headline": "bool", "period_start": "date",
    "period_end": "date", "fingerprint": "str", "params_hash": "str",
}
ACTION_COLUMNS = {
    "team": "str", "area": "str", "as_of": "date", "rule": "str", "subject": "str", "severity": "str", "money": "float",
    "text": "str", "figures": "str", "first_seen": "date",
}
KEY = ["team", "area", "as_of"]
# The store's SQL, written out per table: no name or value is ever formatted into it.
READ_SQL = {"runs": "SELECT * FROM runs", "figures": "SELECT * FROM figures", "actions": "SELECT * FROM actions"}
CREATE_SQL = {
    "runs": "CREATE TABLE runs AS SELECT * FROM incoming",
    "figures": "CREATE TABLE figures AS SELECT * FROM incoming",
    "actions": "CREATE TABLE actions AS SELECT * FROM incoming",
}


class HistoryError(PlaybookError):
    """Raised when the history store cannot be read or written (the message says which file and why)."""


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    dtypes = {"str": "object", "date": "object", "float": "float64", "bool": "bool"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[t]) for c, t in columns.items()})


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with exactly ``columns``, dates as ``datetime.date`` and numbers as float64."""
    out = frame.reindex(columns=list(columns)).copy()
    for column, kind in columns.items():
        if kind == "date":
            out[column] = pd.to_datetime(out[column]).dt.date
        elif kind == "float":
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        elif kind == "bool":
            out[column] = out[column].fillna(False).astype(bool)
        else:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
    return out.reset_index(drop=True)


def params_hash(params: dict[str, Any], area: str) -> str:
    """A hash of the team's params that can change ``area``'s figures or actions: everything but
    the sections of other areas, other areas' alert rules and the settings in UNSCORED_PARAMS
    (owners, time limits, the workspace's path)."""
    from playbook.areas import AREAS

    relevant = {k: v for k, v in params.items() if k not in UNSCORED_PARAMS and (k == area or k not in AREAS)}
    # The area's own alert rules change its actions: a new one is a change of its params too.
    relevant["alerts"] = [rule for rule in params.get("alerts") or [] if str(rule.get("figure", "")).split(".")[0] == area]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Point:
    """One report's figures and actions for one as-of date, as :meth:`History.record_many` takes them."""

    team: str
    area: str
    as_of: date
    result: Any
    period: tuple[Any, Any]
    fingerprint: str
    params_hash: str
    source: str = "run"


@dataclass(frozen=True)
class History:
    """The history store's three tables as frames (``runs``, ``figures``, ``actions``).

    A History is a value: :meth:`record` returns a new one, and only :meth:`write` touches disk.
    """

    runs: pd.DataFrame = field(default_factory=lambda: _empty(RUN_COLUMNS))
    figures: pd.DataFrame = field(default_factory=lambda: _empty(FIGURE_COLUMNS))
    actions: pd.DataFrame = field(default_factory=lambda: _empty(ACTION_COLUMNS))

    # -- reading and writing -------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path | str) -> History:
        """The history in ``path``; an empty one when the file does not exist.

        Raises:
            HistoryError: the file exists but is not a history the playbook wrote, or cannot be read.
        """
        import duckdb

        path = Path(path)
        if not path.exists():
            return cls()
        if path.is_symlink() or not path.is_file():
            raise HistoryError(f"{path} is not a plain file; the history is kept only in a file of the playbook's own")
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as err:
            raise HistoryError(f"cannot read the history {path}: {err}") from None
        try:
            listed = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
            names = {name for schema, name in listed if schema == "main"}
            elsewhere = sorted(f"{schema}.{name}" for schema, name in listed if schema != "main")
            if elsewhere:
                raise HistoryError(f"{path} holds tables the playbook did not write ({', '.join(elsewhere)}); the playbook "
                                   "rewrites the whole file, so it is kept as it is: move your tables to a database of your own")
            missing = {"playbook_history", "runs", "figures", "actions"} - names
            if missing:
                raise HistoryError(f"{path} is not a playbook history (it has no {', '.join(sorted(missing))} table); "
                                   "move it away, or give another --out")
            # The playbook rewrites the whole file: a table of anyone else's in it would be lost.
            theirs = sorted(names - {"playbook_history", "runs", "figures", "actions"})
            if theirs:
                raise HistoryError(f"{path} holds tables the playbook did not write ({', '.join(theirs)}); the playbook rewrites "
                                   "the whole file, so it is kept as it is: move your tables to a database of your own")
            versions = [row[0] for row in con.execute("SELECT version FROM playbook_history").fetchall()]
            if any(v is None or v > VERSION for v in versions):
                raise HistoryError(f"{path} was written by a newer playbook (history version {max(v or 0 for v in versions)}, "
                                   f"this one reads {VERSION}); it is kept as it is: upgrade the playbook")
            frames = {name: con.execute(sql).df() for name, sql in READ_SQL.items()}
            added = sorted(f"{name}.{c}" for name, columns in (("runs", RUN_COLUMNS), ("figures", FIGURE_COLUMNS),
                                                                ("actions", ACTION_COLUMNS)) for c in frames[name].columns if c not in columns)
            if added:
                raise HistoryError(f"{path} holds columns the playbook did not write ({', '.join(added)}); the playbook rewrites "
                                   "the whole file, so it is kept as it is: keep your notes in a database of your own")
        except duckdb.Error as err:
            raise HistoryError(f"cannot read the history {path}: {err}") from None
        finally:
            con.close()
        try:
            history = cls(_typed(frames["runs"], RUN_COLUMNS), _typed(frames["figures"], FIGURE_COLUMNS),
                          _typed(frames["actions"], ACTION_COLUMNS))
        except (ValueError, TypeError, OverflowError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise HistoryError(f"{path} holds values that are not what the playbook wrote ({first}); it is kept as it is") from None
        for name, frame, needed in (("runs", history.runs, KEY), ("figures", history.figures, [*KEY, "figure"]),
                                    ("actions", history.actions, [*KEY, "rule", "subject", "first_seen"])):
            empty = [c for c in needed if frame[c].isna().any()]
            if empty:
                raise HistoryError(f"{path}: the {name} table has rows without {', '.join(empty)}, which the playbook always "
                                   "writes; it is kept as it is")
        return history

    def write(self, path: Path | str) -> None:
        """Write the whole history to ``path`` atomically: a new file beside it, renamed over it."""
        import duckdb

        from playbook.render import replacing

        path = Path(path)
        try:
            with replacing(path) as tmp:
                try:
                    self._write_file(tmp)
                finally:
                    Path(f"{tmp}.wal").unlink(missing_ok=True)
        except (duckdb.Error, OSError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise HistoryError(f"could not write the history {path}: {reason}; the previous history is kept as it was") from None
        # A write-ahead log left beside the old file (a session of DuckDB's that did not close)
        # belongs to the file just replaced; read with the new one it would make it unreadable.
        Path(f"{path}.wal").unlink(missing_ok=True)

    def _write_file(self, tmp: Path) -> None:
        """The history as a new DuckDB file at ``tmp`` (an empty temporary file of the caller's)."""
        import duckdb

        # DuckDB refuses the empty file mkstemp made; the name stays ours (see render.TMP_MARK).
        tmp.unlink()
        con = duckdb.connect(str(tmp))
        try:
            con.execute("CREATE TABLE playbook_history (version INTEGER, written_at VARCHAR)")
            con.execute("INSERT INTO playbook_history VALUES (?, ?)", [VERSION, datetime.now(timezone.utc).isoformat()])
            for name, frame, columns in (("runs", self.runs, RUN_COLUMNS), ("figures", self.figures, FIGURE_COLUMNS),
                                         ("actions", self.actions, ACTION_COLUMNS)):
                rows = _typed(frame, columns).sort_values(KEY, kind="stable")
                con.register("incoming", rows)
                con.execute(CREATE_SQL[name])
                con.unregister("incoming")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())

    # -- adding a report -----------------------------------------------------------------------

    def record(
        self, team: str, area: str, as_of: date, result: AreaResult | dict[str, Any], *, period: tuple[Any, Any],
        fingerprint: str, params_hash: str, source: str = "run",
    ) -> History:
        """A new History with ``result``'s figures and actions as the team's report on ``area``
        for ``as_of`` (replacing any rows already there for that day)."""
        return self.record_many([Point(team, area, as_of, result, period, fingerprint, params_hash, source)])

    def record_many(self, points: Iterable[Point]) -> History:
        """A new History with every point recorded (a later point of the same team, area and
        as-of date wins), joined into each table once."""
        import playbook

        points = list({(p.team, p.area, p.as_of): p for p in points}.values())
        if not points:
            return self
        stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        runs, figures, actions = [], [], []
        for p in points:
            result = result_from_dict(p.result) if isinstance(p.result, dict) else p.result
            start, end = (pd.Timestamp(d).date() if d is not None else None for d in p.period)
            key = {"team": p.team, "area": p.area, "as_of": p.as_of}
            runs.append({**key, "period_start": start, "period_end": end, "fingerprint": p.fingerprint,
                         "params_hash": p.params_hash, "source": p.source, "playbook_version": playbook.__version__,
                         "recorded_at": stamp})
            figures += [{
                **key, "figure": name, "label": f.label, "unit": f.unit, "good": f.good, "subject": f.subject, "value": f.value,
                "previous": f.previous, "headline": name in result.headline, "period_start": start, "period_end": end,
                "fingerprint": p.fingerprint, "params_hash": p.params_hash,
            } for name, f in result.figures.items()]
            actions += [{
                **key, "rule": a.rule, "subject": a.subject, "severity": a.severity.name.lower(), "money": a.money,
                "text": a.text, "figures": ",".join(a.figures), "first_seen": a.first_seen or p.as_of,
            } for a in result.actions]
        keys = pd.DataFrame([(p.team, p.area, p.as_of) for p in points], columns=KEY).assign(_replaced=True)

        def merged(old: pd.DataFrame, new: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
            fresh = pd.DataFrame(new, columns=list(columns))
            if len(old):
                hit = old[KEY].merge(keys, on=KEY, how="left")["_replaced"].notna().to_numpy()
                kept = old[~hit]
                fresh = pd.concat([kept, fresh], ignore_index=True) if len(kept) else fresh
            return _typed(fresh, columns)

        return History(merged(self.runs, runs, RUN_COLUMNS), merged(self.figures, figures, FIGURE_COLUMNS),
                       merged(self.actions, actions, ACTION_COLUMNS))

    def recorded(self, team: str, area: str, as_of: date) -> dict[str, Any] | None:
        """The run recorded for the team's report on ``area`` on ``as_of``, or None."""
        rows = self.runs[(self.runs.team == team) & (self.runs.area == area) & (self.runs.as_of == as_of)]
        return rows.iloc[-1].to_dict() if len(rows) else None

    # -- what a run reads back -----------------------------------------------------------------

    def previous_as_of(self, team: str, area: str, as_of: date) -> date | None:
        """The last as-of date before ``as_of`` at which the team's report on ``area`` was recorded."""
        days = self.runs.loc[(self.runs.team == team) & (self.runs.area == area) & (self.runs.as_of < as_of), "as_of"]
        return max(days) if len(days) else None

    def actions_at(self, team: str, area: str, as_of: date | None) -> pd.DataFrame:
        """The actions the team's report on ``area`` recorded for ``as_of`` (none for None)."""
        a = self.actions
        return a[(a.team == team) & (a.area == area) & (a.as_of == as_of)] if as_of is not None else a.iloc[0:0]

    def age(self, team: str, area: str, as_of: date, actions: Iterable[Any]) -> tuple[Any, ...]:
        """``actions`` (:class:`~playbook.figures.Action`) with ``first_seen`` and ``weeks_open``
        set: the first of the unbroken series of recorded runs before ``as_of`` that found each,
        walked back run by run (so weeks backfilled later count too); this run's as-of date when
        the last run did not find it."""
        runs = self.runs.loc[(self.runs.team == team) & (self.runs.area == area) & (self.runs.as_of < as_of), "as_of"]
        days = sorted(set(runs), reverse=True)
        mine = self.actions[(self.actions.team == team) & (self.actions.area == area) & (self.actions.as_of < as_of)]
        found: dict[date, set[tuple[str, str]]] = {}
        for row in mine.itertuples():
            found.setdefault(row.as_of, set()).add((row.rule, row.subject))
        start = min(days) if days else None
        aged = []
        for action in actions:
            first = as_of
            for day in days:
                if (action.rule, action.subject) not in found.get(day, ()):
                    break
                first = day
            aged.append(replace(action, first_seen=first.isoformat(), weeks_open=(as_of - first).days // 7,
                                open_before_history=first == start and first < as_of))
        return tuple(aged)

    def first_as_of(self, team: str, area: str) -> date | None:
        """The first as-of date recorded for the team's report on ``area`` (where its history begins)."""
        days = self.runs.loc[(self.runs.team == team) & (self.runs.area == area), "as_of"]
        return min(days) if len(days) else None

    def digest(self, team: str, area: str, as_of: date) -> str:
        """A hash of what the team's report on ``area`` reads from the history for ``as_of`` (the
        runs before it and their actions), so a report is rendered again when that changes."""
        runs = self.runs[(self.runs.team == team) & (self.runs.area == area) & (self.runs.as_of < as_of)]
        mine = self.actions[(self.actions.team == team) & (self.actions.area == area) & (self.actions.as_of < as_of)]
        rows = sorted(str(day) for day in runs.as_of) + sorted((r.rule, r.subject, str(r.as_of)) for r in mine.itertuples())
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]

    def series(self, team: str | None = None, area: str | None = None, figure: str | None = None,
               headline_only: bool = False) -> pd.DataFrame:
        """Every recorded point of the matching figures, oldest first, with ``series_break`` True
        where the params hash differs from the point before it in the same series.

        Columns: team, area, figure, subject, label, unit, as_of, value, previous, params_hash,
        fingerprint, series_break.
        """
        f = self.figures
        if team is not None:
            f = f[f.team == team]
        if area is not None:
            f = f[f.area == area]
        if figure is not None:
            f = f[f.figure == figure]
        if headline_only:
            f = f[f.headline]
        f = f.assign(subject_key=f.subject.fillna("")).sort_values(["team", "area", "figure", "subject_key", "as_of"], kind="stable")
        before = f.groupby(["team", "area", "figure", "subject_key"], sort=False).params_hash.shift()
        f = f.assign(series_break=before.notna() & (before != f.params_hash))
        return f[["team", "area", "figure", "subject", "label", "unit", "as_of", "value", "previous", "params_hash",
                  "fingerprint", "series_break"]].reset_index(drop=True)


def read_or_warn(path: Path | str, warnings: list[str]) -> History | None:
    """The history in ``path``; None, with a warning added to ``warnings``, when it cannot be
    read (it is then kept as it is, and a run adds nothing to it)."""
    try:
        return History.read(path)
    except HistoryError as err:
        warnings.append(f"{HISTORY_WARNING}{err}; it is kept as it is, and this run's figures are not added to it")
        return None


def history_path(out_dir: Path | str) -> Path:
    """Where the reports folder ``out_dir`` keeps its history."""
    return Path(out_dir) / HISTORY_NAME


def week_dates(as_of: date, weeks: int) -> list[date]:
    """The ``weeks`` weekly as-of dates ending on ``as_of``, oldest first.

    Raises:
        UsageError: the first of them is before the earliest date the playbook reads.
    """
    from datetime import timedelta

    from playbook.errors import UsageError
    from playbook.schemas import EARLIEST

    days = [as_of - timedelta(days=7 * k) for k in range(weeks - 1, -1, -1)]
    if days[0] < EARLIEST:
        raise UsageError(f"{weeks} weeks ending on {as_of.isoformat()} start on {days[0].isoformat()}, before the earliest date "
                         f"the playbook reads ({EARLIEST}); give fewer --weeks or a later --as-of")
    return days
