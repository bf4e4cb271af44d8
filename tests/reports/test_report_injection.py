"""Hostile text (phase names, titles, notes, tags, device names) never becomes markup or
script in the HTML report: checked on the markup and in a real headless Chromium with a
dialog listener that must see nothing."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from biofeedback.cli import main
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo

CHROMIUM = Path("/usr/bin/chromium")

#: One payload per vector; each would open a dialog (alert) if it became markup or script.
PAYLOADS = (
    "<script>alert('script-tag')</script>",
    "<img src=x onerror=alert('img-onerror')>",
    "</script><script>alert('script-close')</script>",
    "<a href=\"javascript:alert('js-link')\">click</a>",
    "\"><svg onload=alert('attr-break')>",
    "'><iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<b onmouseover=alert('hover')>bold</b><br>",
)
BENIGN = tuple(f"phase {i}" for i in range(len(PAYLOADS)))


def _capture(path: Path, names: tuple[str, ...], device: str) -> Path:
    """A seeded 0.25 Hz RSA-like RR series, one phase of 100 s per name in the header."""
    rng = random.Random(15)
    kinds = ["baseline"] + ["practice"] * (len(names) - 2) + ["recovery"]
    phases = [
        {"name": n, "kind": k, "start_s": 100.0 * i, "duration_s": 100.0}
        for i, (n, k) in enumerate(zip(names, kinds, strict=True))
    ]
    header = CaptureHeader(
        DeviceInfo(name=device, address="00:11", model=device),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests", notes=PAYLOADS[0]),
        extra={"protocol": "hostile", "phases": phases},
    )
    end_s = 100.0 * len(names)
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        t = 0.0
        while t < end_s:
            rr = 900.0 + 60.0 * math.sin(2 * math.pi * 0.25 * t) + rng.gauss(0.0, 15.0)
            t += rr / 1000.0
            ticks = round(rr * 1.024)
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(66, [ticks])))
    return path


def _store(tmp: Path, names: tuple[str, ...], text: str | None) -> Path:
    """Two imported sessions; titles, tags and notes are ``text`` (or plain words)."""
    db = tmp / "s.db"
    for i in (1, 2):
        cap = _capture(tmp / f"c{i}.jsonl", names, text or "Polar H10")
        title = text or f"session {i}"
        tags = ["--tag", text or "plain", "--tag", "=1+2"]
        assert main(["import", str(cap), "--db", str(db), "--title", title, *tags]) == 0
        assert main(["session", "note", str(i), text or "a note", "--db", str(db)]) == 0
    return db


def _reports(tmp: Path, db: Path) -> dict[str, Path]:
    out = {"one": tmp / "one.html", "two": tmp / "two.html"}
    assert main(["report", "1", "--format", "html", "-o", str(out["one"]), "--db", str(db)]) == 0
    assert (
        main(["report", "1", "2", "--format", "html", "-o", str(out["two"]), "--db", str(db)]) == 0
    )
    return out


class _Markup(HTMLParser):
    """Counts elements and collects event-handler attributes and script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for k, v in attrs:
            if k.startswith("on") or (v or "").strip().lower().startswith("javascript:"):
                self.bad.append(f"<{tag} {k}={v!r}>")


def _markup(path: Path) -> _Markup:
    p = _Markup()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    hostile = tmp_path_factory.mktemp("hostile")
    benign = tmp_path_factory.mktemp("benign")
    return {
        "hostile": _reports(hostile, _store(hostile, PAYLOADS, "".join(PAYLOADS))),
        "benign": _reports(benign, _store(benign, BENIGN, None)),
    }


@pytest.mark.parametrize("which", ["one", "two"])
def test_hostile_text_adds_no_element_or_handler(
    reports: dict[str, dict[str, Path]], which: str
) -> None:
    hostile, benign = _markup(reports["hostile"][which]), _markup(reports["benign"][which])
    assert hostile.bad == []
    # Same document structure as with plain names: nothing in the text became an element
    # (a `</script>` in a figure's JSON would end the script and add elements after it).
    assert hostile.tags == benign.tags
    text = reports["hostile"][which].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;script-tag&#x27;)&lt;/script&gt;" in text  # shown as text


@pytest.mark.browser
@pytest.mark.parametrize("which", ["one", "two"])
def test_hostile_report_fires_no_dialog_in_chromium(
    reports: dict[str, dict[str, Path]], which: str
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    path = reports["hostile"][which]
    dialogs: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()

            def on_dialog(d: object) -> None:
                dialogs.append(d.message)  # type: ignore[attr-defined]
                d.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1",
                timeout=20000,
            )
            page.wait_for_timeout(500)
            # What a dialog listener cannot see: handlers or script URLs waiting for a hover
            # or a click.
            found = page.evaluate(
                """() => {
                    const bad = [];
                    for (const el of document.querySelectorAll('*')) {
                        for (const a of el.attributes) {
                            const v = (a.value || '').trim().toLowerCase();
                            if (a.name.startsWith('on') || v.startsWith('javascript:'))
                                bad.push(el.tagName + ' ' + a.name);
                        }
                    }
                    return bad;
                }"""
            )
            shown = page.evaluate("document.body.innerText")
        finally:
            browser.close()
    assert dialogs == []
    assert found == []
    assert errors == []
    assert "<img src=x onerror=alert('img-onerror')>" in shown  # visible as text, harmless


def test_json_export_keeps_hostile_text_verbatim(tmp_path: Path) -> None:
    db = _store(tmp_path, PAYLOADS, "".join(PAYLOADS))
    out = tmp_path / "r.json"
    assert main(["report", "1", "--format", "json", "-o", str(out), "--db", str(db)]) == 0
    s = json.loads(out.read_text(encoding="utf-8"))["sessions"][0]
    assert (s["title"], s["notes"]) == ("".join(PAYLOADS),) * 2
    assert "".join(PAYLOADS) in s["tags"]
    assert [p["name"] for p in s["phases"]] == list(PAYLOADS)
