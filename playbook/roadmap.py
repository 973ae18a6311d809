"""The roadmap as the releases show it: an item whose feature has shipped is shipped, in every report.

A roadmap export is edited by hand and lags behind: an item can still read "idea" weeks after
its feature launched (DESIGN.md section 3 keeps both tables). An item is linked to a release by
its ``feature_id`` column when the roadmap has one (the contract allows added columns), otherwise
by its title matching the released feature's name within the same product (case and spacing
ignored). An item whose ``feature_id`` is empty falls back to its title. A linked release on or before the
as-of date makes the item ``shipped``, with the date.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from playbook.period import day_end


def _id_text(value: object) -> str:
    """An id as text whatever the column's type (101, 101.0 and "101" alike; missing as "")."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


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
    # An item with a feature_id links by it; an item without one (or a roadmap without the
    # column) by its title matching the feature's name in its own product.
    ids = roadmap["feature_id"] if "feature_id" in roadmap.columns else pd.Series(None, index=roadmap.index, dtype=object)
    ids = ids.astype(object).map(_id_text)
    linked = ids != ""
    by_id = pd.DataFrame({"item_id": roadmap.loc[linked, "item_id"], "feature_id": ids[linked]}).merge(first, on="feature_id", how="inner")
    named = features[["feature_id", "name", "product"]].assign(key=lambda f: _key(f["name"])).merge(first, on="feature_id")
    items = roadmap.loc[~linked, ["item_id", "title", "product"]].assign(key=lambda f: _key(f["title"]))
    dates = pd.concat([by_id[["item_id", "release_date"]], items.merge(named, on=["key", "product"], how="inner")[["item_id", "release_date"]]])
    if dates.empty:
        return out
    when = dates.groupby("item_id")["release_date"].min()
    hit = out["item_id"].map(when)
    return out.assign(
        status=out["status"].where(hit.isna(), "shipped"),
        shipped_on=hit,
    )
