"""Artefact detection and correction for RR series (Lipponen & Tarvainen 2019).

The detector is a vectorised numpy port of the algorithm as implemented in
``neurokit2.signal_fixpeaks(method="kubios")`` (neurokit2 0.2.13; same constants
c1 = 0.13, c2 = 0.17, alpha = 5.2, 91-beat threshold window, 11-beat median filter, the same
beat classification flow of Lipponen & Tarvainen 2019, Fig. 1). Only beats whose normalised
dRR exceeds 1 go through the (short) Python classification loop, so the cost is dominated by
two rolling quantiles: ~10 ms for 1 h instead of neurokit2's ~36 µs per beat per pass.
``tests/hrv/test_hrv_artifacts.py`` checks that the flagged indices equal neurokit2's.

Correction is in :mod:`biofeedback.hrv.correction`.

**Resolution.** ``resolution_ms`` (the time resolution of the beat times) floors both
thresholds at the quantisation bound of dRR/mRR and shrinks every deviation by that bound
before it is compared (:func:`quantisation_floor_s`), so no beat whose deviation is within
quantisation noise is classified as an artefact. With ``resolution_ms=0`` the flags equal
neurokit2's.

Reference
---------
Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
artefact correction using novel beat classification. J Med Eng Technol 2019;43(3):173-181.
doi:10.1080/03091902.2019.1640306
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The plausibility band for one RR interval (20-300 bpm) is defined once, with its sources,
# in biofeedback.beats; re-exported here for the engine's callers.
from biofeedback.beats import RR_MAX_MS as RR_MAX_MS
from biofeedback.beats import RR_MIN_MS as RR_MIN_MS
from biofeedback.hrv._types import BoolArray, FloatArray, IntArray

#: Artefact type codes kept in per-beat flag arrays (0 = normal beat).
NORMAL, ECTOPIC, MISSED, EXTRA, LONGSHORT, OUT_OF_RANGE = 0, 1, 2, 3, 4, 5
TYPE_NAMES: dict[int, str] = {
    ECTOPIC: "ectopic",
    MISSED: "missed",
    EXTRA: "extra",
    LONGSHORT: "longshort",
    OUT_OF_RANGE: "out_of_range",
}


@dataclass(frozen=True, slots=True)
class Detection:
    """Result of one detection pass on one contiguous RR run.

    Attributes
    ----------
    flags
        Per-interval type code (``NORMAL``, ``ECTOPIC``, ...), same length as the input.
    ectopic, missed, extra, longshort
        Indices into the input RR array, per class.
    """

    flags: IntArray
    ectopic: IntArray
    missed: IntArray
    extra: IntArray
    longshort: IntArray

    @property
    def count(self) -> int:
        return int(self.ectopic.size + self.missed.size + self.extra.size + self.longshort.size)


def _rolling_quantiles(x: FloatArray, window: int, qs: tuple[float, ...]) -> list[FloatArray]:
    """Centred rolling quantiles with truncated windows at the edges (pandas
    ``rolling(window, center=True, min_periods=1).quantile(q)`` semantics, linear
    interpolation).

    Interior windows use ``scipy.ndimage.rank_filter`` (exact order statistics in
    O(n log window) time and O(n) memory; an ``(n, window)`` partition of every window
    needs ~0.7 KB per beat and 70x the time); the truncated edge windows are NaN-padded,
    sorted, and interpolated row by row in one vectorised step.
    """
    n = x.size
    half = window // 2
    outs = [np.empty(n) for _ in qs]
    if n >= window:
        from scipy.ndimage import rank_filter

        pos = [(window - 1) * q for q in qs]
        ranks = sorted({int(np.floor(h)) for h in pos} | {int(np.ceil(h)) for h in pos})
        order = {r: rank_filter(x, r, size=window)[half : n - half] for r in ranks}
        for o, h in zip(outs, pos, strict=True):
            lo, hi = int(np.floor(h)), int(np.ceil(h))
            o[half : n - half] = order[lo] + (h - lo) * (order[hi] - order[lo])
        edges = np.r_[np.arange(min(half, n)), np.arange(max(n - half, half), n)]
    else:
        edges = np.arange(n)
    if edges.size:
        # np.nanquantile loops in Python per row; sorting puts the NaN padding last, so the
        # linear-interpolation quantile of each row's k valid values is indexed directly.
        padded = np.concatenate((np.full(half, np.nan), x, np.full(window, np.nan)))
        rows = np.sort(padded[edges[:, None] + np.arange(window)[None, :]], axis=1)
        k = np.count_nonzero(~np.isnan(rows), axis=1)
        r = np.arange(edges.size)
        for o, q in zip(outs, qs, strict=True):
            h = (k - 1) * q
            lo = np.floor(h).astype(np.int64)
            hi = np.ceil(h).astype(np.int64)
            o[edges] = rows[r, lo] + (h - lo) * (rows[r, hi] - rows[r, lo])
    return outs


#: Floor of the adaptive thresholds, s. neurokit2 divides by a zero threshold when the
#: quartile deviation of |dRR| is 0 (a perfectly regular or quantised rhythm) and then
#: flags nearly every beat; a 10 ms floor keeps such records analysable and never binds on
#: physiological data (thresholds there are 5.2 × quartile deviation ≫ 10 ms).
THRESHOLD_FLOOR_S = 0.010


def quantisation_floor_s(resolution_ms: float) -> float:
    """Largest |dRR| or |mRR| that quantisation of the beat times alone can produce, s.

    Each beat time carries an error within ±q/2 (q = ``resolution_ms``). An RR is the
    difference of two quantised times (error within ±q); dRR = RR_k − RR_k−1 and
    mRR = RR_k − median(RR) are differences of two such values (error within ±2q). The
    Lipponen & Tarvainen (2019) tests compare dRR and mRR to their thresholds, so both
    thresholds are floored at 2q: no beat whose deviation is within quantisation noise can
    be classified as an artefact (128 Hz Holter beats: q = 7.8 ms, floor 15.6 ms).
    """
    return 2.0 * max(resolution_ms, 0.0) / 1000.0


def _threshold(sig: FloatArray, alpha: float, window: int, floor_s: float) -> FloatArray:
    q1, q3 = _rolling_quantiles(np.abs(sig), window, (0.25, 0.75))
    return np.maximum(alpha * ((q3 - q1) / 2.0), max(THRESHOLD_FLOOR_S, floor_s))


def _beyond(x: FloatArray, noise_s: float) -> FloatArray:
    """``x`` shrunk towards 0 by ``noise_s``: the part of a deviation that quantisation
    cannot explain (0 when |x| ≤ noise)."""
    if noise_s <= 0.0:
        return x
    return np.sign(x) * np.maximum(np.abs(x) - noise_s, 0.0)


def detect_artifacts(
    rr_ms: FloatArray,
    *,
    c1: float = 0.13,
    c2: float = 0.17,
    alpha: float = 5.2,
    window_width: int = 91,
    medfilt_order: int = 11,
    resolution_ms: float = 0.0,
) -> Detection:
    """Classify each RR interval as normal, ectopic, missed, extra or long/short.

    Parameters
    ----------
    rr_ms
        One contiguous run of RR intervals, ms (no gaps inside).
    c1, c2, alpha, window_width, medfilt_order
        Lipponen & Tarvainen (2019) constants (neurokit2 defaults).
    resolution_ms
        Time resolution of the beat times, ms (1000/1024 for BLE straps, 1 for app
        exports, 1000/fs for ECG or annotation beats). Both thresholds are floored at
        :func:`quantisation_floor_s`; 0 gives neurokit2's thresholds (with the 10 ms floor).

    Returns
    -------
    Detection
        Indices refer to ``rr_ms``: index ``k`` is the interval ending at beat ``k``.
    """
    rr_in = np.asarray(rr_ms, dtype=np.float64) / 1000.0
    floor_s = quantisation_floor_s(resolution_ms)
    params = _Params(c1, c2, alpha, window_width, medfilt_order, floor_s)
    if rr_in.size < 3:
        return _detection(np.zeros(rr_in.size + 1, dtype=np.int64))
    flags, _ = _detect_core(rr_in, params, _head(rr_in))
    return _detection(flags)


@dataclass(frozen=True, slots=True)
class _Params:
    c1: float
    c2: float
    alpha: float
    window: int
    medfilt: int
    floor_s: float


def _head(rr_in: FloatArray) -> tuple[float, float]:
    """The two values of a run's start that depend on the whole run: neurokit2's
    placeholder rr[0] (the mean RR) and dRR[0] (the mean dRR), computed as the full
    detection does."""
    rr = np.concatenate(([rr_in.mean()], rr_in))
    drrs = np.diff(rr, prepend=rr[0])
    return float(rr[0]), float(drrs[1:].mean())


def _detection(flags_int: IntArray) -> Detection:
    """Detection from per-position flags in the internal coordinates of ``_detect_core``
    (position j is input interval j-1; each position carries at most one class)."""
    flags = flags_int[1:].copy()
    idx = {code: np.flatnonzero(flags == code).astype(np.int64) for code in TYPE_NAMES}
    return Detection(flags, idx[ECTOPIC], idx[MISSED], idx[EXTRA], idx[LONGSHORT])


def _detect_core(
    rr_in: FloatArray, pr: _Params, head: tuple[float, float] | None
) -> tuple[IntArray, BoolArray]:
    """Flags and candidate mask per internal position (0 = neurokit2's placeholder, j =
    input interval j-1) of one run or slice of a run, seconds. ``head`` gives the start
    values of the whole run (``_head``); ``None``: this slice's own (only right for
    positions far from the slice start)."""
    n_in = rr_in.size
    mean0, d0 = head if head is not None else _head(rr_in)
    # neurokit2 works on peaks; its rr[0] is undefined and replaced by the mean. Prepend the
    # same placeholder so index j here is interval j-1 of the input.
    rr = np.concatenate(([mean0], rr_in))
    n = rr.size
    drrs = np.diff(rr, prepend=rr[0])
    drrs[0] = d0
    floor_s, alpha, window_width = pr.floor_s, pr.alpha, pr.window
    c1, c2 = pr.c1, pr.c2
    th1 = _threshold(drrs, alpha, window_width, floor_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        drrs = np.where(th1 != 0, _beyond(drrs, floor_s) / np.where(th1 != 0, th1, 1.0), np.nan)

    pad = np.pad(drrs, 2, mode="reflect")
    prev1, next1, next2 = pad[1 : n + 1], pad[3 : n + 3], pad[4 : n + 4]
    s12 = np.where(
        drrs > 0, np.maximum(prev1, next1), np.where(drrs < 0, np.minimum(prev1, next1), 0.0)
    )
    s22 = np.where(
        drrs >= 0, np.minimum(next1, next2), np.where(drrs < 0, np.maximum(next1, next2), 0.0)
    )
    (medrr,) = _rolling_quantiles(rr, pr.medfilt, (0.5,))
    mrrs = _beyond(rr - medrr, floor_s)
    mrrs = np.where(mrrs < 0, mrrs * 2.0, mrrs)
    th2 = _threshold(mrrs, alpha, window_width, floor_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        mrrs = np.where(th2 != 0, mrrs / np.where(th2 != 0, th2, 1.0), np.nan)

    # Beats with |dRR| <= 1 are normal without further tests; NaN dRR (zero threshold) only
    # proceeds when |mRR| > 3, as in the reference flow.
    abs_d = np.abs(drrs)
    with np.errstate(invalid="ignore"):
        cand = (abs_d > 1) | (np.isnan(drrs) & (np.abs(mrrs) > 3))
    cand_idx = np.flatnonzero(cand[: n - 2])
    ectopic: list[int] = []
    missed: list[int] = []
    extra: list[int] = []
    longshort: list[int] = []
    next_i = 0
    for i0 in cand_idx.tolist():
        if i0 < next_i:
            continue
        i = i0
        d = drrs[i]
        if (d > 1 and s12[i] < -c1 * d - c2) or (d < -1 and s12[i] > -c1 * d + c2):
            ectopic.append(i)
            next_i = i + 1
            continue
        if not (abs_d[i] > 1 or abs(mrrs[i]) > 3):
            next_i = i + 1
            continue
        js = [i]
        if abs_d[i + 1] < abs_d[i + 2]:
            js.append(i + 1)
        for j in js:
            dj = drrs[j]
            eq3 = dj > 1 and s22[j] < -1
            eq4 = abs(mrrs[j]) > 3
            eq5 = dj < -1 and s22[j] > 1
            if eq3 or eq4 or eq5:
                eq6 = abs(rr[j] / 2 - medrr[j]) < th2[j]
                eq7 = abs(rr[j] + rr[j + 1] - medrr[j]) < th2[j]
                if eq5 and eq7:
                    extra.append(j)
                elif eq3 and eq6:
                    missed.append(j)
                else:
                    longshort.append(j)
            # every branch of the reference loop advances i by one per candidate
            i += 1
        next_i = i

    flags = np.zeros(n, dtype=np.int64)
    flags[np.asarray(longshort, dtype=np.int64)] = LONGSHORT
    flags[np.asarray(ectopic, dtype=np.int64)] = ECTOPIC
    flags[np.asarray(missed, dtype=np.int64)] = MISSED
    flags[np.asarray(extra, dtype=np.int64)] = EXTRA
    flags[0] = NORMAL  # the placeholder is no input interval
    cand_all = np.zeros(n, dtype=bool)
    cand_all[: n - 2] = cand[: n - 2]
    del n_in
    return flags, cand_all


#: Reach of one interval's value on the flags, in positions: two 91-beat threshold windows
#: chained through the 11-beat median (45 + 5 + 45) plus the classification's 2-3
#: neighbours. ``_REACH`` is a safe bound; ``_EXACT`` is how far from a slice's cut edge its
#: values are exact (the slice's own placeholder and truncated windows reach ~55).
_REACH = 130
_EXACT = 100
_MARGIN = _REACH + _EXACT


def redetect_artifacts(
    rr_ms: FloatArray, previous: Detection, changed: IntArray, *, resolution_ms: float = 0.0
) -> Detection:
    """``detect_artifacts(rr_ms)`` after a few intervals of an already analysed run changed.

    Flags are local: an interval's flag depends only on the intervals within ``_REACH``
    positions (the threshold windows) and on the run's mean RR and mean dRR (neurokit2's
    start placeholder, only near the start). So only the positions near ``changed`` (and
    the start) are detected again, on slices with ``_MARGIN`` extra context, and spliced
    into ``previous`` where the classification loop is in its fresh state on both sides
    (two consecutive non-candidates: nothing earlier can skip or flag a later position).
    When no such splice point exists the whole run is detected again. The result equals
    ``detect_artifacts(rr_ms, resolution_ms=resolution_ms)`` (default constants).

    Parameters
    ----------
    rr_ms
        The changed run, ms, same length as the one ``previous`` was detected on.
    previous
        Detection of the run before the change.
    changed
        Indices of the intervals whose value changed.
    resolution_ms
        As for :func:`detect_artifacts`.
    """
    rr_in = np.asarray(rr_ms, dtype=np.float64) / 1000.0
    n_in = rr_in.size
    if changed.size == 0:
        return previous
    if n_in < 4 * _MARGIN or previous.flags.size != n_in:
        return detect_artifacts(rr_ms, resolution_ms=resolution_ms)
    pr = _Params(0.13, 0.17, 5.2, 91, 11, quantisation_floor_s(resolution_ms))
    head = _head(rr_in)
    n = n_in + 1  # internal positions
    flags = np.concatenate(([NORMAL], previous.flags))
    # dirty internal positions: the start (placeholder) and around each change
    pos = np.sort(np.concatenate(([0], changed + 1)))
    cut = np.flatnonzero(np.diff(pos) > 2 * _MARGIN) + 1
    groups = np.split(pos, cut)
    # slices cost a fixed overhead each: when they would cover much of the run, one full
    # detection is cheaper (same flags either way)
    if sum(int(g[-1]) - int(g[0]) + 2 * (_REACH + _MARGIN) for g in groups) > 0.4 * n:
        return detect_artifacts(rr_ms, resolution_ms=resolution_ms)
    for grp in groups:
        a, b = max(0, int(grp[0]) - _REACH), min(n, int(grp[-1]) + _REACH + 1)
        if a < _MARGIN:
            a = 0
        if b > n - _MARGIN:
            b = n
        s0 = max(0, a - _MARGIN)
        s1 = min(n, b + _MARGIN)
        # slice of internal positions [s0, s1) is input [s0 - 1, s1 - 1); at s0 = 0 the
        # run's own start is inside, with the whole run's head values
        if s0 == 0:
            f, c = _detect_core(rr_in[: s1 - 1], pr, head)
        else:
            f, c = _detect_core(rr_in[s0 - 1 : s1 - 1], pr, None)
            # _detect_core prepends a placeholder: its position j is internal s0 - 1 + j
            f, c = f[1:], c[1:]
        lo = a
        if a > 0:
            lo = next(
                (q for q in range(a, s0 + _EXACT + 2, -1) if not (c[q - 2 - s0] or c[q - 1 - s0])),
                -1,
            )
        hi = b
        if b < n:
            hi = next(
                (q for q in range(b, s1 - _EXACT) if not (c[q - 2 - s0] or c[q - 1 - s0])), -1
            )
        if lo < 0 or hi < 0:
            return detect_artifacts(rr_ms, resolution_ms=resolution_ms)
        flags[lo:hi] = f[lo - s0 : hi - s0]
    flags[0] = NORMAL
    return _detection(flags)


def irregular_fraction(rr_ms: FloatArray, segment: IntArray, rel: float = 0.2) -> float:
    """Fraction of successive intervals that differ by more than ``rel`` of the previous one.

    This is the classic "20 % rule" (Malik et al. 1989; Kleiger et al. 1987) used here as an
    *ectopy burden* screen that, unlike the adaptive Lipponen threshold, does not adapt to
    sustained bigeminy/trigeminy. Only pairs in the same segment count.
    """
    rr = np.asarray(rr_ms, dtype=np.float64)
    if rr.size < 2:
        return 0.0
    same = segment[1:] == segment[:-1]
    if not same.any():
        return 0.0
    d = np.abs(np.diff(rr)) > rel * rr[:-1]
    return float(np.count_nonzero(d & same) / np.count_nonzero(same))
