"""SessionRecorder: replay → beats → store, with protocol phases on the stream clock."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from biofeedback.beats import Beat, beats_from_items
from biofeedback.sessions.protocols import Protocol, load_protocol, parse_protocol
from biofeedback.sessions.recorder import LiveEvent, LiveUpdate, SessionRecorder
from biofeedback.sessions.store import NewSession, PhaseSpan, SessionReader, SessionStatus, Store
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter, read_capture
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo, StreamItem
from devices.replay import CaptureReplaySource, clock_for_speed
from tests.conftest import RECORDINGS

BUNDLED = RECORDINGS / "self-compassion-break.jsonl"


def synth_capture(
    path: Path,
    end_s: float,
    *,
    gap: tuple[float, float] | None = None,
    pattern: tuple[int, ...] = (1024,),
) -> Path:
    """One notification a second from t=1 carrying one RR (cycling through ``pattern``,
    1/1024 s ticks), with an optional disconnect ``gap``."""
    header = CaptureHeader(
        DeviceInfo(name="Synth", address="00:11"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests.test_session_recorder"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        t = 1.0
        n = 0
        while t <= end_s + 1e-9:
            if gap is not None and gap[0] <= t < gap[1]:
                if t < gap[0] + 1.0:
                    w.write(CaptureEvent(gap[0], "disconnect", detail="link loss"))
                t += 1.0
                continue
            if gap is not None and gap[1] <= t < gap[1] + 1.0:
                w.write(CaptureEvent(gap[1], "connect"))
            rr = pattern[n % len(pattern)]
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(60, [rr])))
            n += 1
            t += 1.0
    return path


def tiny_protocol(*durations: float) -> Protocol:
    kinds = ["baseline"] + ["practice"] * (len(durations) - 1)
    if len(durations) >= 3:
        kinds[-1] = "recovery"
    phases = [
        {
            "name": f"p{i}",
            "kind": kinds[i],
            "duration_s": d,
            "prompts": [{"at_s": 0, "text": f"start p{i}"}, {"at_s": d / 2, "text": f"half p{i}"}],
        }
        for i, d in enumerate(durations)
    ]
    return parse_protocol({"name": "tiny", "phases": phases}, "test")


async def record(
    capture: Path,
    protocol: Protocol,
    db: str | Path,
    *,
    on_update: Callable[[SessionRecorder, LiveUpdate], None] | None = None,
) -> tuple[SessionRecorder, list[LiveUpdate], int]:
    clock = clock_for_speed(0)
    source = CaptureReplaySource(capture, clock=clock)
    store = Store(db, clock=clock)
    writer = store.begin_session(
        NewSession(source="replay", protocol=protocol.name, device=source.info), clock=clock
    )
    updates: list[LiveUpdate] = []

    def observer(u: LiveUpdate) -> None:
        updates.append(u)
        if on_update is not None:
            on_update(rec, u)

    rec = SessionRecorder(source, writer, protocol, clock, observer=observer)
    try:
        await rec.run()
    finally:
        store.close()
    return rec, updates, writer.session_id


async def _items(capture: Path) -> list[StreamItem]:
    src = CaptureReplaySource(capture, clock=VirtualClock())
    return [it async for it in src.stream()]


def _beat_tuples(beats: list[Beat]) -> list[tuple[float, float, int | None, int]]:
    return [(b.t_s, b.rr_ms, b.rr_1024, b.segment) for b in beats]


async def test_self_compassion_break_replay(tmp_path: Path, db_target: str) -> None:
    capture = BUNDLED
    if not capture.is_file():  # being generated elsewhere; same shape, synthesised here
        capture = synth_capture(tmp_path / "scb.jsonl", 719.0, gap=(468.0, 475.0))
    protocol = load_protocol("self-compassion-break", user_dir=tmp_path)
    db = db_target
    rec, updates, sid = await record(capture, protocol, db)
    items = await _items(capture)
    expected_beats = beats_from_items(items)
    with SessionReader(db) as r:
        info = r.session(sid)
        # The capture stops at its last notification before 720 s: within END_TOLERANCE_S.
        assert info.status is SessionStatus.COMPLETE
        # Phase markers at the protocol times: connect at 0 s starts the protocol.
        assert r.phases(sid)[:4] == [
            PhaseSpan("baseline", "baseline", 0.0, 180.0),
            PhaseSpan("mindfulness", "practice", 180.0, 300.0),
            PhaseSpan("common-humanity", "practice", 300.0, 420.0),
            PhaseSpan("self-kindness", "practice", 420.0, 540.0),
        ]
        last = r.phases(sid)[4]
        assert (last.name, last.start_s) == ("recovery", 540.0)
        assert last.end_s == pytest.approx(read_capture(capture).duration_s)
        # Beats stored = beats of the same capture through beats_from_items.
        df = r.beats(sid)
        stored = [
            Beat(t, rr, None if pd.isna(rr1024) else int(rr1024), seg)
            for t, rr, rr1024, seg in zip(
                df["t_s"], df["rr_ms"], df["rr_1024"], df["segment"], strict=True
            )
        ]
        assert _beat_tuples(stored) == _beat_tuples(expected_beats)
        assert info.n_beats == len(expected_beats) > 600
        assert df["phase"].isna().sum() == 0  # every beat falls in a phase
        # Gaps recorded as link events.
        links = r.link_events(sid)
        disc = links[links["state"] == "disconnected"]
        cap_disc = [e.t_s for e in read_capture(capture).events if e.kind == "disconnect"]
        assert disc["t_s"].tolist() == cap_disc and len(cap_disc) >= 1
        assert info.n_frames == rec.source.summary().frames
    phase_events = [u.text for u in updates if u.event is LiveEvent.PHASE]
    assert phase_events == [ph.name for ph in protocol.phases]


async def test_phase_boundaries_during_a_link_gap_are_marked_by_the_timer(
    tmp_path: Path,
) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", 40.0, gap=(8.5, 25.0))
    db = tmp_path / "s.db"
    _, updates, sid = await record(cap, tiny_protocol(10, 10, 10), db)
    with SessionReader(db) as r:
        m = r.markers(sid)
        assert list(zip(m["t_s"], m["kind"], m["phase"], strict=True)) == [
            (0.0, "phase_start", "p0"),
            (10.0, "phase_end", "p0"),
            (10.0, "phase_start", "p1"),
            (20.0, "phase_end", "p1"),
            (20.0, "phase_start", "p2"),
            (30.0, "phase_end", "p2"),
        ]
        assert r.session(sid).status is SessionStatus.COMPLETE
        # The protocol ended at 30 s: nothing after it is part of the session.
        assert r.frames(sid)["t_s"].max() <= 30.0
        assert r.beats(sid)["segment"].nunique() == 2  # the gap splits the beats
    # Fired on the clock during the gap, before the reconnect at 25 s was seen.
    order = [(u.event, u.t_s) for u in updates if u.event in (LiveEvent.PHASE, LiveEvent.LINK)]
    assert order.index((LiveEvent.PHASE, 10.0)) < order.index((LiveEvent.LINK, 25.0))
    assert order.index((LiveEvent.PHASE, 20.0)) < order.index((LiveEvent.LINK, 25.0))


async def test_prompts_time_left_and_observer(tmp_path: Path) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", 30.0)
    _, updates, _ = await record(cap, tiny_protocol(10, 20), tmp_path / "s.db")
    prompts = [(u.t_s, u.text) for u in updates if u.event is LiveEvent.PROMPT]
    assert prompts == [(0.0, "start p0"), (5.0, "half p0"), (10.0, "start p1"), (20.0, "half p1")]
    frame = next(u for u in updates if u.event is LiveEvent.FRAME and u.t_s == 13.0)
    assert frame.phase is not None and frame.phase.name == "p1"
    assert frame.phase_left_s == 17.0 and frame.protocol_left_s == 17.0
    assert frame.prompt == "start p1" and frame.hr_bpm == 60
    assert [b.rr_1024 for b in frame.beats] == [1024]
    assert updates[-1].event is LiveEvent.END and updates[-1].text == "complete"


async def test_stop_before_the_end_is_stopped_early(tmp_path: Path, db_target: str) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", 60.0)
    db = db_target

    def stop_at_15(rec: SessionRecorder, u: LiveUpdate) -> None:
        if u.event is LiveEvent.FRAME and u.t_s == 15.0:
            rec.add_mark("before stop")
            rec.stop()

    _, _, sid = await record(cap, tiny_protocol(10, 20, 10), db, on_update=stop_at_15)
    with SessionReader(db) as r:
        assert r.session(sid).status is SessionStatus.STOPPED_EARLY
        assert r.phases(sid) == [
            PhaseSpan("p0", "baseline", 0.0, 10.0),
            PhaseSpan("p1", "practice", 10.0, 15.0),
        ]
        assert r.frames(sid)["t_s"].max() == 15.0
        m = r.markers(sid)
        marks = m[m["kind"] == "mark"]
        assert marks[["t_s", "phase", "text"]].values.tolist() == [[15.0, "p1", "before stop"]]


async def test_cancelling_run_closes_the_session_and_propagates(
    tmp_path: Path, db_target: str
) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", 60.0)
    db = db_target
    clock = VirtualClock()
    source = CaptureReplaySource(cap, clock=clock)
    store = Store(db, clock=clock)
    writer = store.begin_session(NewSession(source="replay"), clock=clock)
    rec = SessionRecorder(source, writer, tiny_protocol(30, 30), clock)
    task = asyncio.ensure_future(rec.run())
    await clock.sleep(12.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()
    with SessionReader(db) as r:
        info = r.session(writer.session_id)
        assert info.status is SessionStatus.STOPPED_EARLY
        assert r.frames(writer.session_id)["t_s"].tolist() == [float(t) for t in range(1, 13)]


@pytest.mark.parametrize(("end_s", "status"), [(25.0, "stopped_early"), (29.0, "complete")])
async def test_source_ending_before_the_protocol(tmp_path: Path, end_s: float, status: str) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", end_s)
    db = tmp_path / "s.db"
    _, _, sid = await record(cap, tiny_protocol(10, 20), db)
    with SessionReader(db) as r:
        assert r.session(sid).status.value == status
        assert r.phases(sid)[-1] == PhaseSpan("p1", "practice", 10.0, end_s)


async def test_free_protocol_marks_and_notes(tmp_path: Path) -> None:
    cap = synth_capture(tmp_path / "c.jsonl", 20.0)
    db = tmp_path / "s.db"

    def marks(rec: SessionRecorder, u: LiveUpdate) -> None:
        if u.event is LiveEvent.FRAME and u.t_s == 4.0:
            rec.add_mark()
        if u.event is LiveEvent.FRAME and u.t_s == 9.0:
            rec.add_note("itchy strap")

    _, updates, sid = await record(
        cap, load_protocol("free", user_dir=tmp_path), db, on_update=marks
    )
    with SessionReader(db) as r:
        info = r.session(sid)
        assert (info.status, info.protocol) == (SessionStatus.COMPLETE, "free")
        assert r.phases(sid) == []
        m = r.markers(sid)
        assert m[["t_s", "kind", "text"]].values.tolist() == [
            [4.0, "mark", ""],
            [9.0, "note", "itchy strap"],
        ]
        assert r.beats(sid)["phase"].isna().all()
    assert [u.event for u in updates if u.event in (LiveEvent.MARK, LiveEvent.NOTE)] == [
        LiveEvent.MARK,
        LiveEvent.NOTE,
    ]


async def test_live_rmssd_in_updates_matches_the_stored_beats(tmp_path: Path) -> None:
    # RR cycle 976.6 / 1023.4 / 1000 ms: sums to 3 s, so beats stay on the 1 Hz arrival times.
    cap = synth_capture(tmp_path / "c.jsonl", 150.0, gap=(70.0, 75.0), pattern=(1000, 1048, 1024))
    db = tmp_path / "s.db"
    _, updates, sid = await record(cap, load_protocol("free", user_dir=tmp_path), db)
    with SessionReader(db) as r:
        beats = r.beats(sid)
    frames = {u.t_s: u for u in updates if u.event is LiveEvent.FRAME}
    for t_now in (30.0, 65.0, 100.0, 150.0):
        u = frames[t_now]
        t_end = u.beats[-1].t_s  # the window ends at the latest beat
        win = beats[(beats["t_s"] > t_end - 60.0) & (beats["t_s"] <= t_end)]
        sq = [
            (beats["rr_ms"][k] - beats["rr_ms"][k - 1]) ** 2
            for k in win.index
            if k > 0 and beats["segment"][k] == beats["segment"][k - 1]
        ]
        assert u.rmssd_ms == pytest.approx(math.sqrt(sum(sq) / len(sq)), rel=1e-9)
        assert u.rmssd_window_s == 60.0
        assert u.live is not None and u.live.window(300.0).window_s == 300.0
    # Warming up until 60 s of one segment are covered; the gap restarts it.
    assert frames[30.0].rmssd_warming_up and not frames[65.0].rmssd_warming_up
    assert frames[100.0].rmssd_warming_up and not frames[150.0].rmssd_warming_up
