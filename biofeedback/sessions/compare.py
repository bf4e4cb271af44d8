"""Did my stress go down? Per-phase metrics, differences with uncertainty, and a verdict.

For one session, every protocol phase gets the metrics users compare (mean HR, RMSSD,
lnRMSSD, SDNN, HF, LF/HF, Stress Index, breathing rate, artefact rate), computed by
:func:`biofeedback.hrv.analyze_rr` on that phase's beats (artefacts corrected per phase).

Differences *practice − baseline* and *recovery − baseline* pool all phases of a kind (the
self-compassion break has three practice steps). Their uncertainty comes from a percentile
bootstrap over non-overlapping windows (``WINDOW_S`` = 30 s; 2000 resamples, fixed seed):
each window gives one value of mean HR, RMSSD and lnRMSSD from its corrected NN intervals,
windows are resampled with replacement within each phase group, and the 2.5/97.5 percentiles
of the difference of means are the 95 % CI. A difference is called *within noise* when its
CI contains zero, or when it is smaller than the user's smallest worthwhile change (once
known). With fewer than 3 windows in a group there is no CI: ``within_noise`` stays true (no
change is claimed) and the verdict says the phase is too short to tell. Windows of 30 s are
a compromise: RMSSD is valid from ~30 s (Munoz et al. 2015, PLoS One 10:e0138921) and a
3-minute baseline still gives six windows; serial correlation between adjacent windows makes
the CI somewhat optimistic (stated in the verdict's caveat).

Breathing rate is the dominant spectral peak in 0.07-0.5 Hz (4.2-30 breaths/min) of the
phase's PSD. Slow breathing raises RMSSD and moves respiratory power from HF into LF by
itself (Task Force 1996; Shaffer & Ginsberg 2017), so when breathing rate changes by more
than ``BREATHING_SHIFT_PER_MIN`` the verdict says so.

Across sessions, the baseline phase's lnRMSSD is the resting marker. Once ≥
``MIN_BASELINES`` baselines exist, a personal normal range in the style of HRV4Training
(Altini & Plews 2021, Sensors 21:7932): the 60-day mean of daily baseline lnRMSSD ± 0.5 SD,
against which the rolling 7-day mean is judged; the smallest worthwhile change is 0.5 × that
SD (Plews et al. 2013, Sports Med 43:773-781; Buchheit 2014, Front Physiol 5:73).

Caching: the expensive part (``analyze_rr`` on every phase and phase kind, ~35 ms a session)
is `analyse_session`, a pure function of the stored beats and phases. Its result, a
`SessionAnalysis`, is saved in the store's ``analysis_cache`` table when a session ends
(`cache_analysis`, called by ``record``, ``import`` and the live worker) and reused by
`compare_session` and `baseline_history` while ``ANALYSIS_VERSION`` and the session's beat
count still match and the session is no longer recording. The cheap part (bootstrap CIs,
smallest worthwhile change, verdict: ~2-3 ms) always runs, so the personal SWC is applied
fresh. Results with and without the cache are identical (floats round-trip exactly through
JSON).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.hrv.frequency import breathing_rate_per_min

if TYPE_CHECKING:
    from biofeedback.sessions.store import SessionInfo, SessionReader, Store

log = logging.getLogger(__name__)

#: Version of `analyse_session`'s output. Bump it whenever the analysis (or anything it
#: calls: artefact correction, metrics, windows) changes, so stored analyses are recomputed.
ANALYSIS_VERSION = "compare-3"
#: Session statuses whose data no longer change, so their analysis may be cached.
FINAL_STATUSES: frozenset[str] = frozenset({"complete", "stopped_early", "interrupted"})

WINDOW_S = 30.0
N_BOOT = 2000
BOOT_SEED = 20261125
BREATHING_SHIFT_PER_MIN = 3.0
MIN_BASELINES = 7

#: Metrics shown per phase, in table order, with their units in the key.
PHASE_KEYS: tuple[str, ...] = (
    "MeanHR_bpm",
    "RMSSD_ms",
    "lnRMSSD",
    "SDNN_ms",
    "HF_ms2",
    "LFHF",
    "StressIndex",
    "BreathingRate_per_min",
    "ArtifactRate_pct",
)
#: Metrics whose phase differences get a bootstrap CI (computable on 30-s windows).
DIFF_KEYS: tuple[str, ...] = ("MeanHR_bpm", "RMSSD_ms", "lnRMSSD")


@dataclass(frozen=True, slots=True)
class PhaseMetrics:
    """Metrics of one phase (or of all phases of one kind when ``name`` is the kind).

    ``grade`` is the HRV engine's quality grade (`biofeedback.hrv.quality.Quality`:
    good, acceptable, poor or withheld; ``""`` when the phase was too short to analyse)
    and ``reasons`` its reasons; ``reliable`` is false exactly when nothing is reported.
    ``metrics["ArtifactRate_pct"]`` is the percentage of beats corrected.
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


@dataclass(frozen=True, slots=True)
class Difference:
    """``b − a`` for one metric, with a bootstrap 95 % CI over windows.

    ``a_value``/``b_value`` are the phase-group metrics of the table; ``estimate`` and the CI
    are computed on the pooled 30-s windows (they agree with ``b_value − a_value`` up to the
    beats at window edges that are left out). With fewer than 3 windows in a group the CI is
    ``None``, ``estimate`` is ``b_value − a_value`` and ``within_noise`` is true: no change
    is claimed, but none is ruled out either.
    """

    metric: str
    contrast: str  # "practice-baseline" or "recovery-baseline"
    a_value: float | None
    b_value: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n_windows_a: int
    n_windows_b: int
    within_noise: bool


@dataclass(frozen=True, slots=True)
class SessionComparison:
    """Everything ``compare`` says about one session."""

    session_id: int
    title: str
    started_at: float
    protocol: str
    status: str
    phases: tuple[PhaseMetrics, ...]
    by_kind: tuple[PhaseMetrics, ...]
    differences: tuple[Difference, ...]
    verdict: tuple[str, ...]
    quality_ok: bool


@dataclass(frozen=True, slots=True)
class NormalRange:
    """Personal resting-HRV band from the last 60 days of baselines (lnRMSSD, ln ms)."""

    mean: float
    low: float
    high: float
    swc: float
    n_baselines: int
    rolling7: float
    status: str  # "within", "below" or "above"


@dataclass(frozen=True, slots=True)
class MultiComparison:
    """Several sessions side by side plus the resting-HRV trend."""

    sessions: tuple[SessionComparison, ...]
    baseline_change_lnrmssd: float | None
    normal_range: NormalRange | None
    summary: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- helpers


def _window_sums(
    nn_ms: FloatArray, t_s: FloatArray, seg: IntArray, window_s: float = WINDOW_S
) -> FloatArray:
    """Per non-overlapping window: [Σ successive-difference², n differences, Σ HR, n beats].

    Windows with fewer than 10 beats or 5 within-segment differences are dropped. Keeping
    sums (not per-window RMSSD) lets the bootstrap recompute the *pooled* phase statistic,
    so the point estimate and its CI describe the same quantity.
    """
    rows: list[tuple[float, float, float, float]] = []
    if nn_ms.size >= 10:
        edges = np.arange(t_s[0], t_s[-1] + 1e-9, window_s)
        idx = np.searchsorted(t_s, edges)
        for a, b in itertools.pairwise(idx):
            if b - a < 10:
                continue
            x, s = nn_ms[a:b], seg[a:b]
            d = np.diff(x)[s[1:] == s[:-1]]
            if d.size < 5:
                continue
            rows.append((float(d @ d), float(d.size), float(np.sum(60000.0 / x)), float(x.size)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _pooled(sums: FloatArray) -> dict[str, FloatArray]:
    """Pooled mean HR, RMSSD and lnRMSSD from window sums; rows of ``sums`` may be 2-D
    (one resample per row) or a single set of windows."""
    tot = sums.sum(axis=-2)
    rmssd = np.sqrt(tot[..., 0] / tot[..., 1])
    # RMSSD 0 (metronomic RR, e.g. fixed-rate pacing): lnRMSSD is undefined (NaN, not -inf)
    ln = np.log(rmssd, out=np.full_like(rmssd, np.nan), where=rmssd > 0)
    return {"MeanHR_bpm": tot[..., 2] / tot[..., 3], "RMSSD_ms": rmssd, "lnRMSSD": ln}


def bootstrap_diff_ci(
    a: FloatArray, b: FloatArray, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> dict[str, tuple[float, float, float]] | None:
    """Point estimate and percentile 95 % CI of ``b − a`` for each of ``DIFF_KEYS``.

    ``a`` and ``b`` are window sums from `_window_sums`; windows are resampled with
    replacement within each group (a cluster bootstrap). ``None`` when either group has
    fewer than 3 windows; a metric is left out when it is undefined in some resample
    (lnRMSSD of a window set with RMSSD 0).
    """
    if a.shape[0] < 3 or b.shape[0] < 3:
        return None
    rng = np.random.default_rng(seed)
    ra = a[rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))]
    rb = b[rng.integers(0, b.shape[0], size=(n_boot, b.shape[0]))]
    pa, pb, boot_a, boot_b = _pooled(a), _pooled(b), _pooled(ra), _pooled(rb)
    out: dict[str, tuple[float, float, float]] = {}
    for k in DIFF_KEYS:
        diff = boot_b[k] - boot_a[k]
        est = float(pb[k] - pa[k])
        if not (math.isfinite(est) and np.all(np.isfinite(diff))):
            continue
        lo, hi = np.percentile(diff, [2.5, 97.5])
        out[k] = (est, float(lo), float(hi))
    return out


@dataclass(frozen=True, slots=True, eq=False)
class KindAnalysis:
    """All phases of one kind pooled: their metrics and their 30-s window sums.

    ``windows`` has shape ``(n_windows, 4)``: [Σ successive-difference² (ms²), n differences,
    Σ HR (bpm), n beats] per window (see `bootstrap_diff_ci`); ``(0, 4)`` when unreliable.
    """

    metrics: PhaseMetrics
    windows: FloatArray


def _pm_to_json(p: PhaseMetrics) -> dict[str, Any]:
    return {
        "name": p.name,
        "kind": p.kind,
        "start_s": float(p.start_s),
        "end_s": float(p.end_s),
        "n_beats": int(p.n_beats),
        "reliable": bool(p.reliable),
        "metrics": {k: None if v is None else float(v) for k, v in p.metrics.items()},
        "warnings": [str(w) for w in p.warnings],
        "grade": p.grade,
        "reasons": list(p.reasons),
    }


def _pm_from_json(d: dict[str, Any]) -> PhaseMetrics:
    return PhaseMetrics(
        name=str(d["name"]),
        kind=str(d["kind"]),
        start_s=float(d["start_s"]),
        end_s=float(d["end_s"]),
        n_beats=int(d["n_beats"]),
        reliable=bool(d["reliable"]),
        metrics={str(k): None if v is None else float(v) for k, v in d["metrics"].items()},
        warnings=tuple(str(w) for w in d["warnings"]),
        grade=str(d.get("grade", "")),
        reasons=tuple(str(r) for r in d.get("reasons", ())),
    )


@dataclass(frozen=True, slots=True, eq=False)
class SessionAnalysis:
    """The cacheable, expensive part of `compare_session` for one session.

    Attributes
    ----------
    session_id
        The analysed session.
    n_beats
        Beats the analysis saw; a cached analysis is valid only while the session still has
        this many beats.
    phases
        `PhaseMetrics` of every recorded phase in order (or one ``whole`` pseudo-phase when
        the session has no phases).
    by_kind
        ``baseline``/``practice``/``recovery`` (those present, in that order) pooled, with
        their window sums.
    version
        `ANALYSIS_VERSION` of the code that computed it.

    Compare with `to_json` (arrays make ``==`` ambiguous, so it is identity).
    """

    session_id: int
    n_beats: int
    phases: tuple[PhaseMetrics, ...]
    by_kind: tuple[KindAnalysis, ...]
    version: str = ANALYSIS_VERSION

    def to_json(self) -> str:
        """Lossless JSON text (floats as ``repr``, which round-trips exactly; ``None`` for
        missing metrics; non-finite floats as ``NaN``/``Infinity``, which `json` reads back)."""
        return json.dumps(
            {
                "version": self.version,
                "session_id": int(self.session_id),
                "n_beats": int(self.n_beats),
                "phases": [_pm_to_json(p) for p in self.phases],
                "by_kind": [
                    {
                        "metrics": _pm_to_json(k.metrics),
                        "windows": [[float(x) for x in row] for row in k.windows],
                    }
                    for k in self.by_kind
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SessionAnalysis:
        """Inverse of `to_json`; `ValueError`/`KeyError`/`TypeError` on a malformed text."""
        d = json.loads(text)
        return cls(
            session_id=int(d["session_id"]),
            n_beats=int(d["n_beats"]),
            phases=tuple(_pm_from_json(p) for p in d["phases"]),
            by_kind=tuple(
                KindAnalysis(
                    _pm_from_json(k["metrics"]),
                    np.asarray(k["windows"], dtype=np.float64).reshape(-1, 4),
                )
                for k in d["by_kind"]
            ),
            version=str(d["version"]),
        )

    def baseline_lnrmssd(self) -> float | None:
        """lnRMSSD of the first baseline phase when reliable (the resting marker), else None."""
        for p in self.phases:
            if p.kind == "baseline":
                ln = p.metrics.get("lnRMSSD")
                return ln if p.reliable and ln is not None else None
        return None


def _analyse(name: str, kind: str, start_s: float, end_s: float, beats: Any) -> KindAnalysis:
    from biofeedback.hrv import analyze_rr

    rr = beats["rr_ms"].to_numpy(dtype=np.float64)
    t = beats["t_s"].to_numpy(dtype=np.float64)
    seg = beats["segment"].to_numpy(dtype=np.int64)
    empty = np.zeros((0, 4))
    if rr.size < 10:
        blank: dict[str, float | None] = dict.fromkeys(PHASE_KEYS)
        return KindAnalysis(
            PhaseMetrics(
                name, kind, start_s, end_s, int(rr.size), False, blank, ("too few beats",)
            ),
            empty,
        )
    res = analyze_rr(rr, t_s=t, segment=seg, source=name)
    src = res.metrics if res.reliable else dict.fromkeys(res.metrics)
    rmssd = src.get("RMSSD_ms")
    breathing = None
    if res.reliable and res.spectrum is not None:
        breathing = breathing_rate_per_min(res.spectrum.freq_hz, res.spectrum.psd_ms2_hz)
    m: dict[str, float | None] = {
        "MeanHR_bpm": src.get("MeanHR_bpm"),
        "RMSSD_ms": rmssd,
        "lnRMSSD": math.log(rmssd) if rmssd else None,
        "SDNN_ms": src.get("SDNN_ms"),
        "HF_ms2": src.get("HF_ms2"),
        "LFHF": src.get("LFHF"),
        "StressIndex": src.get("StressIndex"),
        "BreathingRate_per_min": breathing,
        "ArtifactRate_pct": 100.0 * res.quality.corrected_rate,
    }
    windows = _window_sums(res.nn_ms, res.nn_t_s, res.nn_segment) if res.reliable else empty
    return KindAnalysis(
        PhaseMetrics(
            name,
            kind,
            start_s,
            end_s,
            res.n_beats,
            res.reliable,
            m,
            res.warnings,
            res.quality.grade,
            res.quality.reasons,
        ),
        windows,
    )


#: Verdict wording when a group has fewer than 3 windows: no CI, so neither "a change" nor
#: "within noise" can be claimed.
_NO_CI = (
    f"phase too short to tell a change from noise (fewer than 3 {WINDOW_S:.0f}-s windows, "
    "no confidence interval)"
)


def _fmt(v: float | None, nd: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _verdict(
    by_kind: dict[str, KindAnalysis], diffs: list[Difference], swc_ln: float | None
) -> tuple[list[str], bool]:
    lines: list[str] = []
    quality_ok = True
    for kind, an in by_kind.items():
        pm = an.metrics
        if not pm.reliable:
            quality_ok = False
            why = "; ".join(pm.reasons) if pm.grade else "too short"
            lines.append(
                f"Data quality too poor during {kind} for a verdict (grade withheld: {why})."
                if pm.grade
                else f"Data quality too poor during {kind} for a verdict ({why})."
            )
        elif pm.grade == "poor":
            lines.append(
                f"Data quality during {kind} is poor ({'; '.join(pm.reasons)}): read what "
                "follows with caution."
            )
    if "baseline" not in by_kind:
        lines.append("No baseline phase: nothing to compare against.")
        return lines, quality_ok
    base = by_kind["baseline"].metrics.metrics
    for contrast in ("practice-baseline", "recovery-baseline"):
        kind = contrast.split("-")[0]
        if kind not in by_kind or not by_kind[kind].metrics.reliable:
            continue
        during = "during the practice" if kind == "practice" else "in recovery"
        d = {x.metric: x for x in diffs if x.contrast == contrast}
        ln, hr = d.get("lnRMSSD"), d.get("MeanHR_bpm")
        if ln is not None and ln.estimate is not None:
            pct = 100.0 * (math.exp(ln.estimate) - 1.0)
            ci = (
                f" (95 % CI {100 * (math.exp(ln.ci_low) - 1):+.0f} to "
                f"{100 * (math.exp(ln.ci_high) - 1):+.0f} %)"
                if ln.ci_low is not None and ln.ci_high is not None
                else ""
            )
            if ln.ci_low is None or ln.ci_high is None:
                lines.append(f"HRV (RMSSD) {during}: {pct:+.0f} %, {_NO_CI}.")
            elif ln.within_noise and ln.ci_low <= 0.0 <= ln.ci_high:
                lines.append(f"HRV (RMSSD) {during}: {pct:+.0f} %{ci}, within noise.")
            elif ln.within_noise:  # CI excludes zero; only the personal SWC makes it noise
                lines.append(
                    f"HRV (RMSSD) {during}: {pct:+.0f} %{ci}, smaller than your smallest "
                    "worthwhile change, so within your normal variation."
                )
            else:
                word = "rose" if ln.estimate > 0 else "fell"
                meaning = (
                    "consistent with calmer, more parasympathetic activity"
                    if ln.estimate > 0
                    else "consistent with more arousal"
                )
                lines.append(f"HRV (RMSSD) {word} {during}: {pct:+.0f} %{ci}, {meaning}.")
        if hr is not None and hr.estimate is not None:
            ci = (
                f" (95 % CI {hr.ci_low:+.1f} to {hr.ci_high:+.1f})"
                if hr.ci_low is not None and hr.ci_high is not None
                else ""
            )
            state = (
                _NO_CI
                if hr.ci_low is None or hr.ci_high is None
                else "within noise"
                if hr.within_noise
                else ("lower" if hr.estimate < 0 else "higher")
            )
            lines.append(f"Heart rate {during}: {hr.estimate:+.1f} bpm{ci}, {state}.")
        br_a = base.get("BreathingRate_per_min")
        br_b = by_kind[kind].metrics.metrics.get("BreathingRate_per_min")
        if br_a is not None and br_b is not None and abs(br_b - br_a) >= BREATHING_SHIFT_PER_MIN:
            direction = "slowed" if br_b < br_a else "sped up"
            claimed = ln is not None and ln.ci_low is not None and not ln.within_noise
            why = (
                "so part or all of the HRV change may be breathing rather than stress"
                if claimed
                else "so read differences in those between the phases as breathing before stress"
            )
            lines.append(
                f"Breathing {direction} from about {br_a:.0f} to {br_b:.0f} breaths/min "
                f"{during}: a change this size moves RMSSD, HF and LF/HF by itself, {why}."
            )
    graded = [f"{kind} {an.metrics.grade}" for kind, an in by_kind.items() if an.metrics.grade]
    if graded:
        lines.append(f"Data quality: {', '.join(graded)}.")
    if swc_ln is not None:
        lines.append(
            f"Your smallest worthwhile change in resting lnRMSSD is {swc_ln:.3f} "
            f"(≈ {100 * (math.exp(swc_ln) - 1):.0f} %); smaller changes count as noise."
        )
    lines.append(
        "HRV is a proxy for stress physiology, not a diagnosis; CIs over 30-s windows "
        "ignore serial correlation and may be somewhat narrow."
    )
    return lines, quality_ok


# --------------------------------------------------------------------------- public


def analyse_session(reader: SessionReader, session_id: int) -> SessionAnalysis:
    """Analyse every phase and phase kind of a session (the expensive, cacheable part).

    Pure: depends only on the session's stored beats and phase markers. Each phase, and all
    phases of each kind pooled (non-adjacent spans kept apart), go through
    :func:`biofeedback.hrv.analyze_rr` (artefact correction, time/frequency metrics); the
    pooled kinds also keep their 30-s window sums for the bootstrap.

    Parameters
    ----------
    reader
        The store's read path.
    session_id
        Session to analyse. Unknown ids raise the store's error (a `UserError`).
    """
    beats = reader.beats(session_id)
    spans = reader.phases(session_id)
    phases: list[PhaseMetrics] = []
    kinds: dict[str, list[tuple[float, float]]] = {}
    for sp in spans:
        sel = beats[(beats["t_s"] >= sp.start_s) & (beats["t_s"] < sp.end_s)]
        phases.append(_analyse(sp.name, sp.kind, sp.start_s, sp.end_s, sel).metrics)
        kinds.setdefault(sp.kind, []).append((sp.start_s, sp.end_s))
    if not spans and len(beats):
        t = beats["t_s"].to_numpy()
        phases.append(_analyse("whole", "session", float(t[0]), float(t[-1]), beats).metrics)
    by_kind: list[KindAnalysis] = []
    for kind in ("baseline", "practice", "recovery"):
        if kind not in kinds:
            continue
        mask = np.zeros(len(beats), dtype=bool)
        for a, b in kinds[kind]:
            mask |= ((beats["t_s"] >= a) & (beats["t_s"] < b)).to_numpy()
        sel = beats[mask]
        # Non-adjacent spans of one kind must not be glued: offset their segment ids.
        sel = sel.assign(segment=sel["segment"] * 1000 + _span_index(sel["t_s"], kinds[kind]))
        start = min(a for a, _ in kinds[kind])
        end = max(b for _, b in kinds[kind])
        by_kind.append(_analyse(kind, kind, start, end, sel))
    return SessionAnalysis(int(session_id), len(beats), tuple(phases), tuple(by_kind))


def load_analysis(
    reader: SessionReader, session_id: int, *, info: SessionInfo | None = None
) -> SessionAnalysis | None:
    """The stored analysis of a finished session, if it is current; else ``None``.

    Current means: computed by this ``ANALYSIS_VERSION``, for the session's present beat
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


def session_analysis(
    reader: SessionReader, session_id: int, *, info: SessionInfo | None = None
) -> SessionAnalysis:
    """`load_analysis` when it has a current one, else `analyse_session` (not saved)."""
    cached = load_analysis(reader, session_id, info=info)
    return cached if cached is not None else analyse_session(reader, session_id)


def cache_analysis(store: Store, session_id: int) -> None:
    """Analyse a finished session and save the result in ``store``'s analysis cache.

    Called where sessions end (``record``, ``import``, the live worker). Never raises for an
    analysis or cache failure: it is logged, and the recording itself is already committed.
    Does nothing for an in-memory store or a session still recording.
    """
    if store.path == ":memory:":
        return
    try:
        from biofeedback.sessions.store import SessionReader

        with SessionReader(store.path, clock=store.clock) as reader:
            info = reader.session(session_id)
            if str(info.status) not in FINAL_STATUSES:
                return
            an = analyse_session(reader, session_id)
        store.save_analysis(session_id, an.version, an.n_beats, an.to_json())
    except Exception:  # analysis must never cost the user a recording
        log.exception("session %s: analysis not cached", session_id)


def comparison_from_analysis(
    info: SessionInfo, analysis: SessionAnalysis, *, swc_lnrmssd: float | None = None
) -> SessionComparison:
    """The cheap part of `compare_session`: bootstrap CIs, SWC test and verdict."""
    by_kind = {k.metrics.kind: k for k in analysis.by_kind}
    diffs: list[Difference] = []
    if "baseline" in by_kind:
        base = by_kind["baseline"]
        for kind in ("practice", "recovery"):
            if kind not in by_kind:
                continue
            other = by_kind[kind]
            boot = bootstrap_diff_ci(base.windows, other.windows)
            for key in DIFF_KEYS:
                av, bv = base.metrics.metrics.get(key), other.metrics.metrics.get(key)
                if boot is None or key not in boot:
                    est, lo, hi = (None if av is None or bv is None else bv - av), None, None
                else:
                    est, lo, hi = boot[key]
                noise = lo is None or hi is None or lo <= 0.0 <= hi
                if key == "lnRMSSD" and swc_lnrmssd is not None and est is not None:
                    noise = noise or abs(est) < swc_lnrmssd
                diffs.append(
                    Difference(
                        key,
                        f"{kind}-baseline",
                        av,
                        bv,
                        est,
                        lo,
                        hi,
                        int(base.windows.shape[0]),
                        int(other.windows.shape[0]),
                        noise,
                    )
                )
    verdict, quality_ok = _verdict(by_kind, diffs, swc_lnrmssd)
    return SessionComparison(
        session_id=info.id,
        title=info.title,
        started_at=info.started_at,
        protocol=info.protocol,
        status=str(info.status),
        phases=analysis.phases,
        by_kind=tuple(a.metrics for a in analysis.by_kind),
        differences=tuple(diffs),
        verdict=tuple(verdict),
        quality_ok=quality_ok,
    )


def compare_session(
    reader: SessionReader, session_id: int, *, swc_lnrmssd: float | None = None
) -> SessionComparison:
    """Per-phase metrics, practice/recovery vs baseline differences and a verdict.

    Uses the store's cached `SessionAnalysis` when it is current (see `load_analysis`),
    else analyses the session now (`analyse_session`); the result is the same either way.

    Parameters
    ----------
    reader
        The store's read path.
    session_id
        Session to analyse. Unknown ids raise the store's error (a `UserError`).
    swc_lnrmssd
        Personal smallest worthwhile change of lnRMSSD (ln ms); a difference smaller than
        it is reported as within noise even when its CI excludes zero.
    """
    info = reader.session(session_id)
    analysis = session_analysis(reader, session_id, info=info)
    return comparison_from_analysis(info, analysis, swc_lnrmssd=swc_lnrmssd)


def _span_index(t: Any, spans: list[tuple[float, float]]) -> Any:
    out = np.zeros(len(t), dtype=np.int64)
    tv = t.to_numpy()
    for i, (a, b) in enumerate(spans):
        out[(tv >= a) & (tv < b)] = i
    return out


def personal_normal_range(
    baselines: Sequence[tuple[float, float]], *, now: float | None = None
) -> NormalRange | None:
    """HRV4Training-style band from ``(started_at unix s, lnRMSSD)`` baseline values.

    Daily values are averaged per calendar day (UTC). The band is the 60-day mean ± 0.5 SD;
    ``rolling7`` is the mean of the last 7 days with data. ``None`` with fewer than
    ``MIN_BASELINES`` days.
    """
    if not baselines:
        return None
    now = max(t for t, _ in baselines) if now is None else now
    by_day: dict[dt.date, list[float]] = {}
    for t, v in baselines:
        if now - t <= 60 * 86400 and math.isfinite(v):
            by_day.setdefault(dt.datetime.fromtimestamp(t, dt.UTC).date(), []).append(v)
    if len(by_day) < MIN_BASELINES:
        return None
    days = sorted(by_day)
    daily = np.array([np.mean(by_day[d]) for d in days])
    mean = float(daily.mean())
    sd = float(daily.std(ddof=1))
    swc = 0.5 * sd
    last = days[-1]
    recent = [np.mean(by_day[d]) for d in days if (last - d).days < 7]
    r7 = float(np.mean(recent))
    status = "below" if r7 < mean - swc else "above" if r7 > mean + swc else "within"
    return NormalRange(mean, mean - swc, mean + swc, swc, len(days), r7, status)


def baseline_history(reader: SessionReader) -> list[tuple[float, float]]:
    """``(started_at, baseline lnRMSSD)`` for every session whose first baseline phase is
    reliable (from the cached analysis when current, see `session_analysis`)."""
    out: list[tuple[float, float]] = []
    for info in reader.list_sessions():
        spans = [p for p in reader.phases(info.id) if p.kind == "baseline"]
        if not spans:
            continue
        cached = load_analysis(reader, info.id, info=info)
        if cached is not None:
            ln = cached.baseline_lnrmssd()
        else:
            # Without a current cache row analyse only the baseline phase (1 of ~8 calls).
            beats = reader.beats(info.id)
            sp = spans[0]
            sel = beats[(beats["t_s"] >= sp.start_s) & (beats["t_s"] < sp.end_s)]
            pm = _analyse(sp.name, "baseline", sp.start_s, sp.end_s, sel).metrics
            ln = pm.metrics.get("lnRMSSD") if pm.reliable else None
        if ln is not None:
            out.append((info.started_at, ln))
    return out


def compare_sessions(reader: SessionReader, session_ids: Sequence[int]) -> MultiComparison:
    """Compare one or more sessions, with the personal normal range when it exists."""
    history = baseline_history(reader)
    normal = personal_normal_range(history)
    swc = normal.swc if normal is not None else None
    comps = tuple(compare_session(reader, sid, swc_lnrmssd=swc) for sid in session_ids)
    ln_first = _baseline_ln(comps[0]) if comps else None
    ln_last = _baseline_ln(comps[-1]) if comps else None
    change = None
    summary: list[str] = []
    if len(comps) > 1 and ln_first is not None and ln_last is not None:
        change = ln_last - ln_first
        pct = 100.0 * (math.exp(change) - 1.0)
        if swc is None:
            tail = (
                " (no personal normal range yet, so this cannot be told from day-to-day variation)."
            )
        else:
            tail = " (within your normal variation)." if abs(change) < swc else "."
        summary.append(
            f"Resting (baseline) RMSSD changed {pct:+.0f} % from session {comps[0].session_id} "
            f"to session {comps[-1].session_id}" + tail
        )
    if normal is not None:
        summary.append(
            f"Personal normal range (60 days, {normal.n_baselines} days of baselines): "
            f"RMSSD {math.exp(normal.low):.0f}-{math.exp(normal.high):.0f} ms; your 7-day "
            f"average {math.exp(normal.rolling7):.0f} ms is {normal.status} it."
        )
    else:
        summary.append(
            f"A personal normal range needs baselines on ≥ {MIN_BASELINES} days "
            f"(have {len({dt.datetime.fromtimestamp(t, dt.UTC).date() for t, _ in history})})."
        )
    return MultiComparison(comps, change, normal, tuple(summary))


def _baseline_ln(c: SessionComparison) -> float | None:
    for pm in c.by_kind:
        if pm.kind == "baseline":
            return pm.metrics.get("lnRMSSD")
    return None


def difference_to_json(d: Difference, *, with_windows: bool = True) -> dict[str, Any]:
    """One `Difference` as JSON, for ``compare --json`` and the report's JSON export.

    Keys: ``metric``, ``contrast``, ``baseline`` and ``other`` (the two phase-group values),
    ``estimate`` (other − baseline, in the metric's unit), ``ci95`` (``[low, high]`` or
    ``None`` when a group has < 3 windows), ``within_noise``; with ``with_windows`` also
    ``n_windows`` (``[baseline, other]`` 30-s windows). The report export passes
    ``with_windows=False``: its schema (``reports/session.schema.json``) has no such field.
    """
    out: dict[str, Any] = {
        "metric": d.metric,
        "contrast": d.contrast,
        "baseline": d.a_value,
        "other": d.b_value,
        "estimate": d.estimate,
        "ci95": None if d.ci_low is None or d.ci_high is None else [d.ci_low, d.ci_high],
    }
    if with_windows:
        out["n_windows"] = [d.n_windows_a, d.n_windows_b]
    out["within_noise"] = d.within_noise
    return out


def comparison_to_json(mc: MultiComparison) -> dict[str, Any]:
    """The JSON object printed by ``compare --json`` (schema_version 1)."""

    return {
        "schema_version": 1,
        "sessions": [
            {
                "id": c.session_id,
                "title": c.title,
                "started_at": dt.datetime.fromtimestamp(c.started_at, dt.UTC).isoformat(),
                "protocol": c.protocol,
                "status": c.status,
                "quality_ok": c.quality_ok,
                "phases": [_pm_to_json(p) for p in c.phases],
                "by_kind": [_pm_to_json(p) for p in c.by_kind],
                "differences": [difference_to_json(d) for d in c.differences],
                "verdict": list(c.verdict),
            }
            for c in mc.sessions
        ],
        "baseline_change_lnRMSSD": mc.baseline_change_lnrmssd,
        "normal_range": None
        if mc.normal_range is None
        else {
            "lnRMSSD_mean": mc.normal_range.mean,
            "lnRMSSD_low": mc.normal_range.low,
            "lnRMSSD_high": mc.normal_range.high,
            "swc_lnRMSSD": mc.normal_range.swc,
            "n_baseline_days": mc.normal_range.n_baselines,
            "rolling7_lnRMSSD": mc.normal_range.rolling7,
            "status": mc.normal_range.status,
        },
        "summary": list(mc.summary),
    }
