"""The analysis of one stored session: every HRV engine call a session ever needs, once.

`analyse_session` runs :func:`biofeedback.hrv.analyze_rr` on the whole session, on each
protocol phase and on all phases of each kind pooled (``baseline``/``practice``/
``recovery``; non-adjacent spans kept apart), and keeps from each call what any output shows
(`PhaseMetrics`: metrics, reliability, quality grade, artefact counts, spectrum, 30-s window
sums) plus the whole session's artefact flags and corrected NN series. That is *one analysis*
of the session: reports, every dashboard page, ``compare``, ``sessions`` and ``session`` read
it (through `biofeedback.sessions.view.SessionViews`) and never call the engine themselves.

Phases are sliced by the one rule of `biofeedback.sessions.store.phase_index`. A stretch
with fewer than ``MIN_BEATS`` beats is not analysed (``too few beats``).

Caching: the result is saved in the store's ``analysis_cache`` table (`cache_analysis`,
called where sessions end: ``record``, ``import``, the live worker; and by the read model
when it had to compute one) and reused while `ANALYSIS_VERSION` (derived from the code, see
`biofeedback.sessions.settings`) and the session's beat count still match and the session
is no longer recording. Results with and without the cache are identical (arrays and floats
round-trip exactly, see `biofeedback.sessions.codec`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.sessions.settings import (
    ANALYSIS_VERSION,
    DEFAULT_SETTINGS,
    AnalysisSettings,
    analysis_version,
)
from biofeedback.sessions.stats import window_sums

if TYPE_CHECKING:
    from biofeedback.hrv import HrvResult
    from biofeedback.sessions.store import SessionInfo, SessionReader, Store

log = logging.getLogger(__name__)

#: Session statuses whose data no longer change, so their analysis may be cached.
FINAL_STATUSES: frozenset[str] = frozenset({"complete", "stopped_early", "interrupted"})
#: Fewest beats a stretch needs to be analysed at all.
MIN_BEATS = 10
#: Phase kinds pooled for the comparison, in order.
POOLED_KINDS: tuple[str, ...] = ("baseline", "practice", "recovery")

#: The engine's signature as the read model calls it; inject a counting or fake one in tests.
Analyzer = Callable[..., "HrvResult"]


@dataclass(frozen=True, slots=True)
class ArtifactCounts:
    """Artefacts of one analysed stretch (the engine's summary without per-beat flags)."""

    corrected: bool
    count: int
    rate: float
    by_type: dict[str, int]
    irregular_rate: float

    def to_json_dict(self) -> dict[str, Any]:
        """``{"corrected", "count", "rate", "by_type"}`` as in ``analyze --json``."""
        return {
            "corrected": self.corrected,
            "count": self.count,
            "rate": self.rate,
            "by_type": dict(self.by_type),
        }


NO_ARTIFACTS = ArtifactCounts(True, 0, 0.0, {}, 0.0)
_EMPTY = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class PhaseMetrics:
    """One analysed stretch: the whole session, a phase, or all phases of one kind.

    ``metrics`` holds every engine key (`biofeedback.hrv.METRIC_KEYS`) plus ``lnRMSSD``,
    ``BreathingRate_per_min`` and ``ArtifactRate_pct``; ``None`` when not computable or
    withheld (``reliable`` false; then ``withheld_metrics`` has the engine's numbers).
    ``grade``/``reasons``/``quality`` are the engine's quality grade when it gives one
    (``""``/``()``/``{}`` otherwise). ``freq_hz``/``psd_ms2_hz`` is the stretch's PSD
    (empty without one); ``windows`` the 30-s window sums of the pooled kinds (shape
    ``(n, 4)``, see `biofeedback.sessions.stats.window_sums`).
    """

    name: str
    kind: str
    start_s: float
    end_s: float
    n_beats: int
    reliable: bool
    metrics: dict[str, float | None]
    warnings: tuple[str, ...] = ()
    grade: str = ""
    reasons: tuple[str, ...] = ()
    quality: dict[str, Any] = field(default_factory=dict)
    artifacts: ArtifactCounts = NO_ARTIFACTS
    freq_hz: FloatArray = field(default_factory=lambda: _EMPTY)
    psd_ms2_hz: FloatArray = field(default_factory=lambda: _EMPTY)
    windows: FloatArray = field(default_factory=lambda: np.zeros((0, 4)))
    #: The engine's numbers even when ``reliable`` is false (the expert view).
    withheld_metrics: dict[str, float | None] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Equal when every field, arrays bit for bit, is (the cache round trip's contract).
        if not isinstance(other, PhaseMetrics):
            return NotImplemented
        from biofeedback.sessions.codec import phase_to_dict

        return phase_to_dict(self) == phase_to_dict(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class SessionAnalysis:
    """The cacheable analysis of one session (see the module docstring).

    ``whole`` is the whole session; ``phases`` every recorded phase in order (or ``whole``
    alone, named ``whole``, when the session has none); ``by_kind`` the pooled kinds present.
    ``flags`` is the artefact type code per stored beat (0 normal,
    `biofeedback.hrv.artifacts.TYPE_NAMES`), ``nn_*`` the corrected NN series of ``whole``.
    Compare with `biofeedback.sessions.codec.analysis_to_json` (arrays make ``==``
    ambiguous, so it is identity).
    """

    session_id: int
    n_beats: int
    whole: PhaseMetrics
    phases: tuple[PhaseMetrics, ...]
    by_kind: tuple[PhaseMetrics, ...]
    flags: IntArray
    nn_ms: FloatArray
    nn_t_s: FloatArray
    nn_segment: IntArray
    version: str = ANALYSIS_VERSION

    def to_json(self) -> str:
        """Lossless JSON text (`biofeedback.sessions.codec.analysis_to_json`)."""
        from biofeedback.sessions.codec import analysis_to_json

        return analysis_to_json(self)

    @classmethod
    def from_json(cls, text: str) -> SessionAnalysis:
        """Inverse of `to_json`; `ValueError`/`KeyError`/`TypeError` on a malformed text."""
        from biofeedback.sessions.codec import analysis_from_json

        return analysis_from_json(text)

    def baseline_lnrmssd(self) -> float | None:
        """lnRMSSD of the first baseline phase when reliable (the resting marker), else None."""
        for p in self.phases:
            if p.kind == "baseline":
                ln = p.metrics.get("lnRMSSD")
                return ln if p.reliable and ln is not None else None
        return None


def _blank(name: str, kind: str, start_s: float, end_s: float, n: int) -> PhaseMetrics:
    from biofeedback.hrv import METRIC_KEYS

    keys = (*METRIC_KEYS, "lnRMSSD", "BreathingRate_per_min", "ArtifactRate_pct")
    return PhaseMetrics(
        name, kind, start_s, end_s, n, False, dict.fromkeys(keys), ("too few beats",)
    )


def _metrics(res: HrvResult) -> dict[str, float | None]:
    from biofeedback.hrv.frequency import breathing_rate_per_min

    m: dict[str, float | None] = dict(res.metrics)
    rmssd = m.get("RMSSD_ms")
    breathing = None
    if res.reliable and res.spectrum is not None:
        breathing = breathing_rate_per_min(res.spectrum.freq_hz, res.spectrum.psd_ms2_hz)
    m["lnRMSSD"] = math.log(rmssd) if rmssd else None
    m["BreathingRate_per_min"] = breathing
    # beats corrected (the quality grade's count), not beats flagged
    m["ArtifactRate_pct"] = 100.0 * res.quality.corrected_rate
    return m


def _span(
    analyze: Analyzer,
    settings: AnalysisSettings,
    where: tuple[str, str, float, float],
    rr: FloatArray,
    t: FloatArray,
    seg: IntArray,
    *,
    windows: bool = False,
) -> tuple[PhaseMetrics, HrvResult | None]:
    """Analyse one stretch (one engine call) and keep what the outputs need."""
    name, kind, start_s, end_s = where
    if rr.size < MIN_BEATS:
        return _blank(name, kind, start_s, end_s, int(rr.size)), None
    res = analyze(
        rr,
        t_s=t,
        segment=seg,
        correct=settings.correct_artifacts,
        detrend=settings.detrend,
        spectral=settings.spectral,
        source=name,
    )
    a = res.artifacts
    q = res.quality
    spec = res.spectrum
    pm = PhaseMetrics(
        name,
        kind,
        start_s,
        end_s,
        res.n_beats,
        res.reliable,
        _metrics(res),
        tuple(res.warnings),
        str(q.grade),
        tuple(q.reasons),
        dict(q.to_json_dict()),
        ArtifactCounts(a.corrected, a.count, a.rate, dict(a.by_type), a.irregular_rate),
        _EMPTY if spec is None else np.asarray(spec.freq_hz, np.float64),
        _EMPTY if spec is None else np.asarray(spec.psd_ms2_hz, np.float64),
        window_sums(res.nn_ms, res.nn_t_s, res.nn_segment)
        if windows and res.reliable
        else np.zeros((0, 4)),
        dict(res.withheld_metrics),
    )
    return pm, res


def analyse_session(
    reader: SessionReader,
    session_id: int,
    *,
    analyze: Analyzer | None = None,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> SessionAnalysis:
    """Analyse a session: whole, every phase, every pooled phase kind (one analysis).

    Pure: depends only on the session's stored beats and phase markers.

    Parameters
    ----------
    reader
        The store's read path.
    session_id
        Session to analyse. Unknown ids raise the store's error (a `UserError`).
    analyze
        The HRV engine (default :func:`biofeedback.hrv.analyze_rr`); called once per
        analysed stretch with ≥ ``MIN_BEATS`` beats.
    settings
        Analysis parameters (the default ones are the cached ones).
    """
    from biofeedback.hrv import analyze_rr
    from biofeedback.sessions.store import phase_index

    engine: Analyzer = analyze_rr if analyze is None else analyze
    beats = reader.beats(session_id)
    spans = reader.phases(session_id)
    rr = beats["rr_ms"].to_numpy(dtype=np.float64)
    t = beats["t_s"].to_numpy(dtype=np.float64)
    seg = beats["segment"].to_numpy(dtype=np.int64)
    n = rr.size
    t0, t1 = (float(t[0]), float(t[-1])) if n else (0.0, 0.0)
    whole, res = _span(engine, settings, ("whole", "session", t0, t1), rr, t, seg)
    flags = np.zeros(n, dtype=np.int64)
    nn = nn_t = _EMPTY
    nn_seg = np.zeros(0, dtype=np.int64)
    if res is not None:
        codes = np.asarray(res.artifacts.flags, dtype=np.int64)
        flags = codes if codes.size == n else flags
        nn, nn_t, nn_seg = res.nn_ms, res.nn_t_s, res.nn_segment
    where = phase_index(t, spans)
    phases: list[PhaseMetrics] = []
    for k, sp in enumerate(spans):
        m = where == k
        span = (sp.name, sp.kind, sp.start_s, sp.end_s)
        phases.append(_span(engine, settings, span, rr[m], t[m], seg[m])[0])
    by_kind: list[PhaseMetrics] = []
    for kind in POOLED_KINDS:
        ks = [k for k, sp in enumerate(spans) if sp.kind == kind]
        if not ks:
            continue
        m = np.isin(where, ks)
        # Non-adjacent spans of one kind must not be glued: their segment ids differ.
        pooled_seg = seg[m] * 1000 + where[m]
        span = (kind, kind, min(spans[k].start_s for k in ks), max(spans[k].end_s for k in ks))
        by_kind.append(_span(engine, settings, span, rr[m], t[m], pooled_seg, windows=True)[0])
    return SessionAnalysis(
        session_id=int(session_id),
        n_beats=n,
        whole=whole,
        phases=tuple(phases) if spans else ((whole,) if n else ()),
        by_kind=tuple(by_kind),
        flags=flags,
        nn_ms=np.asarray(nn, np.float64),
        nn_t_s=np.asarray(nn_t, np.float64),
        nn_segment=np.asarray(nn_seg, np.int64),
        version=analysis_version(settings) if settings != DEFAULT_SETTINGS else ANALYSIS_VERSION,
    )


def load_analysis(
    reader: SessionReader, session_id: int, *, info: SessionInfo | None = None
) -> SessionAnalysis | None:
    """The stored analysis of a finished session, if it is current; else ``None``.

    Current means: computed by this `ANALYSIS_VERSION`, for the session's present beat
    count, and the session is not still recording. A row that cannot be parsed is ignored.
    """
    info = reader.session(session_id) if info is None else info
    if str(info.status) not in FINAL_STATUSES:
        return None
    payload = reader.cached_analysis(session_id, ANALYSIS_VERSION, info.n_beats)
    if payload is None:
        return None
    try:
        an = SessionAnalysis.from_json(payload)
    except (ValueError, KeyError, TypeError):
        log.warning("session %s: unreadable cached analysis ignored", session_id)
        return None
    if an.version != ANALYSIS_VERSION or an.n_beats != info.n_beats or an.session_id != info.id:
        return None
    return an


def save_analysis(store: Store, an: SessionAnalysis) -> None:
    """Save ``an`` in ``store``'s analysis cache (replacing an older row)."""
    store.save_analysis(an.session_id, an.version, an.n_beats, an.to_json())


def cache_analysis(store: Store, session_id: int, *, analyze: Analyzer | None = None) -> None:
    """Analyse a finished session and save the result in ``store``'s analysis cache.

    Called where sessions end (``record``, ``import``, the live worker). Never raises for an
    analysis or cache failure: it is logged, and the recording itself is already committed.
    Does nothing for an in-memory store or a session still recording.
    """
    if store.path == ":memory:":
        return
    from biofeedback.sessions.store import SessionReader, StoreError

    try:
        with SessionReader(store.path, clock=store.clock) as reader:
            info = reader.session(session_id)
            if str(info.status) not in FINAL_STATUSES:
                return
            an = analyse_session(reader, session_id, analyze=analyze)
        save_analysis(store, an)
    except StoreError as exc:  # full disk, read-only file: one line, not a traceback
        log.error("session %s: analysis not cached: %s", session_id, exc)
    except Exception:  # analysis must never cost the user a recording
        log.exception("session %s: analysis not cached", session_id)
