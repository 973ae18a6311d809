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
table. A table without a key (events) only ever gets rows it does not hold yet.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from playbook.schemas import get_table
from playbook.workspace import Workspace

Key = tuple[str, ...]


@dataclass
class Changes:
    """Rows to add (text, as the contract reads them), values to set per key, keys to remove."""

    add: pd.DataFrame
    update: dict[Key, dict[str, str]] = field(default_factory=dict)
    remove: list[Key] = field(default_factory=list)
    unchanged: int = 0
    older: int = 0
    columns_updated: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(len(self.add) or self.update or self.remove)


def key_of(frame: pd.DataFrame, key: list[str]) -> list[Key]:
    """Each row's key as text, as a CSV file holds it (trimmed)."""
    return [tuple(_plain(v) for v in row) for row in frame[key].itertuples(index=False, name=None)]


def plan(ws: Workspace, table: str, text: pd.DataFrame, typed: pd.DataFrame, given: set[str],
         updated_at: pd.Series | None, deleted: list[Key]) -> Changes:
    """The changes ``text`` (the import's usable rows) and ``typed`` (the same rows typed) make
    to the workspace's ``table`` (loaded in ``ws``).

    Args:
        given: the columns the export gives a value for (a column it lacks is never updated).
        updated_at: per incoming row, the export's time of its last change (NaT when unknown).
        deleted: keys the export marks as deleted.
    """
    contract = get_table(table)
    key = list(contract.key)
    if not key:
        new = ws.unseen(table, typed).to_numpy()
        return Changes(text[new].reset_index(drop=True), unchanged=int((~new).sum()))
    times = [c.name for c in contract.columns if c.type == "timestamp"]
    compared = [c for c in contract.column_names if c in given and c not in key]
    held = ws.held(table, list(dict.fromkeys([*key, *compared, *times])))
    where: dict[Key, int] = {}
    for i, k in enumerate(key_of(held, key)):
        where.setdefault(k, i)
    latest = held[times].max(axis=1, skipna=True) if times else pd.Series(pd.NaT, index=held.index)
    changes = Changes(text.iloc[0:0])
    adding = []
    for i, k in enumerate(key_of(typed, key)):
        if k not in where:
            adding.append(i)
            continue
        h = where[k]
        stamp = updated_at.iloc[i] if updated_at is not None else pd.NaT
        if pd.notna(stamp) and pd.notna(latest.iloc[h]) and pd.Timestamp(stamp) < pd.Timestamp(latest.iloc[h]):
            changes.older += 1
            continue
        differ = [c for c in compared if not same(typed[c].iloc[i], held[c].iloc[h])]
        if differ:
            changes.update[k] = {c: text[c].iloc[i] for c in differ}
            for c in differ:
                changes.columns_updated[c] = changes.columns_updated.get(c, 0) + 1
        else:
            changes.unchanged += 1
    changes.add = text.iloc[adding].reset_index(drop=True)
    changes.remove = [k for k in dict.fromkeys(deleted) if k in where]
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


__all__ = ["Changes", "key_of", "plan", "same"]
