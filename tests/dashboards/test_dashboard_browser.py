"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

One scenario keeps the tier short (~20-40 s): Live in demo mode at 20× (HR and RMSSD change
with time), Mark, Stop, then Compare with the phase table, and every other page. Screenshots
go to the test's temporary folder.
"""

from __future__ import annotations

import errno
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _need_browser() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not importable (pip install playwright; no browser download)")
    return sync_playwright


@pytest.fixture
def dash_server() -> Iterator[Callable[[Any], str]]:
    """Serve Flask-backed Dash apps with werkzeug in a thread (not dash_thread_server)."""
    from werkzeug.serving import make_server

    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: Any) -> str:
        srv = make_server("127.0.0.1", 0, app.server, threaded=True)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        servers.append((srv, th))
        return f"http://127.0.0.1:{srv.server_port}"

    yield start
    for srv, th in servers:
        srv.shutdown()
        th.join(5)
        srv.server_close()


def test_live_demo_mark_stop_compare_and_every_page(
    tmp_path: Path, dash_server: Callable[[Any], str]
) -> None:
    sync_playwright = _need_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)

    from biofeedback.sessions.bundled import bundled_recording
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader
    from dashboards import create_app
    from dashboards.sample import populate_store

    db = tmp_path / "b.db"
    populate_store(db, 2, seed=11)
    reader = SessionReader(db)

    def no_bluetooth(timeout_s: float) -> list[Any]:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    worker = LiveWorker(
        db, recordings={"self-compassion-break": bundled_recording()}, scanner=no_bluetooth
    )
    url = dash_server(create_app(reader, worker))
    shots = tmp_path / "screens"
    shots.mkdir()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.set_default_timeout(15_000)

            page.goto(f"{url}/live")
            expect(page.locator("#live-start")).to_be_enabled()
            # No Bluetooth on the test machine: scanning must say so in one line on the page
            # (the injected scanner raises what dbus-fast raises without a system bus).
            page.click("#live-scan")
            expect(page.locator("#live-scan-error")).to_contain_text("D-Bus")
            # a negative speed is refused with the reason, and nothing starts
            page.fill("#live-speed", "-3")
            page.click("#live-start")
            expect(page.locator("#live-refused")).to_contain_text("got -3")
            expect(page.locator("#q-link")).to_have_text("no recording")
            page.fill("#live-speed", "20")
            page.click("#live-start")
            expect(page.locator("#live-refused")).to_have_count(0)  # cleared by this Start
            expect(page.locator("#q-state")).to_have_text("recording")
            hr = page.locator("#live-hr")
            expect(hr).to_have_text(re.compile(r"^\d+$"))
            expect(page.locator("#live-rmssd")).to_have_text(re.compile(r"^\d+$"))
            expect(page.locator("#q-link")).to_have_text("link: connected")
            pts = (
                "((d) => d.length ? d[0].x.length : 0)"
                "(document.querySelector('#live-tacho .js-plotly-plot').data)"
            )
            lastx = (
                "(() => {const x = document.querySelector('#live-tacho .js-plotly-plot')"
                ".data[0].x; return x[x.length - 1];})()"
            )
            page.wait_for_function(f"{pts} > 20")
            t1 = page.evaluate(lastx)
            rm1 = page.evaluate(
                "document.querySelector('#live-rmssd-graph .js-plotly-plot').data[0].y.slice()"
            )
            page.wait_for_function(f"{lastx} > {t1} + 30")  # 30 s of stream time later
            rm2 = page.evaluate(
                "document.querySelector('#live-rmssd-graph .js-plotly-plot').data[0].y.slice()"
            )
            assert rm2 != rm1, "the RMSSD chart did not change"
            page.fill("#live-mark-text", "felt calmer")
            page.press("#live-mark-text", "Enter")  # Enter marks, like the terminal
            expect(page.locator("#live-marked")).to_be_visible()
            expect(page.locator("#live-phase")).not_to_have_text("—")
            page.screenshot(path=str(shots / "dashboard-live.png"), full_page=True)
            page.click("#live-stop")
            expect(page.locator("#q-state")).to_have_text("stopped early")
            expect(page.locator("#live-outcome")).to_contain_text("Stopped early: session #3 saved")
            expect(page.locator("#q-link")).to_have_count(0)  # nothing looks connected
            expect(page.locator("#live-phase")).to_have_text("stopped early")
            expect(page.locator(".bf-alert")).to_have_count(1)  # one message: the outcome
            expect(page.locator("#summary-verdict")).to_be_visible()  # the end-of-session card
            expect(page.locator("#export-pdf")).to_have_attribute("href", "/export/3.pdf")
            link = page.locator("#live-compare-link")
            expect(link).to_be_visible()
            link.click()
            expect(page).to_have_url(re.compile(r"/compare\?ids=3$"))
            expect(page.locator("#phase-table-3")).to_be_visible()
            expect(page.locator("#phase-table-3 tbody tr").first).to_contain_text("baseline")
            expect(page.locator("#compare-fig .main-svg").first).to_be_visible()
            page.screenshot(path=str(shots / "dashboard-compare.png"), full_page=True)

            page.goto(f"{url}/sessions")
            expect(page.locator("#sess-list")).to_be_visible()
            expect(page.locator("#sess-list tbody tr")).to_have_count(3)
            page.screenshot(path=str(shots / "dashboard-sessions.png"), full_page=True)

            page.goto(f"{url}/session/1")
            expect(page.locator("#session-tacho .main-svg").first).to_be_visible()
            page.wait_for_function(
                "document.querySelector('#session-tacho .js-plotly-plot').data[0].x.length > 500"
            )
            expect(page.locator("#phase-table")).to_be_visible()
            for gid in ("session-psd", "session-poincare"):
                expect(page.locator(f"#{gid} .legend").first).to_be_visible()
                title = page.locator(f"#{gid} .gtitle").first.bounding_box()
                legend = page.locator(f"#{gid} .legend").first.bounding_box()
                assert title is not None and legend is not None
                apart = (
                    legend["y"] >= title["y"] + title["height"]
                    or title["x"] + title["width"] <= legend["x"]
                    or legend["x"] + legend["width"] <= title["x"]
                )
                assert apart, f"{gid}: legend {legend} overlaps title {title}"
            page.screenshot(path=str(shots / "dashboard-session.png"), full_page=True)

            page.goto(f"{url}/compare?ids=1,2")
            expect(page.locator("#compare-pooled")).to_be_visible()

            page.goto(f"{url}/trends")
            expect(page.locator("#trends-summary")).to_be_visible()
            page.screenshot(path=str(shots / "dashboard-trends.png"), full_page=True)

            page.goto(f"{url}/session/999")
            expect(page.locator("#session-missing")).to_contain_text("no such session")
            browser.close()
    finally:
        worker.close()
        reader.close()
    assert errors == []
