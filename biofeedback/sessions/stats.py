"""Comparison statistics: 30-s window sums, the window bootstrap, the personal normal range.

Differences *practice − baseline* and *recovery − baseline* pool all phases of a kind. Their
uncertainty comes from a percentile bootstrap over non-overlapping windows (``WINDOW_S`` =
30 s; ``N_BOOT`` = 2000 resamples, fixed seed): each window gives one value of mean HR, RMSSD
and lnRMSSD from its corrected NN intervals, windows are resampled with replacement within
each phase group, and the 2.5/97.5 percentiles of the difference of means are the 95 % CI.
Windows of 30 s are a compromise: RMSSD is valid from ~30 s (Munoz et al. 2015, PLoS One
10:e0138921) and a 3-minute baseline still gives six windows; serial correlation between
adjacent windows makes the CI somewhat optimistic.

Across sessions, the baseline phase's lnRMSSD is the resting marker. Once ≥
``MIN_BASELINES`` baselines exist, a personal normal range in the style of HRV4Training
(Altini & Plews 2021, Sensors 21:7932): the 60-day mean of daily baseline lnRMSSD ± 0.5 SD,
against which the rolling 7-day mean is judged; the smallest worthwhile change is 0.5 × that
SD (Plews et al. 2013, Sports Med 43:773-781; Buchheit 2014, Front Physiol 5:73).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray

WINDOW_S = 30.0
N_BOOT = 2000
BOOT_SEED = 20261125
MIN_BASELINES = 7
#: Metrics whose phase differences get a bootstrap CI (computable on 30-s windows).
DIFF_KEYS: tuple[str, ...] = ("MeanHR_bpm", "RMSSD_ms", "lnRMSSD")


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
class NormalRange:
    """Personal resting-HRV band from the last 60 days of baselines (lnRMSSD, ln ms)."""

    mean: float
    low: float
    high: float
    swc: float
    n_baselines: int
    rolling7: float
    status: str  # "within", "below" or "above"


def window_sums(
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

    ``a`` and ``b`` are window sums from `window_sums`; windows are resampled with
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


def baseline_days(history: Sequence[tuple[float, float]]) -> int:
    """Calendar days (UTC) with a baseline value in ``history``."""
    return len({dt.datetime.fromtimestamp(t, dt.UTC).date() for t, _ in history})
