"""A strap glitch (RR 0 or 65535 ticks) never kills a recording; every reader copes.

The glitch is the one of the issue: one 0x2A37 notification ``16 40 00 00`` (flags 0x16:
8-bit HR, contact detected, RR present; HR 64 bpm; RR = 0 ticks) inserted at t = 100 s into
the bundled self-compassion-break capture. It is kept raw in the capture and the store and
flagged ``out_of_range`` by the analysis.
"""

from __future__ import annotations

import asyncio
import csv
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biofeedback.beats import RR_MAX_MS, RR_MIN_MS, beats_from_items, rr_out_of_range
from biofeedback.cli import main
from biofeedback.hrv.analysis import analyze_rr
from biofeedback.hrv.live import LiveHrv
from devices.heart_rate import encode_measurement
from devices.records import StreamItem
from tests.conftest import RECORDINGS


def _glitched(tmp_path: Path, hexes: tuple[str, ...] = ("16400000",), at_s: float = 100.0) -> Path:
    """The bundled capture with notifications ``hexes`` inserted at ``at_s``."""
    lines = (RECORDINGS / "self-compassion-break.jsonl").read_text().splitlines()
    out: list[str] = []
    inserted = False
    for line in lines:
        ev = json.loads(line)
        if not inserted and ev.get("kind") == "notify" and ev["t_s"] > at_s:
            for i, h in enumerate(hexes):
                out.append(
                    json.dumps({"t_s": at_s + 0.01 * i, "kind": "notify", "char": "2a37", "hex": h})
                )
            inserted = True
        out.append(line)
    assert inserted
    p = tmp_path / "glitch.jsonl"
    p.write_text("\n".join(out) + "\n")
    return p


def test_one_definition_of_plausible_rr() -> None:
    from biofeedback.files import validate
    from biofeedback.hrv import artifacts, live

    assert (artifacts.RR_MIN_MS, artifacts.RR_MAX_MS) == (RR_MIN_MS, RR_MAX_MS)
    assert live.RR_RANGE_MS == (RR_MIN_MS, RR_MAX_MS)
    assert (validate.RR_MIN_MS, validate.RR_MAX_MS) == (RR_MIN_MS, RR_MAX_MS)
    # 0 ticks, 65535 ticks (64 s) and the bounds' outsides are out of range; the bounds in.
    assert rr_out_of_range(0.0) and rr_out_of_range(65535 * 1000 / 1024)
    assert rr_out_of_range(RR_MIN_MS - 0.5) and rr_out_of_range(RR_MAX_MS + 0.5)
    assert not rr_out_of_range(RR_MIN_MS) and not rr_out_of_range(RR_MAX_MS)
    assert not rr_out_of_range(850.0)


def test_live_hrv_skips_zero_and_huge_rr_even_without_the_gate() -> None:
    hrv = LiveHrv(gate=False)
    for i in range(20):
        hrv.push(i * 1.0, 1000.0)
    for rr in (0.0, 65535 * 1000 / 1024):
        snap = hrv.push(21.0, rr)
        assert snap.artifact
        assert snap.hr_bpm is None
        assert snap.window(60.0).n_beats == 20


def test_analysis_flags_zero_rr_instead_of_refusing() -> None:
    rr = [1000.0] * 200
    rr[100] = 0.0
    rr[150] = 65535 * 1000 / 1024
    res = analyze_rr(rr)
    assert res.artifacts.by_type["out_of_range"] == 2
    assert res.metrics["MeanNN_ms"] == pytest.approx(1000.0)


def test_replay_with_rr_zero_finishes_complete_and_every_reader_copes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = _glitched(tmp_path)
    db = tmp_path / "s.db"
    args = ["--speed", "0", "--protocol", "self-compassion-break", "--db", str(db), "--quiet"]
    assert main(["record", "--replay", str(cap), *args]) == 0
    capsys.readouterr()

    assert main(["sessions", "--db", str(db)]) == 0
    assert "complete" in capsys.readouterr().out

    # The raw value is stored: the beats export carries the 0-tick beat, flagged.
    out = tmp_path / "beats.csv"
    assert main(["report", "1", "--format", "csv", "-o", str(out), "--db", str(db)]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    zero = [r for r in rows if float(r["rr_ms"]) == 0.0]
    assert len(zero) == 1
    assert (zero[0]["rr_1024"], zero[0]["flag"]) == ("0", "out_of_range")

    assert main(["compare", "1", "--db", str(db)]) == 0
    assert main(["compare", "1", "--json", "--db", str(db)]) == 0
    for fmt in ("html", "json", "kubios"):
        o = tmp_path / f"r.{fmt}"
        assert main(["report", "1", "--format", fmt, "-o", str(o), "--db", str(db)]) == 0
    assert "1 out-of-range RR" in capsys.readouterr().err
    # The Kubios text leaves the glitch out, so it reads back (Kubios refuses RR 0 too).
    assert main(["analyze", str(tmp_path / "r.kubios"), "--json"]) == 0
    back = json.loads(capsys.readouterr().out)
    assert back["n_beats"] == len(rows) - 1

    assert main(["analyze", str(cap), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["artifacts"]["by_type"]["out_of_range"] == 1


def test_dashboard_pages_cope_with_stored_zero_rr(tmp_path: Path) -> None:
    from biofeedback.sessions.store import SessionReader
    from dashboards import data

    cap = _glitched(tmp_path, ("16400000", "1040ffff"))
    db = tmp_path / "s.db"
    args = ["--speed", "0", "--protocol", "self-compassion-break", "--db", str(db), "--quiet"]
    assert main(["record", "--replay", str(cap), *args]) == 0
    with SessionReader(db) as r:
        beats = r.beats(1)
    assert sorted(beats["rr_1024"].tolist())[0] == 0
    assert sorted(beats["rr_1024"].tolist())[-1] == 65535
    with SessionReader(db) as r:
        d = data.DashboardData(r)
        assert [row.status for row in d.sessions()] == ["complete"]
        assert d.series(1).rr_ms.size == len(beats)
        assert d.phase_metrics(1)
        assert d.compare([1]) is not None
        assert d.trends() is not None


# -- fuzz: arbitrary notifications through the replay bleak backend --------------------------

_PROTOCOL_S = 20.0


def _fuzz_capture(path: Path, payloads: list[bytes]) -> Path:
    """Good one-beat notifications every second, the fuzzed payloads between them, and good
    notifications past the protocol's end (so the session ends by the protocol)."""
    from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
    from devices.heart_rate import encode_measurement
    from devices.records import DeviceInfo

    header = CaptureHeader(
        DeviceInfo(name="Fuzz H10", address="00:11"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests.test_rr_glitch"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        t = 1.0
        for p in payloads:
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(60, [1024])))
            w.write(CaptureEvent(t + 0.5, "notify", "2a37", p))
            t += 1.0
        while t < _PROTOCOL_S + 5.0:
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(60, [1024])))
            t += 1.0
    return path


async def _record_through_ble_backend(capture: Path, db: Path) -> int:
    from biofeedback.sessions.protocols import parse_protocol
    from biofeedback.sessions.recorder import SessionRecorder
    from biofeedback.sessions.store import NewSession, Store
    from devices.clock import VirtualClock
    from tests.support.replay_strap import replay_strap_source

    clock = VirtualClock()
    src = replay_strap_source(capture, clock)
    protocol = parse_protocol(
        {"name": "fuzz", "phases": [{"name": "b", "kind": "baseline", "duration_s": _PROTOCOL_S}]},
        "test",
    )
    store = Store(db, clock=clock)
    try:
        writer = store.begin_session(
            NewSession(source="strap", protocol=protocol.name, device=src.info), clock=clock
        )
        await SessionRecorder(src, writer, protocol, clock).run()
        return writer.session_id
    finally:
        store.close()


_rr_ticks = st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=9)
_payload = st.one_of(
    st.binary(max_size=24),  # anything at all, rejected or not
    st.builds(  # well-formed frames with any RR: 0, 65535, out-of-range, contact lost
        lambda hr, rr, contact: encode_measurement(hr, rr, contact=contact),
        st.integers(0, 0xFFFF),
        _rr_ticks,
        st.sampled_from([True, False, None]),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(_payload, min_size=1, max_size=12))
def test_fuzzed_notifications_never_kill_the_recorder(payloads: list[bytes]) -> None:
    from biofeedback.sessions.store import SessionReader, SessionStatus

    with tempfile.TemporaryDirectory() as d:
        cap = _fuzz_capture(Path(d) / "fuzz.jsonl", payloads)
        db = Path(d) / "s.db"
        sid = asyncio.run(_record_through_ble_backend(cap, db))
        with SessionReader(db) as r:
            assert r.session(sid).status is SessionStatus.COMPLETE
            beats = r.beats(sid)
        # Raw values kept: every tick the good frames and well-formed fuzz carried is there.
        raw = [b.rr_1024 for b in beats_from_items(_decoded(cap))]
        assert beats["rr_1024"].astype(int).tolist() == raw
        # ... and the analysis edge copes with whatever was stored.
        res = analyze_rr(
            beats["rr_ms"].to_numpy(),
            t_s=beats["t_s"].to_numpy(),
            segment=beats["segment"].to_numpy(),
        )
        n_oor = sum(rr_out_of_range(v) for v in beats["rr_ms"])
        assert res.artifacts.by_type["out_of_range"] == n_oor


def _decoded(cap: Path) -> list[StreamItem]:
    from devices.capture import read_capture
    from devices.stream import FrameDecoder

    dec = FrameDecoder()
    return [
        dec.decode(ev.t_s, ev.data)
        for ev in read_capture(cap).events
        if ev.kind == "notify" and ev.t_s <= _PROTOCOL_S
    ]
