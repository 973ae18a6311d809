"""The roadmap as the releases show it: an item whose feature has shipped is shipped, in every report.

A roadmap export is edited by hand and lags behind: an item can still read "idea" weeks after
its feature launched (DESIGN.md section 3 keeps both tables). An item is linked to a release by
its ``feature_id`` column when the roadmap has one (the contract allows added columns), otherwise
by its title matching the released feature's name within the same product (case and spacing
ignored). A linked release on or before the as-of date makes the item ``shipped``, with the date.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from playbook.period import day_end


def _key(text: pd.Series) -> pd.Series:
    return text.astype(str).str.casefold().str.split().str.join(" ")


def with_releases(roadmap: pd.DataFrame, releases: pd.DataFrame, features: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """``roadmap`` with ``status`` set to shipped where a linked release has shipped, and ``shipped_on``."""
    out = roadmap.assign(shipped_on=pd.NaT)
    if roadmap.empty or releases.empty:
        return out
    shipped = releases[releases["release_date"] < day_end(as_of)].dropna(subset=["feature_id"])
    if shipped.empty:
        return out
    first = shipped.groupby("feature_id", as_index=False)["release_date"].min()
    if "feature_id" in roadmap.columns:
        dates = roadmap[["item_id", "feature_id"]].merge(first, on="feature_id", how="inner")
    else:
        named = features[["feature_id", "name", "product"]].assign(key=lambda f: _key(f["name"])).merge(first, on="feature_id")
        items = roadmap[["item_id", "title", "product"]].assign(key=lambda f: _key(f["title"]))
        dates = items.merge(named, on=["key", "product"], how="inner")
    if dates.empty:
        return out
    when = dates.groupby("item_id")["release_date"].min()
    hit = out["item_id"].map(when)
    return out.assign(
        status=out["status"].where(hit.isna(), "shipped"),
        shipped_on=hit,
    )
