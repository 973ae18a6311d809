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


@pytest.mark.parametrize(
    "label, count, text",
    [("days", 1, "day"), ("days", 1.0, "day"), ("days", 0, "days"), ("days", 2, "days"), ("days", 1.5, "days"),
     ("days", None, "days"), ("open escalations", 1, "open escalation"), ("replies", 1, "reply"), ("boxes", 1, "box"),
     ("processes", 1, "process"), ("crashes", 1, "crash"), ("status", 1, "status"), ("class", 1, "class"),
     ("accounts at risk", 1, "account at risk"), (" points", 1, " point"), ("", 1, "")],
)
def test_plural_agrees_with_its_count(label, count, text):
    from playbook.views import plural

    assert plural(label, count) == text


@pytest.mark.parametrize(
    "change, unit, text",
    [(1, " points", "up 1 point"), (-1, " points", "down 1 point"), (2, " points", "up 2 points"), (-1, " days", "down 1 day"),
     (0, " points", "unchanged"), (0.5, " points", "up 0.5 points"), (None, " points", ""), (-15, "", "down 15")],
)
def test_change_words_agree_with_the_number(change, unit, text):
    from playbook.views import change_words

    assert change_words(change, unit) == text


@pytest.mark.parametrize(
    "count, noun, digits, text",
    [(1, "days", 0, "1 day"), (0.6, "days", 0, "1 day"), (1.4, "days", 0, "1 day"), (1.5, "days", 0, "2 days"), (0, "days", 0, "0 days"),
     (1204, "accounts", 0, "1,204 accounts"), (1.0, "days", 1, "1.0 days"), (1.5, "days", 1, "1.5 days")],
)
def test_count_words_agree_with_the_number_shown(count, noun, digits, text):
    """The noun agrees with the number as rounded for the reader ("1.0 days": a decimal reads as many)."""
    from playbook.views import count_words

    assert count_words(count, noun, digits) == text


def test_figures_read_with_agreeing_number_words():
    from playbook.figures import Figure
    from playbook.views import figure_change, figure_text, figure_value

    assert figure_text(Figure("n", "open escalations", 1, "count")) == "1 open escalation"
    assert figure_text(Figure("n", "open escalations", 2, "count")) == "2 open escalations"
    assert figure_value(Figure("d", "median age", 1.2, "days")) == "1 day"
    assert figure_value(Figure("d", "median age", 12.0, "days")) == "12 days"
    assert figure_change(Figure("n", "NPS", 31, "points", previous=30)) == "up 1 point"
    assert figure_change(Figure("n", "NPS", 29, "points", previous=31)) == "down 2 points"
    assert figure_change(Figure("s", "Share", 0.36, "percent", previous=0.35)) == "up 1 point"
    assert figure_change(Figure("n", "requests", 41, "count", previous=40)) == "up 1"


def test_dates_and_numbers_never_break_inside_but_text_may():
    frame = pd.DataFrame({"name": ["A long tool name"], "renews": [pd.Timestamp("2027-06-05")], "seats": [12]})
    markup = table_html(frame, [("name", "Tool", "text"), ("renews", "Renews", "date"), ("seats", "Seats", "int")])
    assert '<td class="txt">A long tool name</td><td class="txt date">05 Jun 2027</td><td class="num">12</td>' in markup
    assert '<th class="txt date">Renews</th>' in markup


def test_a_chart_keeps_its_description_as_alt_text_escaped():
    nb = _notebook()
    png = nb.cells[1].outputs[3]
    png["metadata"] = {"image/png": {"alt": 'NPS by week, "Mobile" <team>. Line chart.'}}
    from bs4 import BeautifulSoup

    html = export_html(nb, "T")
    soup = BeautifulSoup(html, "html.parser")
    assert [img["alt"] for img in soup.find_all("img")] == ['NPS by week, "Mobile" <team>. Line chart.']
    assert soup.find("team") is None and "No description has been provided" not in html
    # Without a description nbconvert's placeholder stands in (what show_figure prevents).
    assert "No description has been provided" in export_html(_notebook(), "T")


def test_look_here_first_lists_every_high_action_then_fills_up_to_the_limit():
    from playbook.render import look_here_first

    def entry(team, area, *actions):
        return {"team": team, "area": area, "html": f"{team}/{area}.html",
                "result": {"actions": [{"rule": f"{area}.{i}", "subject": s, "severity": sev, "money": money, "text": s}
                                       for i, (s, sev, money) in enumerate(actions)]}}

    reports = {
        "a/x": entry("a", "x", *[(f"h{i}", "high", float(i)) for i in range(4)], ("m1", "medium", 1e6)),
        "b/y": entry("b", "y", ("h4", "high", None), ("l1", "low", 5.0), ("m2", "medium", None)),
        "all/x": entry("all", "x", ("h0", "high", 3.0)),  # the same rule and subject as a/x's: listed once
    }
    assert [a["subject"] for a in look_here_first(reports, limit=3)] == ["h3", "h2", "h1", "h0", "h4"]
    assert [a["subject"] for a in look_here_first(reports, limit=7)] == ["h3", "h2", "h1", "h0", "h4", "m1", "m2"]


@pytest.mark.parametrize(("text", "expected"), [
    ("15%", "a 15%"), ("18.2%", "an 18.2%"), ("8%", "an 8%"), ("80%", "an 80%"), ("11%", "an 11%"),
    ("1.5%", "a 1.5%"), ("110%", "a 110%"), ("180%", "a 180%"), ("11,000", "an 11,000"), ("1,800", "a 1,800"),
])
def test_the_article_goes_with_the_number_as_spoken(text, expected):
    from playbook.views import with_article

    assert with_article(text) == expected
