"""What an import changes in a workspace table that already holds rows.

Next week's export holds rows the table has (an issue resolved since, a ticket solved) beside new
ones. For a table with a key, each incoming row is one of:

- **added**: its key is not in the table;
- **updated**: its key is there and a value the export gives differs; only those values change
  (columns the export does not give, and the file's own extra columns, stay as they are);
- **unchanged**: its key is there with the same values;
- **older**: the export's own "updated" time for the row is earlier than the latest time the
  table's row holds (opened, resolved, first response...), so the row there is newer: it stays.
  An export without an updated time is taken to be the later one.

A key the export marks as deleted (a Zendesk ticket with status ``deleted``) is removed from the
table, unless that deletion is older than a change already recorded. A table without a key
(events), or whose rows record a first event (exposures), only ever gets rows it does not hold.

"Older" is judged by the import ledger (:func:`ledger_path`), the playbook's own record of the
latest change time each key's export gave; for a key it has no entry for (a table written by
hand, or before the ledger), by the latest time the table's row holds.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from playbook.schemas import get_table
from playbook.workspace import Workspace

Key = tuple[str, ...]


@dataclass
class Changes:
    """Rows to add (text, as the contract reads them), values to set per key, keys to remove, and
    the import ledger as it stands after them."""

    add: pd.DataFrame
    update: dict[Key, dict[str, str]] = field(default_factory=dict)
    remove: list[Key] = field(default_factory=list)
    unchanged: int = 0
    older: int = 0
    columns_updated: dict[str, int] = field(default_factory=dict)
    ledger: dict[Key, tuple[Any, bool]] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(len(self.add) or self.update or self.remove)


# Tables whose rows record a first event and are never rewritten by a later export: a unit's
# exposure is when it first saw a variant, and a later row for it is a fact to report, not an update.
APPEND_ONLY = {"exposures"}

LEDGER = ".playbook-imports"


def ledger_path(workspace: Path, table: str) -> Path:
    """The import ledger of a table: for each key an export gave a change time for, the latest
    such time and whether that change was a deletion (the playbook's own file, in the workspace)."""
    return workspace / LEDGER / f"{table}.csv"


def read_ledger(path: Path, key: list[str]) -> dict[Key, tuple[Any, bool]]:
    """The ledger's entries; a ledger that is missing or cannot be read counts as empty (the
    table's own times then judge what is older)."""
    if not path.is_file():
        return {}
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        stamps = pd.to_datetime(frame["updated_at"], utc=True, errors="coerce").dt.tz_localize(None)
        return {tuple(row): (stamp, gone == "1") for row, stamp, gone in
                zip(frame[key].itertuples(index=False, name=None), stamps, frame["deleted"])}
    except (KeyError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return {}


def write_ledger(path: Path, key: list[str], ledger: dict[Key, tuple[Any, bool]]) -> None:
    from playbook.render import write_atomic

    rows = [(*k, pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "1" if gone else "0")
            for k, (t, gone) in ledger.items() if pd.notna(t)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, pd.DataFrame(rows, columns=[*key, "updated_at", "deleted"]).to_csv(index=False))


def key_of(frame: pd.DataFrame, key: list[str]) -> list[Key]:
    """Each row's key as text, as a CSV file holds it (trimmed)."""
    return [tuple(_plain(v) for v in row) for row in frame[key].itertuples(index=False, name=None)]


def plan(ws: Workspace | None, table: str, text: pd.DataFrame, typed: pd.DataFrame, given: set[str],
         updated_at: pd.Series | None, deleted: list[tuple[Key, Any]], ledger: dict[Key, tuple[Any, bool]] | None = None,
         estimated: pd.Series | None = None) -> Changes:
    """The changes ``text`` (the import's usable rows) and ``typed`` (the same rows typed) make
    to the workspace's ``table`` (loaded in ``ws``; None when the table does not exist yet).

    Args:
        given: the columns the export gives a value for (a column it lacks is never updated).
        updated_at: per incoming row, the export's time of its last change (NaT when unknown).
        deleted: keys the export marks as deleted, with the time of the deletion.
        ledger: the latest change time recorded per key by earlier imports (:func:`read_ledger`).
        estimated: per incoming row, the columns whose value is an estimate (filled only where
            the table's row has none).
    """
    contract = get_table(table)
    key = list(contract.key)
    known = dict(ledger or {})
    if not key:
        new = ws.unseen(table, typed).to_numpy() if ws is not None else [True] * len(text)
        added = text[new].reset_index(drop=True)
        return Changes(added, unchanged=len(text) - len(added))
    times = [c.name for c in contract.columns if c.type == "timestamp"]
    compared = [c for c in contract.column_names if c in given and c not in key]
    held = ws.held(table, list(dict.fromkeys([*key, *compared, *times]))) if ws is not None else pd.DataFrame(
        columns=list(dict.fromkeys([*key, *compared, *times])))
    where: dict[Key, list[int]] = {}
    for i, k in enumerate(key_of(held, key)):
        where.setdefault(k, []).append(i)
    latest = held[times].max(axis=1, skipna=True) if times and len(held) else pd.Series(pd.NaT, index=held.index)
    changes = Changes(text.iloc[0:0])

    def older(k: Key, stamp: Any) -> bool:
        """The export's change is older than one already recorded: in the ledger, or else (a
        table written before the ledger, or by hand) the latest time the table's row holds."""
        if pd.isna(stamp):
            return False
        if k in known and pd.notna(known[k][0]):
            return pd.Timestamp(stamp) < pd.Timestamp(known[k][0])
        return k in where and any(pd.notna(latest.iloc[h]) and pd.Timestamp(stamp) < pd.Timestamp(latest.iloc[h]) for h in where[k])

    adding = []
    for i, k in enumerate(key_of(typed, key)):
        stamp = updated_at.iloc[i] if updated_at is not None else pd.NaT
        if older(k, stamp):
            changes.older += 1
            continue
        if pd.notna(stamp):
            known[k] = (stamp, False)
        if k not in where:
            adding.append(i)
            continue
        if table in APPEND_ONLY:
            changes.unchanged += 1
            continue
        rough = set(str(estimated.iloc[i]).split(",")) if estimated is not None else set()
        differ = [
            c for c in compared
            if any(not same(typed[c].iloc[i], held[c].iloc[h]) and not (c in rough and not _missing(held[c].iloc[h]))
                   for h in where[k])
        ]
        if differ:
            changes.update[k] = {c: text[c].iloc[i] for c in differ}
            for c in differ:
                changes.columns_updated[c] = changes.columns_updated.get(c, 0) + 1
        else:
            changes.unchanged += 1
    changes.add = text.iloc[adding].reset_index(drop=True)
    for k, stamp in deleted:
        if older(k, stamp):
            changes.older += 1
            continue
        if pd.notna(stamp):
            known[k] = (stamp, True)
        if k in where and k not in changes.remove:
            changes.remove.append(k)
    changes.ledger = known
    return changes


def same(a: Any, b: Any) -> bool:
    """Two typed values equal as the contract reads them (empty equals empty; times to the microsecond)."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if hasattr(a, "isoformat") or hasattr(b, "isoformat"):
        try:
            return pd.Timestamp(a) == pd.Timestamp(b)
        except (TypeError, ValueError):
            return False
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return float(a) == float(b)
    return str(a) == str(b)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


__all__ = ["APPEND_ONLY", "Changes", "key_of", "ledger_path", "plan", "read_ledger", "same", "write_ledger"]
