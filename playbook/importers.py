"""Importers: exports from the tools product-ops teams use, turned into canonical workspace tables.

An import reads one or more files (:mod:`playbook.exports`, with a preset's own code from
:mod:`playbook.tool_exports`), maps their columns onto one canonical table, checks the rows
against the data contract exactly as a run does (:class:`playbook.workspace.Workspace`), and
writes what changed into the workspace (:mod:`playbook.reimport` decides: new ids added, ids
already there updated where the export's values differ and it is not older, ids deleted at the
source removed; :mod:`playbook.appends` writes, rewriting nothing else). It reports what it
read, added, updated, skipped and set aside, and why, in the export's own column names.

The mapping is YAML (see ``params/mappings/`` for worked examples)::

    table: escalations            # the canonical table written
    headers: any_case             # match source headers ignoring case (default: exact)
    columns:                      # canonical column: source column, or a list (the first
                                  # that is present and not empty wins, row by row)
      escalation_id: Ticket ID
      priority: Ticket Priority
    values:                       # canonical column: {source value: canonical value}, any case
      priority: {Critical: P1, High: P2, Medium: P3, Low: P4}
    defaults:                     # canonical column: the value where the source's is empty
      priority: P3
    where:                        # source column: the values a row must hold to be kept
      Ticket Type: [Incident, Problem]
    deleted:                      # source column: values marking a record deleted at the source
      status: [deleted]
    updated: [Updated]            # the source column saying when each record last changed
    dates:
      format: "%d-%m-%Y %H:%M"    # strftime codes, or "unix" (seconds); default ISO-8601
      timezone: UTC               # the zone of times written without one (default UTC)
    constants:                    # canonical column: the same value on every row; "{row}" is
      team: support               # the source row number and "{file}" the export's file name
                                  # without extension (ids for files without any)

A *preset* is such a mapping shipped in ``playbook/presets/`` for a tool's export, plus a
``prepare`` function in :mod:`playbook.tool_exports` where the format needs code (nested JSON,
repeated headers, zipped files). ``--mapping`` merges a user's mapping over the preset's.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from playbook.appends import one_writer, table_file, write_changes
from playbook.errors import ImportDataError, SchemaError
from playbook.exports import Mapping, _column, _rows, _text, read_any
from playbook.import_mapping import (
    filter_note, kept_where, load_mapping, map_frame, marked_deleted, order_faults, source_keys, updated_times, zone_note,
)
from playbook.reimport import key_of, ledger_path, plan, read_ledger, write_ledger
from playbook.schemas import get_table
from playbook.tool_exports import PRESETS
from playbook.workspace import Workspace


@dataclass
class ImportResult:
    """What one import did."""

    table: str
    path: Path
    files: list[str]
    rows_read: int
    rows_written: int  # added
    rows_already_there: int  # unchanged
    set_aside: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    same: str = "same id"
    repeated: int = 0
    notes: list[str] = field(default_factory=list)
    rows_updated: int = 0
    rows_older: int = 0
    columns_updated: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    removed: int = 0
    superseded: int = 0
    usable: int = -1

    @property
    def nothing_usable(self) -> bool:
        """No row of the export could be used: every one set aside or filtered out."""
        return self.usable == 0 and not self.deleted

    def describe(self) -> list[str]:
        counts = [f"{self.rows_written:,} added"]
        if self.same == "same id":
            changed = ", ".join(f"{name} {count:,}" for name, count in sorted(self.columns_updated.items()))
            counts.append(f"{self.rows_updated:,} updated" + (f" ({changed})" if changed else ""))
        counts.append(f"{self.rows_already_there:,} {'unchanged' if self.same == 'same id' else 'already there'} ({self.same})")
        lines = [f"Read {_rows(self.rows_read)} from {', '.join(self.files)} into {self.path}: {', '.join(counts)}"]
        if self.rows_older:
            lines.append(f"{_rows(self.rows_older)} older than the table's (changed at the source before the latest time the "
                         "table's row holds): kept as they are there")
        if self.superseded:
            lines.append(f"{_rows(self.superseded)} superseded by a later change of the same id in this import: the latest kept")
        if self.deleted:
            lines.append(f"{self.deleted:,} deleted at the source: skipped" + (
                f"; {self.removed:,} of them imported before, removed from {self.path.name}" if self.removed else ""))
        if self.repeated:
            lines.append(f"{_rows(self.repeated)} given more than once in this import (identical in every column), written once")
        lines += self.notes
        lines += [f"data fault: {line}" for line in self.faults]
        lines += self.set_aside
        if self.nothing_usable and not self.rows_read:
            lines.append(f"nothing was written: {', '.join(self.files)} hold{'s' if len(self.files) == 1 else ''} no records")
        elif self.nothing_usable:
            lines.append(f"nothing was written: no row of {', '.join(self.files)} could be used (the reasons are above)")
        return lines


def run_import(preset: str, files: list[Path], workspace: Path, mapping_file: Path | None = None, table: str | None = None) -> ImportResult:
    """Import ``files`` with ``preset`` into ``workspace`` (created if absent); see the module docstring.

    Rows are added; a row whose key the table holds is updated where the export's values differ
    (:mod:`playbook.reimport`), a key the export marks deleted is removed, and nothing else in
    the file changes: other rows stay byte for byte in a CSV file and value for value (every
    column, its type and precision) in a Parquet file. One import at a time writes into a workspace.

    Raises:
        ImportDataError: an unreadable file, a column the mapping needs and the file lacks, times
            that do not parse, or a workspace table that cannot be written as it is.
    """
    mapping = load_mapping(preset, mapping_file, table)
    spec = PRESETS[preset]
    contract = get_table(mapping.table)
    key = list(contract.key)
    workspace = _workspace_folder(workspace)
    parts, faults, notes, read, given, names, gone = [], [], [], 0, set(), {}, []
    filtered: dict[str, int] = {}
    seq = 0  # the order rows were read in, across files: a later row wins a tie
    for path in map(Path, files):
        if path.exists() and not path.is_file():
            raise ImportDataError(f"{path}: {_kind(path)}, not an export file")
        frame = spec.reader(path)
        notes += frame.attrs.get("notes", [])
        read += len(frame)
        if not len(frame):
            continue  # an export of a quiet week: nothing to map
        if spec.prepare is not None:
            frame = spec.prepare(frame, mapping, path)
            notes += frame.attrs.get("said", [])
        if mapping.options.get("local_times") and mapping.dates.timezone is None:
            notes.append(zone_note(frame, mapping, path))
        if mapping.updated and _column(frame, mapping.updated, mapping.headers == "any_case") is None:
            notes.append(f"{path.name}: no column {' or '.join(repr(c) for c in mapping.updated)} (the mapping's updated:), so "
                         "this export is taken as later than every row the table holds")
        frame = frame.reset_index(drop=True)
        order = seq + frame.index.to_numpy()
        seq += len(frame)
        deleted = marked_deleted(frame, mapping, path, notes)
        if deleted.any():
            # A deleted record is known by its key alone (its other fields may be scrubbed, a
            # filter's column empty): judged before any filter.
            scrubbed = frame[deleted]
            keys = source_keys(scrubbed, mapping, key)
            stamps, said = updated_times(scrubbed, mapping, path)
            gone += [(k, stamp, said_at, int(at), path.name, int(line) + 1)
                     for k, stamp, said_at, at, line in zip(keys, stamps, said, order[deleted], scrubbed.index) if k is not None]
            frame, order = frame[~deleted], order[~deleted]
        keep = kept_where(frame, mapping, path, filtered)
        frame, order = frame[keep], order[keep]
        if not len(frame):
            continue
        updated, said = updated_times(frame, mapping, path)
        mapped, source_of = map_frame(frame, mapping, path.name, path.stem, notes)
        given |= set(source_of)
        first = key[0] if key else contract.column_names[0]
        faults += [f"{path.name}: {line}" for line in order_faults(mapped, mapping.table, source_of, mapped[first])]
        for column, name in source_of.items():
            names.setdefault(column, name)
        rough = frame["_estimated"].map(_text).tolist() if "_estimated" in frame.columns else ""
        parts.append((path, mapped.assign(_updated=updated, _said=said, _estimated=rough, _file=path.name, _line=list(frame.index + 1),
                                          _seq=list(order), _deleted=False)))
    if not read:
        # A quiet week's export: nothing to do, and said so (exit 1 from the command), not a fault.
        return ImportResult(mapping.table, table_file(workspace, mapping.table), [Path(f).name for f in files], 0, 0, 0, usable=0,
                            notes=notes)
    if filtered:
        kept_rows = sum(len(part) for _, part in parts)
        notes.append(filter_note(mapping, filtered, kept_rows))
    staged, repeated = _once([part for _, part in parts], list(contract.column_names))
    if gone and key:
        marks = pd.DataFrame([{**dict.fromkeys(contract.column_names, ""), **dict(zip(key, k)), "_updated": stamp, "_said": said_at,
                               "_estimated": "", "_file": file, "_line": line, "_seq": at, "_deleted": True}
                              for k, stamp, said_at, at, file, line in gone])
        staged = pd.concat([staged.drop(columns="import_row"), marks], ignore_index=True)
    # A record given several times (an incremental export repeats a ticket each time it changes,
    # or a deletion and a restore): its latest change wins.
    staged, superseded = _newest(staged, key, bool(mapping.updated) or bool(gone))
    dead = staged["_deleted"].astype(bool).to_numpy()
    stamps = pd.to_datetime(staged["_updated"], utc=True, errors="coerce").dt.tz_localize(None)
    said = staged["_said"].map(_text)
    deleted_keys = list(zip(key_of(staged[dead], key), stamps[dead], said[dead])) if key else []
    stamps, rough = stamps[~dead].reset_index(drop=True), staged["_estimated"][~dead].reset_index(drop=True)
    said = said[~dead].reset_index(drop=True)
    staged = staged[~dead].reset_index(drop=True)
    origin = staged[["_file", "_line"]]
    staged = staged[list(contract.column_names)].assign(import_row=range(len(staged)))
    try:
        kept, typed, set_aside = _checked(staged, mapping.table, workspace, files)
    except ImportDataError:
        # Name the file, with its own row numbers, rather than rows counted across all of them.
        for path, part in parts if len(parts) > 1 else []:
            live = part[list(contract.column_names)].reset_index(drop=True)
            _checked(live.assign(import_row=range(len(live))), mapping.table, workspace, [path])
        raise
    rows_kept = typed["import_row"].astype(int).to_numpy()
    updated_at, rough = stamps.iloc[rows_kept].reset_index(drop=True), rough.iloc[rows_kept].reset_index(drop=True)
    said = said.iloc[rows_kept].reset_index(drop=True)
    typed = typed.drop(columns=["import_row"])
    set_aside = [_in_export_terms(line, names, origin, len(parts) > 1) for line in set_aside]
    with one_writer(workspace):
        target = table_file(workspace, mapping.table)
        rows_before = 0
        ledger = ledger_path(workspace, mapping.table)
        recorded = read_ledger(ledger, key) if key else {}
        args = (mapping.table, kept[list(contract.column_names)], typed, given, updated_at if mapping.updated else None,
                deleted_keys, recorded, rough, said)
        if not (target.exists() or target.is_symlink()):
            changes = plan(None, *args)
        else:
            # The table already there must be one the contract can read, or nothing is added to it.
            with Workspace(workspace) as ws:
                try:
                    rows_before = ws.load(mapping.table).rows_read
                except SchemaError as err:
                    raise ImportDataError(f"the workspace's {err}; nothing was written (fix it, or import into another workspace)") from None
                changes = plan(ws, *args)
            target = target.resolve()  # a table that is a link: the file it links to is the table
            # A file without write permission (even for root, who could write it) was made read-only on purpose.
            if changes.writes and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
                raise ImportDataError(f"the workspace's {target.name} is read-only; nothing was written")
        if workspace.is_dir() and changes.writes and not workspace.stat().st_mode & 0o222:
            raise ImportDataError(f"the workspace folder {workspace} is read-only; nothing was written")
        if key and changes.ledger != recorded:
            # The ledger first: one ahead of the table is harmless (the same export is never
            # older than itself), one behind it would let an older export revert the change.
            write_ledger(ledger, key, changes.ledger)
        if changes.writes or (len(kept) and not target.exists()):
            workspace.mkdir(parents=True, exist_ok=True)
            write_changes(target, mapping.table, changes, rows_before)
    if changes.judged_by_row:
        notes.append(f"{changes.judged_by_row:,} id{'s' if changes.judged_by_row > 1 else ''} already in {target.name} had no entry in "
                     f"the import ledger ({ledger}): whether the export is older was judged by the row's own times, which a "
                     "change of priority or a deletion does not move")
    same = "same id" if contract.key else "identical rows"
    return ImportResult(
        mapping.table, target, [Path(f).name for f in files], read, len(changes.add), changes.unchanged, set_aside, faults, same,
        repeated, notes, rows_updated=len(changes.update), rows_older=changes.older, columns_updated=changes.columns_updated,
        deleted=len({k for k, *_ in gone}), removed=len(changes.remove), superseded=superseded, usable=len(kept),
    )


def _newest(staged: pd.DataFrame, key: list[str], by_time: bool) -> tuple[pd.DataFrame, int]:
    """One row per key: the most recently changed (by the export's updated time; the last read
    on a tie or without one)."""
    if not key or not by_time or staged.empty:
        return staged, 0
    order = pd.to_datetime(staged["_updated"], utc=True, errors="coerce")
    ranked = staged.assign(_when=order).sort_values(["_when", "_seq"], na_position="first", kind="stable")
    newest = ranked.drop_duplicates(key, keep="last").sort_values("_seq", kind="stable")
    return newest.drop(columns=["_when"]).reset_index(drop=True), len(staged) - len(newest)


def _in_export_terms(line: str, names: dict[str, str], origin: pd.DataFrame, several: bool) -> str:
    """A set-aside line as the workspace says it, in the export's terms: its own column named
    beside the contract's where they differ, and rows numbered as in the export's file (the
    checked rows leave out filtered, deleted and repeated ones)."""
    def column(match: re.Match[str]) -> str:
        name = match.group(1)
        theirs = names.get(name)
        return f"column '{name}'" + (f" (the export's {theirs!r})" if theirs and theirs != name else "")

    def row(match: re.Match[str]) -> str:
        at = int(match.group(1)) - 1
        if not 0 <= at < len(origin):
            return match.group(0)
        file, number = origin.iloc[at]
        return f"{file} row {int(number)}" if several else f"row {int(number)}"

    def columns(match: re.Match[str]) -> str:
        parts = match.group(1).split(" + ")
        theirs = " + ".join(names.get(p, p) for p in parts)
        return f"columns '{match.group(1)}'" + (f" (the export's {theirs!r})" if theirs != match.group(1) else "")

    line = re.sub(r"column '(\w+)'", column, line, count=1)
    line = re.sub(r"columns '(\w+(?: \+ \w+)+)'", columns, line, count=1)
    return re.sub(r"\brow (\d+)\b", row, line)


def _workspace_folder(workspace: Path | str) -> Path:
    """The workspace folder to write into, refused when it is empty, a file, or below a file."""
    if not str(workspace).strip():
        raise ImportDataError("--workspace is empty; give the workspace folder to import into")
    workspace = Path(workspace)
    for folder in (workspace, *workspace.parents):
        if folder.exists():
            if not folder.is_dir():
                where = f"--workspace {workspace}" + ("" if folder == workspace else f": {folder}")
                raise ImportDataError(f"{where} is {_kind(folder)}; imports write into a workspace folder")
            break
    return workspace


def _once(parts: list[pd.DataFrame], columns: list[str]) -> tuple[pd.DataFrame, int]:
    """The files' rows with a file given twice (or overlapping exports) counted once, and how many were dropped.

    Rows repeat across files, never within one: two identical events in one export are two clicks.
    A row that one file holds twice and another once is kept twice (the larger count wins).
    """
    if not parts:
        return pd.DataFrame(columns=[*columns, "_updated", "_said", "_estimated", "_file", "_line", "_seq", "_deleted", "import_row"]), 0
    numbered = [part.assign(_copy=part.groupby(columns, sort=False, dropna=False).cumcount()) for part in parts]
    staged = pd.concat(numbered, ignore_index=True)
    repeated = staged.duplicated([*columns, "_copy"])
    staged = staged[~repeated].drop(columns="_copy").reset_index(drop=True)
    return staged.assign(import_row=range(len(staged))), int(repeated.sum())


def _kind(path: Path) -> str:
    return "a folder" if path.is_dir() else ("a file" if path.is_file() else "not a regular file")


def _checked(staged: pd.DataFrame, table: str, workspace: Path, files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The staged rows the contract accepts (as text, in source order), the same rows typed, and
    a line per reason for the rows set aside.

    Rows are checked exactly as a run checks them, in a scratch workspace; the tables they refer
    to are judged against the workspace's own.
    """
    contract = get_table(table)
    scratch = Path(tempfile.mkdtemp(prefix="playbook-import-"))
    try:
        # The source order travels as an extra column, so rows are written in the order read.
        staged.to_csv(scratch / f"{table}.csv", index=False)
        for ref in contract.references:
            for suffix in (".csv", ".parquet"):
                if (workspace / f"{ref.table}{suffix}").is_file():
                    os.symlink((workspace / f"{ref.table}{suffix}").resolve(), scratch / f"{ref.table}{suffix}")
        with Workspace(scratch) as ws:
            try:
                report = ws.load(table)
            except SchemaError as err:
                # Rows are numbered as in the files read, one after the other.
                raise ImportDataError(f"{', '.join(Path(f).name for f in files)} as {err}") from None
            typed = ws.read(table).sort_values("import_row", ignore_index=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    set_aside = [line.split(": ", 1)[1] for line in report.describe() if "emptied" not in line]
    # Rows are written as exported (times in UTC): a value the contract empties at load, such as a
    # resolution before the first response, stays in the file so every report's data-quality
    # section can say so.
    kept = staged.iloc[typed["import_row"].astype(int).to_numpy()].reset_index(drop=True)
    return kept, typed, set_aside


__all__ = ["Mapping", "ImportResult", "ImportDataError", "PRESETS", "load_mapping", "run_import", "map_frame", "read_any"]
