"""The one façade notebooks import: ``import playbook.api as pb``.

It gathers what a notebook step needs: opening the report, building its area (the registry
entry's module reads the frames and runs the pure build), the area modules for their column
specs, and the display and plot helpers.
"""

from __future__ import annotations

from typing import Any

from playbook import health, plots, stats
from playbook.areas import AREAS
from playbook.context import ReportContext, open_report
from playbook.display import (
    show_digest,
    show_digests,
    record_digests,
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
from playbook.views import count_words, param_words

__all__ = [
    "build",
    "count_words",
    "explore",
    "show_digest",
    "show_digests",
    "record_digests",
    "format_value",
    "health",
    "open_report",
    "param_words",
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
]


def show_missing(ctx: ReportContext, table: str, what: str) -> bool:
    """Say, in place of a section, that the workspace lacks the optional ``table`` it needs.

    Returns True when the table is missing (the caller then skips the section's tables).
    """
    if ctx.has(table):
        return False
    show_text(f"The workspace has no {table} table, so {what} cannot be shown.")
    return True


def build(ctx: ReportContext):
    """Read the area's tables for ``ctx`` and compute it (:func:`playbook.context.build`). The
    report's ``result`` holds its figures and actions (:class:`playbook.figures.AreaResult`),
    the alerts' actions among them, each with its age from the history."""
    from playbook.context import build as build_report

    return build_report(ctx)


def explore(ctx: ReportContext, params_dir: str, report: Any = None):
    """The area's ipywidgets explorer for JupyterLab (see :mod:`playbook.widgets`); its first view
    is drawn from ``report``, the notebook's own, when given."""
    from playbook.widgets import explore as make_explorer

    return make_explorer(ctx, params_dir, report)


def __getattr__(name: str) -> Any:
    """``pb.<area>`` is the registered area's module (``pb.tools.INVENTORY_COLUMNS``), found
    through the registry so that this façade never names an area."""
    if name in AREAS:
        return AREAS[name].load()
    raise AttributeError(f"module 'playbook.api' has no attribute '{name}'")
