"""Data-quality grade of an analysed RR series: how far its HRV numbers can be trusted.

The grade replaces an all-or-nothing gate. It counts artefact *events* (beats corrected:
deleted, inserted or moved by the correction, plus out-of-range values removed), the way
Kubios reports "beats corrected", not flagged intervals (one ectopic beat flags up to three
intervals). Metrics are reported from the corrected NN series with the grade:

========== ================================= ===========================================
grade      when                              what the outputs do
========== ================================= ===========================================
good       < 1 % of beats corrected          report
acceptable 1-5 %                             report
poor       5-20 %                            report with a caution
withheld   > 20 % corrected, or the rhythm   no metric; the computed numbers stay in
           is not sinus (see below)          ``HrvResult.withheld_metrics``
========== ================================= ===========================================

The bands follow the artefact limits used in the literature: Lipponen & Tarvainen (2019)
show post-correction errors < 2 % up to a few percent of artefacts; Quigley et al. (2024)
exclude recordings above 10 %; 20 % is the point beyond which a corrected series is more
interpolation than heartbeat.

**Rhythm not sinus.** Correction repairs isolated ectopic beats; it cannot turn sustained
bigeminy/trigeminy or atrial fibrillation into sinus rhythm (the adaptive Lipponen threshold
learns a sustained alternation and stops flagging it). So the screen is applied to the
*corrected* NN series: when more than ``IRREGULAR_RATE_LIMIT`` = 10 % of successive NN still
differ by more than 20 % (the "20 % rule", Malik et al. 1989; Kleiger et al. 1987), the
rhythm is treated as not sinus and the metrics are withheld.

**Resolution.** Every source has a time resolution (1/1024 s BLE straps, 1 ms app exports,
1/fs for ECG-derived or annotation beats). Detection and correction never act on a
deviation within quantisation noise (:func:`biofeedback.hrv.artifacts.quantisation_floor_s`),
and a series whose variability is within quantisation noise has no signal
(:func:`has_signal`). When the caller does not declare it, the resolution is estimated as
the median spacing of the distinct RR values (:func:`estimate_resolution_ms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from biofeedback.hrv._types import FloatArray

Grade = Literal["good", "acceptable", "poor", "withheld"]
ResolutionSource = Literal["declared", "estimated", "default"]

#: Upper bounds (fractions of input beats corrected) of the good/acceptable/poor grades.
GOOD_MAX = 0.01
ACCEPTABLE_MAX = 0.05
POOR_MAX = 0.20
#: Fraction of successive corrected NN changing by > 20 % above which the rhythm is not sinus.
IRREGULAR_RATE_LIMIT = 0.10
#: Resolution assumed when it is neither declared nor estimable (app exports: 1 ms).
DEFAULT_RESOLUTION_MS = 1.0
#: Distinct RR values needed to estimate the resolution from their spacing.
MIN_DISTINCT_FOR_ESTIMATE = 5


@dataclass(frozen=True, slots=True)
class Quality:
    """Quality grade of one analysis and the reasons for it.

    Attributes
    ----------
    grade
        ``"good"``, ``"acceptable"``, ``"poor"`` or ``"withheld"`` (see the module table).
    beats_corrected
        Artefact events: beats deleted, inserted or moved by the correction, plus
        out-of-range RR removed (counted the same way with ``correct=False``: what the
        correction would change).
    corrected_rate
        ``beats_corrected`` / input beats.
    irregular_rate
        Fraction of successive corrected NN differing by > 20 % (rhythm screen).
    resolution_ms
        Time resolution of the beat times used by detection, correction and the
        no-signal rule, ms.
    resolution_source
        ``"declared"`` by the caller, ``"estimated"`` from the data, or ``"default"``.
    reasons
        One human-readable sentence per finding that set the grade, in order.
    """

    grade: Grade
    beats_corrected: int
    corrected_rate: float
    irregular_rate: float
    resolution_ms: float
    resolution_source: ResolutionSource
    reasons: tuple[str, ...]

    @property
    def reported(self) -> bool:
        """Whether the metrics are reported (every grade but ``withheld``)."""
        return self.grade != "withheld"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "beats_corrected": self.beats_corrected,
            "corrected_pct": round(100.0 * self.corrected_rate, 3),
            "irregular_pct": round(100.0 * self.irregular_rate, 3),
            "resolution_ms": self.resolution_ms,
            "resolution_source": self.resolution_source,
            "reasons": list(self.reasons),
        }


def estimate_resolution_ms(rr_ms: FloatArray) -> tuple[float, ResolutionSource]:
    """Time resolution of an RR series from the spacing of its distinct values, ms.

    RR values are differences of quantised beat times, so they lie on the quantisation
    grid and the gaps between sorted distinct values are multiples of its step. The
    estimate is the median of the gaps below 1.5 × the smallest gap (integer-ms exports of
    128 Hz Holter beats: gaps of 6-9 ms, estimate 7-8 ms; a 1/1024 s strap: 0.977 ms).
    Sparse data only make the smallest gap larger than the step when no two values are
    one step apart, and any nearer pair makes the estimate smaller: the estimate errs
    towards a finer grid, i.e. towards the resolution-blind thresholds. Fewer than
    ``MIN_DISTINCT_FOR_ESTIMATE`` distinct values say nothing about the grid: then
    ``DEFAULT_RESOLUTION_MS``.
    """
    # rounded to 1 ns first: float arithmetic on beat times leaves ~1e-10 ms of noise
    u = np.unique(np.round(np.asarray(rr_ms, dtype=np.float64), 6))
    if u.size < MIN_DISTINCT_FOR_ESTIMATE:
        return DEFAULT_RESOLUTION_MS, "default"
    gaps = np.diff(u)
    return float(np.median(gaps[gaps < 1.5 * gaps.min()])), "estimated"


def has_signal(nn_ms: FloatArray, resolution_ms: float) -> bool:
    """Whether an NN series varies beyond what quantisation of a constant rhythm gives.

    A constant true RR whose beat times are quantised at q takes at most two adjacent grid
    values, so its SDNN is at most q/2. At or below that (or below float noise) there is
    no variability to analyse: spectral, nonlinear and index metrics are not computed.
    """
    x = np.asarray(nn_ms, dtype=np.float64)
    if x.size < 2:
        return False
    floor = max(resolution_ms / 2.0, 1e-9 * float(np.abs(x).mean()))
    return float(np.std(x, ddof=1)) > floor


def grade_quality(
    *,
    beats_corrected: int,
    n_beats: int,
    irregular_rate: float,
    resolution_ms: float,
    resolution_source: ResolutionSource,
    irregular_rate_limit: float = IRREGULAR_RATE_LIMIT,
    poor_max: float = POOR_MAX,
) -> Quality:
    """Grade an analysis from its artefact events and the rhythm screen.

    Parameters
    ----------
    beats_corrected
        Artefact events (see :class:`Quality`).
    n_beats
        Input beats.
    irregular_rate
        Fraction of successive corrected NN differing by > 20 %.
    resolution_ms, resolution_source
        Copied into the result.
    irregular_rate_limit, poor_max
        Withhold above these fractions (defaults: 10 %, 20 %).

    Returns
    -------
    Quality
    """
    rate = beats_corrected / n_beats if n_beats else 0.0
    what = f"{beats_corrected} of {n_beats} beats corrected ({rate * 100:.1f} %)"
    reasons: list[str] = []
    withheld = False
    if irregular_rate > irregular_rate_limit:
        withheld = True
        reasons.append(
            f"rhythm not sinus: after correction {irregular_rate * 100:.1f} % of successive "
            f"NN still change by more than 20 % (limit {irregular_rate_limit * 100:.0f} %): "
            "sustained bigeminy/trigeminy or AF-like irregularity; HRV metrics are not "
            "meaningful"
        )
    if rate > poor_max:
        withheld = True
        reasons.append(f"{what}: more than {poor_max * 100:.0f} % of the series is repaired")
    grade: Grade
    if withheld:
        grade = "withheld"
    elif rate < GOOD_MAX:
        grade = "good"
        reasons.append(what)
    elif rate <= ACCEPTABLE_MAX:
        grade = "acceptable"
        reasons.append(what)
    else:
        grade = "poor"
        reasons.append(
            f"{what}: between {ACCEPTABLE_MAX * 100:.0f} and {poor_max * 100:.0f} %, "
            "interpret with caution"
        )
    return Quality(
        grade=grade,
        beats_corrected=int(beats_corrected),
        corrected_rate=rate,
        irregular_rate=float(irregular_rate),
        resolution_ms=float(resolution_ms),
        resolution_source=resolution_source,
        reasons=tuple(reasons),
    )
