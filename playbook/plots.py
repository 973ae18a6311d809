"""One plotting theme and the chart helpers every notebook uses.

Helpers take a frame and return a matplotlib Figure; the caller shows it
(:func:`playbook.display.show_figure`). The theme is applied inside :func:`theme`, which
restores matplotlib's state afterwards, so notebooks never set rcParams themselves. Every chart
has a title, labelled axes and units.
"""

from __future__ import annotations

from contextlib import contextmanager
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
    """Apply the playbook's look for the charts drawn inside the block, then restore the old one."""
    import seaborn as sns
    from cycler import cycler

    rc = {**sns.axes_style("whitegrid"), **RC, "axes.prop_cycle": cycler(color=PALETTE)}
    with plt.rc_context(rc):
        yield


def _no_data(title: str, message: str) -> plt.Figure:
    """A small titled figure that says there is nothing to draw, instead of an empty or broken chart."""
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 1.6))
        ax.set_title(title)
        ax.text(0.5, 0.45, message, ha="center", va="center", color=MUTED, fontsize=11, transform=ax.transAxes)
        ax.set_axis_off()
    return fig


def plot_nps_trend(trend: pd.DataFrame, title: str, unit: str = "week") -> plt.Figure:
    """NPS per bucket with its interval as a band; buckets without responses show as gaps."""
    if trend.empty or trend["nps"].isna().all():
        return _no_data(title, "No NPS responses in this window.")
    with theme():
        fig, ax = plt.subplots()
        x = trend["start"]
        ax.fill_between(x, trend["low"], trend["high"], color=PALETTE[2], alpha=0.35, linewidth=0, label="95% interval")
        ax.plot(x, trend["nps"], marker="o", color=PALETTE[0], linewidth=2, label="NPS")
        ax.axhline(0, color=MUTED, linewidth=0.8)
        ax.set_ylim(-100, 100)
        ax.set_title(title)
        ax.set_xlabel(f"{unit.capitalize()} starting")
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
    """Utilisation per tool as horizontal bars, with the rightsizing floor; tools without seat data are named apart."""
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
            fig.text(0.01, 0.005, "No seat data: " + ", ".join(missing), fontsize=8, color=MUTED)
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


def plot_bugs_weekly(weekly: pd.DataFrame, title: str) -> plt.Figure:
    """Bugs opened and closed per week."""
    if weekly.empty or (weekly["opened"].sum() + weekly["closed"].sum()) == 0:
        return _no_data(title, "No bugs opened or closed in these weeks.")
    with theme():
        fig, ax = plt.subplots(figsize=(8.0, 3.0))
        ax.plot(weekly["week"], weekly["opened"], marker="o", color=ACCENT, label="opened")
        ax.plot(weekly["week"], weekly["closed"], marker="o", color=PALETTE[0], label="closed")
        ax.set_title(title)
        ax.set_xlabel("Week starting")
        ax.set_ylabel("Bugs (count)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def plot_forest(results: pd.DataFrame, title: str) -> plt.Figure:
    """Relative lift of each variant with its interval (a forest plot), zero marked."""
    if results.empty:
        return _no_data(title, "No experiment results.")
    with theme():
        data = results.iloc[::-1].reset_index(drop=True)
        labels = [f"{n} ({v})" for n, v in zip(data["name"], data["variant"])]
        fig, ax = plt.subplots(figsize=(8.0, 0.36 * len(data) + 1.5))
        for y, row in data.iterrows():
            colour = PALETTE[0] if row["rel_low"] > 0 else (ACCENT if row["rel_high"] < 0 else MUTED)
            ax.plot([row["rel_low"] * 100, row["rel_high"] * 100], [y, y], color=colour, linewidth=2)
            ax.plot(row["rel_lift"] * 100, y, "o", color=colour)
        ax.axvline(0, color=INK, linewidth=1)
        ax.set_yticks(range(len(data)), labels)
        ax.set_title(title)
        ax.set_xlabel("Relative lift against control (%), with its interval")
        ax.set_ylabel("Experiment (variant)")
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(decimals=0))
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def plot_knowledge_gaps(matrix: pd.DataFrame, min_completion: float, min_score: float, title: str) -> plt.Figure:
    """Group x feature heatmaps of training completion and mean quiz score; gaps are outlined."""
    import seaborn as sns

    if matrix.empty:
        return _no_data(title, "No trainings in the window.")
    with theme():
        completion = matrix.pivot(index="audience", columns="feature", values="completion") * 100
        score = matrix.pivot(index="audience", columns="feature", values="mean_score")
        width = max(8.0, 1.1 * completion.shape[1] + 2)
        fig, axes = plt.subplots(1, 2, figsize=(width, 0.5 * completion.shape[0] + 2.4), sharey=True)
        for ax, grid, label, floor in ((axes[0], completion, "Training completed (%)", min_completion * 100), (axes[1], score, "Mean quiz score (0-100)", min_score)):
            sns.heatmap(grid, annot=True, fmt=".0f", cmap="RdYlGn", vmin=0, vmax=100, cbar_kws={"label": label}, linewidths=0.5, ax=ax)
            for (i, j), value in np.ndenumerate(grid.to_numpy()):
                if value < floor:
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor=INK, linewidth=2.5))
            ax.set_xlabel("Feature")
            ax.set_title(label, fontsize=10, loc="left")
            ax.tick_params(axis="x", rotation=30)
        axes[0].set_ylabel("Group")
        axes[1].set_ylabel("")
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
