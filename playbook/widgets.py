"""ipywidgets explorers for ops leads in JupyterLab: pick a team, product, period and view, and see it redrawn.

An explorer computes nothing until a value changes, so a scheduled papermill run pays nothing for
it; the notebooks tag its cell ``hide``, so stakeholders' HTML never shows it. Each area has one
set of views; a view takes the area's report (and its context) and returns a figure or HTML.
"""

from __future__ import annotations

from typing import Any, Callable

from playbook import api
from playbook.config import RELATIVE_PERIODS, list_teams
from playbook.context import ReportContext, open_report
from playbook.display import table_html

View = Callable[[ReportContext, Any], Any]

ALL_PRODUCTS = "all products"


def _html(markup: str) -> Any:
    from IPython.display import HTML

    return HTML(markup)


def _feedback_views() -> dict[str, View]:
    columns = [("responses", "Responses", "int"), ("nps", "NPS", "score"), ("low", "Low", "score"), ("high", "High", "score")]
    return {
        "NPS trend": lambda ctx, r: api.plots.plot_nps_trend(r.trend, f"NPS by {ctx.params.feedback.trend}, {ctx.params.name}", ctx.params.feedback.trend),
        "NPS by segment": lambda ctx, r: _html(table_html(r.by_segment, [("segment", "Segment", "text")] + columns)),
        "NPS by plan": lambda ctx, r: _html(table_html(r.by_plan, [("plan", "Plan", "text")] + columns)),
        "Comment themes": lambda ctx, r: api.plots.plot_theme_shares(r.themes, "Comment themes by NPS group"),
        "Feature demand": lambda ctx, r: api.plots.plot_demand(r.demand, "ARR behind each roadmap item"),
    }


VIEWS: dict[str, tuple[Callable[[ReportContext], Any], Callable[[], dict[str, View]]]] = {
    "feedback": (api.feedback_report, _feedback_views),
    "tools": (
        api.tools_report,
        lambda: {
            "Utilisation": lambda ctx, r: api.plots.plot_utilisation(r.inventory, ctx.params.tools.utilisation_floor, "Seat utilisation"),
            "Renewals": lambda ctx, r: _html(table_html(r.calendar, [("tool", "Tool", "text"), ("renewal_date", "Renews", "date"),
                                                                      ("utilisation", "Utilisation", "pct"), ("annual_cost", "Annual cost", "money")])),
            "Recommendations": lambda ctx, r: _html(table_html(r.actions, [("action", "Action", "text"), ("subject", "Tool", "text"),
                                                                            ("money", "At stake", "money")])),
        },
    ),
    "escalations": (
        api.escalations_report,
        lambda: {
            "SLA": lambda ctx, r: _html(table_html(r.sla, api.escalations.SLA_COLUMNS)),
            "Backlog": lambda ctx, r: api.plots.plot_backlog(r.backlog, "Open escalations by age"),
            "Stickiness": lambda ctx, r: api.plots.plot_stickiness(r.stickiness, "Stickiness"),
            "Adoption": lambda ctx, r: api.plots.plot_adoption(r.adoption, ctx.params.escalations.adoption_floor, "Feature adoption"),
            "Retention": lambda ctx, r: api.plots.plot_retention(api.health.retention_matrix(r.retention), "Weekly retention by cohort"),
        },
    ),
    "experiments": (
        api.experiments_report,
        lambda: {
            "Forest plot": lambda ctx, r: api.plots.plot_forest(r.results, "Relative lift by experiment and variant"),
            "Decisions": lambda ctx, r: _html(table_html(r.decisions, api.experiments.DECISION_COLUMNS)),
            "Backlog": lambda ctx, r: _html(table_html(r.backlog, api.experiments.BACKLOG_COLUMNS)),
        },
    ),
    "communication": (
        api.communication_report,
        lambda: {
            "Requests": lambda ctx, r: _html(table_html(r.requests, api.communication.REQUEST_COLUMNS)),
            "Coverage": lambda ctx, r: _html(table_html(r.coverage, [("title", "Release", "text"), ("missing", "Never reached", "text"),
                                                                      ("coverage", "Coverage", "pct")])),
        },
    ),
    "enablement": (
        api.enablement_report,
        lambda: {
            "Knowledge gaps": lambda ctx, r: api.plots.plot_knowledge_gaps(
                r.matrix, ctx.params.enablement.min_completion, ctx.params.enablement.min_quiz_score, "Training by group and feature"
            ),
            "Readiness": lambda ctx, r: _html(table_html(r.readiness, api.enablement.READINESS_COLUMNS)),
            "Adoption": lambda ctx, r: _html(table_html(r.adoption, api.enablement.ADOPTION_COLUMNS)),
        },
    ),
}


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
        compute, views = VIEWS[self.area]
        self.compute, self.views = compute, views()
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
