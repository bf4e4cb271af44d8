"""The live worker's run state machine and its single live engine (the recorder's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from biofeedback.errors import UserError
from biofeedback.sessions.live import LiveWorker, RunState
from biofeedback.sessions.store import SessionReader, Store
from tests.conftest import RECORDINGS
from tests.sessions.test_service import NoBluetooth

BUNDLED = RECORDINGS / "self-compassion-break.jsonl"
PROTOCOL = "self-compassion-break"


def wait_for(pred: Callable[[], bool], timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_replay_walks_connecting_recording_ending_ended(tmp_path: Path) -> None:
    w = LiveWorker(tmp_path / "s.db", recordings={"scb": BUNDLED})
    try:
        assert w.state().state is RunState.IDLE
        run = w.start("replay:scb", PROTOCOL, speed=0)
        assert w.wait(30) is not None
        st = w.state()
        assert [s for r, s in w.transitions if r == run] == [
            RunState.CONNECTING,
            RunState.RECORDING,
            RunState.ENDING,
            RunState.ENDED,
        ]
        assert st.state is RunState.ENDED and not st.running
        assert st.outcome is not None and st.outcome.startswith("Complete: session #1 saved")
        # phases as they happened, each closed, in protocol order
        assert [p.kind for p in st.phases] == ["baseline"] + ["practice"] * 3 + ["recovery"]
        assert all(p.end_s is not None for p in st.phases)
        # 3 + 2 + 2 + 2 + 3 minutes, back to back from the first data
        starts = [p.start_s - st.phases[0].start_s for p in st.phases]
        assert starts == pytest.approx([0, 180, 300, 420, 540], abs=1e-6)
        # the capture ends within the recorder's 2-s tolerance of the protocol end
        assert st.phases[-1].end_s - st.phases[0].start_s == pytest.approx(720, abs=2.0)
        assert st.baseline_rmssd_ms is not None and 10 < st.baseline_rmssd_ms < 200
        # the spectral values come from the engine's 300-s window once 120 s are covered
        assert st.coherence is not None and st.breaths_per_min is not None
        assert 4 < st.breaths_per_min < 30
        # ... which restarts after the recording's link gap, so it is not full at the end
        assert 120.0 <= st.spectral_covered_s < 300.0
    finally:
        w.close()


def test_the_next_start_begins_a_new_run_with_no_old_message(tmp_path: Path) -> None:
    w = LiveWorker(
        tmp_path / "s.db", recordings={"scb": BUNDLED}, strap_opener=lambda _t: NoBluetooth()
    )
    try:
        w.start("strap:Polar", "free")
        wait_for(lambda: w.state().state is RunState.FAILED)
        assert w.state().outcome
        w.start("replay:scb", PROTOCOL, speed=0)
        st = w.state()
        assert st.run_id == 2 and st.outcome is None and st.error is None
        w.wait(30)
    finally:
        w.close()


def test_a_strap_without_bluetooth_fails_in_one_line_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    w = LiveWorker(db, strap_opener=lambda _t: NoBluetooth())
    try:
        run = w.start("strap:Polar H10", "free")
        wait_for(lambda: w.state().state is RunState.FAILED)
        st = w.state()
        # never "recording": no frame and no link ever came (the recorder still ends cleanly)
        assert [s for r, s in w.transitions if r == run] == [
            RunState.CONNECTING,
            RunState.ENDING,
            RunState.FAILED,
        ]
        assert st.outcome is not None and "D-Bus" in st.outcome and "\n" not in st.outcome
        assert "Nothing was recorded" in st.outcome
        assert st.session_id is None  # nothing to link to, nothing saved
        with SessionReader(db) as r:
            assert r.list_sessions() == []
    finally:
        w.close()


def test_invalid_speed_is_refused_with_a_reason_and_starts_nothing(tmp_path: Path) -> None:
    w = LiveWorker(tmp_path / "s.db", recordings={"scb": BUNDLED})
    try:
        with pytest.raises(UserError, match=r"speed: expected a finite number >= 0.*got -3"):
            w.start("replay:scb", PROTOCOL, speed=-3)
        assert w.state().state is RunState.IDLE and w.transitions == []
    finally:
        w.close()


def test_live_values_are_the_recorders_own_per_beat_snapshots(tmp_path: Path) -> None:
    # The worker keeps no engine of its own: its ring holds the recorder's snapshots, so
    # the beat flagged here is the one the recorder flagged, with the same RMSSD.
    import asyncio

    from biofeedback.sessions.protocols import load_protocol
    from biofeedback.sessions.recorder import LiveEvent, LiveUpdate
    from biofeedback.sessions.service import Recording
    from biofeedback.sessions.store import NewSession
    from devices.clock import VirtualClock
    from devices.replay import CaptureReplaySource

    seen: list[LiveUpdate] = []
    clock = VirtualClock()
    with Store(tmp_path / "ref.db", clock=clock) as store:
        rec = Recording(
            store,
            NewSession(source="replay", protocol=PROTOCOL),
            CaptureReplaySource(BUNDLED, clock=clock),
            clock,
            load_protocol(PROTOCOL),
            observer=seen.append,
        )
        asyncio.run(rec.run(analyse=False))
    ref = [s for u in seen if u.event is LiveEvent.FRAME for s in u.beat_live]
    w = LiveWorker(tmp_path / "s.db", recordings={"scb": BUNDLED})
    try:
        w.start("replay:scb", PROTOCOL, speed=0)
        w.wait(30)
        st = w.state()
        ring = st.new_beats
        assert st.beats == len(ref) and st.artefacts == sum(s.artifact for s in ref)
        tail = ref[-len(ring) :]
        assert [b.artefact for b in ring] == [s.artifact for s in tail]
        assert [b.rmssd60_ms for b in ring] == [s.window(60.0).rmssd_ms for s in tail]
    finally:
        w.close()


def test_close_leaves_no_pending_task_behind(tmp_path: Path) -> None:
    # A replay at speed 0 runs on a virtual clock whose driver task lives on the worker's
    # loop; closing must cancel it, not leave it to be "destroyed but pending" at a later
    # garbage collection (which logged an asyncio error inside an unrelated test).
    import asyncio
    import gc

    w = LiveWorker(tmp_path / "s.db", recordings={"scb": BUNDLED})
    w.start("replay:scb", PROTOCOL, speed=0)
    w.wait(30)
    loop = w._loop
    w.close()
    assert loop is not None and loop.is_closed()
    gc.collect()
    assert not [t for t in asyncio.all_tasks(loop) if not t.done()]
