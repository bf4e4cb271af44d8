"""Rolling (trailing-window) RMSSD: the one definition used by reports, pages and live views.

A successive difference ``rr[k+1] - rr[k]`` is *at* its later beat ``t_s[k+1]``; the value at
beat ``i`` pools every difference whose later beat lies in ``(t_s[i] - window_s, t_s[i]]``.
A difference counts only when both beats are in the same segment (never across a link gap)
and neither is flagged as an artefact, so an ectopic beat or a gap never inflates it. This is
the convention of the live running sums (`biofeedback.hrv.live`): a window is the beats that
arrived in it.
"""

from __future__ import annotations

import numpy as np

from biofeedback.hrv._types import BoolArray, FloatArray, IntArray

__all__ = ["MIN_PAIRS", "ROLLING_WINDOW_S", "rolling_rmssd"]

#: Default trailing window, s (RMSSD is valid from ~30 s, better from 60 s: Munoz et al. 2015,
#: PLoS One 10:e0138921).
ROLLING_WINDOW_S = 60.0
#: Fewest successive differences a window needs for a value (else NaN).
MIN_PAIRS = 10


def rolling_rmssd(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray,
    artefact: BoolArray,
    window_s: float = ROLLING_WINDOW_S,
    min_pairs: int = MIN_PAIRS,
) -> FloatArray:
    """RMSSD (ms) over the trailing ``window_s`` seconds at every beat.

    Parameters
    ----------
    t_s
        Beat times, s, non-decreasing.
    rr_ms
        RR intervals, ms.
    segment
        Segment id per beat; differences never span two segments.
    artefact
        Per-beat artefact mask; a difference touching a flagged beat is left out.
    window_s
        Trailing window length, s.
    min_pairs
        Fewest differences for a value.

    Returns
    -------
    FloatArray
        One value per beat (same length as ``rr_ms``), ms; NaN at beat 0 and wherever the
        window holds fewer than ``min_pairs`` differences. O(n) with cumulative sums.
    """
    t = np.asarray(t_s, dtype=np.float64)
    rr = np.asarray(rr_ms, dtype=np.float64)
    seg = np.asarray(segment, dtype=np.int64)
    art = np.asarray(artefact, dtype=bool)
    n = rr.size
    out = np.full(n, np.nan)
    if n < 2:
        return out
    ok = (seg[1:] == seg[:-1]) & ~art[1:] & ~art[:-1]
    d = np.where(ok, np.diff(rr), 0.0)  # an out-of-range beat (even 1e308 ms) is never squared
    d2 = d * d
    cs = np.concatenate([[0.0], np.cumsum(d2)])
    cc = np.concatenate([[0], np.cumsum(ok.astype(np.int64))])
    td = t[1:]  # difference k sits at its later beat k + 1
    lo = np.searchsorted(td, td - window_s, side="right")
    hi = np.arange(1, td.size + 1)
    s = cs[hi] - cs[lo]
    c = cc[hi] - cc[lo]
    good = c >= min_pairs
    vals = np.full(td.size, np.nan)
    vals[good] = np.sqrt(s[good] / c[good])
    out[1:] = vals
    return out
