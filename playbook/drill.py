"""The rows behind a figure, and any table as a CSV file: what an ops lead drills into and exports.

A :class:`Table` is a frame with the columns a reader sees (column, label, format), so the
notebook, the explorer and an export show one table the same way. A :class:`Drill` names the
rows a figure is computed from and how they add up to it (a count of rows, a sum, a share, an
NPS); :func:`rows_behind` returns them as a table whose total row is the figure itself, and
the tests check on the sample that the rows really add up to that figure.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Literal

import pandas as pd

from playbook.figures import Figure
from playbook.views import Format, figure_text, format_value

Column = tuple[str, str, Format]


@dataclass(frozen=True)
class Table:
    """A table as a reader sees it: the rows, and the (column, label, format) triples shown.

    Attributes:
        frame: the rows, with their values unformatted.
        columns: the columns shown, in order.
        caption: the line above the table.
        totals: a closing row, column -> value (a figure the summary states).
    """

    frame: pd.DataFrame
    columns: list[Column]
    caption: str = ""
    totals: dict[str, Any] | None = field(default=None)

    def html(self) -> str:
        from playbook.display import table_html

        return table_html(self.frame, self.columns, self.caption, self.totals)

    def _repr_html_(self) -> str:
        from playbook.display import as_written

        return as_written(self.html())

    def shown(self) -> list[list[str]]:
        """Each row's cells as the table shows them (the header not included)."""
        return [[format_value(record.get(col), fmt) for col, _, fmt in self.columns]
                for record in self.frame.to_dict("records")]


How = Literal["count", "sum", "mean", "nps", "ratio"]


@dataclass(frozen=True)
class Drill:
    """How to find the rows behind a figure, and how they add up to it.

    Attributes:
        rows: f(ctx, report) -> the rows the figure is computed from.
        columns: the columns shown.
        how: how the rows add up to the figure: "count" (one row each), "sum" of ``column``,
            "mean" of ``column`` (a share: the column holds 1 or 0 per row), "nps" (``column``
            holds 0-10 scores: % of 9-10 minus % of 0-6), "ratio" (sum of ``column`` over the sum
            of ``over``).
        column: the column added up (not for "count").
        over: the denominator's column, for "ratio".
        why: one line saying what a row is.
        ignores: control -> why the rows do not change with it (as a view's, see
            :class:`playbook.widgets.View`).
        period_end: why only the period's last day matters to the rows (None: the whole period does).
    """

    rows: Callable[[Any, Any], pd.DataFrame]
    columns: list[Column]
    how: How = "count"
    column: str = ""
    over: str = ""
    why: str = ""
    ignores: dict[str, str] = field(default_factory=dict)
    period_end: str | None = None


def add_up(drill: Drill, rows: pd.DataFrame) -> float | None:
    """What ``rows`` add up to, the way ``drill`` says its figure is made from them."""
    if drill.how == "count":
        return float(len(rows))
    if rows.empty:
        return None if drill.how in ("mean", "nps", "ratio") else 0.0
    values = pd.to_numeric(rows[drill.column], errors="coerce")
    if drill.how == "sum":
        return float(values.sum())
    if drill.how == "mean":
        # A share or a score of parts is no value when one part has none (PES with no growth).
        return None if values.isna().any() else float(values.mean())
    if drill.how == "nps":
        return float(100 * ((values >= 9).mean() - (values <= 6).mean()))
    over = float(pd.to_numeric(rows[drill.over], errors="coerce").sum())
    return float(values.sum()) / over if over else None


def rows_behind(drill: Drill, figure: Figure, ctx: Any, report: Any) -> Table:
    """The rows behind ``figure`` as a table, its caption naming the figure and its total row the
    figure's own value (the one object every place shows)."""
    rows = drill.rows(ctx, report).reset_index(drop=True)
    count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
    caption = f"{figure_text(figure)}" + (f": {drill.why}" if drill.why else "") + f" ({count})"
    totals = None
    # The caption states the figure; a sum also closes the table as the figure itself, in the
    # column's own format (a share or a score is no total of its column).
    if drill.how == "sum" and drill.column in {c for c, _, _ in drill.columns}:
        totals = {drill.column: figure.value}
    return Table(rows, drill.columns, caption, totals)


_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A file-name-safe form of a view's or a figure's name ("Rows behind: NPS" -> "rows-behind-nps")."""
    return _UNSAFE.sub("-", text.lower()).strip("-")[:120].strip("-") or "table"


# A cell a spreadsheet would read as a formula (OWASP, "CSV Injection"): customers write comments
# and names, and "=HYPERLINK(...)" must stay text when an ops lead opens the export.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Any, fmt: Format) -> Any:
    """A cell as the CSV holds it: text as the table shows it (with a leading apostrophe where a
    spreadsheet would read it as a formula), numbers unrounded (a spreadsheet formats them), dates
    as ISO days, missing numbers and dates empty."""
    if fmt == "text":
        text = format_value(value, fmt)  # the very words the table shows
        return f"'{text}" if text.startswith(FORMULA_START) else text
    if value is None or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if fmt == "date" and not isinstance(value, str):
        return pd.Timestamp(value).date().isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would change it for every thread
    for a moment); 0o022 where the system does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_csv(table: Table, folder: str | Path, name: str) -> Path:
    """Write ``table`` to a new CSV file in ``folder`` and return its path.

    The columns are the ones shown, headed by their labels, in the order shown; the values are
    unrounded, so a reader can check any cell against the table. UTF-8 with a byte-order mark, so
    a spreadsheet reads accents and dashes right. The file is written beside its final name and
    linked into place, and an existing file is never overwritten: a second export in the same
    second gets a numbered name. It is readable as the umask allows, as any file the user writes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{slug(name)}-{stamp}"
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow([label for _, label, _ in table.columns])
            for record in table.frame.to_dict("records"):
                writer.writerow([csv_value(record.get(col), fmt) for col, _, fmt in table.columns])
        for n in range(1, 1000):
            path = folder / (f"{base}.csv" if n == 1 else f"{base}-{n}.csv")
            try:
                # A hard link fails when the name exists, so a file already there is never replaced.
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
        raise FileExistsError(f"{folder}: no free name for {base}.csv")
    finally:
        os.unlink(tmp)
