"""What an ops lead sees in JupyterLab: a real JupyterLab server, started here on a free port and
stopped after, driven by a real headless Chromium. Each notebook is opened and run whole, then
its explorer is used as a person would use it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import AS_OF, ROOT, make_params
from test_browser import CHROMIUM_ARGS, _chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AREAS = ("tools", "escalations", "feedback", "communication", "experiments", "enablement")
# How long a step may take on a loaded 2-core CI machine before the test calls it stuck.
RUN_ALL_SECONDS = 40
DRAW_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tiny_workspace):
    """A project folder (the notebooks, as of the tests' day, and params pointing at the tiny
    company) served by JupyterLab on 127.0.0.1; yields (url, token, project folder)."""
    root = tmp_path_factory.mktemp("lab")
    make_params(root, tiny_workspace)
    (root / "notebooks").mkdir()
    for area in AREAS:
        nb = json.loads((ROOT / "notebooks" / f"{area}.ipynb").read_text())
        for cell in nb["cells"]:
            if "parameters" in cell["metadata"].get("tags", []):
                cell["source"] = [line.replace('as_of = ""', f'as_of = "{AS_OF.isoformat()}"') for line in cell["source"]]
        (root / "notebooks" / f"{area}.ipynb").write_text(json.dumps(nb))
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--expose-app-in-browser", "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(root / "lab.log", "w")
    # JupyterLab's saved layout goes to the test's folder, not the user's.
    env = {**os.environ, "JUPYTERLAB_WORKSPACES_DIR": str(root / ".lab-workspaces")}
    env.pop("PLAYBOOK_SCHEDULED", None)
    server = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield url, token, root
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def chromium():
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no Chromium was found; .ci/run installs Debian's `chromium`")
        pytest.skip("no Chromium on this machine (install Debian's `chromium`, or set PLAYBOOK_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _run_all(page, area: str) -> None:
    """Run every cell, as Run > Run All Cells does, and wait for the kernel to finish."""
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-NotebookPanel')", timeout=60_000)
    # A fresh JupyterLab may ask which kernel to start: the notebook's own (playbook) is preselected.
    try:
        page.locator(".jp-Dialog").get_by_role("button", name="Select").click(timeout=5_000)
    except Exception:  # noqa: BLE001 - no dialog: the kernel starts by itself
        pass
    page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator') && "
                           "!document.querySelector('.jp-Dialog') && document.body.innerText.includes('Python (playbook) | Idle')",
                           timeout=90_000)
    # The kernel is started and idle before Run All is asked for.
    page.wait_for_function("() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
                           " return s && s.getAttribute('data-status') === 'idle'; }", timeout=90_000)
    # Not awaited: the command's promise settles only when every cell has run (waited for below, with a time limit).
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
            const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)) && s && s.getAttribute('data-status') === 'idle';
        }""",
        timeout=RUN_ALL_SECONDS * 1000,
    )


def _explorer(page):
    return page.locator(".widget-vbox").filter(has=page.locator(".widget-output")).first


def _shown(page, **choice: str) -> tuple[str, str]:
    """Wait until the explorer shows ``choice`` (control -> value) and is not busy; return the
    scope line and the content of its output."""
    wanted = "".join(f'[data-{k}="{v}"]' for k, v in choice.items())
    try:
        page.wait_for_function(
            """(wanted) => {
                const out = document.querySelector('.widget-output');
                return out && !out.classList.contains('pb-stale') && out.querySelector('.pb-scope' + wanted)
                       && !document.querySelector('.pb-busy');
            }""",
            arg=wanted,
            timeout=DRAW_SECONDS * 1000,
        )
    except Exception as err:
        now = page.evaluate("""(wanted) => { const outs = document.querySelectorAll('.widget-output'); const b = document.querySelectorAll('.pb-busy');
                            return [outs.length, [...outs].map(o => o.className + ' | ' + (o.querySelector('.pb-scope') || {}).outerHTML),
                                    b.length, [...b].map(e => e.outerHTML), !!document.querySelector('.widget-output .pb-scope' + wanted)]; }""", wanted)
        raise AssertionError(f"the explorer never showed {wanted}; it shows {now}") from err
    out = page.locator(".widget-output").first
    return out.locator(".pb-scope").first.text_content(), out.inner_html()


def _dropdown(page, label: str):
    return page.locator(".widget-dropdown").filter(has=page.locator("label", has_text=label)).locator("select").first


def _options(control) -> list[str]:
    """A drop-down's options as the kernel names them (ipywidgets shows spaces as no-break spaces)."""
    return [o.replace("\xa0", " ") for o in control.locator("option").all_text_contents()]


def _choose(control, option: str) -> None:
    """Pick ``option`` (as the kernel names it) as a person would."""
    control.select_option(index=_options(control).index(option))


def _value(control) -> str:
    return control.evaluate("s => s.options[s.selectedIndex].textContent").replace("\xa0", " ")


@pytest.mark.parametrize("area", AREAS)
def test_notebook_runs_in_jupyterlab_and_its_explorer_answers_each_control(area, lab, chromium):
    url, token, root = lab
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(f"{url}/lab/tree/notebooks/{area}.ipynb?token={token}&reset", wait_until="domcontentloaded")
        _run_all(page, area)
        outputs = page.locator(".jp-OutputArea-output")
        text = " ".join(outputs.all_text_contents())
        assert "Traceback" not in text and page.locator(".pb-summary").count() == 1
        # Text is shown as written: no output holds typeset maths, and money keeps its "$".
        assert page.locator(".jp-OutputArea mjx-container, .jp-OutputArea .MathJax").count() == 0
        if area == "tools":
            assert "$" in page.locator(".pb-summary").first.text_content()
        # The runner's records are no lines a reader sees.
        assert "recorded]" not in text
        # The explorer shows its first view before any change.
        scope, before = _shown(page)
        view = _dropdown(page, "View")
        assert scope.startswith(f"{_value(view)}:")
        # Each enabled control, changed, redraws a view that differs and names the new choice.
        for label in ("View", "Period", "Team", "Product", "Segment"):
            control = _dropdown(page, label)
            if control.count() == 0 or control.is_disabled():
                continue
            options = [o for o in _options(control) if o != _value(control)]
            for option in options:
                _choose(control, option)
                scope, after = _shown(page, **{label.lower(): option})
                if after != before:
                    break
            assert after != before, f"{area}: no choice of {label} changed the view"
            before = after
        # Two quick changes: the output ends on both choices, never on the first alone.
        views = [o for o in _options(view) if not o.startswith("Rows behind")]
        target_view = views[-1] if _value(view) != views[-1] else views[0]
        period = _dropdown(page, "Period")
        quick = {"view": target_view}
        if not period.is_disabled():
            quick["period"] = next(o for o in ("last_90_days", "last_30_days") if o != _value(period))
            _choose(period, quick["period"])
        _choose(view, target_view)
        scope, _ = _shown(page, **quick)
        assert scope.startswith(f"{target_view}:")
        if "period" in quick:
            assert quick["period"].replace("_", " ") in scope
        # A drill-down shows the rows behind a figure, and Export CSV writes them.
        drills = [o for o in _options(view) if o.startswith("Rows behind")]
        _choose(view, drills[0])
        scope, html = _shown(page, view=drills[0])
        assert "pb-table" in html
        page.get_by_role("button", name="Export CSV").first.click()
        page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some(e => e.textContent.includes('Exported'))",
                               timeout=30_000)
        exported = sorted((root / "reports" / "exports").glob(f"{area}-*.csv"))
        assert exported, f"{area}: no CSV in reports/exports"
        assert errors == []
    finally:
        if os.environ.get("PLAYBOOK_LAB_SCREENSHOT"):
            page.screenshot(path=os.environ["PLAYBOOK_LAB_SCREENSHOT"].replace("{area}", area), full_page=False)
        context.close()
        # Shut the kernels down (no dialog to answer), so the next notebook does not share the CPU with an idle one.
        for session in json.load(urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10)):
            request = urllib.request.Request(f"{url}/api/sessions/{session['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(request, timeout=30)
