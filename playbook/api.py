"""The one façade notebooks import: ``import playbook.api as pb``.

It gathers what a notebook step needs (opening the report, the area modules, the display and
plot helpers) and the few functions that turn a :class:`~playbook.context.ReportContext` into
the frames an area's pure ``build_report`` takes.
"""

from __future__ import annotations

from playbook import communication, enablement, escalations, experiments, feedback, health, plots, roadmap, stats, tools
from playbook.context import ReportContext, open_report, trend_window
from playbook.display import (
    show_digest,
    format_value,
    record,
    show_data_notes,
    show_figure,
    show_header,
    show_quotes,
    show_section,
    show_summary,
    show_table,
    show_text,
)

__all__ = [
    "explore",
    "show_digest",
    "communication",
    "communication_report",
    "enablement",
    "enablement_report",
    "experiments",
    "experiments_report",
    "format_value",
    "escalations",
    "escalations_report",
    "health",
    "feedback",
    "feedback_report",
    "open_report",
    "plots",
    "record",
    "show_data_notes",
    "show_figure",
    "show_header",
    "show_missing",
    "show_quotes",
    "show_section",
    "show_summary",
    "show_table",
    "show_text",
    "stats",
    "tools",
    "tools_report",
]


def show_missing(ctx: ReportContext, table: str, what: str) -> bool:
    """Say, in place of a section, that the workspace lacks the optional ``table`` it needs.

    Returns True when the table is missing (the caller then skips the section's tables).
    """
    if ctx.has(table):
        return False
    show_text(f"The workspace has no {table} table, so {what} cannot be shown.")
    return True


def feedback_report(ctx: ReportContext) -> feedback.FeedbackReport:
    """Read the team's feedback tables for the period and compute the Feedback & NPS area."""
    settings = ctx.params.feedback
    return feedback.build_report(
        current=ctx.read("nps_responses", "current"),
        previous=ctx.read("nps_responses", "previous"),
        history=ctx.read("nps_responses", trend_window(ctx.period, settings.trend, settings.trend_periods)),
        feedback=ctx.read("feedback"),
        accounts=ctx.read("accounts"),
        roadmap=roadmap.with_releases(ctx.read("roadmap"), ctx.read("releases"), ctx.read("features"), ctx.period.end),
        params=settings,
        period=ctx.period,
    )


def tools_report(ctx: ReportContext) -> tools.ToolsReport:
    """Read the tool inventory and every seat, and compute the Tools area for the team (or ``all``)."""
    return tools.build_report(
        tools=ctx.read("tools", whole_organisation=True),
        seats=ctx.read("tool_seats", whole_organisation=True),
        params=ctx.params.tools,
        period=ctx.period,
        team=ctx.params.team,
    )


def escalations_report(ctx: ReportContext) -> escalations.EscalationsReport:
    """Read the team's escalations, bugs, features and events, and compute the area."""
    organisation = None
    if ctx.params.team != "all":
        # An account's health rests on all its products, so it reads the same in every report.
        organisation = escalations.OrganisationInputs(
            ctx.events(whole_organisation=True),
            ctx.read("nps_responses", whole_organisation=True),
            ctx.read("escalations", whole_organisation=True),
        )
    return escalations.build_report(
        escalations=ctx.read("escalations"),
        bugs=ctx.read("bugs"),
        accounts=ctx.read("accounts"),
        responses=ctx.read("nps_responses"),
        features=ctx.read("features"),
        events=ctx.events(),
        params=ctx.params.escalations,
        period=ctx.period,
        organisation=organisation,
    )


def experiments_report(ctx: ReportContext) -> experiments.ExperimentsReport:
    """Read the team's experiments and exposures (and its traffic from events) and compute the area."""
    catalogue = ctx.read("experiments")
    units = ctx.read("exposures")
    units = units[units["experiment_id"].isin(catalogue["experiment_id"])]
    # Each experiment is sized at its own product's traffic, the same in every report.
    visitors = health.daily_visitors(ctx.events(), ctx.period) if ctx.has("events") else {}
    return experiments.build_report(catalogue, units, visitors, ctx.params.experiments, ctx.period)


def communication_report(ctx: ReportContext) -> communication.CommunicationReport:
    """Read the team's requests, releases, release notes, roadmap and known issues, and compute the area."""
    releases = ctx.read("releases")
    comms = ctx.read("release_comms")
    return communication.build_report(
        requests=ctx.read("stakeholder_requests"),
        releases=releases,
        comms=comms[comms["release_id"].isin(releases["release_id"])],
        roadmap=roadmap.with_releases(ctx.read("roadmap"), releases, ctx.read("features"), ctx.period.end),
        escalations=ctx.read("escalations"),
        bugs=ctx.read("bugs"),
        params=ctx.params.communication,
        period=ctx.period,
    )


def enablement_report(ctx: ReportContext) -> enablement.EnablementReport:
    """Read the team's releases, trainings, features, escalations and events, and compute the area."""
    return enablement.build_report(
        releases=ctx.read("releases"),
        trainings=ctx.read("trainings"),
        features=ctx.read("features"),
        escalations=ctx.read("escalations"),
        events=ctx.events(),
        params=ctx.params.enablement,
        period=ctx.period,
    )


def explore(ctx: ReportContext, params_dir: str):
    """The area's ipywidgets explorer for JupyterLab (see :mod:`playbook.widgets`)."""
    from playbook.widgets import explore as make_explorer

    return make_explorer(ctx, params_dir)
