"""Do the rendered reports agree with themselves? Read as a stakeholder reads them: the HTML.

Every check reads only what a reader sees (the index page and each ``<team>/<area>.html``) and
returns the disagreements it found, each as one line naming the reports and the figures. The
checks are used by ``tests/test_consistency.py`` on one full sample run, and can be pointed at
any reports folder by hand::

    python tests/consistency.py reports/

which prints every disagreement, grouped by check, and exits 1 when there is one.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup

# How sentences round money: the summary's figure agrees with a table total rounded this way.
from playbook.views import short_money

ORGANISATION = "all"
NUMBER = re.compile(r"[-+]?\$?\d(?:[\d,]*\d)?(?:\.\d+)?[%kM]?")
CHANGE = re.compile(r"\b(?:up|down) \d[\d,.]*(?: points?)?|\bunchanged\b")


@dataclass
class Table:
    caption: str
    section: str
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        return [row[self.header.index(name)] for row in self.rows]

    def total_row(self) -> list[str] | None:
        """The table's total line (a ``tfoot`` row), when it has one."""
        return getattr(self, "_total", None)


@dataclass
class Report:
    team: str
    area: str
    summary: list[str]
    tables: list[Table] = field(default_factory=list)
    text: str = ""
    actions: int = 0

    @property
    def name(self) -> str:
        return f"{self.team}/{self.area}"

    @property
    def summary_text(self) -> str:
        return " ".join(self.summary)

    def table(self, *, header: str, section: str | None = None, caption: str | None = None) -> Table | None:
        for table in self.tables:
            if header in table.header and (section is None or table.section == section) and (
                caption is None or caption.lower() in table.caption.lower()
            ):
                return table
        return None


def _cells(row) -> list[str]:
    return [" ".join(cell.get_text(" ").split()) for cell in row.find_all(["td", "th"])]


def read_report(path: Path, team: str, area: str) -> Report:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    box = soup.select_one("section.pb-summary")
    summary = [" ".join(el.get_text(" ").split()) for el in box.find_all(["p", "li"])] if box else []
    report = Report(team, area, summary, text=" ".join(soup.get_text(" ").split()))
    report.actions = len(box.select("li.pb-action")) if box else 0
    section = ""
    for element in soup.find_all(["h2", "table"]):
        if element.name == "h2":
            section = " ".join(element.get_text(" ").split())
            continue
        caption = element.find("caption")
        head = element.find("thead")
        body = element.find("tbody")
        rows = [_cells(r) for r in body.find_all("tr")] if body else []
        rows = [r for r in rows if not (len(r) == 1 and r[0] == "No rows.")]
        table = Table(" ".join(caption.get_text(" ").split()) if caption else "", section,
                      _cells(head.find("tr")) if head else [], rows)
        foot = element.find("tfoot")
        if foot is not None:
            table._total = _cells(foot.find("tr"))
        report.tables.append(table)
    return report


@dataclass
class IndexCell:
    team: str
    area: str
    headline: str
    coloured: bool
    href: str


def read_index(out: Path) -> tuple[list[IndexCell], BeautifulSoup]:
    soup = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    cells = []
    for link in soup.select("td a[href$='.html']"):
        href = link["href"]
        parts = href.split("/")
        if len(parts) != 2 or href.startswith("http"):
            continue
        cell = link.find_parent("td")
        head = cell.select_one(".headline")
        coloured = bool(cell.select(".action")) or "action" in (cell.get("class") or [])
        cells.append(IndexCell(parts[0], parts[1].removesuffix(".html"),
                               " ".join(head.get_text(" ").split()) if head else "", coloured, href))
    return cells, soup


def read_run(out: Path) -> dict[str, Report]:
    reports = {}
    for path in sorted(out.glob("*/*.html")):
        team, area = path.parent.name, path.stem
        reports[f"{team}/{area}"] = read_report(path, team, area)
    return reports


# ---------------------------------------------------------------- how text becomes numbers


def number(text: str) -> float | None:
    """"$1.2M" -> 1200000, "$42k" -> 42000, "23%" -> 23, "1,880" -> 1880, "–" -> None."""
    text = text.strip().replace("−", "-")
    match = re.fullmatch(r"([-+]?)\$?(\d[\d,]*(?:\.\d+)?)([%kM]?)", text)
    if not match:
        return None
    value = float(match.group(2).replace(",", ""))
    value *= {"k": 1e3, "M": 1e6}.get(match.group(3), 1)
    return -value if match.group(1) == "-" else value


def money_agrees(stated: str, total: float) -> bool:
    """A sentence's rounded money agrees with an exact total when it is that total, rounded its way."""
    return stated == short_money(total)


def column_total(table: Table, name: str) -> float:
    return sum(number(v) or 0.0 for v in table.column(name))


# ---------------------------------------------------------------- the checks


def check_index_matches_summary(cells: list[IndexCell], reports: dict[str, Report]) -> list[str]:
    """Each figure and change an index cell shows is stated in its report's summary."""
    problems = []
    for cell in cells:
        report = reports.get(f"{cell.team}/{cell.area}")
        if report is None or not cell.headline:
            continue
        summary = report.summary_text
        said = set(NUMBER.findall(summary)) | {n.lstrip("+") for n in NUMBER.findall(summary)}
        for token in NUMBER.findall(cell.headline):
            if token not in said and token.lstrip("+") not in said:
                problems.append(f"{report.name}: the index shows {token!r} ({cell.headline!r}); the summary never states it")
        for change in CHANGE.findall(cell.headline):
            if change not in summary:
                problems.append(f"{report.name}: the index shows the change {change!r} ({cell.headline!r}); the summary never states it")
    return problems


def _table_count(table: Table, stated: int) -> bool:
    """A list agrees with a count when it has that many rows, or says it shows part of them."""
    return len(table.rows) == stated or f"of {stated:,}" in table.caption


def check_totals_match_tables(reports: dict[str, Report]) -> list[str]:
    """Each summary total that has a table equals that table's column total or row count."""
    problems = []
    for report in reports.values():
        text = report.summary_text
        if report.area == "tools":
            table = report.table(header="At stake per year")
            match = re.search(r"(\d+) recommendations[^.]*?put (\$[\d.,]+[kM]?) a year at stake", text)
            if match and table is not None:
                count, money = int(match.group(1)), match.group(2)
                if count != len(table.rows):
                    problems.append(f"{report.name}: the summary counts {count} recommendations; the table lists {len(table.rows)}")
                total = column_total(table, "At stake per year")
                if not money_agrees(money, total):
                    problems.append(f"{report.name}: the summary puts {money} at stake; the table's column adds up to ${total:,.0f}")
            match = re.search(r"[Ii]dle spend (?:is )?(\$[\d.,]+[kM]?)", text)
            inventory = report.table(header="Idle spend", section="Inventory")
            if match and inventory is not None:
                total = column_total(inventory, "Idle spend")
                if not money_agrees(match.group(1), total):
                    problems.append(f"{report.name}: the summary says idle spend {match.group(1)}; the inventory's column adds up to ${total:,.0f}")
        if report.area == "communication":
            match = re.search(r"(\d+) requests? (?:are|is) overdue", text)
            table = report.table(header="Overdue", section="Requests by group")
            listing = report.table(header="Waiting (days)")
            if match:
                stated = int(match.group(1))
                if table is not None and column_total(table, "Overdue") != stated:
                    problems.append(f"{report.name}: the summary says {stated} requests are overdue; the Overdue column totals {column_total(table, 'Overdue'):,.0f}")
                if listing is not None and not _table_count(listing, stated):
                    problems.append(f"{report.name}: the summary says {stated} requests are overdue; the overdue list shows {len(listing.rows)} rows without saying it is part of them")
        if report.area == "escalations":
            match = re.search(r"ARR at risk: (\$[\d.,]+[kM]?) across (\d+) accounts", text)
            table = report.table(header="Open P1/P2")
            if match and table is not None:
                stated = int(match.group(2))
                if not _table_count(table, stated):
                    problems.append(f"{report.name}: the summary puts ARR at risk with {stated} accounts; the table lists {len(table.rows)} without saying it is part of them")
                if len(table.rows) == stated and not money_agrees(match.group(1), column_total(table, "ARR")):
                    problems.append(f"{report.name}: the summary says ARR at risk {match.group(1)}; the table's ARR adds up to ${column_total(table, 'ARR'):,.0f}")
        if report.area == "feedback":
            match = re.search(r"(\$[\d.,]+[kM]?) of ARR[^.]*?sits with (\d+) accounts whose latest answer was a detractor", text)
            table = report.table(header="NPS group")
            if match and table is not None:
                rows = [r for r in table.rows if r[0].lower().startswith("detractor")]
                if rows:
                    row = dict(zip(table.header, rows[0]))
                    if number(row["Accounts"]) != int(match.group(2)):
                        problems.append(f"{report.name}: the summary counts {match.group(2)} detractor accounts; the ARR table {row['Accounts']}")
                    if not money_agrees(match.group(1), number(row["ARR"]) or 0):
                        problems.append(f"{report.name}: the summary puts {match.group(1)} of ARR with detractors; the ARR table {row['ARR']}")
        if report.area == "experiments":
            match = re.search(r"(\d+) of (\d+) concluded experiments? shipped a winner", text)
            table = report.table(header="Measure")
            if match and table is not None:
                values = {r[0]: r[1] for r in table.rows}
                if values.get("Concluded") not in (None, match.group(2)) or values.get("Shipped a winner") not in (None, match.group(1)):
                    problems.append(f"{report.name}: the summary says {match.group(0)!r}; the portfolio table says {values}")
            # Each call in the summary is the decisions table's call, and each count of units seen in
            # two variants is the table's count.
            decisions = report.table(header="Decision")
            if decisions is not None and "Id" in decisions.header:
                by_id = {row[decisions.header.index("Id")]: dict(zip(decisions.header, row)) for row in decisions.rows}
                calls = {"Ship": ("ship",), "Do not ship": ("do not ship", "blocked by guardrail"), "Keep running": ("keep running",)}
                for line in report.summary:
                    line = re.sub(r"^(?:High|Medium|Low) ", "", line)
                    for start, allowed in calls.items():
                        found = re.match(rf"{start} .*? \(([\w-]+)\)", line)
                        # "Do not ship X (ID) variant v2" while another variant of ID ships: the table says so in its note.
                        other_variant = start == "Do not ship" and found and line[found.end():].startswith(" variant ")
                        if other_variant and "do not ship" in by_id.get(found.group(1), {}).get("Note", ""):
                            continue
                        if found and line.startswith(start + " ") and by_id.get(found.group(1), {}).get("Decision") not in allowed:
                            problems.append(f"{report.name}: the summary says {start!r} for {found.group(1)}; the decisions table says "
                                            f"{by_id.get(found.group(1), {}).get('Decision')!r}")
                    found = re.match(r"(\d[\d,]*) units of .*? \(([\w-]+)\), [\d.]+% of its [\d,]+, were exposed to more than one variant", line)
                    if found:
                        shown = by_id.get(found.group(2), {}).get("Units in two variants (left out)", "")
                        if not shown.startswith(found.group(1) + " "):
                            problems.append(f"{report.name}: the summary leaves out {found.group(1)} units of {found.group(2)}; the decisions table says {shown!r}")
        if report.area == "enablement":
            table = report.table(header="Feature", caption="Knowledge gaps")
            gaps = sum(1 for line in report.summary if line.startswith("Knowledge gap"))
            match = re.search(r"(\d+) knowledge gaps?", text)
            stated = int(match.group(1)) if match else gaps
            if table is not None and stated != len(table.rows):
                problems.append(f"{report.name}: the summary names {stated} knowledge gaps; the table lists {len(table.rows)}")
    return problems


# Additive figures: (area, what, pattern whose first group is the count).
ADDITIVE = [
    ("communication", "overdue requests", r"(\d[\d,]*) requests? (?:are|is) overdue"),
    ("escalations", "escalations open at the period end", r"(\d[\d,]*) escalations? (?:are )?open at the period end"),
    ("feedback", "NPS responses this period", r"(\d[\d,]*) responses\) in this one"),
]


def check_teams_add_up(reports: dict[str, Report]) -> list[str]:
    """Additive figures of the teams add up to `all`'s."""
    problems = []
    for area, what, pattern in ADDITIVE:
        found = {}
        for report in reports.values():
            if report.area == area:
                match = re.search(pattern, report.summary_text)
                found[report.team] = int(match.group(1).replace(",", "")) if match else 0
        if ORGANISATION not in found or len(found) < 2:
            continue
        teams = {t: v for t, v in found.items() if t != ORGANISATION}
        if sum(teams.values()) != found[ORGANISATION]:
            parts = " + ".join(f"{t} {v}" for t, v in sorted(teams.items()))
            problems.append(f"{area}: {what}: {parts} = {sum(teams.values())}, but all says {found[ORGANISATION]}")
    return problems


def _same(kind: str, seen: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    for subject, by_report in sorted(seen.items()):
        if len(set(by_report.values())) > 1:
            shown = "; ".join(f"{v} in {r}" for r, v in sorted(by_report.items()))
            problems.append(f"{kind} of {subject}: {shown}")
    return problems


def check_same_subject(reports: dict[str, Report]) -> list[str]:
    """A figure shown in two reports for the same subject is the same."""
    days: dict[str, dict[str, str]] = defaultdict(dict)
    adoption: dict[str, dict[str, str]] = defaultdict(dict)
    health: dict[str, dict[str, str]] = defaultdict(dict)
    status: dict[str, dict[str, str]] = defaultdict(dict)
    for report in reports.values():
        for match in re.finditer(r"\((EXP-[\w-]+)\) cannot reach significance in time: .*?needs [\d,]+ units per variant, ([\d,]+) days at [\d,]+ a day", report.summary_text):
            days[match.group(1)][report.name + " summary"] = match.group(2)
        backlog = report.table(header="Days needed")
        if backlog is not None:
            for row in backlog.rows:
                cells = dict(zip(backlog.header, row))
                days[cells["Id"]][report.name + " backlog"] = cells["Days needed"]
        for match in re.finditer(r"\((F-[\w-]+)\) is used by only (\d+% of (?:the accounts active in \S+|active accounts) \([\d,]+ of [\d,]+\))", report.summary_text):
            adoption[match.group(1)][report.name] = match.group(2)
        adoption_table = report.table(header="Adoption", section="Feature adoption")
        if adoption_table is not None and "Id" in adoption_table.header:
            for row in adoption_table.rows:
                cells = dict(zip(adoption_table.header, row))
                adoption[cells["Id"]][report.name] = cells["Adoption"]
        for table in report.tables:
            column = next((c for c in ("Health now", "Health") if c in table.header), None)
            if column and "Account" in table.header:
                for row in table.rows:
                    cells = dict(zip(table.header, row))
                    # Names can repeat across accounts: the id tells them apart (name and ARR without one).
                    subject = cells.get("Id") or f"{cells['Account']} ({cells.get('ARR', '')})"
                    health[subject][report.name] = cells[column]
        launches = report.table(header="Adopted in 30 days")
        if launches is not None:
            for row in launches.rows:
                cells = dict(zip(launches.header, row))
                adoption[cells["Feature"] + " launch"][report.name] = f"{cells['Adopted in 30 days']} of {cells['Active accounts']}"
        demand = report.table(header="Status", section="Feature demand against RICE")
        if demand is not None:
            for row in demand.rows:
                cells = dict(zip(demand.header, row))
                status[cells["Item"]][report.name] = cells["Status"].replace("_", " ")
        readiness = report.table(header="Released", section="Launch readiness")
        if readiness is not None:
            for row in readiness.rows:
                cells = dict(zip(readiness.header, row))
                title = re.sub(r" launch$", "", cells["Title"])
                status[title][report.name] = "shipped"
        for match in re.finditer(r"(?:^|\. )([A-Z][\w ]+?) was adopted by only .*? after its launch on", report.summary_text):
            status[match.group(1)][report.name] = "shipped"
    # A launch no other report mentions is no disagreement; one a demand table calls an idea is.
    status = {k: v for k, v in status.items() if len(v) > 1}
    return _same("days needed", days) + _same("adoption", adoption) + _same("health", health) + _same("status", status)


def check_colour_means_action(cells: list[IndexCell], reports: dict[str, Report]) -> list[str]:
    """A coloured index cell has an action in its report's summary box, and an uncoloured one none."""
    problems = []
    for cell in cells:
        report = reports.get(f"{cell.team}/{cell.area}")
        if report is None:
            continue
        if cell.coloured and not report.actions:
            problems.append(f"{report.name}: the index colours {cell.headline!r} but the report lists no action")
        if report.actions and not cell.coloured:
            problems.append(f"{report.name}: the report lists {report.actions} actions but its index cell is not coloured")
    return problems


def check_look_here_first(soup: BeautifulSoup, reports: dict[str, Report] | None = None) -> list[str]:
    """The index opens with "look here first", linking reports, unless no report has an action."""
    box = soup.select_one("#look-here-first")
    if box is None:
        return ["the index has no 'look here first' list"]
    if not box.select("li a[href]") and (reports is None or any(r.actions for r in reports.values())):
        return ["the index's 'look here first' list links to no report"]
    return []


def check_trends_end_at_the_headline(soup: BeautifulSoup) -> list[str]:
    """Each index cell's trend ends on the value its headline states (the trend's description
    lists the values as the headline writes them)."""
    problems = []
    for svg in soup.select("td svg.trend"):
        cell = svg.find_parent("td")
        head = cell.select_one(".headline")
        title = " ".join(svg.find("title").get_text(" ").split()) if svg.find("title") else ""
        last = title.split(": ", 1)[-1].split(";")[0].split(", ")[-1].strip()
        link = cell.select_one("a[href$='.html']")
        name = link["href"] if link else "a cell"
        if not head or not last or last not in head.get_text(" "):
            problems.append(f"{name}: the trend ends on {last!r} but the headline says {head.get_text(' ').strip() if head else 'nothing'!r}")
    return problems


def _row_text(row) -> str:
    cell = row.find_all("td")[1]
    rule = cell.select_one(".rule")
    whole = " ".join(cell.get_text(" ").split())
    return whole[: len(whole) - len(" ".join(rule.get_text(" ").split()))].strip() if rule else whole


def check_actions_page_matches_reports(out: Path, reports: dict[str, Report]) -> list[str]:
    """Every row of actions.html is an action its report's summary states, with the same age;
    every action a team's summary states is a row; and the page's counts are its rows."""
    path = out / "actions.html"
    if not path.is_file():
        return ["the run wrote no actions.html"]
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    problems, listed = [], set()
    for table in ("#open-actions", "#snoozed-actions"):
        for row in soup.select(f"{table} tbody tr"):
            link = row.find("a")
            report = reports.get(link["href"].removesuffix(".html")) if link else None
            text = _row_text(row)
            if report is None:
                problems.append(f"actions page: {text[:60]!r} links to no report")
                continue
            line = next((li for li in report.summary if text in li), None)
            if line is None:
                problems.append(f"actions page: {text[:60]!r} is not in {report.name}'s summary")
                continue
            listed.add((report.name, text))
            cells = [" ".join(c.get_text(" ").split()) for c in row.find_all("td")]
            if table == "#open-actions":
                weeks = cells[6]
                said = ("new this week" if weeks == "0" else "open since at least" if weeks == "0+"
                        else f"open for at least {weeks.rstrip('+')} week" if weeks.endswith("+") else f"open for {weeks} week")
                if said not in line:
                    problems.append(f"actions page: {report.name} {text[:40]!r} is {weeks} weeks open, the summary says {line[-60:]!r}")
    for report in reports.values():
        if report.team == ORGANISATION:
            continue
        for line in report.summary:
            if line.startswith(("High ", "Medium ", "Low ")) and not any(n == report.name and t in line for n, t in listed):
                problems.append(f"{report.name}: the summary's action {line[:60]!r} is not on the actions page")
    counts = soup.select_one("p.meta:nth-of-type(2)")
    opened = len(soup.select("#open-actions tbody tr"))
    if counts is not None and not counts.get_text(" ").strip().startswith(f"{opened} open"):
        problems.append(f"actions page: the count says {counts.get_text(' ').strip()[:30]!r} but {opened} rows are open")
    return problems


def check_all(out: Path) -> dict[str, list[str]]:
    cells, soup = read_index(out)
    reports = read_run(out)
    return {
        "index figures and changes are in the report's summary": check_index_matches_summary(cells, reports),
        "summary totals equal their tables": check_totals_match_tables(reports),
        "teams add up to all": check_teams_add_up(reports),
        "one subject, one figure": check_same_subject(reports),
        "only cells with an action are coloured": check_colour_means_action(cells, reports),
        "the index says where to look first": check_look_here_first(soup, reports),
        "each trend ends on its headline": check_trends_end_at_the_headline(soup),
        "the actions page lists each report's actions, with the same age": check_actions_page_matches_reports(out, reports),
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "reports")
    if not (folder / "index.html").is_file():
        sys.exit(f"{folder} holds no index.html: give the reports folder of a run (playbook run --out)")
    results = check_all(folder)
    failed = 0
    for name, problems in results.items():
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        for problem in problems:
            print(f"     - {problem}")
        failed += bool(problems)
    sys.exit(1 if failed else 0)
