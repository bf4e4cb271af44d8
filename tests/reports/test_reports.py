"""Reports and exports on the committed self-compassion-break recording.

The recording is replayed into a temporary store through the real pipeline (capture replay →
`SessionRecorder` → `Store`), then exported. Checks are structural and round-trips (export →
our own readers → same beats and metrics), never byte-for-byte. The HTML is rendered in a
headless Chromium with the network blocked; the PDF is rasterised with pdftoppm. Tools that
are missing skip their test with the reason.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from biofeedback.cli import main as cli_main
from biofeedback.files import read_rr
from biofeedback.hrv import analyze_rr
from biofeedback.reports import render, write_report
from biofeedback.reports.csv_export import BEATS_COLUMNS, metrics_path_for
from biofeedback.reports.json_export import load_schema, report_json
from biofeedback.reports.kubios import format_rr_ms
from biofeedback.reports.model import ReportBundle, build_report
from biofeedback.reports.pdf import find_chromium
from biofeedback.sessions.compare import compare_sessions
from biofeedback.sessions.compare_json import comparison_to_json
from biofeedback.sessions.protocols import load_protocol
from biofeedback.sessions.recorder import SessionRecorder
from biofeedback.sessions.store import NewSession, SessionReader, Store
from devices.clock import VirtualClock
from devices.replay import CaptureReplaySource

REPO = Path(__file__).resolve().parents[2]
CAPTURE = REPO / "recordings" / "self-compassion-break.jsonl"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _replay_into(db: Path, title: str) -> int:
    src = CaptureReplaySource(CAPTURE)
    started = dt.datetime.fromisoformat(src.capture.header.started_at).timestamp()
    clock = VirtualClock(wall_start_s=started)
    src = CaptureReplaySource(src.capture, clock=clock)
    with Store(db, clock=clock) as store:
        writer = store.begin_session(
            NewSession(
                source="replay",
                protocol="self-compassion-break",
                device=src.info,
                title=title,
                started_at=started,
            )
        )
        rec = SessionRecorder(src, writer, load_protocol("self-compassion-break"), clock)
        return asyncio.run(rec.run()).session_id


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "store.db"
    _replay_into(path, "Self-compassion break")
    _replay_into(path, "Second session")
    return path


@pytest.fixture(scope="module")
def reader(db: Path):  # type: ignore[no-untyped-def]
    r = SessionReader(db)
    yield r
    r.close()


@pytest.fixture(scope="module")
def bundle(reader: SessionReader) -> ReportBundle:
    return build_report(reader, [1], now=NOW)


@pytest.fixture(scope="module")
def bundle2(reader: SessionReader) -> ReportBundle:
    return build_report(reader, [1, 2], now=NOW)


# ---------------------------------------------------------------------------- model


def test_report_model_matches_store_and_protocol(bundle: ReportBundle, reader: SessionReader):
    rep = bundle.sessions[0]
    proto = load_protocol("self-compassion-break")
    assert [p.name for p in rep.phases] == [ph.name for ph in proto.phases]
    beats = reader.beats(1)
    assert len(rep.beats) == len(beats) == rep.info.n_beats > 0
    assert sum(p.n_beats for p in rep.phases) == len(beats)  # every beat in one phase
    # The recording has one link loss; it must show up as a gap with the stored times.
    links = reader.link_events(1)
    down = links.loc[links["state"] == "disconnected", "t_s"].tolist()
    assert [a for a, _ in rep.gaps] == down
    # Flags are the whole-session analysis's artefacts, beat for beat.
    assert int(rep.artefact.sum()) == rep.overall.artifacts.count
    assert rep.verdict  # compare's verdict, in words


# ---------------------------------------------------------------------------- JSON


def test_json_validates_against_schema_and_round_trips(
    bundle: ReportBundle, reader: SessionReader, tmp_path: Path
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "s.json"
    render(bundle, "json", out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["schema_version"] == 1
    s = doc["sessions"][0]
    beats = reader.beats(1)
    np.testing.assert_array_equal(s["beats"]["rr_ms"], beats["rr_ms"].to_numpy())
    np.testing.assert_array_equal(s["beats"]["t_s"], beats["t_s"].to_numpy())
    assert s["beats"]["segment"] == beats["segment"].tolist()
    # Re-analysing the exported beats gives the exported metrics (same numbers, not close).
    again = analyze_rr(
        np.array(s["beats"]["rr_ms"]),
        t_s=np.array(s["beats"]["t_s"]),
        segment=np.array(s["beats"]["segment"], dtype=np.int64),
    )
    for k, v in again.to_json_dict()["metrics"].items():
        assert s["metrics"][k] == (None if v is None or not np.isfinite(v) else v), k
    assert [p["name"] for p in s["phases"]] == [p.name for p in bundle.sessions[0].phases]
    assert s["differences"] and all(d["contrast"].endswith("-baseline") for d in s["differences"])
    # One serializer: the report's differences are compare --json's, minus n_windows.
    cmp = comparison_to_json(compare_sessions(reader, [1]))["sessions"][0]["differences"]
    assert s["differences"] == [{k: v for k, v in d.items() if k != "n_windows"} for d in cmp]
    assert all(len(d["n_windows"]) == 2 for d in cmp)
    # The schema is strict enough to catch a broken document.
    bad = json.loads(json.dumps(doc))
    bad["sessions"][0]["metrics"]["RMSSD_ms"] = "42"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(bad)


# ---------------------------------------------------------------------------- CSV


def test_csv_beats_and_metrics(bundle2: ReportBundle, reader: SessionReader, tmp_path: Path):
    out = tmp_path / "beats.csv"
    written = render(bundle2, "csv", out)
    assert written == [out, metrics_path_for(out)]
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0].keys()) == BEATS_COLUMNS
    for sid in (1, 2):
        b = reader.beats(sid)
        mine = [r for r in rows if r["session_id"] == str(sid)]
        assert len(mine) == len(b)
        np.testing.assert_array_equal([float(r["rr_ms"]) for r in mine], b["rr_ms"].to_numpy())
        np.testing.assert_array_equal([float(r["t_s"]) for r in mine], b["t_s"].to_numpy())
        assert [int(r["rr_1024"]) for r in mine] == b["rr_1024"].astype(int).tolist()
        assert [r["phase"] for r in mine] == b["phase"].tolist()
    rep = bundle2.sessions[0]
    flags = [r["flag"] for r in rows if r["session_id"] == "1"]
    assert sum(f != "" for f in flags) == rep.overall.artifacts.count
    m = list(csv.DictReader(io.StringIO(metrics_path_for(out).read_text(encoding="utf-8"))))
    rmssd = next(
        r
        for r in m
        if r["session_id"] == "1" and r["scope"] == "session" and r["metric"] == "RMSSD_ms"
    )
    assert float(rmssd["value"]) == rep.overall.metrics["RMSSD_ms"]
    diffs = [r for r in m if r["kind"] == "difference" and r["session_id"] == "1"]
    assert len(diffs) == len(rep.comparison.differences)
    # a difference is in its metric's unit (lnRMSSD: a log ratio, no unit)
    units = {r["metric"]: r["unit"] for r in diffs}
    assert units == {"MeanHR_bpm": "bpm", "RMSSD_ms": "ms", "lnRMSSD": ""}


# ---------------------------------------------------------------------------- Kubios


def test_kubios_round_trip_through_rr_reader_and_import(
    bundle: ReportBundle, reader: SessionReader, tmp_path: Path
) -> None:
    out = tmp_path / "session1_rr.txt"
    render(bundle, "kubios", out)
    text = out.read_text(encoding="ascii")
    assert "kubios" not in text.lower()  # no header: Kubios default import, rr_io's plain path
    lines = text.splitlines()
    beats = reader.beats(1)
    assert len(lines) == len(beats)
    assert all(re.fullmatch(r"\d+(\.\d{1,7})?", ln) for ln in lines)
    series = read_rr(out)
    np.testing.assert_array_equal(series.rr_ms, beats["rr_ms"].to_numpy())  # lossless
    # The CLI's path (straight from the store, no analysis) writes the same file.
    direct = tmp_path / "direct.txt"
    write_report(reader, [1], "kubios", direct)
    assert direct.read_text(encoding="ascii") == text
    # Through the `import` command's RR path into a fresh store: same beats again.
    import importlib

    imp = importlib.import_module("biofeedback.cli.import_")
    db2 = tmp_path / "reimport.db"
    with Store(db2) as store:
        sid = imp.import_rr(out, store, title="re-imported", tags=())
    with SessionReader(db2) as r2:
        back = r2.beats(sid)
    np.testing.assert_array_equal(back["rr_ms"].to_numpy(), beats["rr_ms"].to_numpy())
    # Gaps are joined in this format: time-domain metrics of the joined series agree.
    a = analyze_rr(beats["rr_ms"].to_numpy()).metrics
    b = analyze_rr(back["rr_ms"].to_numpy()).metrics
    assert a["RMSSD_ms"] == b["RMSSD_ms"] and a["SDNN_ms"] == b["SDNN_ms"]
    assert format_rr_ms(839 * 1000 / 1024) == "819.3359375"


def test_kubios_refuses_several_sessions(bundle2: ReportBundle, tmp_path: Path) -> None:
    from biofeedback.errors import UserError

    with pytest.raises(UserError, match="holds one session"):
        render(bundle2, "kubios", tmp_path / "x.txt")


# ---------------------------------------------------------------------------- HTML


def _plotly_calls(page: str) -> int:
    return len(re.findall(r"Plotly\.newPlot\(", page))


def test_html_is_self_contained_with_all_sections(bundle: ReportBundle, tmp_path: Path):
    out = tmp_path / "r.html"
    render(bundle, "html", out)
    page = out.read_text(encoding="utf-8")
    # plotly.js embedded exactly once; four figures (tachogram, RMSSD, Poincaré, PSD).
    assert len(re.findall(r"plotly\.js v\d+\.\d+\.\d+", page)) == 1
    assert _plotly_calls(page) == 4
    for needle in (
        'id="tachogram-1"',
        'id="rmssd-1"',
        'id="poincare-1"',
        'id="psd-1"',
        "Metrics per phase",
        "Differences from the baseline",
        "Methods and settings",
        "Lipponen &amp; Tarvainen",
        "Circulation 93:1043",
        "not a diagnosis",
        "Polar H10",
        "self-compassion-break",
    ):
        assert needle in page, needle
    # No resource is fetched from the network: no src/href to http(s) in our markup.
    ours = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)=["']https?://""", ours)


def test_html_multi_session_has_comparison(bundle2: ReportBundle, tmp_path: Path) -> None:
    out = tmp_path / "m.html"
    render(bundle2, "html", out)
    page = out.read_text(encoding="utf-8")
    assert "Comparison across sessions" in page
    assert _plotly_calls(page) == 1 + 2 * 4
    assert len(re.findall(r"plotly\.js v\d+\.\d+\.\d+", page)) == 1


@pytest.mark.browser
def test_html_renders_offline_in_chromium(bundle: ReportBundle, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium/Chrome on PATH")
    out = tmp_path / "r.html"
    render(bundle, "html", out)
    external: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe)
        page = browser.new_page()

        def guard(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if url.startswith(("file:", "data:", "blob:")):
                route.continue_()  # type: ignore[attr-defined]
            else:
                external.append(url)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", guard)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=20000
        )
        n_plots = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        # The tachogram's RR trace holds all beats (plus None breaks at gaps).
        n_rr = page.evaluate(
            "document.getElementById('tachogram-1').data[0].y.filter(v => v !== null).length"
        )
        browser.close()
    assert external == [] and errors == []
    assert n_plots == 4
    assert n_rr == len(bundle.sessions[0].beats)


# ---------------------------------------------------------------------------- PDF


def _pdf_pages(pdf: Path, tmp: Path) -> list[np.ndarray]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(pdf), str(tmp / "pg")], check=True)
    pages = []
    for f in sorted(tmp.glob("pg-*.pgm")):
        raw = f.read_bytes()
        # binary PGM: "P5\n<w> <h>\n<max>\n" then bytes
        m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", raw)
        assert m is not None
        w, h = int(m.group(1)), int(m.group(2))
        pages.append(np.frombuffer(raw[m.end() :], dtype=np.uint8)[: w * h].reshape(h, w))
    return pages


@pytest.mark.parametrize(("paper", "size_pt"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_pdf_pages_paper_and_fonts(
    bundle: ReportBundle, tmp_path: Path, paper: str, size_pt: tuple[int, int]
) -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium/Chrome for PDF printing")
    out = tmp_path / f"r-{paper}.pdf"
    render(bundle, "pdf", out, paper=paper)
    assert out.read_bytes()[:5] == b"%PDF-"
    pages = _pdf_pages(out, tmp_path)
    assert len(pages) >= 3
    for img in pages:
        h, w = img.shape
        # 30 dpi: points × 30/72, within a pixel of rounding.
        assert abs(w - size_pt[0] * 30 / 72) <= 1.5 and abs(h - size_pt[1] * 30 / 72) <= 1.5
        assert float(img.std()) > 5.0  # not blank
    # Figures were drawn by plotly before printing (not empty boxes): their axis titles
    # are SVG text, so they appear in the PDF's text layer only if the plots rendered.
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        for label in ("RR tachogram", "RR (ms)", "Rolling RMSSD", "NN(n+1) (ms)", "PSD (ms²/Hz)"):
            assert label in text, label
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True).stdout
        rows = fonts.splitlines()[2:]
        assert rows, "no fonts in the PDF"
        assert all(r.split()[-5] == "yes" for r in rows), fonts  # 'emb' column


def test_pdf_several_sessions(bundle2: ReportBundle, bundle: ReportBundle, tmp_path: Path):
    if find_chromium() is None:
        pytest.skip("no Chromium/Chrome for PDF printing")
    one, two = tmp_path / "one.pdf", tmp_path / "two.pdf"
    render(bundle, "pdf", one)
    render(bundle2, "pdf", two)
    d1, d2 = tmp_path / "a", tmp_path / "b"
    d1.mkdir()
    d2.mkdir()
    assert len(_pdf_pages(two, d2)) > len(_pdf_pages(one, d1))


# ---------------------------------------------------------------------------- CLI


def test_cli_report_errors_exit_2(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "r.json"
    assert cli_main(["report", "1", "--db", str(db), "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["sessions"][0]["id"] == 1
    capsys.readouterr()

    def err(*argv: str) -> str:
        assert cli_main(["report", *argv, "--db", str(db)]) == 2
        e = capsys.readouterr().err.strip()
        assert len(e.splitlines()) == 1
        return e

    assert "already exists" in err("1", "--format", "json", "-o", str(out))
    assert "no session with id 99" in err("99", "--format", "json", "-o", str(tmp_path / "n.json"))
    assert "does not exist" in err("1", "--format", "html", "-o", str(tmp_path / "no" / "r.html"))
    assert "one session" in err("1", "2", "--format", "kubios", "-o", str(tmp_path / "k.txt"))
    assert (
        cli_main(["report", "1", "--db", str(db), "--format", "json", "-o", str(out), "--force"])
        == 0
    )


def test_imported_beats_without_ticks_export(tmp_path: Path) -> None:
    """A session imported from an RR file has no raw ticks (rr_1024 <NA>): still exports."""
    import importlib

    jsonschema = pytest.importorskip("jsonschema")
    imp = importlib.import_module("biofeedback.cli.import_")
    rng = np.random.default_rng(5)
    rr = np.round(900 + 40 * rng.standard_normal(400), 1)
    src = tmp_path / "rr.txt"
    src.write_text("\n".join(format_rr_ms(v) for v in rr) + "\n")
    db2 = tmp_path / "imp.db"
    with Store(db2) as store:
        sid = imp.import_rr(src, store, title="imported", tags=())
    with SessionReader(db2) as r2:
        b = build_report(r2, [sid], now=NOW)
    render(b, "csv", tmp_path / "i.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "i.csv").read_text())))
    assert len(rows) == 400 and all(r["rr_1024"] == "" for r in rows)
    doc = report_json(b)
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert doc["sessions"][0]["beats"]["rr_1024"] == [None] * 400
    assert doc["sessions"][0]["phases"] == []  # protocol free: no phases, no differences
    render(b, "html", tmp_path / "i.html")
    assert _plotly_calls((tmp_path / "i.html").read_text()) == 4


def test_methods_text_states_the_bands_the_engine_integrates() -> None:
    # source: biofeedback.hrv.frequency.BANDS_HZ (Kubios 3.1 reports: VLF 0-0.04 Hz)
    from biofeedback.hrv.catalog import CATALOG
    from biofeedback.hrv.frequency import BANDS_HZ
    from biofeedback.reports.model import AnalysisSettings

    assert BANDS_HZ["VLF"] == (0.0, 0.04)
    want = "VLF 0-0.04 Hz, LF 0.04-0.15 Hz, HF 0.15-0.4 Hz"
    assert AnalysisSettings().describe()["bands"] == want
    assert "0-0.04 Hz" in CATALOG["VLF_ms2"].meaning


def test_unreliable_session_report_prints_no_poincare_numbers(tmp_path: Path) -> None:
    """Sustained bigeminy (the Polar H10 PVC case, docs/methods.md): metrics are withheld, and
    the Poincaré title must not print SD1/SD2 from that garbage either."""
    import importlib

    imp = importlib.import_module("biofeedback.cli.import_")
    rng = np.random.default_rng(6)
    # source: property of the construction: alternating short/long RR (bigeminy), > 10 %
    # of successive RR change by > 20 %, so the reliability gate must trip
    rr = np.round(np.where(np.arange(400) % 2, 1100.0, 600.0) + rng.normal(0, 10, 400), 1)
    src = tmp_path / "bigeminy.txt"
    src.write_text("\n".join(format_rr_ms(v) for v in rr) + "\n")
    db2 = tmp_path / "big.db"
    with Store(db2) as store:
        sid = imp.import_rr(src, store, title="bigeminy", tags=())
    with SessionReader(db2) as r2:
        b = build_report(r2, [sid], now=NOW)
    rep = b.sessions[0]
    assert not rep.overall.reliable and rep.overall.metrics["SD1_ms"] is None
    assert rep.overall.withheld_metrics["SD1_ms"] is not None  # computed, but withheld
    render(b, "html", tmp_path / "big.html")
    page = (tmp_path / "big.html").read_text()
    # (the figure JSON writes "Poincar\u00e9 plot", so match what follows the é)
    assert re.search(r"Poincar(?:é|\\u00e9) plot", page)
    assert "plot (SD1" not in page
