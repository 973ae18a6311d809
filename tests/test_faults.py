"""Faults during a run: a notebook that raises, a kernel that dies, a report over its time limit,
a run killed with SIGKILL, and the reports that must come through all of it.

The runs here are real `playbook run` commands on notebooks copied from the project, with one cell
added that misbehaves for one named team only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import AS_OF, ROOT, make_params, playbook_cli, visible_text

from playbook.runner.kernels import IPC_PREFIX, remove_stale_kernel_folders

PLANTED_CELL = """\
import os, time
if team == "raises":
    raise RuntimeError("planted failure for team raises")
if team == "dies":
    os.kill(os.getpid(), 9)
if team == "slow":
    time.sleep(120)
"""
NO_RESPONSES = "No NPS responses in this period, so there is no score to report."
LONG_COMMENT = "slow " * 210_000 + "end"
# Both are valid chart mathematics to matplotlib, unless text is drawn as written: the first does
# not parse (the report failed), the second is drawn as "5vs10".
DOLLAR_NAME = "Costs $5 {per seat $ month"
DOLLAR_TITLE = " (pricing $5 vs $10 tiers)"
WORLD_TEXT = "😡 slow بطيء جدا — איטי מאוד"


def _notebooks_with_planted_cell(folder: Path) -> Path:
    shutil.copytree(ROOT / "notebooks", folder)
    for path in folder.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(PLANTED_CELL))
        nbformat.write(nb, path)
    return folder


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory, tiny_workspace):
    """One run of eight teams' feedback reports: four healthy (one with dollar signs in its texts),
    one without responses, one without rows, and three that raise, kill their kernel, or overrun a
    5 s time limit."""
    root = tmp_path_factory.mktemp("faults")
    header_only = root / "ws-header-only"
    shutil.copytree(tiny_workspace, header_only)
    columns = pd.read_csv(header_only / "nps_responses.csv", nrows=0).columns
    (header_only / "nps_responses.csv").write_text(",".join(columns) + "\n")
    long_text = root / "ws-long-text"
    shutil.copytree(tiny_workspace, long_text)
    account = pd.read_csv(tiny_workspace / "accounts.csv")["account_id"].iloc[0]
    rows = [
        {"response_id": "L1", "comment": LONG_COMMENT, "submitted_at": "2026-11-20T10:00:00Z", "score": 2},
        {"response_id": "L2", "comment": WORLD_TEXT, "submitted_at": "2026-11-21T10:00:00Z", "score": 3},
        {"response_id": "L3", "comment": "Great", "submitted_at": "2026-11-22T10:00:00Z", "score": 10},
    ]
    frame = pd.DataFrame([{**r, "account_id": account, "visitor_id": None, "product": "mobile-app"} for r in rows])
    frame[list(columns)].to_csv(long_text / "nps_responses.csv", index=False)
    # Money in a team's name and in roadmap titles: text, never chart mathematics.
    dollars = root / "ws-dollars"
    shutil.copytree(tiny_workspace, dollars)
    roadmap = pd.read_csv(dollars / "roadmap.csv")
    roadmap["title"] = roadmap["title"] + DOLLAR_TITLE
    roadmap.to_csv(dollars / "roadmap.csv", index=False)
    healthy = {"name": "Healthy", "products": ["mobile-app"]}
    teams = {
        "healthy": healthy,
        "header-only": {**healthy, "name": "Header only", "workspace": str(header_only)},
        "no-rows": {"name": "No rows", "products": ["no-such-product"]},
        "long-text": {**healthy, "name": "Long text", "workspace": str(long_text)},
        "dollars": {**healthy, "name": DOLLAR_NAME, "workspace": str(dollars)},
        "raises": {**healthy, "name": "Raises"},
        "dies": {**healthy, "name": "Dies"},
        "slow": {**healthy, "name": "Slow", "time_limit": 5},
    }
    params = make_params(root, tiny_workspace, teams=teams)
    notebooks = _notebooks_with_planted_cell(root / "notebooks")
    out = root / "reports"
    before = _checksums(tiny_workspace)
    started = time.monotonic()
    result = playbook_cli("run", "--params", str(params), "--out", str(out), "--area", "feedback", "--as-of", AS_OF.isoformat(),
                          "--notebooks", str(notebooks), "--jobs", "2")
    seconds = time.monotonic() - started
    manifest = json.loads((out / "manifest.json").read_text())
    return result, out, manifest, seconds, before == _checksums(tiny_workspace)


def _report(out: Path, team: str) -> str:
    return visible_text((out / team / "feedback.html").read_text(encoding="utf-8"))


def test_one_failing_team_never_stops_the_others(fault_run):
    result, out, manifest, _, _ = fault_run
    assert result.returncode == 1, result.stdout + result.stderr
    status = {key: entry["status"] for key, entry in manifest["reports"].items()}
    assert status == {
        "healthy/feedback": "rendered", "header-only/feedback": "rendered", "no-rows/feedback": "rendered",
        "long-text/feedback": "rendered", "dollars/feedback": "rendered",
        "raises/feedback": "failed", "dies/feedback": "failed", "slow/feedback": "failed",
    }
    assert "3 failed: dies/feedback, raises/feedback, slow/feedback" in result.stderr
    assert "Healthy" in _report(out, "healthy") and "NPS" in _report(out, "healthy")


def test_a_notebook_raising_for_one_team_fails_that_report_with_the_exception(fault_run):
    result, out, manifest, _, _ = fault_run
    entry = manifest["reports"]["raises/feedback"]
    assert entry["reason"] == "RuntimeError: planted failure for team raises"
    assert "FAILED   raises/feedback  RuntimeError: planted failure for team raises" in result.stdout
    assert not (out / "raises" / "feedback.html").exists()
    # The executed notebook with its traceback is kept beside the reports for the ops lead.
    failed = nbformat.read(out / "raises" / "feedback.failed.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in failed.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_a_kernel_that_dies_fails_its_report_with_a_clear_reason(fault_run):
    _, _, manifest, _, _ = fault_run
    reason = manifest["reports"]["dies/feedback"]["reason"]
    assert reason.startswith("the kernel died while running the notebook"), reason
    assert manifest["reports"]["dies/feedback"]["attempts"] == 1


def test_a_report_over_its_time_limit_fails_as_timed_out(fault_run):
    _, _, manifest, seconds, _ = fault_run
    entry = manifest["reports"]["slow/feedback"]
    assert entry["reason"] == "timed out after 5 s (time_limit in params); the kernel was stopped"
    # The planted cell sleeps 120 s: the run did not wait for it.
    assert entry["seconds"] < 30 and seconds < 110


def test_a_team_without_responses_gets_a_no_data_notice(fault_run):
    _, out, manifest, _, _ = fault_run
    for team in ("header-only", "no-rows"):
        assert NO_RESPONSES in _report(out, team)
        assert manifest["reports"][f"{team}/feedback"]["headline"]["value"] is None


def test_long_emoji_and_right_to_left_comments_are_shown_as_written_and_shortened(fault_run):
    _, out, _, _, _ = fault_run
    text = _report(out, "long-text")
    assert WORLD_TEXT in text
    assert f"[shortened; {len(LONG_COMMENT):,} characters in full]" in text
    # A 1 MB comment does not make a 1 MB report: nowhere in it is the comment whole.
    html = (out / "long-text" / "feedback.html").read_text(encoding="utf-8")
    assert html.count("slow") < 500
    assert (out / "long-text" / "feedback.html").stat().st_size < 1_000_000


def test_dollar_signs_in_names_and_titles_are_shown_as_written(fault_run):
    _, out, _, _, _ = fault_run
    text = _report(out, "dollars")
    assert f"Feedback & NPS: {DOLLAR_NAME}" in text
    assert DOLLAR_TITLE.strip() in text


def test_the_workspace_is_only_read(fault_run):
    *_, unchanged = fault_run
    assert unchanged


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _first_good_run(tmp_path: Path, workspace: Path) -> tuple[Path, list[str], dict[Path, bytes]]:
    """Two teams x three areas rendered once: the reports folder, the run's arguments, and the reports' bytes."""
    teams = {"alpha": {"name": "Alpha", "products": ["mobile-app"]}, "beta": {"name": "Beta", "products": ["insights"]}}
    params = make_params(tmp_path, workspace, teams=teams)
    out = tmp_path / "reports"
    args = ["run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", "2",
            "--area", "feedback", "--area", "tools", "--area", "communication"]
    first = playbook_cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    return out, args, {p: p.read_bytes() for p in out.rglob("*.html")}


def _start_and_wait_for_two_reports(args: list[str]) -> tuple[subprocess.Popen, list[str], threading.Thread]:
    """A run in its own process group (as a terminal's foreground job), once two reports are done;
    its stderr lines keep arriving in the list returned until the thread returned ends."""
    command = [str(Path(sys.executable).parent / "playbook"), *args]
    # A job started in the background of a script (as a CI runner may start the tests) inherits
    # SIGINT ignored; a terminal's foreground job has it at its default, as here.
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(run.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while sum(1 for line in lines if line.startswith("[")) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert run.poll() is None, "the run finished before it could be stopped"
    return run, lines, reader


def _all_gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not [p for p in pids if _alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the run's processes")
def test_a_run_killed_with_sigkill_loses_nothing_and_the_next_run_completes(tmp_path, tiny_workspace):
    out, args, old = _first_good_run(tmp_path, tiny_workspace)

    # --force: the inputs are unchanged, and an incremental run would reuse every report.
    args.append("--force")
    run, _, _ = _start_and_wait_for_two_reports(args)
    helpers = _descendants(run.pid)
    assert helpers, "the run had started its workers"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)

    # Its workers and kernels die with it rather than writing on behind its back.
    assert _all_gone(helpers)

    # Every report path holds a whole report: the old one or a new one, never a part.
    for path, before in old.items():
        now = path.read_bytes()
        assert now == before or now.rstrip().endswith(b"</html>"), path
    index = visible_text((out / "index.html").read_text())
    assert "Alpha" in index and "Beta" in index
    json.loads((out / "manifest.json").read_text())

    again = playbook_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "6 of 6 reports ok" in again.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["status"] for e in manifest["reports"].values()} == {"rendered"}
    # Nothing a killed run left half-done stays behind: no temporary report, no kernel sockets.
    assert not list(out.rglob(".*.tmp")) and not list(out.rglob(".*.partial.ipynb"))
    sockets = [p for h in helpers for p in Path(tempfile.gettempdir()).glob(f"{IPC_PREFIX}{h}-*")]
    assert not sockets, sockets


def test_only_kernel_folders_of_dead_processes_are_removed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{IPC_PREFIX}{gone.stdout.strip()}-abc"
    live = tmp_path / f"{IPC_PREFIX}{os.getpid()}-abc"
    other = tmp_path / f"{IPC_PREFIX}notapid-abc"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "k-1").write_text("")
    assert remove_stale_kernel_folders(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()


# -- what a run may touch, a full disk, and Ctrl-C ------------------------------------------------


def _dead_pid() -> int:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(gone.stdout)


def test_a_run_removes_only_its_own_leftovers_and_says_what_else_is_there(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    out = tmp_path / "reports"
    (out / "alpha").mkdir(parents=True)
    dead = _dead_pid()
    theirs = {
        out / ".notes.tmp": "a user's hidden file",
        out / "holiday.jpg": "not a report",
        out / "alpha" / ".draft.tmp": "a user's hidden file in a team's folder",
        out / "alpha" / ".tools.partial.ipynb": "named like an old leftover, but nothing says it is ours",
        out / f".index.html.playbook-{os.getpid()}-live.tmp": "a live process's temporary file",
    }
    ours = [out / f".index.html.playbook-{dead}-abc123.tmp", out / "alpha" / f".tools.html.playbook-{dead}-x1.tmp",
            out / "alpha" / f".tools.playbook-{dead}.partial.ipynb"]
    for path, text in theirs.items():
        path.write_text(text)
    for path in ours:
        path.write_text("left by a killed run")
    def args(folder: Path) -> list[str]:
        return ["run", "--params", str(params), "--out", str(folder), "--area", "tools", "--as-of", AS_OF.isoformat()]

    run = playbook_cli(*args(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert {path: path.read_text() for path in theirs} == theirs
    assert not [path for path in ours if path.exists()]
    assert (f"warning: {out.resolve()} holds things that are not playbook reports (.notes.tmp, holiday.jpg); reports are "
            "written beside them and nothing of theirs is touched, but an empty folder of its own is safer for --out") in run.stderr
    # A folder that holds only reports draws no warning.
    clean = tmp_path / "clean"
    first = playbook_cli(*args(clean))
    second = playbook_cli(*args(clean), "--force")
    assert first.returncode == second.returncode == 0
    assert "not playbook reports" not in first.stderr + second.stderr


def _private_mount_prefix() -> list[str] | None:
    """A command prefix that runs its command in a mount namespace of its own, or None if this machine allows none."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return None
    for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
                                "mount -t tmpfs -o size=1m tmpfs \"$0\"", str(Path(tempfile.gettempdir()))],
                               capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


FULL_DISK = """
set -u
mount -t tmpfs -o size=6m tmpfs "$OUT"
"$PLAYBOOK" run --params "$PARAMS" --out "$OUT" --area tools --area feedback --as-of "$AS_OF" > "$LOG/first.out" 2> "$LOG/first.err"
echo $? > "$LOG/first.rc"
cp -a "$OUT/." "$LOG/before/"
# The disk fills up: someone else's file takes every free block.
dd if=/dev/zero of="$OUT/filler" bs=64k 2>/dev/null
"$PLAYBOOK" run --params "$PARAMS" --out "$OUT" --area tools --area feedback --as-of "$AS_OF" --force > "$LOG/full.out" 2> "$LOG/full.err"
echo $? > "$LOG/full.rc"
rm "$OUT/filler"
cp -a "$OUT/." "$LOG/after/"
"""


def test_a_full_disk_fails_the_run_clearly_and_keeps_the_last_good_reports(tmp_path, tiny_workspace):
    """The reports folder on a small file system of its own (tmpfs), filled up between two runs."""
    prefix = _private_mount_prefix()
    if prefix is None:
        pytest.skip("this machine lets no process mount a file system of its own (unshare --mount), so no disk can fill")
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    log = tmp_path / "log"
    for sub in ("before", "after"):
        (log / sub).mkdir(parents=True)
    out = tmp_path / "reports"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "LOG": str(log), "PARAMS": str(params), "AS_OF": AS_OF.isoformat(),
           "PLAYBOOK": str(Path(sys.executable).parent / "playbook")}
    subprocess.run([*prefix, "sh", "-c", FULL_DISK], env=env, timeout=600, check=True)
    assert (log / "first.rc").read_text().strip() == "0", (log / "first.out").read_text() + (log / "first.err").read_text()
    stdout, stderr = (log / "full.out").read_text(), (log / "full.err").read_text()
    assert (log / "full.rc").read_text().strip() == "1", stdout + stderr
    assert "Traceback" not in stderr
    assert f"error: could not write {out}/manifest.json: no space left on the device holding {out}" in stderr
    assert "the previous manifest.json is kept as it was" in stderr
    assert stdout.count("no space left on the device") == 2  # each report says why it failed
    # The last good reports, index and manifest are exactly as they were; nothing half-written is left.
    before, after = _checksums(log / "before"), _checksums(log / "after")
    assert {k: v for k, v in after.items() if k != LOCK} == {k: v for k, v in before.items() if k != LOCK}


LOCK = ".playbook-run.lock"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the run's processes")
def test_ctrl_c_stops_a_run_cleanly_and_records_what_finished(tmp_path, tiny_workspace):
    out, args, old = _first_good_run(tmp_path, tiny_workspace)
    args.append("--force")
    run, lines, reader = _start_and_wait_for_two_reports(args)
    helpers = _descendants(run.pid)
    # Ctrl-C in a terminal sends SIGINT to every process of the foreground group.
    os.killpg(run.pid, signal.SIGINT)
    stdout = run.stdout.read()
    assert run.wait(timeout=60) == 130
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    # Nothing else either: progress lines, then the one line that says what happened.
    assert [line for line in stderr.splitlines() if line.strip() and not line.startswith(("[", "interrupted: "))] == []
    assert "interrupted: " in stderr and "reports finished and are in the index; the others keep their last good report" in stderr
    assert _all_gone(helpers)
    manifest = json.loads((out / "manifest.json").read_text())
    stopped = [k for k, e in manifest["reports"].items() if "interrupted (Ctrl-C)" in e.get("reason", "")]
    assert stopped and len(stopped) < 6
    for path, before in old.items():
        now = path.read_bytes()
        assert now == before or now.rstrip().endswith(b"</html>"), path
    assert "  stopped  " in stdout and "the last good report (" in stdout
    again = playbook_cli(*args[:-1])
    assert again.returncode == 0 and "6 of 6 reports ok" in again.stdout, again.stdout + again.stderr


def test_a_run_never_overwrites_an_index_manifest_or_report_it_did_not_write(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body>Our wiki</body></html>")
    (site / "manifest.json").write_text('{"name": "our-package"}')
    before = _checksums(site)
    args = ["run", "--params", str(params), "--area", "tools", "--as-of", AS_OF.isoformat()]
    run = playbook_cli(*args, "--out", str(site))
    assert run.returncode == 2
    assert run.stderr.strip() == (f"error: {site} holds index.html and manifest.json that the playbook did not write; "
                                  "refusing to overwrite them: give another --out")
    assert _checksums(site) == before
    # A page of someone else's where a report would go: that report fails, the others render.
    out = tmp_path / "reports"
    (out / "alpha").mkdir(parents=True)
    (out / "alpha" / "tools.html").write_text("<html>our own tools page</html>")
    mine = _checksums(out)
    run = playbook_cli(*args, "--area", "feedback", "--out", str(out))
    assert run.returncode == 1, run.stdout + run.stderr
    assert (f"FAILED   alpha/tools  {out.resolve() / 'alpha'} holds tools.html that the playbook did not write; "
            "refusing to overwrite it: give another --out") in run.stdout
    assert "ok       alpha/feedback" in run.stdout
    assert (out / "alpha" / "tools.html").read_bytes() == b"<html>our own tools page</html>"
    assert mine.items() <= _checksums(out).items()


def test_the_run_lock_is_never_followed_through_a_link_and_permissions_are_kept(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"alpha": {"name": "Alpha", "products": ["mobile-app"]}})
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes")
    out = tmp_path / "reports"
    out.mkdir()
    (out / LOCK).symlink_to(victim)
    args = ["run", "--params", str(params), "--area", "tools", "--as-of", AS_OF.isoformat(), "--out", str(out)]
    run = playbook_cli(*args)
    assert run.returncode == 2 and "it must be a plain file of the playbook's" in run.stderr
    assert victim.read_text() == "my notes"
    (out / LOCK).unlink()
    assert playbook_cli(*args).returncode == 0
    (out / "alpha" / "tools.html").chmod(0o600)
    assert playbook_cli(*args, "--force").returncode == 0
    assert (out / "alpha" / "tools.html").stat().st_mode & 0o777 == 0o600
