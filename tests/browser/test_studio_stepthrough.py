"""A person stepping through the runbook in JupyterLab (as in SageMaker Studio), in a real headless Chromium.

Debian's chromium, driven by playwright through ``executable_path`` (no browser download), against JupyterLab
serving this checkout, with the project's kernel and a local stack seeded with the stygig-incident scenario.
The notebooks get the parameters a person would type (papermill's parameter injection, ``run_dir`` unset), then
01 → 05 are opened one after the other and run with Run All; they chain through the newest run of the
endpoint. Checked: no error output anywhere, the verdict card, the pictures loaded, the confirm widget; then the
endpoint name is typed, the button pressed, and the deletion report appears. Screenshots go to
``runs/browser-<id>/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import free_port
from endpoint_runbook.params import NOTEBOOKS, load_params
from endpoint_runbook.records import STEPS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Bounded waits, generous: two cores shared, TorchServe starts, the load check may build its environment once.
STEP_TIMEOUT_S = {"diagnose": 900, "rebuild_archive": 600, "deploy": 900, "verify": 600, "cleanup": 300}

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(3600)]


def _require_browser() -> None:
    missing = [what for what, ok in (("/usr/bin/chromium (apt-get install chromium)", CHROMIUM.exists()),
                                     ("playwright (pip install -e .[dev])", _importable("playwright")),
                                     ("jupyterlab (pip install -e .[dev])", _importable("jupyterlab"))) if not ok]
    if missing:
        if os.environ.get("ENDPOINT_RUNBOOK_REQUIRE_BROWSER"):
            pytest.fail("the browser test cannot run: missing " + ", ".join(missing))
        pytest.skip("missing " + ", ".join(missing))


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def browser_dir() -> Path:
    path = ROOT / "runs" / f"browser-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def incident(browser_dir):
    """Its own stack: the test deletes the broken endpoint, which other tests' shared stack still needs."""
    _require_browser()
    from endpoint_runbook.local import scenarios, stack

    state_dir = browser_dir / ".local-stack"
    info = stack.up(port=0, state_dir=state_dir, startup_timeout=180)
    try:
        scenarios.seed("stygig-incident", info.url)
        yield info
    finally:
        stack.down(state_dir)  # reads the state dir to find the stack and its containers: remove it only after
        shutil.rmtree(state_dir, ignore_errors=True)


def _person_notebooks(folder: Path, stack_url: str) -> dict[str, Path]:
    """The five notebooks with the values a person types into the parameters cell (run_dir left unset)."""
    import papermill

    params = load_params(ROOT / "params" / "local.yaml")
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for step in STEPS:
        values = dict(params[step], endpoint_url=stack_url, run_dir=None)
        if step == "deploy":  # the seed's procedure: a fixed endpoint beside the broken one, which 05 deletes
            values.update(mode="new-endpoint")
        if step == "cleanup":  # the person confirms in the widget, not in the parameters
            values.update(confirm="", dry_run=True, release_rollback=False)
        out[step] = folder / NOTEBOOKS[step]
        papermill.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[step]), str(out[step]), parameters=values,
                                   prepare_only=True, progress_bar=False)
    return out


@pytest.fixture(scope="module")
def lab(browser_dir, incident):
    """JupyterLab on loopback serving the checkout; the kernel inherits the local stack's AWS settings."""
    port, token = free_port(), uuid.uuid4().hex
    settings = browser_dir / ".lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM
    notes = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notes.parent.mkdir(parents=True)
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(browser_dir / ".lab-ws"),
               JUPYTER_RUNTIME_DIR=str(browser_dir / ".jupyter-runtime"),
               ENDPOINT_RUNBOOK_RUNS=str(browser_dir / "runs"),
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="ap-south-1")
    env.pop("ENDPOINT_RUNBOOK_HEADLESS", None)
    log = open(browser_dir / "jupyterlab.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
                             "--LabApp.expose_app_in_browser=True"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: see {browser_dir / 'jupyterlab.log'}")
                time.sleep(1)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait(page, js: str, *, timeout_s: float, what: str, poll_s: float = 2.0, fail_js: str | None = None):
    """Poll ``js`` until it is truthy; ``fail_js`` truthy first (e.g. a cell's error: Run All stops there) fails
    at once with what it returned, instead of waiting out the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if fail_js is not None and (failed := page.evaluate(fail_js)):
            raise AssertionError(f"{what}: stopped at an error: {failed[0] if isinstance(failed, list) else failed}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


_ALL_RUN = """() => {
  const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!p) return false;
  const prompts = [...p.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim());
  return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t)) ? prompts.length : false;
}"""
_ERRORS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
  .filter(e => e.getAttribute('data-mime-type') === 'application/vnd.jupyter.error'
               || e.querySelector('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.textContent.slice(0, 2000))"""
_KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.name === 'endpoint-runbook' && k.status === 'idle'; }"""


_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
_LAST_OUTPUT = f"{_PANEL} .jp-Cell:last-child"
_FOCUS = {"diagnose": f"{_PANEL} .jp-OutputArea-output:has-text('cause: ')",
          "verify": f"{_PANEL} img[src^='data:image']"}


def _shoot(page, path: Path, focus: str) -> None:
    """A screenshot with the part that matters in view (the notebook scrolls inside its panel)."""
    try:
        page.locator(focus).first.scroll_into_view_if_needed(timeout=5_000)
    except Exception:  # noqa: BLE001 - a screenshot of whatever is in view is still worth having
        pass
    page.screenshot(path=str(path))


def _reopened_untrusted(page, base: str, token: str, saved: Path) -> dict:
    """Open an executed notebook as a later reader does: untrusted (its signature no longer matches), so its
    HTML passes JupyterLab's sanitizer. Returns what the pictures look like there."""
    nb = nbformat.read(saved, as_version=4)
    nb.metadata["reopened"] = True  # another digest: not in the signature store, hence untrusted
    copy = saved.with_name("reopened-" + saved.name)
    nbformat.write(nb, copy)
    page.goto(f"{base}/lab/tree/{copy.relative_to(ROOT).as_posix()}?token={token}&reset")
    page.wait_for_selector(f"{_PANEL} img[src^='data:image']", timeout=120_000)
    time.sleep(2)
    _shoot(page, saved.parent.parent / "04_verify-reopened-untrusted.png", f"{_PANEL} img[src^='data:image']")
    return page.evaluate("""() => {
      const imgs = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) img[src^="data:image"]')];
      const tops = imgs.slice(0, 2).map(i => Math.round(i.getBoundingClientRect().top));
      return {widths: imgs.map(i => i.complete ? i.naturalWidth : 0), tops: tops,
              trusted: [...window.jupyterapp.shell.currentWidget.content.model.cells]
                         .filter(c => c.type === 'code').map(c => c.trusted)};
    }""")


def _run_all(page, base: str, token: str, rel: str, step: str, shots: Path) -> str:
    page.goto(f"{base}/lab/tree/{rel}?token={token}&reset")  # a clean workspace: only this notebook
    try:
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=120_000)
        _wait(page, _KERNEL_IDLE, timeout_s=180, what=f"the kernel of {rel} to be idle")
        # Run ▸ Run All Cells (the menu item's command).
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait(page, _ALL_RUN, timeout_s=STEP_TIMEOUT_S[step], what=f"every cell of {rel} to run", fail_js=_ERRORS)
    finally:
        _shoot(page, shots / f"{rel.rsplit('/', 1)[-1]}.png", _FOCUS.get(step, _LAST_OUTPUT))
    errors = page.evaluate(_ERRORS)
    assert not errors, f"{rel}: error output: {errors[0]}"
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    time.sleep(2)
    return page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")


def test_a_person_steps_through_01_to_05_in_jupyterlab(lab, incident, browser_dir):
    from endpoint_runbook.local.scenarios import StygigIncident
    from playwright.sync_api import sync_playwright

    base, token = lab
    names = StygigIncident()
    notebooks = _person_notebooks(browser_dir / "notebooks", incident.url)
    runs = browser_dir / "runs"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(60_000)
            texts = {}
            for step in STEPS:
                rel = notebooks[step].relative_to(ROOT).as_posix()
                texts[step] = _run_all(page, base, token, rel, step, browser_dir)
                if step == "diagnose":
                    assert "cause: missing-module" in texts[step]  # the verdict card
                    assert "started a new run" in texts[step]
                else:
                    assert "continued the newest run" in texts[step]
                if step == "verify":
                    widths = page.evaluate("""() => [...document.querySelectorAll(
                        '.jp-NotebookPanel:not(.lm-mod-hidden) img[src^="data:image"]')]
                        .map(i => i.complete ? i.naturalWidth : 0)""")
                    assert widths and all(w > 0 for w in widths), widths
                    assert "PASSED" in texts[step]
                    # Health lines are labelled by their names, not by their regular expressions.
                    shown = page.inner_text(f"{_PANEL} .jp-Cell:last-child .jp-OutputArea")
                    assert "log: catalog metadata loaded" in shown and "\\d+" not in shown, shown[:2000]
            # The confirm widget: type the endpoint name, press Delete, see the deletion report.
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            box = panel.locator("input[placeholder^='type the endpoint name']")
            button = panel.locator("button:has-text('Delete')")
            assert button.is_disabled()
            box.fill(names.endpoint)
            box.press("Tab")
            page.wait_for_function("() => { const b = [...document.querySelectorAll('button')].find("
                                   "x => x.textContent.includes('Delete')); return b && !b.disabled; }",
                                   timeout=30_000)
            button.click()
            panel.get_by_text("Cleanup done").wait_for(timeout=STEP_TIMEOUT_S["cleanup"] * 1000)
            _shoot(page, browser_dir / "05_cleanup-confirmed.png", f"{_PANEL} :text('Cleanup done')")
            report = panel.inner_text()
            assert "deleted" in report and names.endpoint in report
            # The widget's status line says what it did (it once read "Done: done" above the report).
            assert f"endpoint {names.endpoint}" in report.split("Cleanup done")[0] and "Done: done" not in report
            # Read later, untrusted: the sanitizer keeps the pictures, loaded and side by side in a row.
            later = _reopened_untrusted(page, base, token, notebooks["verify"])
            assert later["trusted"] and not any(later["trusted"]), later
            assert later["widths"] and all(w > 0 for w in later["widths"]), later
            assert len(later["tops"]) == 2 and abs(later["tops"][0] - later["tops"][1]) < 20, later  # not stacked
        finally:
            browser.close()
    # One run, continued by every step, holds every record; the confirmed cleanup recorded its report.
    run_dirs = [p for p in runs.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    run = run_dirs[0]
    assert all((run / f"{i + 1:02d}-{s}.json").is_file() for i, s in enumerate(STEPS))
    cleanup = json.loads((run / "05-cleanup.json").read_text())
    assert cleanup["status"] == "done" and not cleanup["dry_run"]
    # Deployed beside it (new-endpoint), the fix replayed the outage's failures of the broken endpoint.
    replay = json.loads((run / "04-verify.json").read_text())["replay"]
    assert replay["outage"]["endpoint"] == names.endpoint and replay["endpoint_name"] != names.endpoint
    assert replay["counts"]["input_unknown"] == 0 and replay["counts"]["served"] >= names.outage_requests, replay
    saved = [nbformat.read(notebooks[s], as_version=4) for s in STEPS]
    errors = [o for nb in saved for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors[0]
