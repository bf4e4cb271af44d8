"""Practice mode on the Live page in real Chromium: a phone held by someone meditating, in
the dark theme, and the theme's colour contrast computed from the stylesheet.

One demo run at 20× drives everything a person sees: before Start (empty charts without
axes), while recording (thin bar, prompt and the large figure on the first screen, no
toolbar, m:ss ticks, phase boundaries, coherence warm-up), and the greyed end. Screenshots
are written to the test's temporary folder.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.test_dashboard_browser import (
    CHROMIUM,
    LAUNCH_ARGS,
    _need_browser,
    dash_server,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

#: Text/background pairs (WCAG AA 4.5:1) and graphics/background pairs (3:1) of the theme.
TEXT_PAIRS = [
    ("--fg", "--bg"),
    ("--fg", "--card"),
    ("--muted", "--bg"),
    ("--muted", "--card"),
    ("--muted", "--strip"),
    ("--ok", "--ok-bg"),
    ("--warn", "--warn-bg"),
    ("--bad", "--bad-bg"),
    ("--done", "--done-bg"),
    ("--on-accent", "--accent"),
    ("--nav-fg", "--nav"),
    ("--fg", "--alert"),
    ("--fg", "--alert-info"),
    ("--fg", "--alert-bad"),
    ("--accent", "--card"),  # links
]
GRAPHIC_PAIRS = [("--rmssd", "--card"), ("--accent", "--bg"), ("--input-line", "--card")]

CONTRAST_JS = """
(pairs) => {
  const css = getComputedStyle(document.documentElement);
  const probe = document.createElement("div");
  document.body.appendChild(probe);
  const rgb = (name) => {
    probe.style.color = css.getPropertyValue(name).trim();
    const m = getComputedStyle(probe).color.match(/[\\d.]+/g).map(Number);
    return m.slice(0, 3);
  };
  const lum = (c) => {
    const l = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  };
  const out = {};
  for (const [a, b] of pairs) {
    const la = lum(rgb(a)), lb = lum(rgb(b));
    out[a + " on " + b] = (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  probe.remove();
  return out;
}
"""


def _contrast(page: Any, pairs: list[tuple[str, str]]) -> dict[str, float]:
    return dict(page.evaluate(CONTRAST_JS, [list(p) for p in pairs]))


def test_practice_mode_on_a_phone_in_the_dark(
    tmp_path: Path,
    dash_server: Callable[[Any], str],  # noqa: F811
) -> None:
    sync_playwright = _need_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    from biofeedback.sessions.bundled import bundled_recording
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader, Store
    from dashboards import create_app

    db = tmp_path / "p.db"
    Store(db).close()
    reader = SessionReader(db)

    def no_bluetooth(timeout_s: float) -> list[Any]:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    worker = LiveWorker(db, recordings={"scb": bundled_recording()}, scanner=no_bluetooth)
    url = dash_server(create_app(reader, worker))
    shots = tmp_path / "screens"
    shots.mkdir()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            ctx = browser.new_context(viewport=PHONE, color_scheme="dark", has_touch=True)
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(f"{url}/live")
            # the document says its language and names the page
            assert page.evaluate("document.documentElement.lang") == "en"
            expect(page).to_have_title("Live · biofeedback")
            expect(page.locator(".bf-nav a[aria-current=page]")).to_have_text("Live")
            # the dark theme follows the system, and its colours pass WCAG AA
            bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert bg == "rgb(15, 20, 23)", bg
            expect(page.locator("#theme-toggle")).to_have_text("Dark theme: on")
            dark_text = _contrast(page, TEXT_PAIRS)
            dark_graphics = _contrast(page, GRAPHIC_PAIRS)
            # empty charts: no axes, no −1…6 ticks, only what they wait for
            expect(page.locator("#live-tacho")).to_contain_text("Waiting for the first beats")
            expect(page.locator("#live-tacho .xtick")).to_have_count(0)
            expect(page.locator("#live-tacho .ytick")).to_have_count(0)
            expect(page.locator(".modebar")).to_have_count(0)  # no toolbar on a phone
            for label in ("#live-speed", "#live-strap", "#live-bpm"):
                # every control has a label a screen reader can read
                assert page.evaluate(f"document.querySelector('{label}').labels.length"), label
            page.screenshot(path=str(shots / "phone-dark-idle.png"))

            page.fill("#live-speed", "20")
            page.click("#live-start")
            expect(page.locator("#q-state")).to_have_text("recording")
            # practice mode: setup gone, the thin bar has Mark, Stop, sound, full screen
            expect(page.locator("#live-start")).to_be_hidden()
            for bid in ("#live-mark", "#live-stop", "#live-sound", "#live-fullscreen"):
                expect(page.locator(bid)).to_be_visible()
            expect(page.locator("#live-sound")).to_have_text("Sound: off")  # off by default
            expect(page.locator("#live-rmssd")).to_have_text(re.compile(r"^\d+$"))
            expect(page.locator("#live-vs")).to_contain_text("measuring this session's baseline")
            expect(page.locator("#live-coh-sub")).to_contain_text("warming up")
            # the prompt and the large figure come first: on the phone's first screen
            page.wait_for_function(
                "document.querySelectorAll('#live-rmssd-graph .xtick').length > 0"
            )
            for sel in ("#live-phase", "#live-rmssd", "#live-rmssd-graph .main-svg"):
                box = page.locator(sel).first.bounding_box()
                assert box is not None and box["y"] + box["height"] <= PHONE["height"], sel
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], sel
            ticks = page.evaluate(
                "Array.from(document.querySelectorAll('#live-rmssd-graph .xtick text'))"
                ".map(e => e.textContent)"
            )
            assert ticks and all(re.fullmatch(r"\d+:\d\d", t) for t in ticks), ticks
            # the baseline phase ends at 3:00: a boundary, a settled baseline and the chime
            page.wait_for_function(
                "document.querySelector('#live-phase').textContent.startsWith('mindfulness')",
                timeout=30_000,
            )
            expect(page.locator("#live-vs")).to_contain_text("vs this session's baseline")
            shapes = page.evaluate(
                "document.querySelector('#live-tacho .js-plotly-plot').layout.shapes"
                ".filter(s => s.type === 'line').length"
            )
            assert shapes >= 2, "phase boundaries missing on the live tachogram"
            expect(page.locator("#live-coh")).to_have_text(re.compile(r"^\d+\.\d$"))
            expect(page.locator("#live-br-sub")).to_contain_text("breaths/min from HRV")
            page.screenshot(path=str(shots / "phone-dark-practice.png"))
            # sound: on when asked, remembered across a reload; theme: switchable, remembered
            page.click("#live-sound")
            expect(page.locator("#live-sound")).to_have_text("Sound: on")
            page.click("#theme-toggle")
            expect(page.locator("#theme-toggle")).to_have_text("Dark theme: off")
            light_text = _contrast(page, TEXT_PAIRS)
            light_graphics = _contrast(page, GRAPHIC_PAIRS)
            page.click("#live-stop")
            expect(page.locator("#q-state")).to_have_text("stopped early")
            # a tab opened later shows the run as ended, greyed, with the choices remembered
            page.reload()
            expect(page.locator("#q-state")).to_have_text("stopped early")
            expect(page.locator("#q-link")).to_have_count(0)
            expect(page.locator("#live-start")).to_be_visible()  # setup back after the end
            expect(page.locator("#live-phase")).to_have_text("stopped early")
            expect(page.locator("#live-speed")).to_have_value("20")
            expect(page.locator("#theme-toggle")).to_have_text("Dark theme: off")
            bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert bg == "rgb(250, 250, 250)", bg
            assert page.evaluate("localStorage.getItem('bf-sound')") == "1"
            page.screenshot(path=str(shots / "phone-light-ended.png"), full_page=True)
            # Compare on the phone: each phase a card, every value labelled and on screen
            page.click("#live-compare-link")
            expect(page.locator("#phase-table-1")).to_be_visible()
            expect(page.locator("#phase-table-1 thead")).to_be_hidden()
            cell = page.locator("#phase-table-1 tbody tr").first.locator("td").last
            expect(cell).to_have_attribute("data-label", re.compile(r"\S"))
            for td in page.locator("#phase-table-1 tbody tr").first.locator("td").all():
                box = td.bounding_box()
                assert box is not None and box["x"] + box["width"] <= PHONE["width"] + 0.5
            page.screenshot(path=str(shots / "phone-compare-cards.png"), full_page=True)
            browser.close()
    finally:
        worker.close()
        reader.close()
    assert errors == []
    for theme, ratios, floor in (
        ("dark", dark_text, 4.5),
        ("light", light_text, 4.5),
        ("dark", dark_graphics, 3.0),
        ("light", light_graphics, 3.0),
    ):
        low = {k: round(v, 2) for k, v in ratios.items() if v < floor}
        assert not low, f"{theme} theme below {floor}:1: {low}"
