import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from playbook.display import RECORD_MIME, format_value, table_html
from playbook.render import clean_for_readers, export_html, extract_records, recorded_headline, write_atomic


def test_table_html_formats_and_escapes():
    frame = pd.DataFrame({"name": ["<script>alert(1)</script>", "O'Neil & Co"], "arr": [1234567.0, None], "share": [0.256, 0.5]})
    markup = table_html(frame, [("name", "Name", "text"), ("arr", "ARR", "money"), ("share", "Share", "pct")])
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "O&#x27;Neil &amp; Co" in markup
    assert "$1,234,567" in markup and "26%" in markup and "–" in markup
    assert "<th" in markup and "index" not in markup


@pytest.mark.parametrize(
    "value, fmt, text",
    [(1234.5, "int", "1,234"), (0.123, "pct", "12%"), (-3.4, "signed", "-3"), (pd.Timestamp("2026-11-02"), "date", "02 Nov 2026"),
     (float("nan"), "int", "–"), (None, "text", "–")],
)
def test_format_value(value, fmt, text):
    assert format_value(value, fmt) == text


@pytest.mark.parametrize(
    "headline, text",
    [
        ({"label": "NPS", "value": 31, "change": -15}, "NPS 31, down 15"),
        ({"label": "NPS", "value": 31, "change": 4}, "NPS 31, up 4"),
        ({"label": "NPS", "value": 31, "change": 0}, "NPS 31, unchanged"),
        ({"label": "NPS", "value": 31, "change": None}, "NPS 31"),
        ({"label": "NPS", "value": None, "change": None}, ""),
        ({"label": "Idle spend", "value": 18210, "text": "Idle spend $18k/yr", "change": None}, "Idle spend $18k/yr"),
        (None, ""),
    ],
)
def test_recorded_headline(headline, text):
    assert recorded_headline(headline) == text


def _notebook():
    nb = new_notebook()
    params = new_code_cell("team = 'x'")
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell("show()")
    body.outputs = [
        new_output("display_data", data={RECORD_MIME: {"kind": "headline", "value": 3}, "text/plain": "[headline recorded]"}),
        new_output("stream", name="stderr", text="UserWarning: something internal\n"),
        new_output("display_data", data={"text/html": "<p>Visible</p>", "text/plain": "Visible"}),
        new_output(
            "display_data",
            data={"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="},
        ),
    ]
    nb.cells = [params, body]
    return nb


def test_records_are_extracted_and_removed_with_stderr():
    nb = _notebook()
    assert extract_records(nb) == {"headline": {"value": 3}}
    clean = clean_for_readers(nb)
    assert len(clean.cells) == 1
    kinds = [list(o.get("data", {})) or o["output_type"] for o in clean.cells[0].outputs]
    assert kinds == [["text/html", "text/plain"], ["image/png"]]
    assert len(nb.cells[1].outputs) == 4  # the input is not changed


def test_export_is_self_contained_without_code():
    html = export_html(_notebook(), "Title <b>")
    assert "show()" not in html and "team = " not in html
    assert "Visible" in html and "data:image/png;base64," in html
    assert "UserWarning" not in html and "[headline recorded]" not in html
    assert "<script src" not in html and "cdn" not in html.lower() and "unpkg" not in html
    assert "<title>Title &lt;b&gt;</title>" in html


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "report.html"
    write_atomic(target, "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_write_atomic_failure_keeps_old_file(tmp_path):
    target = tmp_path / "report.html"
    write_atomic(target, "good")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # not text: fails before the rename
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_contents_follow_the_summary_and_link_every_section():
    from playbook.render import add_contents

    nb = new_notebook()
    cells = []
    for markup in ('<section class="pb-summary">S</section>', '<h2 class="pb-section" id="section-a">A &amp; B</h2>',
                   '<h2 class="pb-section" id="section-c">C</h2>'):
        cell = new_code_cell("x")
        cell.outputs = [new_output("display_data", data={"text/html": markup})]
        cells.append(cell)
    nb.cells = cells
    out = add_contents(nb)
    toc = out.cells[1].outputs[0]["data"]["text/html"]
    assert '<a href="#section-a">A &amp; B</a>' in toc and '<a href="#section-c">C</a>' in toc
    assert len(out.cells) == 4 and "pb-summary" in out.cells[0].outputs[0]["data"]["text/html"]


def test_a_figure_that_cannot_be_true_reads_as_missing_and_money_nan_ranks_last():
    import math

    import numpy as np

    from playbook.figures import Action, AreaResult, Figure, Severity
    from playbook.views import headline_text

    result = AreaResult(
        {"a": Figure("a", "ratio", math.inf, "points", previous=np.float32("nan")), "b": Figure("b", "things", 3, "count")},
        ("a", "b"),
        (Action("r.x", "x", Severity.HIGH, "x", money=100.0), Action("r.y", "y", Severity.HIGH, "y", money=float("nan")),
         Action("r.z", "z", Severity.HIGH, "z", money=500.0)),
    )
    assert result.figures["a"].value is None and result.figures["a"].previous is None
    assert headline_text(result) == "ratio –, 3 things"
    assert [a.subject for a in result.actions] == ["z", "x", "y"]


def test_an_area_result_round_trips_through_json():
    """The manifest stores each result as JSON; history, the actions page and delivery read it back."""
    import json

    from playbook.figures import Action, AreaResult, Figure, Severity, result_from_dict

    result = AreaResult(
        {"n": Figure("n", "overdue requests", 41, "count", previous=35, good="down", rows=41)},
        ("n",),
        (Action("communication.overdue_requests", "requests", Severity.MEDIUM, "41 requests are overdue.", money=None, figures=("n",)),),
        ("A note.",),
    )
    back = result_from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result and back.figures["n"].change == 6 and back.actions[0].severity is Severity.MEDIUM
