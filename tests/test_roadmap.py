"""The roadmap as the releases show it: an item whose feature shipped reads as shipped."""

from datetime import date

import pandas as pd

from playbook.roadmap import with_releases

AS_OF = date(2026, 11, 30)


def _frames(feature_ids=None):
    roadmap = pd.DataFrame({
        "item_id": ["R1", "R2", "R3", "R4"], "product": ["p", "p", "q", "p"], "team": "t",
        "title": ["Zapier triggers", "Offline mode", "Zapier triggers", "Dark mode"],
        "status": ["idea", "planned", "idea", "planned"],
    })
    if feature_ids is not None:
        roadmap["feature_id"] = feature_ids
    features = pd.DataFrame({"feature_id": ["F1", "F2", "F3"], "name": ["Zapier  triggers", "Dark theme", "Offline mode"],
                             "product": ["p", "p", "p"]})
    releases = pd.DataFrame({
        "release_id": ["X1", "X2", "X3"], "feature_id": ["F1", "F2", "F3"],
        "release_date": pd.to_datetime(["2026-08-22", "2026-09-01", "2027-01-10"]),
    })
    return roadmap, releases, features


def test_an_item_links_by_title_in_its_own_product():
    out = with_releases(*_frames(), AS_OF).set_index("item_id")
    # R1 matches F1 by name (case and spacing aside); R3 is the same title in another product;
    # R2's feature ships only after the as-of date; R4's title names no feature.
    assert out["status"].to_dict() == {"R1": "shipped", "R2": "planned", "R3": "idea", "R4": "planned"}
    assert out.loc["R1", "shipped_on"] == pd.Timestamp("2026-08-22")


def test_a_feature_id_links_and_an_empty_one_falls_back_to_the_title():
    out = with_releases(*_frames(["", None, "", "F2"]), AS_OF).set_index("item_id")
    assert out["status"].to_dict() == {"R1": "shipped", "R2": "planned", "R3": "idea", "R4": "shipped"}


def test_feature_ids_of_any_column_type_link():
    roadmap, releases, features = _frames()
    features = features.assign(feature_id=["101", "102", "103"])
    releases = releases.assign(feature_id=["101", "102", "103"])
    for ids in (pd.array([None, None, None, 102], dtype="Int64"), [None, None, None, 102.0], ["", "", "", " 102 "]):
        out = with_releases(roadmap.assign(feature_id=ids), releases, features, AS_OF).set_index("item_id")
        assert out["status"].to_dict() == {"R1": "shipped", "R2": "planned", "R3": "idea", "R4": "shipped"}, ids


def test_the_sample_links_items_named_differently_from_their_feature():
    import numpy as np

    from playbook import sample

    day = date(2026, 11, 27)
    roadmap, features = sample.make_roadmap(), sample.make_features(day)
    releases = sample.make_releases(np.random.default_rng(3), day)
    releases = releases.assign(release_date=pd.to_datetime(releases["release_date"], utc=True).dt.tz_convert(None))
    out = with_releases(roadmap, releases, features, day).set_index("item_id")
    names = features.set_index("feature_id")["name"]
    # "Dark mode" is the feature "Dark theme" (90 days ago), "Bulk import endpoint" is "Bulk endpoints" (120 days ago).
    for item, feature, days in (("MOB-1", "F-MOB-5", 90), ("PLA-5", "F-API-3", 120)):
        assert out.loc[item, "title"] != names[feature] and roadmap.set_index("item_id").loc[item, "feature_id"] == feature
        assert out.loc[item, "status"] == "shipped"
        assert out.loc[item, "shipped_on"] == pd.Timestamp("2026-11-27 10:00") - pd.Timedelta(days=days)
    # Items with no feature keep the status the roadmap gives them.
    assert out.loc["MOB-3", "status"] == "idea" and pd.isna(roadmap.set_index("item_id").loc["MOB-3", "feature_id"])
