"""ipywidgets explorers for ops leads in JupyterLab: pick a team, product, period and view, see it
redrawn, drill into the rows behind a figure, and export what is shown to CSV.

Each area offers views (its module's ``explorer_views()``: the report's sections, with the
columns the report shows) and drill-downs (``drilldowns()``: the rows behind a figure, see
:mod:`playbook.drill`). A view says which controls do not change it and why; the explorer
disables those for it and says so, so no control ever changes nothing silently.

Drawing runs in one background thread per explorer: the controls stay live while it works, a
busy line says what is being drawn, and only the latest choice is shown (a draw whose choice
was overtaken is dropped). The output is replaced in one step, with a line naming the team,
product, segment, plan, period and view it shows. A scheduled run (the runner marks its
kernels, :data:`SCHEDULED`) draws nothing; an ops lead's notebook shows the first view at once,
from the report the notebook already built.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

import pandas as pd

from playbook.config import list_teams, load_params, project_root, workspace_path
from playbook.context import ReportContext, open_report
from playbook.display import as_written, esc, figure_png
from playbook.drill import Drill, Table, rows_behind, write_csv
from playbook.period import RELATIVE_PERIODS

ALL = "all"
ALL_PRODUCTS = "all products"
CUSTOM = "custom range"
DRILL_PREFIX = "Rows behind: "
# Set by the runner in its kernels' environment: a scheduled run has nobody to show a view to.
SCHEDULED = "PLAYBOOK_SCHEDULED"
# A stale output is dimmed while the next is drawn; the reasons a control is disabled are quiet.
STYLE = ("<style>.pb-stale { opacity: 0.35; transition: opacity 0.2s; } .pb-why { color: #52606d; font-size: 0.9em; }"
         " .pb-busy { color: #8a4b08; }</style>")
# A table longer than this shows its first rows only (the export holds them all): a browser
# tab is no place for tens of thousands of rows.
SHOWN_ROWS = 2_000
# Changes closer together than this are drawn once, as the last of them.
SETTLE_SECONDS = 0.15


@dataclass(frozen=True)
class Chart:
    """A chart a view shows, with the rows it draws (what an export writes)."""

    figure: Any
    table: Table | None = None


@dataclass(frozen=True)
class Markup:
    """HTML a view shows (built with every value escaped), with the table an export writes, if any."""

    html: str
    table: Table | None = None


@dataclass(frozen=True)
class View:
    """One view of an area in the explorer.

    Attributes:
        draw: f(ctx, report) -> a :class:`~playbook.drill.Table`, a list of them, a :class:`Chart`
            or :class:`Markup`.
        ignores: control ("period", "product", "segment") -> why this view does not change with
            it; the explorer disables the control for the view and shows the reason.
        period_end: why only the period's last day matters to the view (None: the whole period
            does); shown beside the period, which stays enabled.
    """

    draw: Callable[[ReportContext, Any], Any]
    ignores: Mapping[str, str] = field(default_factory=dict)
    period_end: str | None = None


def table(frame: pd.DataFrame, columns: list[tuple[str, str, str]], caption: str = "", totals: dict | None = None) -> Table:
    """A view's table (see :class:`~playbook.drill.Table`)."""
    return Table(frame, columns, caption, totals)


def rows_of(frame: pd.DataFrame) -> Table:
    """A chart's rows as a table to export: every column, numbers unrounded in the CSV."""
    def fmt(column: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(column):
            return "text"
        if pd.api.types.is_integer_dtype(column):
            return "int"
        if pd.api.types.is_numeric_dtype(column):
            return "num1"
        return "date" if pd.api.types.is_datetime64_any_dtype(column) else "text"

    return Table(frame, [(str(c), str(c), fmt(frame[c])) for c in frame.columns])


def html_table(frame: Any, columns: list[tuple[str, str, str]]) -> Table:
    """A table for an area's view (kept for areas of the user's written before :func:`table`)."""
    return Table(frame, columns)


@dataclass(frozen=True)
class Choice:
    """What the controls say, read at one instant."""

    team: str
    product: str
    segment: str
    plan: str
    period: Any  # a relative period's name, or (start, end) dates
    view: str

    def period_words(self, ctx: ReportContext) -> str:
        name = self.period if isinstance(self.period, str) else "custom range"
        return f"{name.replace('_', ' ')} ({ctx.period.label()})"


class Explorer:
    """Team, product, segment, plan, period and view controls above an output that shows the choice.

    Args:
        ctx: the notebook's report context (its team, period, workspace and params folder).
        params_dir: the params folder (to list the teams).
        report: the report the notebook built for ``ctx``; the first view is drawn from it.

    Attributes:
        widget: the ipywidgets box to display.
        last: what the output shows now (a Table, a Chart, or an error message), for tests.
        shown: the :class:`Choice` that ``last`` was drawn for.
        exported: the path of the last CSV written.
    """

    def __init__(self, ctx: ReportContext, params_dir: str, report: Any = None) -> None:
        import ipywidgets as w

        self.area = ctx.area
        self.params_dir = params_dir
        # The notebook's workspace holds for other teams only when the notebook named it; else each
        # team reads the workspace its own params name (a team may have its own, or a warehouse).
        named = workspace_path(ctx.params, params_dir)
        self.workspace = "" if str(named) == str(ctx.workspace.path) else str(ctx.workspace.path)
        self.as_of = ctx.as_of
        self.views: dict[str, View] = {name: v if isinstance(v, View) else View(v) for name, v in ctx.area.views().items()}
        self.drills: dict[str, Drill] = ctx.area.drills()
        self.last: Any = None
        self.shown: Choice | None = None
        self.exported: Any = None
        self._ctx, self._report = ctx, report
        self._wanted = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

        segments, plans = self._account_values(ctx)
        self.team = w.Dropdown(options=list_teams(params_dir), value=ctx.params.team, description="Team")
        self.product = w.Dropdown(options=[ALL_PRODUCTS, *ctx.params.products], value=ALL_PRODUCTS, description="Product")
        self.segment = w.Dropdown(options=[ALL, *segments], value=ALL, description="Segment")
        self.plan = w.Dropdown(options=[ALL, *plans], value=ALL, description="Plan")
        current = ctx.params.period if isinstance(ctx.params.period, str) else CUSTOM
        self.period = w.Dropdown(options=[*RELATIVE_PERIODS, CUSTOM], value=current, description="Period")
        self.start = w.DatePicker(value=ctx.period.start, description="From")
        self.end = w.DatePicker(value=ctx.period.end, description="To")
        # "Rows behind: <figure>" -> the figure's key, for the figures this report has.
        figures = report.result.figures if report is not None else {}
        self.drill_names = {f"{DRILL_PREFIX}{_capital(figures[k].label if k in figures else k.replace('_', ' '))}": k
                            for k in self.drills if not figures or k in figures}
        names = list(self.views) + list(self.drill_names)
        self.view = w.Dropdown(options=names, value=names[0], description="View", layout=w.Layout(width="420px"))
        self.status = w.HTML()
        self.why = w.HTML()
        self.export_button = w.Button(description="Export CSV", icon="download",
                                      tooltip="Write the table shown (or the rows a chart draws) to a CSV file in reports/exports")
        self.export_note = w.HTML()
        self.output = w.Output()
        self.export_button.on_click(self.export)
        self.team.observe(self._team_changed, names="value")
        for control in (self.product, self.segment, self.plan, self.period, self.start, self.end, self.view):
            control.observe(self._changed, names="value")
        self._account_controls = bool(segments or plans)
        rows = [w.HTML(STYLE), w.HBox([self.team, self.product])]
        if self._account_controls:
            rows.append(w.HBox([self.segment, self.plan]))
        rows += [w.HBox([self.period, self.view]), w.HBox([self.start, self.end]),
                 self.why, w.HBox([self.export_button, self.export_note]), self.status, self.output]
        self.widget = w.VBox(rows)
        self._enable()
        if not os.environ.get(SCHEDULED):
            self._changed()

    # -- what the controls offer -------------------------------------------------------------

    def _account_values(self, ctx: ReportContext) -> tuple[list[str], list[str]]:
        """The segments and plans of the accounts, when the area reads accounts and has them."""
        if "accounts" not in ctx.area.tables or not ctx.has("accounts"):
            return [], []
        frame = ctx.workspace.read("accounts", columns=["segment", "plan"])
        return (sorted(frame["segment"].dropna().astype(str).unique()), sorted(frame["plan"].dropna().astype(str).unique()))

    def _selected(self) -> tuple[View | None, str | None]:
        """The chosen view, or the figure key whose rows are chosen."""
        name = self.view.value
        if name in self.views:
            return self.views[name], None
        return None, self.drill_names.get(name)

    def _enable(self) -> None:
        """Disable each control the chosen view ignores, and say why beside it."""
        view, key = self._selected()
        chosen: Any = view if view is not None else self.drills.get(key) if key else None
        ignores = dict(chosen.ignores) if chosen is not None else {}
        if len(self.product.options) <= 2:
            ignores.setdefault("product", "this team has one product, so the report already shows just it")
        self.product.disabled = "product" in ignores
        self.segment.disabled = self.plan.disabled = "segment" in ignores
        self.period.disabled = "period" in ignores
        custom = self.period.value == CUSTOM and not self.period.disabled
        self.start.disabled = self.end.disabled = not custom
        lines = [f"<b>{control.capitalize()}</b> does not change this view: {esc(why)}." for control, why in ignores.items()
                 if control != "segment" or self._account_controls]
        if chosen is not None and chosen.period_end and "period" not in ignores:
            lines.append(f"<b>Period</b>: only its last day matters here: {esc(chosen.period_end)}.")
        self.why.value = f'<div class="{"pb-why"}">{"<br>".join(lines)}</div>' if lines else ""

    # -- reacting to the controls ------------------------------------------------------------

    def _team_changed(self, change: dict) -> None:
        # A team's products come from its params alone: no workspace is opened to list them.
        try:
            products = load_params(self.params_dir, change["new"]).products
        except Exception as err:  # noqa: BLE001 - a team file that does not load is said, never a silent control
            with self._lock:
                self._wanted += 1  # any draw under way is for another team: it is not shown
                self.last, self.shown = str(err), None
                self.output.outputs = (self._error_bundle(err, self.choice()),)
                self.output.remove_class("pb-stale")
                self.status.value = ""
            return
        with self.product.hold_trait_notifications():
            self.product.options = [ALL_PRODUCTS, *products]
            self.product.value = ALL_PRODUCTS
        self._changed()

    def _changed(self, *_: Any) -> None:
        """A control changed: mark the output stale and wake the drawing thread."""
        self._enable()
        choice = self.choice()
        with self._lock:
            # Under the lock, so a draw finishing now cannot wipe this busy line (see _loop).
            self._wanted += 1
            self.status.value = (f'<span class="pb-busy">&#9203; Drawing {esc(choice.view)} for {esc(choice.team)}…</span>')
            self.output.add_class("pb-stale")
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name=f"explorer-{self.area.name}", daemon=True)
            self._thread.start()
        self._wake.set()

    def choice(self) -> Choice:
        period = self.period.value if self.period.value != CUSTOM else (self.start.value, self.end.value)
        return Choice(self.team.value, self.product.value, self.segment.value, self.plan.value, period, self.view.value)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(SETTLE_SECONDS)
            self._wake.clear()
            with self._lock:
                wanted = self._wanted
            choice = self.choice()
            try:
                shown, ctx = self.render(choice)
                bundle = self._bundle(shown, choice, ctx)
            except Exception as err:  # noqa: BLE001 - shown to the ops lead instead of a silent dead explorer
                shown, bundle = str(err), self._error_bundle(err, choice)
            with self._lock:
                if wanted != self._wanted:
                    continue  # overtaken by a newer choice: that one is drawn next
                self.last, self.shown = shown, choice
                self.output.outputs = (bundle,)
                self.output.remove_class("pb-stale")
                self.status.value = ""

    # -- drawing -----------------------------------------------------------------------------

    def context(self, choice: Choice) -> ReportContext:
        """The report context the choice asks for (the notebook's own when nothing differs)."""
        ctx = self._ctx
        period = choice.period if isinstance(choice.period, str) else _fixed(*choice.period, self.as_of)
        accounts = {k: v for k, v in (("segment", choice.segment), ("plan", choice.plan)) if v != ALL}
        same = (choice.team == ctx.params.team and choice.product == ALL_PRODUCTS and not accounts
                and period == ctx.params.period and self._report is not None)
        if same:
            return ctx
        products = None if choice.product == ALL_PRODUCTS else [choice.product]
        return open_report(self.area.name, choice.team, self.params_dir, self.workspace, self.as_of,
                           period=period, products=products, accounts=accounts or None, history="-")

    def render(self, choice: Choice | None = None) -> tuple[Any, ReportContext]:
        """Compute the area for the choice and return what the chosen view shows, and its context."""
        from playbook.context import build

        choice = choice or self.choice()
        ctx = self.context(choice)
        report = self._report if ctx is self._ctx else build(ctx)
        name = choice.view
        if name in self.views:
            return self.views[name].draw(ctx, report), ctx
        key = self.drill_names.get(name)
        if key is None or key not in report.result.figures:
            raise LookupError(f"{name}: this report has no such figure")
        return rows_behind(self.drills[key], report.result.figures[key], ctx, report), ctx

    def _scope(self, choice: Choice, ctx: ReportContext) -> str:
        parts = [f"team <b>{esc(ctx.params.name)}</b>", esc(choice.product)]
        if self._account_controls:
            parts += [f"segment {esc(choice.segment)}", f"plan {esc(choice.plan)}"]
        parts.append(f"period {esc(choice.period_words(ctx))}")
        # The choice as data too, so a test (or a script) can tell which choice the output shows.
        period = choice.period if isinstance(choice.period, str) else CUSTOM
        data = " ".join(f'data-{k}="{esc(v)}"' for k, v in (("team", choice.team), ("product", choice.product), ("segment", choice.segment),
                                                             ("plan", choice.plan), ("period", period), ("view", choice.view)))
        return f'<p class="pb-scope" {data}>{esc(choice.view)}: {", ".join(parts)}.</p>'

    def _bundle(self, shown: Any, choice: Choice, ctx: ReportContext) -> dict:
        """What the output shows, as one display_data output (so it is replaced in one step)."""
        scope = self._scope(choice, ctx)
        if isinstance(shown, Markup):
            return _output(as_written(scope + shown.html), choice.view)
        if isinstance(shown, pd.DataFrame):
            # A view of an area written before Table: every column, as the data holds it.
            shown = rows_of(shown)
        figure = shown.figure if isinstance(shown, Chart) else shown if hasattr(shown, "savefig") else None
        if figure is not None:
            png, alt = figure_png(figure)
            img = f'<img alt="{esc(alt)}" src="data:image/png;base64,{png}">'
            return _output(as_written(scope + img), alt)
        if isinstance(shown, Table):
            return _output(as_written(scope + _shown_html(shown)), shown.caption or choice.view)
        if isinstance(shown, list) and all(isinstance(t, Table) for t in shown):
            return _output(as_written(scope + "".join(_shown_html(t) for t in shown)), "; ".join(t.caption or choice.view for t in shown))
        if hasattr(shown, "_repr_html_"):
            # A view of an area written before Table (an IPython HTML object): its own HTML.
            return _output(as_written(scope + (shown._repr_html_() or "")), choice.view)
        return _output(as_written(scope + f"<p>{esc(shown)}</p>"), str(shown))

    def _error_bundle(self, err: Exception, choice: Choice) -> dict:
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        return _output(as_written(f'<p class="pb-warn">Could not draw {esc(choice.view)} for {esc(choice.team)}: '
                                  f"{esc(detail)}</p>"), detail)

    # -- export ------------------------------------------------------------------------------

    def export(self, *_: Any) -> list[Any]:
        """Write what the output shows (its tables, or the rows a chart draws) to CSV files in
        reports/exports, one per table, and link them below the button; a failure is said there."""
        try:
            return self._export()
        except Exception as err:  # noqa: BLE001 - shown beside the button, never a silent click
            self.export_note.value = f'<span class="pb-warn">Export failed: {esc(type(err).__name__)}: {esc(err)}</span>'
            return []

    def _export(self) -> list[Any]:
        with self._lock:
            last, choice = self.last, self.shown
        shown = last.table if isinstance(last, (Chart, Markup)) else last
        tables = [t for t in (shown if isinstance(shown, list) else [shown]) if isinstance(t, Table)]
        if not tables or choice is None:
            self.export_note.value = "<i>Nothing to export: this view shows no table.</i>"
            return []
        folder = project_root(self.params_dir) / "reports" / "exports"
        # The file's name says what it holds: the area, team and view, then any narrowing.
        period = choice.period if isinstance(choice.period, str) else "-to-".join(d.isoformat() for d in choice.period)
        narrowed = [v for v in (choice.product, choice.segment, choice.plan) if v not in (ALL, ALL_PRODUCTS)]
        name = "-".join([self.area.name, choice.team, choice.view, period, *narrowed])
        paths = [write_csv(t, folder, name + (f"-{i + 1}" if len(tables) > 1 else "")) for i, t in enumerate(tables)]
        self.exported = paths
        links = ", ".join(f'<a href="{esc(_link(p))}" target="_blank">{esc(_link(p))}</a>' for p in paths)
        rows = sum(len(t.frame) for t in tables)
        self.export_note.value = f"Exported {rows:,} row{'' if rows == 1 else 's'} to {links}"
        return paths


def _capital(label: str) -> str:
    return label[:1].upper() + label[1:]


def _link(path: Any) -> str:
    """The export's path from the notebook's folder (JupyterLab opens a relative link), else as it is."""
    try:
        return os.path.relpath(path, os.getcwd())
    except ValueError:  # another drive (Windows)
        return str(path)


def _shown_html(table: Table) -> str:
    """A table's HTML, its first SHOWN_ROWS rows only when it is longer (said above it)."""
    if len(table.frame) <= SHOWN_ROWS:
        return table.html()
    note = (f'<p class="pb-warn">Showing the first {SHOWN_ROWS:,} of {len(table.frame):,} rows; '
            "Export CSV writes them all.</p>")
    return note + Table(table.frame.head(SHOWN_ROWS), table.columns, table.caption, table.totals).html()


def _fixed(start: date | None, end: date | None, as_of: date | None = None) -> Any:
    from playbook.config import FixedPeriod

    if start is None or end is None:
        raise ValueError("pick both days of the custom range (From and To)")
    if end < start:
        raise ValueError(f"the custom range ends on {end:%d %b %Y}, before it starts ({start:%d %b %Y}); pick an end on or after the start")
    if as_of is not None and end > as_of:
        raise ValueError(f"the custom range ends on {end:%d %b %Y}, after the day the data is read as of ({as_of:%d %b %Y}); "
                         "pick an end on or before it")
    return FixedPeriod(start=start, end=end)


def _output(markup: str, text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": markup, "text/plain": text}, "metadata": {}}


def explore(ctx: ReportContext, params_dir: str, report: Any = None) -> Any:
    """The area's explorer widget, ready to display in JupyterLab (the first view drawn from
    ``report``, the notebook's own, when given)."""
    return Explorer(ctx, params_dir, report).widget
