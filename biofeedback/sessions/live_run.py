"""One live run's mutable state and how a recorder update folds into it.

`LiveWorker` keeps a `Run` per recording and folds every `LiveUpdate` of the recorder into
it with `apply_update` (under its lock); `move` is the only way the run's `RunState`
changes, along `biofeedback.sessions.live_state.TRANSITIONS`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

from biofeedback.sessions.live_state import TRANSITIONS, LiveBeat, PhaseSpan, RunState
from biofeedback.sessions.recorder import LiveEvent, LiveUpdate, RecordingResult, SessionRecorder
from devices.records import HrFrame, LinkState, RejectedPacket

__all__ = ["RING_BEATS", "Run", "Transitions", "apply_update", "ended_outcome", "move"]

log = logging.getLogger(__name__)

#: Beats kept for the live charts (~10 min at 75 bpm); older beats are in the store.
RING_BEATS = 1000
#: ``(run_id, state)`` of every state entered, in order.
Transitions = list[tuple[int, RunState]]


@dataclass
class Run:
    """The mutable state of one run, owned by `LiveWorker` (read and written under its lock)."""

    run_id: int
    source_label: str
    protocol: str
    speed: float
    state: RunState = RunState.CONNECTING
    session_id: int | None = None
    t_s: float = 0.0
    hr_bpm: float | None = None
    rmssd: float | None = None
    warming: bool = True
    warm_start: float | None = None
    last_beat_t: float | None = None
    segment: int | None = None
    stress: float | None = None
    coherence: float | None = None
    breaths: float | None = None
    spectral_covered: float = 0.0
    spectral_at: float = -1e9
    base_sd: float = 0.0
    base_n: int = 0
    base_prev: float | None = None
    phase: str | None = None
    phase_kind: str | None = None
    phase_index: int | None = None
    n_phases: int = 0
    prompt: str | None = None
    phase_left: float | None = None
    protocol_left: float | None = None
    pacer_bpm: float | None = None
    pacer_ratio: float | None = None
    pacer_t0: float | None = None
    contact: bool | None = None
    link: str = "connecting"
    link_detail: str = ""
    rejected: int = 0
    beats: int = 0
    marks: int = 0
    last_data_wall: float | None = None
    status: str | None = None
    error: str | None = None
    outcome: str | None = None
    seq: int = 0
    ring: deque[LiveBeat] = field(default_factory=lambda: deque(maxlen=RING_BEATS))
    phases: list[PhaseSpan] = field(default_factory=list)
    mark_times: list[float] = field(default_factory=list)
    recorder: SessionRecorder | None = None
    artefacts: int = 0
    stop_requested: bool = False  # Stop pressed, maybe before the recorder existed
    pending_rows: int = 0  # rows buffered by the writer, not yet committed
    commits_seen: int = 0
    saved_wall: float = field(default_factory=time.monotonic)  # last commit seen, monotonic


def _mmss(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def ended_outcome(run: Run, result: RecordingResult) -> str:
    """The one message of a run that ended with a saved session."""
    where = f"session #{result.session_id}"
    length = f"{result.n_beats} beats, {_mmss(result.last_t_s)}"
    if run.link == "gave_up":
        return (
            f"The strap stopped answering and reconnecting gave up; what was recorded is "
            f"saved as {where} ({length}). Check the strap's battery and contact, then start "
            "again."
        )
    if str(result.status) == "complete":
        return f"Complete: {where} saved ({length})."
    return f"Stopped early: {where} saved ({length})."


def move(run: Run, transitions: Transitions, new: RunState) -> None:
    """Move ``run`` to ``new`` (under the lock); a move the machine forbids is logged."""
    if run.state is new:
        return
    if new not in TRANSITIONS[run.state]:
        log.error("live run %d: no transition %s -> %s", run.run_id, run.state, new)
        return
    run.state = new
    transitions.append((run.run_id, new))


def apply_update(run: Run, u: LiveUpdate, now: float, transitions: Transitions) -> None:
    """Fold one recorder update into ``run`` (the caller holds the lock)."""
    run.t_s = max(run.t_s, u.t_s)
    if u.event is LiveEvent.LINK and u.link is not None:
        st = u.link.state
        if st is LinkState.END:
            run.link, run.link_detail = "ended", u.link.detail
        elif st is not LinkState.BATTERY:
            run.link, run.link_detail = st.value, u.link.detail
        if st is LinkState.CONNECTED and run.state is RunState.CONNECTING:
            move(run, transitions, RunState.RECORDING)
    elif u.event is LiveEvent.FRAME and isinstance(u.item, HrFrame):
        run.contact = u.item.measurement.contact
        run.last_data_wall = now
        if run.link in ("connecting", "disconnected", "reconnecting"):
            # Data flowing again is proof of a link even if no CONNECTED event came.
            run.link, run.link_detail = "connected", ""
        if run.state is RunState.CONNECTING:
            move(run, transitions, RunState.RECORDING)
    elif u.event is LiveEvent.REJECTED and isinstance(u.item, RejectedPacket):
        run.rejected += 1
    elif u.event in (LiveEvent.MARK, LiveEvent.NOTE):
        run.marks += 1
        run.mark_times.append(u.t_s)
    elif u.event is LiveEvent.END:
        run.status = u.text
        move(run, transitions, RunState.ENDING)
    run.hr_bpm = float(u.hr_bpm) if u.hr_bpm is not None else None
    apply_phase(run, u)
    wall = time.time()
    for b, snap in zip(u.beats, u.beat_live, strict=False):
        w = snap.window(60.0)
        run.rmssd, run.warming = w.rmssd_ms, w.warming_up
        if b.segment != run.segment:
            run.segment, run.warm_start, run.base_prev = b.segment, None, None
        if snap.artifact:
            run.artefacts += 1
            run.base_prev = None
        else:
            if run.warm_start is None:
                run.warm_start = b.t_s - b.rr_ms / 1000.0
            if run.phase_kind == "baseline":
                if run.base_prev is not None:
                    run.base_sd += (b.rr_ms - run.base_prev) ** 2
                    run.base_n += 1
                run.base_prev = b.rr_ms
        run.last_beat_t = b.t_s
        run.seq += 1
        run.beats += 1
        run.ring.append(
            LiveBeat(
                run.seq, b.t_s, b.rr_ms, w.rmssd_ms, snap.hr_bpm, wall, snap.artifact, b.segment
            )
        )


def apply_phase(run: Run, u: LiveUpdate) -> None:
    """The phase, prompt, pacer and phase spans of ``u``."""
    ph = u.phase
    if ph is not None and ph.name != run.phase and ph.pacer is not None:
        elapsed = 0.0 if u.phase_left_s is None else ph.duration_s - u.phase_left_s
        run.pacer_t0 = u.t_s - elapsed
    new_phase = (ph.name if ph else None) != run.phase or u.event is LiveEvent.PHASE
    if new_phase or u.event is LiveEvent.END:
        if run.phases and run.phases[-1].end_s is None:
            last = run.phases[-1]
            run.phases[-1] = PhaseSpan(last.name, last.kind, last.start_s, u.t_s)
        if ph is not None and u.event is not LiveEvent.END:
            start = u.t_s
            if u.phase_left_s is not None:
                start = u.t_s - (ph.duration_s - u.phase_left_s)
            run.phases.append(PhaseSpan(ph.name, ph.kind.value, start, None))
    run.phase = ph.name if ph else None
    run.phase_kind = ph.kind.value if ph else None
    run.phase_index = u.phase_index
    run.n_phases = u.n_phases
    run.prompt = u.prompt
    run.phase_left = u.phase_left_s
    run.protocol_left = u.protocol_left_s
    run.pacer_bpm = u.pacer.breaths_per_min if u.pacer else None
    run.pacer_ratio = u.pacer.inhale_ratio if u.pacer else None
    if u.pacer is None:
        run.pacer_t0 = None
