"""Did my stress go down? Per-phase metrics, differences with uncertainty, and a verdict.

Everything here reads a session's one analysis (`biofeedback.sessions.analysis`, handed out
by `biofeedback.sessions.view.SessionViews`): the per-phase and per-kind results and the
pooled kinds' 30-s window sums. What runs on each request is cheap (~2-3 ms a session):
the bootstrap CIs (`biofeedback.sessions.stats`), the personal smallest worthwhile change
and the verdict (`biofeedback.sessions.verdict`), so the personal SWC is always fresh. The
JSON of ``compare --json`` is `biofeedback.sessions.compare_json`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from biofeedback.sessions.analysis import PhaseMetrics, SessionAnalysis
from biofeedback.sessions.stats import (
    DIFF_KEYS,
    MIN_BASELINES,
    Difference,
    NormalRange,
    baseline_days,
    bootstrap_diff_ci,
    personal_normal_range,
)
from biofeedback.sessions.verdict import verdict
from biofeedback.sessions.view import SessionViews, views_of

if TYPE_CHECKING:
    from biofeedback.sessions.store import SessionInfo, SessionReader

#: Metrics shown per phase in ``compare``, in table order, with their units in the key.
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
class MultiComparison:
    """Several sessions side by side plus the resting-HRV trend."""

    sessions: tuple[SessionComparison, ...]
    baseline_change_lnrmssd: float | None
    normal_range: NormalRange | None
    summary: tuple[str, ...] = field(default=())


def _differences(
    base: PhaseMetrics, other: PhaseMetrics, kind: str, swc_lnrmssd: float | None
) -> list[Difference]:
    boot = bootstrap_diff_ci(base.windows, other.windows)
    out: list[Difference] = []
    for key in DIFF_KEYS:
        av, bv = base.metrics.get(key), other.metrics.get(key)
        if boot is None or key not in boot:
            est, lo, hi = (None if av is None or bv is None else bv - av), None, None
        else:
            est, lo, hi = boot[key]
        noise = lo is None or hi is None or lo <= 0.0 <= hi
        if key == "lnRMSSD" and swc_lnrmssd is not None and est is not None:
            noise = noise or abs(est) < swc_lnrmssd
        n_a, n_b = int(base.windows.shape[0]), int(other.windows.shape[0])
        out.append(Difference(key, f"{kind}-baseline", av, bv, est, lo, hi, n_a, n_b, noise))
    return out


def comparison_from_analysis(
    info: SessionInfo, analysis: SessionAnalysis, *, swc_lnrmssd: float | None = None
) -> SessionComparison:
    """Bootstrap CIs, SWC test and verdict of one analysed session."""
    by_kind = {k.kind: k for k in analysis.by_kind}
    diffs: list[Difference] = []
    if "baseline" in by_kind:
        for kind in ("practice", "recovery"):
            if kind in by_kind:
                diffs += _differences(by_kind["baseline"], by_kind[kind], kind, swc_lnrmssd)
    lines, quality_ok = verdict(by_kind, diffs, swc_lnrmssd)
    return SessionComparison(
        session_id=info.id,
        title=info.title,
        started_at=info.started_at,
        protocol=info.protocol,
        status=str(info.status),
        phases=analysis.phases,
        by_kind=analysis.by_kind,
        differences=tuple(diffs),
        verdict=tuple(lines),
        quality_ok=quality_ok,
    )


def compare_session(
    source: SessionReader | SessionViews, session_id: int, *, swc_lnrmssd: float | None = None
) -> SessionComparison:
    """Per-phase metrics, practice/recovery vs baseline differences and a verdict.

    Parameters
    ----------
    source
        The read model (or a reader, wrapped in a fresh one).
    session_id
        Session to compare. Unknown ids raise the store's error (a `UserError`).
    swc_lnrmssd
        Personal smallest worthwhile change of lnRMSSD (ln ms); a difference smaller than
        it is reported as within noise even when its CI excludes zero.
    """
    views = views_of(source)
    info = views.reader.session(session_id)
    return comparison_from_analysis(info, views.analysis(session_id, info), swc_lnrmssd=swc_lnrmssd)


def baseline_history(source: SessionReader | SessionViews) -> list[tuple[float, float]]:
    """``(started_at, baseline lnRMSSD)`` for every session whose first baseline phase is
    reliable."""
    views = views_of(source)
    infos = [
        i
        for i in views.reader.list_sessions()
        if any(p.kind == "baseline" for p in views.reader.phases(i.id))
    ]
    analysed = views.analyses(infos)
    out: list[tuple[float, float]] = []
    for info in infos:
        ln = analysed[info.id].baseline_lnrmssd()
        if ln is not None:
            out.append((info.started_at, ln))
    return out


def _summary(
    by_time: Sequence[SessionComparison],
    change: float | None,
    normal: NormalRange | None,
    history: Sequence[tuple[float, float]],
) -> list[str]:
    summary: list[str] = []
    if change is not None:
        pct = 100.0 * (math.exp(change) - 1.0)
        if normal is None:
            tail = (
                " (no personal normal range yet, so this cannot be told from day-to-day variation)."
            )
        else:
            tail = " (within your normal variation)." if abs(change) < normal.swc else "."
        summary.append(
            f"Resting (baseline) RMSSD changed {pct:+.0f} % from session "
            f"{by_time[0].session_id} to session {by_time[-1].session_id}" + tail
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
            f"(have {baseline_days(history)})."
        )
    return summary


def compare_sessions(
    source: SessionReader | SessionViews, session_ids: Sequence[int]
) -> MultiComparison:
    """Compare one or more sessions, with the personal normal range when it exists."""
    views = views_of(source)
    history = baseline_history(views)
    normal = personal_normal_range(history)
    swc = normal.swc if normal is not None else None
    comps = tuple(compare_session(views, sid, swc_lnrmssd=swc) for sid in session_ids)
    # A change runs forward in time: from the earliest session to the latest, whatever the
    # order the ids were given in (the tables keep that order).
    by_time = sorted(comps, key=lambda c: (c.started_at, c.session_id))
    ln_first = baseline_ln(by_time[0]) if by_time else None
    ln_last = baseline_ln(by_time[-1]) if by_time else None
    change = None
    if len(comps) > 1 and ln_first is not None and ln_last is not None:
        change = ln_last - ln_first
    summary = _summary(by_time, change, normal, history)
    return MultiComparison(comps, change, normal, tuple(summary))


def baseline_ln(c: SessionComparison) -> float | None:
    """lnRMSSD of the pooled baseline kind of a comparison, if any."""
    for pm in c.by_kind:
        if pm.kind == "baseline":
            return pm.metrics.get("lnRMSSD")
    return None
