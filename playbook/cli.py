"""The ``playbook`` command: demo, run, deliver, backfill, history, sample, validate, list.

Exit status (DESIGN.md section 4): 0 when every report rendered; 1 when some failed (the rest
rendered, and the summary says which and why); 2 for bad usage, parameters or data caught
before running.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from playbook.errors import PlaybookError

EXIT_USAGE = 2
# A run stopped with Ctrl-C exits as shells report a SIGINT: 128 + 2.
EXIT_INTERRUPTED = 130


def _as_of(value: str | None) -> date:
    from playbook.context import parse_as_of

    return parse_as_of(value or "")


def _fail(err: Exception) -> None:
    click.secho(f"error: {err}", fg="red", err=True)
    sys.exit(EXIT_USAGE)


AS_OF = click.option("--as-of", metavar="YYYY-MM-DD", help="Day relative periods end on (default: today).")
PARAMS = click.option(
    "--params", "params_dir", default="params", show_default=True, type=click.Path(path_type=Path),
    help="Folder with defaults.yaml and teams/<team>.yaml.",
)
OUT = click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(path_type=Path), help="Reports folder.")
JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None, help="Reports rendered at once (default: number of cores).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="playbook")
def main() -> None:
    """Product-ops playbook: per-team reports rendered from parameterised notebooks.

    \b
    Quick start:
      playbook demo                      sample data, every team x area, reports/index.html
      playbook run --team mobile         one team's reports from your workspace
      playbook backfill --weeks 8        figures of the last 8 weeks, so trends show at once
      playbook history --team mobile --figure nps    a figure's series (--csv for a spreadsheet)
      playbook validate                  check a workspace against the data contract
      playbook run --pdf --deliver       ... and print PDFs, then e-mail and post the results
    """


def _progress(total_hint: int):
    """A progress bar on a terminal; one line per finished report in logs (scheduled runs)."""
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    bar = tqdm(total=total_hint, unit="report", desc="Rendering", disable=not interactive, file=sys.stderr)

    def on_done(outcome, done: int, total: int) -> None:
        bar.total = total
        bar.set_postfix_str(f"{outcome.team}/{outcome.area} {outcome.status}")
        bar.update(1)
        if not interactive:
            status = "reused" if outcome.reused else outcome.status.replace("_", " ")
            click.echo(f"[{done}/{total}] {outcome.team}/{outcome.area}: {status}"
                       + (f" in {outcome.seconds:.1f}s" if outcome.seconds else ""), err=True)

    return bar, on_done


def _run(params_dir: Path, out_dir: Path, teams: list[str], areas: list[str], workspace: str | None,
         jobs: int | None, as_of: date, notebooks: Path | None = None, force: bool = False, dask: str | None = None) -> int:
    from playbook.errors import OutputWriteError, RunInterrupted
    from playbook.runner import exit_status, foreign_entries, make_plan, run_plan

    try:
        plan = make_plan(params_dir, out_dir, teams or None, areas or None, as_of, workspace, notebooks, force)
    except KeyboardInterrupt:
        click.secho("interrupted before any report ran; nothing was changed", fg="red", err=True)
        return EXIT_INTERRUPTED
    foreign = foreign_entries(out_dir, plan.known_teams)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        plan.warnings.insert(0, f"{out_dir.resolve()} holds things that are not playbook reports ({shown}); reports are written "
                                "beside them and nothing of theirs is touched, but an empty folder of its own is safer for --out")
    for line in plan.warnings:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    shown = len(plan.warnings)
    bar, on_done = _progress(len(plan.jobs) + len(plan.decided))
    try:
        outcomes = run_plan(plan, out_dir, jobs, as_of, on_done, dask)
    except RunInterrupted as stop:
        bar.close()
        _summary(stop.outcomes, out_dir)
        click.secho(f"\n{stop}", fg="red", err=True)
        return EXIT_INTERRUPTED
    except OutputWriteError as err:
        bar.close()
        _summary(err.outcomes, out_dir)
        click.secho(f"\nerror: {err}", fg="red", err=True)
        return 1
    finally:
        bar.close()
    for line in plan.warnings[shown:]:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    failed = _summary(outcomes, out_dir)
    reused = sum(1 for o in outcomes if o.reused)
    note = f" ({reused} unchanged since their last render, reused; --force re-renders them)" if reused else ""
    click.echo(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} reports ok{note}; index: {out_dir / 'index.html'}")
    if failed:
        click.secho(f"{len(failed)} failed: {', '.join(o.key for o in failed)}", fg="red", err=True)
    return exit_status(outcomes, plan)


def _summary(outcomes: list, out_dir: Path) -> list:
    """One line per report (status, headline or reason); returns the failed ones."""
    from playbook.render import recorded_headline

    click.echo("")
    for o in outcomes:
        mark = "reused" if o.reused else {"rendered": "ok", "no_data": "no data", "failed": "FAILED"}[o.status]
        mark = "stopped" if o.status == "failed" and "interrupted (Ctrl-C)" in o.reason else mark
        detail = recorded_headline(o.headline) if o.status == "rendered" else o.reason
        line = f"  {mark:8} {o.team}/{o.area}" + (f"  {detail}" if detail else "")
        if o.status == "failed" and o.last_good_at:
            line += f"\n           the last good report ({o.last_good_at}) is kept at {out_dir / o.html}"
        click.secho(line, fg="red" if o.status == "failed" else None)
    return [o for o in outcomes if o.status == "failed"]


@main.command()
@PARAMS
@click.option("--team", "-t", "teams", multiple=True, help="Team to render (repeatable; default: every team in params/teams).")
@click.option("--area", "-a", "areas", multiple=True, help="Area to render (repeatable; default: every area).")
@click.option("--workspace", "-w", help="Workspace folder, .duckdb file or postgresql:// URL (default: the one in params).")
@OUT
@JOBS
@AS_OF
@click.option("--notebooks", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of <area>.ipynb to run instead of the bundled notebooks (your own copies).")
@click.option("--force", is_flag=True, help="Re-render every report, even those whose inputs are unchanged since their last good render.")
@click.option("--dask", metavar="ADDRESS", default=None,
              help="Run each report on a Dask cluster (e.g. tcp://scheduler:8786); workers must see the workspace, params and --out at the same paths.")
@click.option("--pdf", is_flag=True, help="Also print each report to reports/<team>/<area>.pdf with headless Chromium.")
@click.option("--deliver", "send", is_flag=True, help="Then send the e-mails and chat message params ask for (as `playbook deliver`).")
@click.option("--only-if-actions", is_flag=True, help="With --deliver: send nothing to an audience with nothing that needs action.")
def run(params_dir: Path, teams: tuple[str, ...], areas: tuple[str, ...], workspace: str | None, out_dir: Path,
        jobs: int | None, as_of: str | None, notebooks: Path | None, force: bool, dask: str | None,
        pdf: bool, send: bool, only_if_actions: bool) -> None:
    """Render every selected team x area report with papermill and nbconvert.

    Writes reports/<team>/<area>.html (and the executed .ipynb), reports/index.html and
    reports/manifest.json. A report that fails leaves its last good HTML in place.

    A report whose inputs (notebook, the team's params, the data it reads, its period and
    as-of date, the playbook version) are unchanged since its last good render is reused
    without running; --force runs it anyway.

    --pdf prints every report to a PDF beside its HTML; --deliver then sends what
    params' `delivery` asks for (README, Delivery). Neither ever changes a report,
    and neither failing loses one: the run's summary and exit status say so.

    \b
    Exit status: 0 every report rendered (or had no data), printed and
    delivered as asked; 1 some failed, the others rendered, or a PDF or a
    message failed; 2 nothing could run (bad usage, params or data, or the
    reports folder cannot be written or is in use by another run).
    """
    if only_if_actions and not send:
        _fail(PlaybookError("--only-if-actions applies to --deliver; add --deliver, or leave it out"))
    def written() -> int | None:
        try:
            return (out_dir / "manifest.json").stat().st_mtime_ns
        except OSError:
            return None

    before = written()
    try:
        code = _run(params_dir, out_dir, list(teams), list(areas), workspace, jobs, _as_of(as_of), notebooks, force, dask)
    except PlaybookError as err:
        if send:
            # A scheduled run that cannot start (bad data, a warehouse down) must still say so.
            click.secho(f"error: {err}", fg="red", err=True)
            _deliver_failure(params_dir, out_dir, str(err))
            sys.exit(EXIT_USAGE)
        _fail(err)
    if code == EXIT_INTERRUPTED or (code == EXIT_USAGE and not (out_dir / "manifest.json").exists()):
        sys.exit(code)
    if written() in (None, before):
        # The run's record was not written (a full disk...): what the folder holds is the last
        # run's, and sending it as this week's would mislead. Only the failure goes out.
        if send:
            _deliver_failure(params_dir, out_dir, f"this run could not record its reports in {out_dir / 'manifest.json'} (see the run's "
                                                  "output); nothing else was sent, so that last week's figures were not sent as this week's")
        sys.exit(max(code, 1))
    problems: list[str] = []
    if pdf:
        problems = _print_pdfs(out_dir, list(teams), list(areas))
        code = max(code, 1 if problems else 0)
    if send:
        code = max(code, _deliver(params_dir, out_dir, only_if_actions, problems, print_pdfs=not pdf))
    sys.exit(code)


def _print_pdfs(out_dir: Path, teams: list[str], areas: list[str]) -> list[str]:
    """Print the run's reports to PDF (those whose PDF is older than the HTML); the problems, said."""
    from tqdm import tqdm

    from playbook.pdf import print_reports, report_jobs
    from playbook.render import read_manifest
    from playbook.runner.run import output_lock

    reports = read_manifest(out_dir)["reports"]
    keys = [k for k, e in reports.items() if (not teams or e["team"] in teams) and (not areas or e["area"] in areas)]
    jobs = report_jobs(out_dir, reports, keys)
    bar = tqdm(total=len(jobs), unit="pdf", desc="Printing", disable=not sys.stderr.isatty(), file=sys.stderr)
    try:
        with output_lock(out_dir):
            problems = print_reports(jobs, on_done=lambda job, problem: bar.update(1))
    except PlaybookError as err:
        bar.close()
        click.secho(f"PDF: {err}", fg="red", err=True)
        return [f"no PDF was printed: {err}"]
    bar.close()
    for why in problems.values():
        click.secho(f"PDF FAILED {why}", fg="red", err=True)
    kept = len(keys) - len(jobs)
    click.echo(f"{len(jobs) - len(problems)} of {len(jobs)} PDFs printed" + (f" ({kept} unchanged since their report)" if kept else "")
               + f"; each beside its report in {out_dir}", err=True)
    return [f"PDF {path.relative_to(out_dir)}: {why}" for path, why in problems.items()]


def _deliver(params_dir: Path, out_dir: Path, only_if_actions: bool, problems: list[str] | None = None, dry_run: bool = False,
             print_pdfs: bool = True) -> int:
    """Send what params ask for and say what happened; 0, or 1 when a message failed (2: cannot start)."""
    from playbook.deliver import deliver

    def echo(line: str, failed: bool) -> None:
        click.secho(f"  {line}", fg="red" if failed else None, err=True)

    click.echo("Delivering" + (" (dry run: nothing is sent)" if dry_run else ""), err=True)
    try:
        outcome = deliver(out_dir, params_dir, only_if_actions=only_if_actions, run_problems=problems or [], echo=echo, dry_run=dry_run,
                          print_pdfs=print_pdfs)
    except PlaybookError as err:
        click.secho(f"delivery: {err}", fg="red", err=True)
        return EXIT_USAGE
    for line in outcome.skipped:
        click.echo(f"  {line}", err=True)
    for line in outcome.problems:
        click.secho(f"  problem: {line}", fg="red", err=True)
    click.echo(f"{len(outcome.sent)} sent, {len(outcome.failed)} failed" + (f"; log: {out_dir / 'delivery.log'}" if outcome.sent or outcome.failed else ""), err=True)
    if outcome.failed:
        reasons: dict[str, list[str]] = {}
        for d in outcome.failed:
            reasons.setdefault(d.error, []).append(d.name)
        for reason, names in reasons.items():
            click.secho(f"delivery failed for {', '.join(names)}: {reason}", fg="red", err=True)
        click.echo("the reports are as rendered", err=True)
    return 0 if outcome.ok else 1


def _deliver_failure(params_dir: Path, out_dir: Path, reason: str) -> None:
    from playbook.deliver import deliver_failure

    try:
        outcome = deliver_failure(params_dir, out_dir, reason, echo=lambda line, failed: click.secho(f"  {line}", fg="red" if failed else None, err=True))
    except PlaybookError as err:
        click.secho(f"delivery: could not send the failure summary: {err}", fg="red", err=True)
        return
    for line in outcome.skipped:
        click.echo(f"  {line}", err=True)


@main.command("deliver")
@PARAMS
@OUT
@click.option("--only-if-actions", is_flag=True, help="Send nothing to an audience with nothing that needs action (a failure summary always goes).")
@click.option("--dry-run", is_flag=True, help="Say what would be sent, to whom, with which subject; send nothing.")
def deliver_command(params_dir: Path, out_dir: Path, only_if_actions: bool, dry_run: bool) -> None:
    """E-mail each audience its message and post the chat message, from the last run.

    \b
    Reads reports/manifest.json (never changes a report) and params' `delivery`:
      delivery.team (per team)       the team's summary, its actions first
      delivery.digests (per team)    communication's digest per audience
      delivery.ops_lead              the actions page's top items
      delivery.failures              the run's failed reports and why
      delivery.chat.webhook_env      a Slack-compatible webhook: headlines, top actions
    The SMTP user and password and the webhook URL come from environment variables
    params name; they are never printed or logged. Each message is logged to
    reports/delivery.log (to whom, subject, size).

    \b
    Exit status: 0 every message sent; 1 some failed (the others went);
    2 nothing to deliver (no run yet) or a variable params name is not set.
    """
    sys.exit(_deliver(params_dir, out_dir, only_if_actions, dry_run=dry_run))


DEMO_WEEKS = 8


@main.command()
@PARAMS
@OUT
@JOBS
@click.option("--seed", default=7, show_default=True, help="Seed of the sample company.")
def demo(params_dir: Path, out_dir: Path, jobs: int | None, seed: int) -> None:
    """Write the sample workspace (if absent or stale), backfill the 8 weeks before today into
    the history, and render every team x area from it (reports/index.html, reports/actions.html)."""
    from datetime import timedelta

    from playbook.config import list_teams, load_params, workspace_path

    try:
        as_of = date.today()
        teams = list_teams(params_dir)
        if not teams:
            raise PlaybookError(f"no team parameters in {params_dir / 'teams'}")
        target = workspace_path(load_params(params_dir, teams[0]), params_dir)
        _ensure_sample(target, seed, as_of)
        code = _backfill(params_dir, out_dir, DEMO_WEEKS, as_of - timedelta(days=7), [], [], None, jobs)
        sys.exit(max(code, _run(params_dir, out_dir, [], [], None, jobs, as_of)))
    except PlaybookError as err:
        _fail(err)


def _backfill(params_dir: Path, out_dir: Path, weeks: int, as_of: date, teams: list[str], areas: list[str],
              workspace: str | None, jobs: int | None, force: bool = False) -> int:
    """Backfill and say what happened; the exit status (0, or 1 when a team or area failed)."""
    from dataclasses import replace

    from tqdm import tqdm

    from playbook.runner.backfill import plan_backfill, run_backfill

    work, notes, _ = plan_backfill(params_dir, out_dir, weeks, as_of, teams or None, areas or None, workspace)
    if force:
        work = [replace(job, force=True) for job in work]
    first = min(work[0].dates) if work else as_of
    click.echo(f"Backfilling {weeks} weekly as-of dates, {first:%d %b %Y} to {as_of:%d %b %Y}, "
               f"for {len(work)} team x area reports into {out_dir / 'history.duckdb'}", err=True)
    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(work), unit="report", desc="Backfilling", disable=not interactive, file=sys.stderr)

    def on_done(outcome, done: int, total: int) -> None:
        bar.set_postfix_str(f"{outcome.team}/{outcome.area}")
        bar.update(1)
        if not interactive:
            state = f"failed: {outcome.error}" if outcome.error else f"{len(outcome.points)} weeks computed, {outcome.skipped} already recorded"
            click.echo(f"[{done}/{total}] {outcome.team}/{outcome.area}: {state}", err=True)

    try:
        _, outcomes = run_backfill(work, out_dir, jobs, on_done)
    finally:
        bar.close()
    for line in notes:
        click.echo(f"  {line}", err=True)
    failed = [o for o in outcomes if o.error]
    for o in failed:
        click.secho(f"  FAILED {o.team}/{o.area}: {o.error}", fg="red", err=True)
    added = sum(len(o.points) for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    click.echo(f"Backfilled {added} report-weeks ({skipped} already recorded from the same data and params)"
               + (f"; {len(failed)} failed" if failed else ""), err=True)
    return 1 if failed else 0


def _ensure_sample(target: Path, seed: int, as_of: date) -> None:
    from playbook.sample import generate, is_current

    if is_current(target, as_of):
        click.echo(f"Sample workspace {target} is current (as of {as_of}).", err=True)
        return
    counts = generate(target, seed=seed, as_of=as_of)
    click.echo(f"Wrote sample workspace {target} (as of {as_of}): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), err=True)


@main.command()
@PARAMS
@click.option("--weeks", type=click.IntRange(1, 520), required=True, help="How many weekly as-of dates, ending on --as-of.")
@click.option("--team", "-t", "teams", multiple=True, help="Team to backfill (repeatable; default: every team).")
@click.option("--area", "-a", "areas", multiple=True, help="Area to backfill (repeatable; default: every area).")
@click.option("--workspace", "-w", help="Workspace folder, .duckdb file or postgresql:// URL (default: the one in params).")
@OUT
@JOBS
@AS_OF
@click.option("--force", is_flag=True, help="Compute every week again, even those a run recorded or recorded from the same data and params.")
def backfill(params_dir: Path, weeks: int, teams: tuple[str, ...], areas: tuple[str, ...], workspace: str | None,
             out_dir: Path, jobs: int | None, as_of: str | None, force: bool) -> None:
    """Compute the figures of past weekly as-of dates into the history, without rendering HTML.

    For each team x area, builds the report for --as-of and each of the WEEKS - 1 weeks before
    it (the same computation a run's notebook makes, without a kernel) and records its figures
    and actions in <out>/history.duckdb, so trends and "open for N weeks" show on the first
    day. A week already recorded from the same data and params is skipped, and so is a week a
    run recorded (its point is what that report stated); --force computes them again. A run
    for a date replaces that date's rows.

    \b
    Exit status: 0 done; 1 some team or area failed (the others are recorded);
    2 bad usage or params, or the history cannot be read (nothing is written).
    """
    try:
        sys.exit(_backfill(params_dir, out_dir, weeks, _as_of(as_of), list(teams), list(areas), workspace, jobs, force))
    except PlaybookError as err:
        _fail(err)


@main.command("history")
@OUT
@click.option("--team", "-t", help="Only this team's figures.")
@click.option("--area", "-a", help="Only this area's figures.")
@click.option("--figure", "-f", help="Only this figure (its key, such as nps; see the list without it).")
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values with full precision, for a spreadsheet.")
def history_(out_dir: Path, team: str | None, area: str | None, figure: str | None, as_csv: bool) -> None:
    """Print recorded figures' series from <out>/history.duckdb, oldest first.

    Each point is one recorded run (or backfilled week): its as-of date, the value, and its
    change from the point before. "params changed" marks a break: the team's params differed
    from the point before, so the figure may have moved because its definition did.
    """
    from playbook.history import History, history_path

    try:
        series = History.read(history_path(out_dir)).series(team, area, figure)
    except PlaybookError as err:
        _fail(err)
        return
    if series.empty:
        what = ", ".join(f"{k} {v}" for k, v in (("team", team), ("area", area), ("figure", figure)) if v) or "any figure"
        click.secho(f"no recorded points for {what} in {history_path(out_dir)}; run `playbook run` or `playbook backfill`", fg="yellow", err=True)
        sys.exit(1)
    if as_csv:
        columns = ["team", "area", "figure", "subject", "label", "unit", "as_of", "value", "previous", "series_break",
                   "params_hash", "fingerprint"]
        click.echo(series[columns].to_csv(index=False, float_format="%.17g"), nl=False)
        return
    _print_series(series)


def _print_series(series) -> None:
    from playbook.figures import Figure
    from playbook.views import figure_change, figure_value

    for (team, area, key, subject), points in series.groupby(["team", "area", "figure", series.subject.fillna("")], sort=False):
        first = points.iloc[0]
        about = f" ({subject})" if subject else ""
        click.echo(f"{team} · {area} · {first.label}{about} [{key}, {first.unit}]")
        before = None
        for p in points.itertuples():
            value = None if p.value != p.value else float(p.value)
            shown = figure_value(Figure(key, p.label, value, p.unit))
            step = ""
            if value is not None and before is not None:
                step = figure_change(Figure(key, p.label, value, p.unit, previous=before))
            mark = "  params changed" if p.series_break else ""
            click.echo(f"  {p.as_of}  {shown:>12}  {step}{mark}")
            before = value
        click.echo("")


def _sample_progress(events: int):
    """A progress bar for ``playbook sample`` and the callback that moves it: on a terminal, and
    only when the events are written in blocks (the default sample takes seconds); otherwise a
    bar that shows nothing and no callback, so generate() stays quiet."""
    from tqdm import tqdm

    from playbook.sample import EVENT_CHUNK

    if events <= EVENT_CHUNK or not sys.stderr.isatty():
        return tqdm(disable=True), None
    bar = tqdm(unit="step", desc="Writing events", file=sys.stderr)

    def on_step(done: int, total: int) -> None:
        blocks = total - 1  # and the last step: sorting every block's events into one file, the longest
        bar.total = total
        bar.set_postfix_str(f"{min(done, blocks)} of {blocks} blocks drawn" + (", sorting them by time" if done == blocks else ""),
                            refresh=False)
        bar.update(done - bar.n)

    return bar, on_step


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder to write (default: the workspace named in params).")
@PARAMS
@click.option("--seed", default=7, show_default=True, help="Random seed; the same seed and --as-of give identical files.")
@AS_OF
@click.option("--accounts", default=2000, show_default=True, type=click.IntRange(20, 10_000_000), help="Number of accounts.")
@click.option("--responses", default=10_000, show_default=True, type=click.IntRange(10, 100_000_000), help="Number of NPS responses.")
@click.option("--feedback", "feedback_rows", default=3_000, show_default=True, type=click.IntRange(0, 100_000_000), help="Feedback rows.")
@click.option("--events", default=1_000_000, show_default=True, type=click.IntRange(1_000, 1_000_000_000),
              help="About this many product-usage events (Parquet, or a table with --to); scales the heavy table.")
@click.option("--if-missing", is_flag=True, help="Do nothing when a current sample (same as-of date) is already there.")
@click.option("--to", "to_url", metavar="postgresql://USER@HOST:PORT/DB",
              help="Load the sample into this PostgreSQL database instead (password: PGPASSWORD or ~/.pgpass).")
@click.option("--schema", default="public", show_default=True, help="With --to: the schema to create the tables in.")
@click.option("--replace", is_flag=True, help="With --to: drop and write again sample tables already in the schema.")
def sample(out_dir: Path | None, params_dir: Path, seed: int, as_of: str | None, accounts: int, responses: int,
           feedback_rows: int, events: int, if_missing: bool, to_url: str | None, schema: str, replace: bool) -> None:
    """Write a deterministic sample company with planted effects as a workspace.

    \b
    With --to, the same company is loaded into a PostgreSQL schema, so the reports can be
    rendered from a warehouse (README, Live data):
      playbook sample --to postgresql://playbook@localhost:5432/analytics
      playbook run --workspace postgresql://playbook@localhost:5432/analytics
    Tables already in the schema are left alone (nothing is written) unless --replace.
    """
    from playbook.config import list_teams, load_params, workspace_path
    from playbook.sample import generate

    try:
        day = _as_of(as_of)
        if to_url:
            import tempfile

            from playbook.warehouse import is_url

            if not is_url(to_url):
                raise PlaybookError(f"--to expects a postgresql://user@host:5432/database URL; found {to_url!r} "
                                    "(to write files, give --out)")
            if out_dir is not None or if_missing:
                raise PlaybookError("--to loads the sample into a database; --out and --if-missing are for a folder")

            from playbook.warehouse_load import copy_workspace

            with tempfile.TemporaryDirectory(prefix="playbook-sample-") as folder:
                bar, on_step = _sample_progress(events)
                with bar:
                    generate(Path(folder), seed=seed, as_of=day, accounts=accounts, responses=responses, feedback=feedback_rows,
                             events=events, progress=on_step)
                counts = copy_workspace(folder, to_url, schema, replace)
            from playbook.warehouse import Target

            click.echo(f"Loaded the sample company into {Target.parse(to_url).shown}, schema {schema} (seed {seed}, as of {day}): "
                       + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            return
        if out_dir is None:
            teams = list_teams(params_dir)
            if not teams:
                raise PlaybookError("give --out, or run from a folder with params/teams/")
            out_dir = workspace_path(load_params(params_dir, teams[0]), params_dir)
        if if_missing:
            _ensure_sample(out_dir, seed, day)
            return
        bar, on_step = _sample_progress(events)
        with bar:
            counts = generate(out_dir, seed=seed, as_of=day, accounts=accounts, responses=responses, feedback=feedback_rows,
                              events=events, progress=on_step)
        click.echo(f"Wrote {out_dir} (seed {seed}, as of {day}): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    except PlaybookError as err:
        _fail(err)


@main.command()
@click.option("--workspace", "-w", default=None, help="Workspace folder, .duckdb file or postgresql:// URL (default: the one in params).")
@PARAMS
def validate(workspace: str | None, params_dir: Path) -> None:
    """Check every table in a workspace against the data contract.

    Prints rows read and rows set aside (with the rule and example rows) for each table; exits 2
    when a table cannot be used at all (missing column, values of the wrong type).
    """
    from playbook.config import list_teams, load_params, resolve_workspace, workspace_path
    from playbook.workspace import validate as validate_workspace

    try:
        teams = list_teams(params_dir) if Path(params_dir).is_dir() else []
        params = load_params(params_dir, teams[0]) if teams else None
        if workspace is None:
            if params is None:
                raise PlaybookError("give --workspace, or run from a folder with params/teams/")
            workspace = workspace_path(params, params_dir)
        else:
            workspace = resolve_workspace(workspace, Path.cwd())
        reports, errors = validate_workspace(workspace, warehouse=params.warehouse if params else None)
    except PlaybookError as err:
        _fail(err)
        return
    from playbook.warehouse import Target, is_url

    shown = Target.parse(str(workspace)).shown if is_url(workspace) else workspace
    click.echo(f"Workspace {shown}")
    named = [r.source.removeprefix(f"{shown}, ") for r in reports]  # a warehouse's tables without the server again
    width = max([28, *(len(n) for n in named)])
    for r, name in zip(reports, named):
        status = "ok" if not r.set_aside else f"{r.rows_set_aside:,} set aside"
        click.echo(f"  {name:{width}} {r.rows_read:>10,} {'row ' if r.rows_read == 1 else 'rows'}  {status}")
        for line in r.describe():
            click.secho(f"    {line}", fg="yellow")
    for err in errors:
        click.secho(f"  error: {err}", fg="red")
    if not reports and not errors:
        click.echo("  no canonical tables found (see DESIGN.md section 3 for the names)")
    sys.exit(EXIT_USAGE if errors else 0)


@main.command("import", context_settings={"max_content_width": 100})
@click.argument("preset")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--workspace", "-w", required=True, help="Workspace folder to write into.")
@click.option("--mapping", "mapping_file", type=click.Path(path_type=Path), default=None,
              help="YAML mapping merged over the preset's (required for 'generic'); see params/mappings/.")
@click.option("--table", default=None, help="Canonical table to write, for presets offering several (jira: bugs or escalations).")
def import_(preset: str, files: tuple[Path, ...], workspace: str, mapping_file: Path | None, table: str | None) -> None:
    """Turn a tool's export into a canonical workspace table.

    Reads FILE(s) with PRESET's mapping (and --mapping), checks the rows against the table's
    rules, and writes the usable ones into the workspace: a new record is added; a record
    already there is updated where the export's values differ, unless its last-changed time
    (Jira Updated, Zendesk updated_at) is older than the one on record; a record the export
    marks as deleted (Zendesk status deleted, or the mapping's deleted:) is removed; records
    missing from the export are kept. Nothing else in the file changes. Prints what was added,
    updated, unchanged, skipped and set aside, and why. Exit 0 when it ran (also with nothing
    new); 1 when no row of the export could be used; 2 when the export cannot be read at all
    (the message names the file, the column and what was expected).

    \b
    Presets:
      generic         any CSV or JSON-lines file, described by --mapping
      jira            Jira CSV (all fields) to bugs, or to escalations with --table
      zendesk         Zendesk tickets (incremental export JSON, or admin CSV) to escalations
      delighted       Delighted survey responses (API JSON or JSON lines) to nps_responses
      posthog-survey  PostHog "survey sent" events (CSV or JSON lines) to nps_responses
      posthog-events  PostHog events (CSV or JSON lines) to events; account from $groups
      amplitude       Amplitude export (zip of gzipped JSON lines) to events
      assignments     experiment assignments (GrowthBook's shape) to exposures

    \b
    Example:
      playbook import jira jira-export.csv --workspace data/acme
      playbook import generic answers.csv --mapping params/mappings/nps_scores.yaml -w data/acme
    """
    from playbook.importers import run_import

    try:
        result = run_import(preset, list(files), workspace, mapping_file, table)
    except PlaybookError as err:
        _fail(err)
        return
    lines = result.describe()
    click.echo(lines[0])
    for line in lines[1:]:
        click.secho(f"  {line}", fg="yellow")
    if result.nothing_usable:
        sys.exit(1)


@main.command("list")
@PARAMS
def list_(params_dir: Path) -> None:
    """List the teams (with their products) and the areas that can be rendered."""
    from playbook.areas import AREAS
    from playbook.config import ignored_team_files, list_teams, load_areas, load_params

    try:
        load_areas(params_dir)
    except PlaybookError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(2)

    click.echo("Teams:")
    for team in list_teams(params_dir):
        try:
            p = load_params(params_dir, team)
            click.echo(f"  {team:12} {p.name} ({', '.join(p.products)})")
        except PlaybookError as err:
            click.secho(f"  {team:12} invalid parameters: {err}", fg="red")
    for line in ignored_team_files(params_dir):
        click.secho(f"  warning: {line}", fg="yellow")
    click.echo("Areas:")
    for area in AREAS.values():
        click.echo(f"  {area.name:14} {area.title}  (tables: {', '.join(area.required)}; optional: {', '.join(area.optional) or 'none'})")


if __name__ == "__main__":
    main()
