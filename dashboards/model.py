"""Frozen view models: what the data adapter hands to pages and figure builders.

Nothing here imports dash, plotly or the ``biofeedback`` package, so the figure builders and
the pages can be tested with hand-made values. Units are in the names (``t_s``, ``rr_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Phase kinds the colours and the comparison know; anything else is drawn neutral.
PHASE_KINDS = ("baseline", "practice", "recovery")


@dataclass(frozen=True, slots=True)
class PhaseBand:
    """A protocol phase on the session time axis (seconds from the session start)."""

    name: str
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class MarkerPoint:
    """A user mark or note at ``t_s`` seconds."""

    t_s: float
    label: str
    kind: str = "mark"


@dataclass(frozen=True, slots=True)
class LinkGap:
    """A stretch without data: link lost, contact lost (seconds)."""

    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One line of the sessions list."""

    id: int
    name: str
    started_at: str  # ISO 8601, local time of the recording
    protocol: str
    tags: tuple[str, ...]
    duration_s: float
    n_beats: int
    status: str  # complete | interrupted | recording
    notes: str = ""
    study: str | None = None
    participant: str | None = None

    @property
    def day(self) -> str:
        """``YYYY-MM-DD`` of the start."""
        return self.started_at[:10]


@dataclass(frozen=True, slots=True, eq=False)
class SessionSeries:
    """Everything the Session page draws, for one session."""

    row: SessionRow
    t_s: FloatArray
    rr_ms: FloatArray
    segment: IntArray
    artefact: BoolArray
    phases: tuple[PhaseBand, ...]
    markers: tuple[MarkerPoint, ...]
    gaps: tuple[LinkGap, ...]
    rmssd_t_s: FloatArray
    rmssd_ms: FloatArray
    rmssd_window_s: float
    psd_freq_hz: FloatArray
    psd_ms2_per_hz: FloatArray
    sd1_ms: float | None
    sd2_ms: float | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PhaseMetrics:
    """Metrics of one phase (or of the whole session when ``phase`` is ``"all"``)."""

    session_id: int
    phase: str
    kind: str
    start_s: float
    end_s: float
    n_beats: int
    metrics: dict[str, float | None]
    reliable: bool
    warnings: tuple[str, ...] = ()
    grade: str = ""  # the engine's quality grade (good/acceptable/poor/withheld), if any


@dataclass(frozen=True, slots=True)
class Difference:
    """``phase`` minus ``reference`` for one metric, with a confidence interval if known."""

    session_id: int | None  # None: pooled over sessions
    metric: str
    phase: str
    reference: str
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str  # e.g. "higher", "lower", "within noise", "CI pending"


@dataclass(frozen=True, slots=True)
class Comparison:
    """The Compare page's content."""

    session_ids: tuple[int, ...]
    phases: tuple[PhaseMetrics, ...]
    differences: tuple[Difference, ...]
    verdict: str
    ci_available: bool
    notes: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # metric keys of the phase tables (engine's order)


@dataclass(frozen=True, slots=True)
class TrendDay:
    """Resting (baseline) HRV of one day and the personal normal range before it."""

    day: str
    rmssd_ms: float
    normal_low_ms: float | None
    normal_high_ms: float | None
    n_sessions: int


@dataclass(frozen=True, slots=True)
class Trends:
    """The Trends page's content."""

    days: tuple[TrendDay, ...]
    week_starts: tuple[str, ...]
    practice_min: tuple[float, ...]
