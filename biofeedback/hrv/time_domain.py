"""Time-domain and geometric HRV metrics (Kubios conventions).

Successive differences are taken only inside a segment (``segment`` ids), never across a
gap. Conventions, checked against Kubios HRV Premium 3.1.0 reports
(``tests/hrv/test_hrv_kubios.py``):

* SDNN: sample SD (ddof = 1); MeanHR = 60000 / MeanNN (Kubios), SDHR = SD of the
  instantaneous HR 60000/NN (ddof = 1; see the test for why Kubios 3.1's exported STD HR is
  not comparable).
* pNN50 = NN50 / (number of successive differences) × 100 (N-1 denominator, Kubios).
* HRV triangular index (HTI): N / max bin count of the NN histogram with 1/128 s bins
  (Task Force 1996).
* TINN: base width M-N of the triangle that best fits (least squares) the same histogram,
  searched over bin edges on both sides of the mode (Task Force 1996).
"""

from __future__ import annotations

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray

HIST_BIN_MS = 1000.0 / 128.0


def successive_differences(nn_ms: FloatArray, segment: IntArray | None) -> FloatArray:
    """Successive NN differences inside segments, ms."""
    d: FloatArray = np.diff(nn_ms)
    if segment is None or segment.size == 0:
        return d
    out: FloatArray = d[segment[1:] == segment[:-1]]
    return out


def _histogram(nn_ms: FloatArray) -> tuple[FloatArray, FloatArray]:
    # bins aligned on multiples of 1/128 s from 0 ms (as Kubios and neurokit2)
    lo = float(np.floor(nn_ms.min() / HIST_BIN_MS) * HIST_BIN_MS)
    edges = np.arange(lo, float(nn_ms.max()) + HIST_BIN_MS, HIST_BIN_MS)
    if edges.size < 2:
        edges = np.array([lo, lo + HIST_BIN_MS])
    counts, edges = np.histogram(nn_ms, bins=edges)
    return counts.astype(np.float64), edges


def triangular_index(nn_ms: FloatArray) -> float:
    """HRV triangular index: number of NN / height of the 1/128-s histogram (unitless)."""
    counts, _ = _histogram(nn_ms)
    return float(nn_ms.size / counts.max())


def tinn_ms(nn_ms: FloatArray) -> float:
    """TINN, ms: base of the least-squares triangle fitted to the NN histogram.

    The triangle is 0 outside [N, M], peaks at the histogram mode X with the mode's height,
    and is linear in between. Left and right errors are independent, so N and M are found
    by two separate 1-D searches over bin centres (O(bins²), < 1 ms).
    """
    counts, edges = _histogram(nn_ms)
    centres = (edges[:-1] + edges[1:]) / 2.0
    x = int(np.argmax(counts))
    h = counts[x]
    best_n, best_err = 0, np.inf
    for n_idx in range(0, x + 1):
        # triangle rises from 0 at centre n_idx to h at centre x
        q = np.zeros(x + 1)
        if x > n_idx:
            q[n_idx : x + 1] = (
                h * (centres[n_idx : x + 1] - centres[n_idx]) / (centres[x] - centres[n_idx])
            )
        else:
            q[x] = h
        err = float(np.sum((counts[: x + 1] - q) ** 2))
        if err < best_err:
            best_err, best_n = err, n_idx
    best_m, best_err = counts.size - 1, np.inf
    for m_idx in range(x, counts.size):
        q = np.zeros(counts.size - x)
        if m_idx > x:
            seg = centres[x : m_idx + 1]
            q[: m_idx - x + 1] = h * (centres[m_idx] - seg) / (centres[m_idx] - centres[x])
        else:
            q[0] = h
        err = float(np.sum((counts[x:] - q) ** 2))
        if err < best_err:
            best_err, best_m = err, m_idx
    return float(centres[best_m] - centres[best_n])


def time_domain(nn_ms: FloatArray, segment: IntArray | None = None) -> dict[str, float]:
    """MeanNN, SDNN, RMSSD, pNN50, MeanHR, SDHR (keys with units, see biofeedback.hrv.catalog).

    Parameters
    ----------
    nn_ms
        NN intervals, ms (at least 2).
    segment
        Segment id per interval; differences across segments are skipped.
    """
    nn = np.asarray(nn_ms, dtype=np.float64)
    d = successive_differences(nn, segment)
    mean_nn = float(nn.mean())
    hr = 60000.0 / nn
    out = {
        "MeanNN_ms": mean_nn,
        "SDNN_ms": float(nn.std(ddof=1)) if nn.size > 1 else float("nan"),
        "MeanHR_bpm": 60000.0 / mean_nn,
        "SDHR_bpm": float(hr.std(ddof=1)) if nn.size > 1 else float("nan"),
        "RMSSD_ms": float(np.sqrt(np.mean(d * d))) if d.size else float("nan"),
        "pNN50_pct": float(np.count_nonzero(np.abs(d) > 50.0) / d.size * 100.0)
        if d.size
        else float("nan"),
    }
    return out
