"""ipywidgets explorers for ops leads in JupyterLab: pick a team, product, period and view, and see it redrawn.

An explorer computes nothing until a value changes, so a scheduled papermill run pays nothing for
it; the notebooks tag its cell ``hide``, so stakeholders' HTML never shows it. Each area has one
set of views, from its registry entry (the area module's ``explorer_views``); a view takes the
area's report (and its context) and returns a figure or HTML.
"""

from __future__ import annotations

from typing import Any, Callable

from playbook.config import list_teams
from playbook.period import RELATIVE_PERIODS
from playbook.context import ReportContext, open_report
from playbook.display import table_html

View = Callable[[ReportContext, Any], Any]

ALL_PRODUCTS = "all products"


def html_table(frame: Any, columns: list[tuple[str, str, str]]) -> Any:
    """A table as an HTML object an ipywidgets output can display (for area views)."""
    from IPython.display import HTML

    return HTML(table_html(frame, columns))


class Explorer:
    """Team, product, period and view drop-downs above an output that redraws when one changes.

    Args:
        ctx: the notebook's report context (its team, period, workspace and params folder).
        params_dir: the params folder (to list the teams).

    Attributes:
        widget: the ipywidgets box to display.
        last: what the output shows now (a figure or HTML), for tests and for reuse.
        shown: the (team, product, period, view) that ``last`` was drawn for.
    """

    def __init__(self, ctx: ReportContext, params_dir: str) -> None:
        import ipywidgets as w

        self.area = ctx.area.name
        self.params_dir = params_dir
        self.workspace = str(ctx.workspace.path)
        self.as_of = ctx.as_of
        self.compute, self.views = ctx.area.report, ctx.area.views()
        self.team = w.Dropdown(options=list_teams(params_dir), value=ctx.params.team, description="Team")
        self.product = w.Dropdown(options=[ALL_PRODUCTS, *ctx.params.products], value=ALL_PRODUCTS, description="Product")
        current = ctx.params.period if isinstance(ctx.params.period, str) else RELATIVE_PERIODS[0]
        self.period = w.Dropdown(options=list(RELATIVE_PERIODS), value=current, description="Period")
        self.view = w.Dropdown(options=list(self.views), value=next(iter(self.views)), description="View")
        # The output stays empty until a value changes: a scheduled run never writes into it.
        self.output = w.Output()
        self.last: Any = None
        self.shown: tuple[str, str, str, str] | None = None
        for control in (self.team, self.product, self.period, self.view):
            control.observe(self.refresh, names="value")
        self.team.observe(self._products_for_team, names="value")
        hint = w.HTML("<i>Change a value above to redraw this view.</i>")
        self.widget = w.VBox([w.HBox([self.team, self.product]), w.HBox([self.period, self.view]), hint, self.output])

    def _products_for_team(self, change: dict) -> None:
        ctx = open_report(self.area, change["new"], self.params_dir, self.workspace, self.as_of)
        self.product.options = [ALL_PRODUCTS, *ctx.params.products]
        self.product.value = ALL_PRODUCTS

    def render(self) -> Any:
        """Compute the area for the chosen team, product and period, and return the chosen view."""
        products = None if self.product.value == ALL_PRODUCTS else [self.product.value]
        ctx = open_report(self.area, self.team.value, self.params_dir, self.workspace, self.as_of, period=self.period.value, products=products)
        return self.views[self.view.value](ctx, self.compute(ctx))

    def refresh(self, *_: Any) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display

        previous = self.last
        self.last = self.render()
        self.shown = (self.team.value, self.product.value, self.period.value, self.view.value)
        with self.output:
            clear_output(wait=True)
            display(self.last)
        if previous is not None and hasattr(previous, "savefig"):
            plt.close(previous)


def explore(ctx: ReportContext, params_dir: str) -> Any:
    """The area's explorer widget, ready to display in JupyterLab."""
    return Explorer(ctx, params_dir).widget
