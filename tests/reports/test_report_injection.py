"""Hostile text (phase names, titles, notes, tags, device names) never becomes markup or
script in the HTML report: checked on the markup and in a real headless Chromium with a
dialog listener that must see nothing."""

from __future__ import annotations

import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from biofeedback.cli import main

from ..support.hostile import BENIGN, PAYLOADS, hostile_store

CHROMIUM = Path("/usr/bin/chromium")


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
        "hostile": _reports(hostile, hostile_store(hostile, PAYLOADS, "".join(PAYLOADS))),
        "benign": _reports(benign, hostile_store(benign, BENIGN, None)),
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
    db = hostile_store(tmp_path, PAYLOADS, "".join(PAYLOADS))
    out = tmp_path / "r.json"
    assert main(["report", "1", "--format", "json", "-o", str(out), "--db", str(db)]) == 0
    s = json.loads(out.read_text(encoding="utf-8"))["sessions"][0]
    assert (s["title"], s["notes"]) == ("".join(PAYLOADS),) * 2
    assert "".join(PAYLOADS) in s["tags"]
    assert [p["name"] for p in s["phases"]] == list(PAYLOADS)


#: Cells a spreadsheet would run as formulas (OWASP "CSV Injection"), one per first character.
FORMULAS = ("=cmd|' /C calc'!A0", "+1+cmd", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "ok")


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    import csv

    db = hostile_store(tmp_path, FORMULAS, FORMULAS[0])
    out = tmp_path / "r.csv"
    assert main(["report", "1", "2", "--format", "csv", "-o", str(out), "--db", str(db)]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        beats = list(csv.DictReader(f))
    with out.with_name("r.metrics.csv").open(encoding="utf-8", newline="") as f:
        metrics = list(csv.DictReader(f))
    texts = [r[c] for r in beats for c in ("phase", "phase_kind", "flag")]
    texts += [r[c] for r in metrics for c in ("scope", "kind", "metric", "unit")]
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]
    # The names are all there, readable, behind the one quote mark.
    assert {r["phase"] for r in beats} >= {"'" + f for f in FORMULAS[:-1]} | {"ok"}
    # Numbers stay numbers: negative differences keep their sign.
    values = [float(r["value"]) for r in metrics if r["value"]]
    assert values and any(v < 0 for v in values)
