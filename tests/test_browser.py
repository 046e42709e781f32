"""Lesson 03 in a real browser: JupyterLab + Debian's Chromium driven by Playwright.

What a learner does: open notebooks/03_ppo_clip.ipynb in JupyterLab, Run > Run All Cells, then
move the clip explorer's sliders. The test does the same on a copy of the notebooks and checks
that the loss and the "clipped" marks the widget shows are the ones the package computes
(`clip_table`, the pure function behind the widget). It moves "eps" with the keyboard (arrow
keys on the focused slider handle) and sets "log_ratio[0]" by typing into its readout.

A screenshot lands in artifacts/browser/lesson03.png. Needs /usr/bin/chromium (`make
browser-deps`): without it the test is skipped locally and fails when CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rlhf_lessons.plots.clip import clip_table

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("RLHF_LESSONS_NOTEBOOKS", ROOT / "notebooks"))
LESSON = NOTEBOOK_DIR / "03_ppo_clip.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "artifacts" / "browser" / "lesson03.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "rlhf-lessons-browser-test"
SERVER_START_S = 60  # JupyterLab answering /api/status
RUN_ALL_S = 120  # kernel start, torch import, every cell, the widget drawn
CHANGE_S = 20  # a slider move reaching the kernel and the readout redrawn


def _need_chromium():
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: install Debian's Chromium (make browser-deps)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the browser test may not be skipped)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a copy of notebooks/ (data/ linked beside it); yields its base URL."""
    work = tmp_path / "course"
    shutil.copytree(NOTEBOOK_DIR, work / "notebooks", ignore=shutil.ignore_patterns(".*"))
    if (ROOT / "data").is_dir():
        (work / "data").symlink_to(ROOT / "data")
    # no "get notified about Jupyter news?" toast over the screenshot
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        RLHF_LESSONS_THREADS="1",
    )
    log = (tmp_path / "jupyterlab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}", "--PasswordIdentityProvider.hashed_password=",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "JupyterLab did not start:\n"
                    + (tmp_path / "jupyterlab.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def _slider(page, panel, description: str):
    """The ipywidgets slider whose description label reads `description`."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(description)}$"))
    return panel.locator(".widget-slider", has=label).first


def _num(text: str) -> float:
    """A number as a widget shows it (ipywidgets' readouts write minus as U+2212)."""
    return float(text.strip().replace("\u2212", "-"))


def _shown(panel) -> tuple[str, list[bool], list[float], list[float], float]:
    """What the readout shows: loss text, clipped marks, log_ratios, advantages, eps."""
    loss = panel.locator(".rlhf-loss").first.inner_text().strip()
    rows = panel.locator("tr.rlhf-sample")
    clipped, log_ratios, advantages = [], [], []
    for i in range(rows.count()):
        row = rows.nth(i)
        clipped.append(row.get_attribute("data-clipped") == "true")
        log_ratios.append(_num(row.locator(".rlhf-log-ratio").inner_text()))
        advantages.append(_num(row.locator(".rlhf-advantage").inner_text()))
    eps_text = panel.locator(".rlhf-clip-explorer").first.inner_text()
    eps = float(re.search(r"eps=([0-9.eE+-]+)\)", eps_text).group(1))
    return loss, clipped, log_ratios, advantages, eps


def _settle(page, panel, before: str) -> str:
    """Wait until the readout shows a new loss *and* the values the sliders now show (every
    slider move is a round trip to the kernel; key presses may still be on their way)."""
    deadline = time.monotonic() + CHANGE_S
    seen = None
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        shown = _shown(panel)
        sliders = {
            name: _slider(page, panel, name).locator(".widget-readout").first.inner_text()
            for name in ("eps", *(f"log_ratio[{i}]" for i in range(len(shown[2]))))
        }
        eps_ok = f"{shown[4]:.3g}" == f"{_num(sliders.pop('eps')):.3g}"
        lr_ok = all(abs(_num(v) - lr) < 1e-9 for v, lr in zip(sliders.values(), shown[2]))
        if shown[0] != before and eps_ok and lr_ok:
            if shown == seen:  # the same twice in a row: settled
                return shown[0]
            seen = shown
    raise AssertionError(
        f"the readout did not settle within {CHANGE_S} s after moving a slider "
        f"(loss before {before}, now {_shown(panel)})"
    )


def _assert_matches_package(panel, where: str):
    loss, clipped, log_ratios, advantages, eps = _shown(panel)
    expected = clip_table(log_ratios, advantages, eps)
    assert abs(_num(loss) - expected["loss"]) <= 1e-4, (
        f"{where}: the widget shows loss {loss}, clip_table({log_ratios}, {advantages}, "
        f"eps={eps}) gives {expected['loss']:.4f}"
    )
    assert clipped == expected["clipped"], (
        f"{where}: the widget marks {clipped} as clipped, clip_table gives {expected['clipped']}"
    )
    return loss, clipped, log_ratios, advantages, eps


def test_lesson03_clip_explorer_in_jupyterlab(jupyterlab):
    _need_chromium()
    if not LESSON.exists():
        pytest.skip(f"{LESSON} is not built yet")
    from playwright.sync_api import sync_playwright

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = None
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(RUN_ALL_S * 1000)
            page.goto(f"{jupyterlab}/lab/tree/notebooks/{LESSON.name}?reset&token={TOKEN}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            # wait for the kernel before running (JupyterLab shows "Idle" in the status bar)
            page.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for()

            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()

            panel = page.locator(".rlhf-clip-explorer-panel").first
            panel.locator(".rlhf-loss").wait_for()
            panel.scroll_into_view_if_needed()
            page.set_default_timeout(CHANGE_S * 1000)

            # 1. as run: the seed's batch, eps = 0.2
            loss0, clipped0, *_ = _assert_matches_package(panel, "after Run All")
            seed = clip_table([0.1, 0.3, -0.1, 0.5], [1.0, 0.5, 0.8, 2.0], 0.2)
            assert loss0 == f"{seed['loss']:.4f}", f"as run, the widget shows loss {loss0}"

            # 2. eps up with the keyboard: ArrowRight on the focused slider handle
            handle = _slider(page, panel, "eps").locator(".noUi-handle").first
            handle.focus()
            for _ in range(30):  # 30 log-steps of 0.01: eps x 10**0.3, about 0.4
                handle.press("ArrowRight")
            loss1 = _settle(page, panel, loss0)
            _, clipped1, _, _, eps1 = _assert_matches_package(panel, "after moving eps")
            assert eps1 > 0.3, f"30 ArrowRight presses moved eps only to {eps1}"
            assert clipped1 != clipped0, f"eps={eps1} should unclip sample 1 (ratio 1.35)"

            # 3. log_ratio[0] = 2: type into the slider's readout
            readout = _slider(page, panel, "log_ratio[0]").locator(".widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            _settle(page, panel, loss1)
            _, clipped2, log_ratios2, _, _ = _assert_matches_package(
                panel, "after setting log_ratio[0]"
            )
            assert log_ratios2[0] == 2.0, f"log_ratio[0] shows {log_ratios2[0]}, typed 2"
            assert clipped2[0], "ratio e^2 with A > 0 must be clipped"
        except Exception:
            if page is not None:  # what the page looked like when it failed
                page.screenshot(path=str(SCREENSHOT.with_suffix(".failed.png")))
                SCREENSHOT.with_suffix(".failed.html").write_text(page.content())
            raise
        else:
            page.screenshot(path=str(SCREENSHOT))
            for stale in (".failed.png", ".failed.html"):  # from an earlier failing run
                SCREENSHOT.with_suffix(stale).unlink(missing_ok=True)
        finally:
            browser.close()
