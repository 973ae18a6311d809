"""One plotting theme and the chart helpers every notebook uses.

Helpers take a frame and return a matplotlib Figure; the caller shows it
(:func:`playbook.display.show_figure`). The theme is applied inside :func:`theme`, which
restores matplotlib's state afterwards, so notebooks never set rcParams themselves. Every chart
has a title, labelled axes and units.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date
from typing import Iterator

import matplotlib.pyplot as plt
import numpy as np
import matplotlib.ticker as mticker
import pandas as pd

INK = "#1f2933"
MUTED = "#7b8794"
ACCENT = "#c0392b"
PALETTE = ["#2f6690", "#3a7ca5", "#81c3d7", "#d9a441", "#c0392b", "#6a4c93", "#52796f"]
GROUP_COLOURS = {"promoter": "#2a9d8f", "passive": "#b0b8c1", "detractor": "#c0392b"}

RC = {
    "figure.figsize": (8.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.labelcolor": INK,
    "axes.edgecolor": MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.frameon": False,
    # Text is drawn as written: a "$" in a customer's words, a roadmap title or a team's name is
    # money, never the start of mathtext ("$5 vs $10" would become "5vs10", or fail to draw).
    "text.parse_math": False,
}


@contextmanager
def theme() -> Iterator[None]:
    """Apply the playbook's look for the charts drawn inside the block, then restore the old one.

    Matplotlib's settings are one for the whole process: the block holds :data:`DRAWING`, so an
    explorer drawing in its thread and a notebook cell drawing at the same time never restore each
    other's settings out of order.
    """
    import seaborn as sns
    from cycler import cycler

    rc = {**sns.axes_style("whitegrid"), **RC, "axes.prop_cycle": cycler(color=PALETTE)}
    with DRAWING, plt.rc_context(rc):
        yield


# Held while matplotlib's process-wide settings are changed for a chart (see theme); re-entrant,
# as a chart drawn inside theme() may be turned into a picture inside another held block.
DRAWING = threading.RLock()


def _no_data(title: str, message: str) -> plt.Figure:
    """A small titled figure that says there is nothing to draw, instead of an empty or broken chart."""
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 1.6))
        ax.set_title(title)
        ax.text(0.5, 0.45, message, ha="center", va="center", color=MUTED, fontsize=11, transform=ax.transAxes)
        ax.set_axis_off()
    return fig


# The scales a metric cannot leave: an interval reaching past them is drawn to the edge, since
# no NPS is above +100 and no share above 100% (a normal-approximation interval can overshoot).
NPS_SCALE = (-100.0, 100.0)
SHARE_SCALE = (0.0, 1.0)


def clip_to_scale(values: pd.Series, scale: tuple[float, float]) -> pd.Series:
    """``values`` held inside ``scale`` (low, high); missing values stay missing."""
    return pd.to_numeric(values, errors="coerce").clip(lower=scale[0], upper=scale[1])


def partial_buckets(starts: pd.Series, through: date | None, unit: str = "week") -> pd.Series:
    """Which buckets (by their first day) end after ``through``, the last day with data: a
    week is whole when its seventh day is on or before ``through``, a month when its last day is.

    Returns all False when ``through`` is None (nothing is known to be cut short).
    """
    starts = pd.to_datetime(pd.Series(starts)).reset_index(drop=True)
    if through is None:
        return pd.Series(False, index=starts.index)
    last_days = starts + pd.Timedelta(days=6) if unit == "week" else starts + pd.offsets.MonthEnd(0)
    return last_days.dt.normalize() > pd.Timestamp(through)


def _label_buckets(ax: plt.Axes, starts: pd.Series, unit: str = "week") -> None:
    """One tick per bucket at its first day ("07 Sep"; months "Sep 2026"), thinned to at most 13."""
    import matplotlib.dates as mdates

    starts = pd.to_datetime(pd.Series(starts)).reset_index(drop=True)
    step = max(1, -(-len(starts) // 13))
    ax.set_xticks(list(starts[::step]))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b" if unit == "week" else "%b %Y"))


def _partial_label(unit: str, through: date) -> str:
    return f"partial {unit} (data to {pd.Timestamp(through):%d %b})"


def _plot_marking_partial(ax: plt.Axes, x: pd.Series, y: pd.Series, partial: pd.Series, colour: str, label: str,
                          **style) -> None:
    """A line with markers whose partial buckets are drawn dashed, with hollow markers."""
    x, y, partial = (pd.Series(v).reset_index(drop=True) for v in (x, y, partial))
    whole = ~partial
    ax.plot(x[whole], y[whole], marker="o", color=colour, label=label, **style)
    if partial.any():
        # Join the last whole bucket to the partial ones with a dashed segment.
        first = int(partial.idxmax())
        tail = slice(max(first - 1, 0), None)
        ax.plot(x[tail], y[tail], color=colour, linestyle="--", linewidth=style.get("linewidth", 1.5))
        ax.plot(x[partial], y[partial], "o", color=colour, markerfacecolor="white", markeredgewidth=1.5)


def plot_nps_trend(trend: pd.DataFrame, title: str, unit: str = "week", through: date | None = None) -> plt.Figure:
    """NPS per bucket with its interval as a band; buckets without responses show as gaps.

    Args:
        trend: one row per bucket: ``start``, ``nps``, ``low``, ``high`` (from
            :func:`playbook.feedback.nps_trend`).
        title: the chart's title.
        unit: ``week`` or ``month``.
        through: the last day with data (the period's end); a bucket ending later is partial and
            drawn hollow and dashed, named in the legend.

    The interval is clipped to NPS's scale, -100 to +100.
    """
    if trend.empty or trend["nps"].isna().all():
        return _no_data(title, "No NPS responses in this window.")
    with theme():
        fig, ax = plt.subplots()
        x = trend["start"]
        partial = partial_buckets(x, through, unit)
        ax.fill_between(x, clip_to_scale(trend["low"], NPS_SCALE), clip_to_scale(trend["high"], NPS_SCALE), color=PALETTE[2],
                        alpha=0.35, linewidth=0, label="95% interval")
        _plot_marking_partial(ax, x, trend["nps"], partial, PALETTE[0], "NPS", linewidth=2)
        if partial.any():
            ax.plot([], [], "o--", color=MUTED, markerfacecolor="white", label=_partial_label(unit, through))
        ax.axhline(0, color=MUTED, linewidth=0.8)
        ax.set_ylim(-100, 100)
        ax.set_title(title)
        ax.set_xlabel(f"{unit.capitalize()} starting")
        _label_buckets(ax, x, unit)
        ax.set_ylabel("NPS (points, -100 to 100)")
        ax.legend(loc="lower left")
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def plot_theme_shares(themes: pd.DataFrame, title: str) -> plt.Figure:
    """Share of each NPS group's comments that mention each theme, as grouped horizontal bars."""
    import seaborn as sns

    if themes.empty or themes["comments"].sum() == 0:
        return _no_data(title, "No comments in this period.")
    with theme():
        data = themes.assign(percent=themes["share"] * 100)
        order = (
            data[data["group"] == "detractor"].sort_values("comments", ascending=False)["theme"].tolist()
            or sorted(data["theme"].unique())
        )
        fig, ax = plt.subplots(figsize=(8.0, 0.45 * max(len(order), 3) + 1.2))
        sns.barplot(
            data=data, y="theme", x="percent", hue="group", order=order, hue_order=list(GROUP_COLOURS),
            palette=GROUP_COLOURS, ax=ax,
        )
        ax.set_title(title)
        ax.set_xlabel("Share of the group's comments that mention the theme (%)")
        ax.set_ylabel("Theme")
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(decimals=0))
        ax.legend(title="NPS group", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
        fig.tight_layout()
    return fig


def plot_demand(demand: pd.DataFrame, title: str, top: int = 10) -> plt.Figure:
    """ARR behind each roadmap item (bars), labelled with the item's RICE rank."""
    if demand.empty or demand["arr"].sum() == 0:
        return _no_data(title, "No feature requests linked to roadmap items.")
    with theme():
        data = demand.head(top).iloc[::-1]
        fig, ax = plt.subplots(figsize=(8.0, 0.42 * max(len(data), 3) + 1.2))
        colours = [ACCENT if i == len(data) - 1 else PALETTE[0] for i in range(len(data))]
        ax.barh(data["title"], data["arr"] / 1e6, color=colours)
        for y, (arr, rank, accounts) in enumerate(zip(data["arr"], data["rice_rank"], data["accounts"])):
            ax.annotate(
                f"  {accounts:,} accounts · RICE rank {rank}", (arr / 1e6, y), va="center", fontsize=9, color=INK
            )
        ax.set_title(title)
        ax.set_xlabel("ARR of the accounts asking (USD millions)")
        ax.set_ylabel("Roadmap item")
        ax.set_xlim(0, max(float(data["arr"].max()) / 1e6 * 1.6, 0.1))
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def plot_utilisation(inventory: pd.DataFrame, floor: float, title: str) -> plt.Figure:
    """Utilisation per tool as horizontal bars, with the rightsizing floor; tools without licences (no utilisation) are named apart."""
    measured = inventory.dropna(subset=["utilisation"]).sort_values("utilisation")
    if measured.empty:
        return _no_data(title, "No seat-level data for these tools.")
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 0.32 * len(measured) + 1.6))
        colours = [ACCENT if u < floor else PALETTE[0] for u in measured["utilisation"]]
        ax.barh(measured["tool"], measured["utilisation"] * 100, color=colours)
        ax.axvline(floor * 100, color=INK, linestyle="--", linewidth=1)
        ax.annotate(f" floor {floor:.0%}", (floor * 100, len(measured) - 0.5), fontsize=9, color=INK)
        ax.set_xlim(0, 105)
        ax.set_title(title)
        ax.set_xlabel("Engaged seats / provisioned seats (%)")
        ax.set_ylabel("Tool")
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(decimals=0))
        ax.grid(axis="y", visible=False)
        missing = inventory.loc[inventory["utilisation"].isna(), "tool"].tolist()
        if missing:
            fig.text(0.01, 0.005, "No licences bought: " + ", ".join(missing), fontsize=8, color=MUTED)
        fig.tight_layout(rect=(0, 0.03 if missing else 0, 1, 1))
    return fig


def plot_backlog(backlog: pd.DataFrame, title: str) -> plt.Figure:
    """Open escalations at the period end by priority, stacked by age."""
    if backlog.empty or backlog["escalations"].sum() == 0:
        return _no_data(title, "No open escalations at the period end.")
    with theme():
        grid = backlog.pivot_table(index="priority", columns="age", values="escalations", observed=False, aggfunc="sum").fillna(0)
        fig, ax = plt.subplots(figsize=(8.0, 2.8))
        left = pd.Series(0.0, index=grid.index)
        colours = ["#81c3d7", "#3a7ca5", "#d9a441", "#c0392b"]
        for colour, column in zip(colours, grid.columns):
            ax.barh(grid.index, grid[column], left=left, color=colour, label=str(column))
            left += grid[column]
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel("Open escalations (count)")
        ax.set_ylabel("Priority")
        ax.legend(title="Age", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4)
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def plot_retention(matrix: pd.DataFrame, title: str) -> plt.Figure:
    """Weekly cohort retention as a heatmap of percentages (rows: cohorts, columns: weeks since the first)."""
    import seaborn as sns

    if matrix.empty:
        return _no_data(title, "No new accounts in the cohort window.")
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 0.34 * len(matrix) + 1.6))
        sns.heatmap(matrix * 100, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, cbar_kws={"label": "Accounts retained (%)"},
                    linewidths=0.5, ax=ax)
        ax.grid(False)
        ax.set_title(title)
        ax.set_xlabel("Weeks since the cohort's first week")
        ax.set_ylabel("Cohort (week starting, accounts)")
        fig.tight_layout()
    return fig


def plot_stickiness(daily: pd.DataFrame, title: str) -> plt.Figure:
    """Daily DAU/MAU and WAU/MAU over the previous and the current period."""
    if daily.empty or daily["dau_mau"].isna().all():
        return _no_data(title, "No visits in these periods.")
    with theme():
        fig, ax = plt.subplots()
        ax.plot(daily["day"], daily["dau_mau"] * 100, color=PALETTE[0], linewidth=2, label="DAU/MAU")
        ax.plot(daily["day"], daily["wau_mau"] * 100, color=PALETTE[3], linewidth=1.5, label="WAU/MAU")
        current = daily[daily["window"] == "current"]
        if len(current):
            ax.axvspan(current["day"].min(), current["day"].max(), color="#e4e7eb", alpha=0.6, label="this period")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.set_xlabel("Day")
        ax.set_ylabel("Visitors returning (%)")
        ax.legend(loc="upper left", ncol=3)
        partial = daily[~daily["full"].astype(bool)] if "full" in daily else daily.iloc[:0]
        if len(partial):
            # Days whose 30-day window starts before the data does are not drawn: they would read 100%.
            ax.axvspan(partial["day"].min(), partial["day"].max(), facecolor="none", hatch="//", edgecolor="#c0c6cc", linewidth=0)
            ax.text(partial["day"].min(), 4, " window not yet full: left out", fontsize=8, color=INK)
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def plot_adoption(adoption: pd.DataFrame, floor: float, title: str) -> plt.Figure:
    """Share of active accounts using each feature; core features in red when under the floor."""
    if adoption.empty or adoption["adoption"].isna().all():
        return _no_data(title, "No active accounts in the period.")
    with theme():
        data = adoption.sort_values("adoption")
        labels = [f"{n}{' (core)' if c else ''}" for n, c in zip(data["name"], data["is_core"])]
        colours = [ACCENT if c and a < floor else (PALETTE[0] if c else PALETTE[2]) for c, a in zip(data["is_core"], data["adoption"])]
        fig, ax = plt.subplots(figsize=(8.0, 0.34 * len(data) + 1.4))
        ax.barh(labels, data["adoption"] * 100, color=colours)
        ax.axvline(floor * 100, color=INK, linestyle="--", linewidth=1)
        ax.set_xlim(0, 100)
        ax.set_title(title)
        ax.set_xlabel("Active accounts that used the feature (%)")
        ax.set_ylabel("Feature")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def plot_bugs_weekly(weekly: pd.DataFrame, title: str, through: date | None = None) -> plt.Figure:
    """Bugs opened and closed per week.

    Args:
        weekly: one row per week: ``week`` (its Monday), ``opened``, ``closed``.
        title: the chart's title.
        through: the last day with data (the period's end); a week ending later is partial (its
            counts are of fewer days) and drawn hollow and dashed, named in the legend.
    """
    if weekly.empty or (weekly["opened"].sum() + weekly["closed"].sum()) == 0:
        return _no_data(title, "No bugs opened or closed in these weeks.")
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 3.0))
        partial = partial_buckets(weekly["week"], through)
        _plot_marking_partial(ax, weekly["week"], weekly["opened"], partial, ACCENT, "opened")
        _plot_marking_partial(ax, weekly["week"], weekly["closed"], partial, PALETTE[0], "closed")
        if partial.any():
            ax.plot([], [], "o--", color=MUTED, markerfacecolor="white", label=_partial_label("week", through))
        ax.set_title(title)
        ax.set_xlabel("Week starting")
        ax.set_ylabel("Bugs (count)")
        ax.set_ylim(bottom=0)
        _label_buckets(ax, weekly["week"])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def plot_forest(results: pd.DataFrame, title: str) -> plt.Figure:
    """Relative lift of each variant with its interval (a forest plot), zero marked.

    An experiment with several metrics gets a row per metric, labelled with it; an interval wholly
    on a metric's better side is drawn in the palette's first colour, wholly on its harmful side in
    the accent (for a lower-is-better metric, a fall is better)."""
    if results.empty:
        return _no_data(title, "No experiment results.")
    with theme():
        data = results.iloc[::-1].reset_index(drop=True)
        several = data.groupby("experiment_id")["metric"].transform("nunique") > 1 if "metric" in data else pd.Series(False, index=data.index)
        higher = data["higher_is_better"].astype(bool) if "higher_is_better" in data else pd.Series(True, index=data.index)
        labels = [f"{n} ({v})" + (f": {str(m).replace('_', ' ')}" if many else "") + ("" if up else " (lower is better)")
                  for n, v, m, many, up in zip(data["name"], data["variant"], data.get("metric", data["variant"]), several, higher)]
        fig, ax = plt.subplots(figsize=(8.0, 0.36 * len(data) + 1.5))
        for y, row in data.iterrows():
            higher = bool(row.get("higher_is_better", True))
            good, bad = (row["rel_low"] > 0, row["rel_high"] < 0) if higher else (row["rel_high"] < 0, row["rel_low"] > 0)
            colour = PALETTE[0] if good else (ACCENT if bad else MUTED)
            ax.plot([row["rel_low"] * 100, row["rel_high"] * 100], [y, y], color=colour, linewidth=2)
            ax.plot(row["rel_lift"] * 100, y, "o", color=colour)
        ax.axvline(0, color=INK, linewidth=1)
        ax.set_yticks(range(len(data)), labels)
        ax.set_title(title)
        from matplotlib.lines import Line2D

        ax.legend(handles=[Line2D([], [], color=c, marker="o", linewidth=2, label=t) for c, t in
                           ((PALETTE[0], "better"), (ACCENT, "worse"), (MUTED, "no clear change"))],
                  loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.2 / (0.36 * len(data) + 1.5)), ncol=3, frameon=False)
        ax.set_xlabel("Relative lift against control (%), with its interval")
        ax.set_ylabel("Experiment (variant)")
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(decimals=0))
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def _wrapped(labels, width: int = 12) -> list[str]:
    """Tick labels broken onto lines of about ``width`` characters, so neighbours never collide."""
    import textwrap

    return [textwrap.fill(str(label), width, break_long_words=True) or str(label) for label in labels]


def plot_knowledge_gaps(matrix: pd.DataFrame, min_completion: float, min_score: float, title: str) -> plt.Figure:
    """Group x feature heatmaps of training completion (above) and mean quiz score (below); gaps
    are outlined. The two panels share the feature axis; feature names are wrapped, and each
    column is wide enough for them, so labels never overlap."""
    import seaborn as sns

    if matrix.empty:
        return _no_data(title, "No trainings in the window.")
    with theme():
        completion = matrix.pivot(index="audience", columns="feature", values="completion") * 100
        score = matrix.pivot(index="audience", columns="feature", values="mean_score")
        rows, columns = completion.shape
        width = max(8.0, 1.0 * columns + 3.0)
        panel = 0.42 * rows + 0.7
        fig, axes = plt.subplots(2, 1, figsize=(width, 2 * panel + 1.6), sharex=True)
        for ax, grid, label, floor in ((axes[0], completion, "Training completed (%)", min_completion * 100), (axes[1], score, "Mean quiz score (0-100)", min_score)):
            sns.heatmap(grid, annot=True, fmt=".0f", cmap="RdYlGn", vmin=0, vmax=100, cbar_kws={"label": label}, linewidths=0.5, ax=ax)
            for (i, j), value in np.ndenumerate(grid.to_numpy()):
                if value < floor:
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor=INK, linewidth=2.5))
            ax.set_title(label, fontsize=10, loc="left")
            ax.set_ylabel("Group")
            ax.tick_params(axis="y", rotation=0)
            ax.grid(False)
        axes[0].set_xlabel("")
        axes[1].set_xlabel("Feature")
        axes[1].set_xticks(np.arange(columns) + 0.5, _wrapped(completion.columns), rotation=0)
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        fig.tight_layout()
    return fig


def plot_request_waits(requests: pd.DataFrame, sla_hours: float, title: str) -> plt.Figure:
    """Median and 90th-percentile hours to a first response per requesting group, against the SLA."""
    data = requests.dropna(subset=["median_first_response"])
    if data.empty:
        return _no_data(title, "No requests answered in the period.")
    with theme():
        data = data.sort_values("median_first_response")
        fig, ax = plt.subplots(figsize=(8.0, 0.45 * len(data) + 1.5))
        colours = [ACCENT if m > sla_hours else PALETTE[0] for m in data["median_first_response"]]
        ax.barh(data["from_group"], data["median_first_response"], color=colours, label="median")
        ax.scatter(data["p90_first_response"], data["from_group"], color=INK, marker="|", s=200, label="90th percentile", zorder=3)
        ax.axvline(sla_hours, color=INK, linestyle="--", linewidth=1)
        ax.annotate(f" SLA {sla_hours:g} h", (sla_hours, len(data) - 0.6), fontsize=9, color=INK)
        ax.set_title(title)
        ax.set_xlabel("Hours to a first response")
        ax.set_ylabel("Requests from")
        ax.legend(loc="lower right")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


ALT_ITEMS = 8


def _listed(names: list[str], limit: int = ALT_ITEMS) -> str:
    """"a, b and c", or the first ``limit`` and how many more."""
    names = [n for n in names if n]
    if len(names) > limit:
        return f"{', '.join(names[:limit])} and {len(names) - limit} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}" if names else ""


def _ticks(axis) -> list[str]:
    """The tick labels a reader sees on ``axis`` (those inside its view), in order."""
    low, high = sorted(axis.get_view_interval())
    pad = (high - low) * 1e-9
    return [t.label1.get_text().strip() for t in axis.get_major_ticks()
            if low - pad <= t.get_loc() <= high + pad and t.label1.get_visible() and t.label1.get_text().strip()]


def _axis_words(name: str, label: str, ticks: list[str], categorical: bool) -> str:
    if categorical:
        return f"{label or name}: {_listed(ticks)}" if ticks else label
    span = f", {ticks[0]} to {ticks[-1]}" if len(ticks) > 1 else ""
    return f"{name} axis {label or 'unlabelled'}{span}" if label or span else ""


def _describe_axes(ax: plt.Axes) -> str:
    """What one set of axes draws: its title, the kind of chart, the axes and the series."""
    from matplotlib.collections import PathCollection, PolyCollection, QuadMesh
    from matplotlib.patches import Rectangle

    title = ax.get_title(loc="left") or ax.get_title() or ax.get_title(loc="right")
    if not ax.axison:
        said = "; ".join(t.get_text() for t in ax.texts if t.get_text().strip())
        return f"{title}: {said}" if title else said
    legend = ax.get_legend()
    series = [t.get_text() for t in legend.get_texts()] if legend else []
    xs, ys = _ticks(ax.xaxis), _ticks(ax.yaxis)
    # Bars are filled rectangles in data space (a shaded span, such as "this period", is not).
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill() and p.get_width() and p.get_height()
            and p.get_data_transform() == ax.transData]
    if any(isinstance(c, QuadMesh) for c in ax.collections):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        values = np.ma.masked_invalid(np.asarray(mesh.get_array(), dtype=float))
        measure = mesh.colorbar.ax.get_ylabel() if mesh.colorbar else ""
        kind = f"Heatmap of {measure}" if measure and measure != title else "Heatmap"
        if values.count():
            low, high = f"{values.min():.0f}", f"{values.max():.0f}"
            kind += f", every value {low}" if low == high else f", values from {low} to {high}"
        # Panels sharing an axis label it once; read the names from the panel that shows them.
        rows = next((a.yaxis for a in [ax, *ax.get_shared_y_axes().get_siblings(ax)] if _ticks(a.yaxis)), ax.yaxis)
        cols = next((a.xaxis for a in [ax, *ax.get_shared_x_axes().get_siblings(ax)] if _ticks(a.xaxis)), ax.xaxis)
        parts = [kind, *(f"{name} {axis.get_label_text()}: {_listed(_ticks(axis))}" if axis.get_label_text()
                         else f"{name} {_listed(_ticks(axis))}" for name, axis in (("rows", rows), ("columns", cols)))]
    elif bars:
        horizontal = all(isinstance(t, str) for t in ys) and bool(ys) and not _numeric(ys)
        kind = f"{'Horizontal bar' if horizontal else 'Bar'} chart"
        category, measure = (ax.yaxis, ax.xaxis) if horizontal else (ax.xaxis, ax.yaxis)
        parts = [kind, _axis_words("", category.get_label_text(), _ticks(category), True),
                 _axis_words("value", measure.get_label_text(), _ticks(measure), False)]
    else:
        lines = [ln for ln in ax.get_lines() if ln.get_label() and not ln.get_label().startswith("_") and len(ln.get_xdata())]
        points = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
        kind = "Line chart" if lines else "Dot chart" if points or ax.get_lines() else "Chart"
        if any(isinstance(c, PolyCollection) for c in ax.collections) and not lines:
            kind = "Area chart"
        category = bool(ys) and not _numeric(ys)
        parts = [kind, _axis_words("horizontal", ax.get_xlabel(), xs, False),
                 _axis_words("", ax.get_ylabel(), ys, True) if category else _axis_words("vertical", ax.get_ylabel(), ys, False)]
        latest = []
        for line in lines:
            y = pd.to_numeric(pd.Series(np.asarray(line.get_ydata(), dtype=object)), errors="coerce").dropna()
            if len(y) and not category:
                latest.append(f"{line.get_label()} {float(y.iloc[-1]):,.3g}")
        if latest:
            parts.append(f"latest point: {_listed(latest)}")
    if series:
        parts.append(f"showing {_listed(series)}")
    notes = [t.get_text() for t in ax.texts if t.get_text().strip()]
    if notes and len(notes) <= 3 and not any(isinstance(c, QuadMesh) for c in ax.collections):
        parts.append("marked " + _listed([n.strip() for n in notes]))
    text = "; ".join(p for p in parts if p)
    return f"{title}. {text}" if title else text


def _numeric(labels: list[str]) -> bool:
    """Whether tick labels read as numbers (a value axis), not names (a category axis)."""
    import re

    return all(re.fullmatch(r"[-+−]?[$]?[\d,.]+\s*[%kM]?", t) for t in labels)


def describe_figure(fig: plt.Figure) -> str:
    """Alternative text for a chart, derived from what it draws: for each panel its title, the
    kind of chart, its axes (labels, range or categories) and its series (the legend), then any
    footnote; a no-data figure says its message. Colour bars are described with their heatmap.

    The figure is drawn first, so tick labels read as they do in the picture.
    """
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    said = [_describe_axes(ax) for ax in panels]
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    footnotes = [t.get_text() for t in fig.texts if t.get_text().strip() and t is not getattr(fig, "_suptitle", None)]
    text = " ".join(s.rstrip(".") + "." for s in said if s)
    if suptitle:
        text = f"{suptitle}. {text}"
    if footnotes:
        text += " " + " ".join(f.rstrip(".") + "." for f in footnotes)
    return " ".join(text.split())
