"""What the live worker hands to a display: the run's state machine and frozen snapshots.

A recording run goes through `RunState` in one direction only::

    idle → connecting → recording → ending → ended
                  └──────────┴─────────┴────→ failed

``connecting`` lasts until the first frame or ``connected`` link event; ``ending`` from Stop
(or the protocol's or the source's end) until the session is saved and analysed. ``ended``
and ``failed`` carry one outcome message each (`LiveState.outcome`); the next Start begins a
new run in ``connecting``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "TRANSITIONS",
    "LiveBeat",
    "LiveState",
    "PhaseSpan",
    "RunState",
    "ScanState",
    "SourceChoice",
]

#: Default length of a strap scan, seconds (short: the page waits for it).
SCAN_S = 5.0


class RunState(StrEnum):
    """Where the current recording run is (see the module docstring)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    RECORDING = "recording"
    ENDING = "ending"
    ENDED = "ended"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """True while the run holds the source (Start is refused, Stop works)."""
        return self in (RunState.CONNECTING, RunState.RECORDING, RunState.ENDING)


#: The allowed moves; anything else is a bug in the worker (raised, not ignored).
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.IDLE: frozenset({RunState.CONNECTING}),
    RunState.CONNECTING: frozenset({RunState.RECORDING, RunState.ENDING, RunState.FAILED}),
    RunState.RECORDING: frozenset({RunState.ENDING, RunState.FAILED}),
    RunState.ENDING: frozenset({RunState.ENDED, RunState.FAILED}),
    RunState.ENDED: frozenset(),
    RunState.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """A source the Live page can offer: ``value`` is what `LiveWorker.start` takes."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class ScanState:
    """The latest strap scan: ``straps`` are start-able ``strap:<address>`` choices.

    ``scan_id`` is 0 before the first scan; ``error`` is one line (e.g. no Bluetooth).
    """

    scan_id: int
    running: bool
    straps: tuple[SourceChoice, ...] = ()
    error: str | None = None
    timeout_s: float = SCAN_S


@dataclass(frozen=True, slots=True)
class LiveBeat:
    """One beat for the live charts, with the recorder's running values just after it.

    ``artefact`` is the live engine's verdict (out of range or > 20 % from the recent
    median); ``segment`` changes after a link or contact gap (never joined across).
    """

    seq: int
    t_s: float
    rr_ms: float
    rmssd60_ms: float | None
    hr_bpm: float | None
    wall_s: float  # Unix time the worker received it (for latency measurements)
    artefact: bool = False
    segment: int = 0


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A phase as it happened on the stream clock (``end_s`` None while it runs)."""

    name: str
    kind: str
    start_s: float
    end_s: float | None


@dataclass(frozen=True, slots=True)
class LiveState:
    """A consistent copy of the worker's state (see `LiveWorker.state`).

    Times are stream seconds. ``new_beats`` holds the ring-buffered beats with
    ``seq > since_seq`` of the request (all kept ones when the run changed).
    ``rmssd_warm_s`` is how much of the 60-s RMSSD window is covered since the last gap.
    Spectral values (coherence, breathing rate) are over ``spectral_window_s`` and ``None``
    until 120 s are covered; ``baseline_rmssd_ms`` is the RMSSD of this session's baseline
    phase(s), given once the baseline is over.
    """

    run_id: int
    state: RunState
    session_id: int | None
    source_label: str
    protocol: str
    speed: float
    t_s: float
    hr_bpm: float | None
    rmssd60_ms: float | None
    rmssd_warming_up: bool
    rmssd_warm_s: float
    stress_index: float | None
    coherence: float | None
    breaths_per_min: float | None
    spectral_window_s: float
    spectral_covered_s: float
    baseline_rmssd_ms: float | None
    phase: str | None
    phase_kind: str | None
    phase_index: int | None
    n_phases: int
    prompt: str | None
    phase_left_s: float | None
    protocol_left_s: float | None
    pacer_bpm: float | None
    pacer_inhale_ratio: float | None
    pacer_phase_t0_s: float | None
    contact: bool | None
    link: str
    link_detail: str
    rejected: int
    artefacts: int
    beats: int
    marks: int
    pending_rows: int
    seconds_since_save: float | None
    seconds_since_data: float | None
    status: str | None
    error: str | None
    outcome: str | None
    last_seq: int
    phases: tuple[PhaseSpan, ...] = ()
    mark_times_s: tuple[float, ...] = ()
    new_beats: tuple[LiveBeat, ...] = ()

    @property
    def running(self) -> bool:
        """The run holds its source (connecting, recording or ending)."""
        return self.state.active

    @property
    def rmssd_window_fill(self) -> float:
        """0..1 of the 60-s RMSSD window covered since the last gap."""
        return min(1.0, self.rmssd_warm_s / 60.0)


IDLE_STATE = LiveState(
    run_id=0,
    state=RunState.IDLE,
    session_id=None,
    source_label="",
    protocol="",
    speed=1.0,
    t_s=0.0,
    hr_bpm=None,
    rmssd60_ms=None,
    rmssd_warming_up=True,
    rmssd_warm_s=0.0,
    stress_index=None,
    coherence=None,
    breaths_per_min=None,
    spectral_window_s=300.0,
    spectral_covered_s=0.0,
    baseline_rmssd_ms=None,
    phase=None,
    phase_kind=None,
    phase_index=None,
    n_phases=0,
    prompt=None,
    phase_left_s=None,
    protocol_left_s=None,
    pacer_bpm=None,
    pacer_inhale_ratio=None,
    pacer_phase_t0_s=None,
    contact=None,
    link="idle",
    link_detail="",
    rejected=0,
    artefacts=0,
    beats=0,
    marks=0,
    pending_rows=0,
    seconds_since_save=None,
    seconds_since_data=None,
    status=None,
    error=None,
    outcome=None,
    last_seq=0,
)
