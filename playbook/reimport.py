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

from playbook.errors import ImportDataError
from playbook.exports import _text
from playbook.render import write_atomic
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
    ledger: dict[Key, tuple[Any, bool, str]] = field(default_factory=dict)
    judged_by_row: int = 0

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


Entry = tuple[Any, bool, str]  # the latest change time, whether it was a deletion, the export's own text of that time


def read_ledger(path: Path, key: list[str]) -> dict[Key, Entry]:
    """The ledger's entries (none when it does not exist).

    Raises:
        ImportDataError: a ledger that cannot be read, or rows of it that do not hold an ISO-8601
            time and 0/1: the import stops rather than judge without it (and overwrite it).
    """
    if not path.is_file():
        return {}
    fix = (f"fix those rows, or delete {path} (the import then judges by each row's own times, and writes the ledger "
           "anew); nothing was written")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise ImportDataError(f"{path}: the import ledger cannot be read ({str(err).splitlines()[0]}); {fix}") from None
    missing = [c for c in (*key, "updated_at", "deleted") if c not in frame.columns]
    if missing:
        raise ImportDataError(f"{path}: the import ledger has no column {', '.join(repr(c) for c in missing)}; {fix}")
    stamps = pd.to_datetime(frame["updated_at"], utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
    bad = [i + 2 for i, (t, gone) in enumerate(zip(stamps, frame["deleted"])) if pd.isna(t) or gone not in ("0", "1")]
    if bad:
        raise ImportDataError(f"{path}: line{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad[:5]))} of the import "
                              f"ledger do{'es' if len(bad) == 1 else ''} not hold an ISO-8601 time and 0 or 1; {fix}")
    sources = frame["source"] if "source" in frame.columns else pd.Series("", index=frame.index)
    return {tuple(row): (stamp, gone == "1", text) for row, stamp, gone, text in
            zip(frame[key].itertuples(index=False, name=None), stamps, frame["deleted"], sources)}


def write_ledger(path: Path, key: list[str], ledger: dict[Key, Entry]) -> None:
    """Write the ledger atomically.

    Raises:
        ImportDataError: the ledger cannot be written (a read-only workspace).
    """
    rows = [(*k, pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "1" if gone else "0", text)
            for k, (t, gone, text) in ledger.items() if pd.notna(t)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, pd.DataFrame(rows, columns=[*key, "updated_at", "deleted", "source"]).to_csv(index=False))
    except OSError as err:
        raise ImportDataError(f"cannot write the import ledger {path} ({err.strerror or err}); nothing was written") from None


def key_of(frame: pd.DataFrame, key: list[str]) -> list[Key]:
    """Each row's key as text, as a CSV file holds it (trimmed)."""
    columns = [frame[k].map(_plain).tolist() for k in key]
    return list(zip(*columns)) if columns and len(frame) else []


def plan(ws: Workspace | None, table: str, text: pd.DataFrame, typed: pd.DataFrame, given: set[str],
         updated_at: pd.Series | None, deleted: list[tuple[Key, Any, str]], ledger: dict[Key, Entry] | None = None,
         estimated: pd.Series | None = None, updated_text: pd.Series | None = None) -> Changes:
    """The changes ``text`` (the import's usable rows) and ``typed`` (the same rows typed) make
    to the workspace's ``table`` (loaded in ``ws``; None when the table does not exist yet).

    Args:
        given: the columns the export gives a value for (a column it lacks is never updated).
        updated_at: per incoming row, the export's time of its last change (NaT when unknown).
        deleted: keys the export marks as deleted, with the time of the deletion and its text.
        ledger: the latest change recorded per key by earlier imports (:func:`read_ledger`).
        estimated: per incoming row, the columns whose value is an estimate (filled only where
            the table's row has none).
        updated_text: per incoming row, the export's own text of its change time: the same text
            as the ledger's is the same change read again (in a corrected time zone, say), never older.
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
    wanted = list(dict.fromkeys([*key, *compared, *times]))
    held = ws.held(table, wanted) if ws is not None else pd.DataFrame(columns=wanted)
    where: dict[Key, list[int]] = {}
    for i, k in enumerate(key_of(held, key)):
        where.setdefault(k, []).append(i)
    stamps_held = held[times].apply(pd.to_datetime) if times and len(held) else pd.DataFrame(index=held.index)
    latest = list(stamps_held.max(axis=1, skipna=True)) if len(held) else []
    earliest = list(stamps_held.min(axis=1, skipna=True)) if len(held) else []
    # Plain lists: a row at a time through pandas' indexing costs a millisecond a row.
    mine = {c: typed[c].tolist() for c in compared}
    theirs = {c: held[c].tolist() for c in compared}
    texts = {c: text[c].tolist() for c in compared}
    stamps = updated_at.tolist() if updated_at is not None else [pd.NaT] * len(typed)
    sources = updated_text.tolist() if updated_text is not None else [""] * len(typed)
    rough = [set(str(e).split(",")) for e in estimated] if estimated is not None else [set()] * len(typed)
    changes = Changes(text.iloc[0:0])

    def older(k: Key, stamp: Any, source: str) -> bool:
        """The export's change is older than one already recorded: in the ledger, or else (a
        table written before the ledger, or by hand) the latest time the table's row holds,
        where the change is not before the row was opened (an export's own inconsistency)."""
        if pd.isna(stamp):
            return False
        stamp = pd.Timestamp(stamp)
        if k in known and pd.notna(known[k][0]):
            return stamp < pd.Timestamp(known[k][0]) and not (source and source == known[k][2])
        if k not in where:
            return False
        changes.judged_by_row += 1
        return any(pd.notna(latest[h]) and stamp < latest[h] and not (pd.notna(earliest[h]) and stamp < earliest[h])
                   for h in where[k])

    adding = []
    for i, k in enumerate(key_of(typed, key)):
        if older(k, stamps[i], sources[i]):
            changes.older += 1
            continue
        if pd.notna(stamps[i]):
            known[k] = (stamps[i], False, sources[i])
        if k not in where:
            adding.append(i)
            continue
        if table in APPEND_ONLY:
            changes.unchanged += 1
            continue
        differ = [
            c for c in compared
            if any(not same(mine[c][i], theirs[c][h]) and not (c in rough[i] and not _missing(theirs[c][h])) for h in where[k])
        ]
        if differ:
            changes.update[k] = {c: texts[c][i] for c in differ}
            for c in differ:
                changes.columns_updated[c] = changes.columns_updated.get(c, 0) + 1
        else:
            changes.unchanged += 1
    changes.add = text.iloc[adding].reset_index(drop=True)
    for k, stamp, source in deleted:
        if older(k, stamp, source):
            changes.older += 1
            continue
        if pd.notna(stamp):
            known[k] = (stamp, True, source)
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
    """A typed value as the text a CSV file holds (NaT and NA too are empty)."""
    return "" if _missing(value) else _text(value)


__all__ = ["APPEND_ONLY", "Changes", "key_of", "ledger_path", "plan", "read_ledger", "same", "write_ledger"]
