"""Kubios-style Stress Index and PNS / SNS indices.

Stress Index (Kubios HRV User's Guide 3.1, §"Baevsky's stress index"): Baevsky's
SI = AMo / (2 · Mo · MxDMn), with Mo the median NN (s), AMo the height of the NN histogram
with 50-ms bins in % of beats, MxDMn the NN range (s). As in Kubios the slow trend is removed
first (smoothness priors, λ = 500) so slow HR changes do not widen MxDMn; the detrended
series is re-centred on the median. Kubios reports √SI ("Stress index"); so do we.
Baevsky's normal SI 50-150 corresponds to 7.1-12.2 on this scale (Baevsky & Chernikova 2017,
Cardiometry 10:66-76).

PNS / SNS indices (Kubios, "HRV in evaluating ANS function", kubios.com/hrv-ans-function):
PNS = mean of the z-scores of Mean RR, RMSSD and SD1 in normalised units (SD1/MeanRR·100);
SNS = mean of the z-scores of Mean HR, Stress Index and SD2 in normalised units. Kubios
compares with "normal population values" it does not tabulate publicly. We use the
short-term resting norms of Nunan, Sandercock & Brodie 2010 (Pacing Clin Electrophysiol
33:1407, doi:10.1111/j.1540-8159.2010.02841.x): Mean RR 926 ± 90 ms, RMSSD 42 ± 15 ms,
SDNN 50 ± 16 ms, and derive the others from them (first-order error propagation):
MeanHR = 60000/926 = 64.8 ± 6.3 bpm; SD1 = RMSSD/√2 → SD1% = 3.21 ± 1.15 %;
SD2 = √(2·SDNN² − SD1²) = 64.2 ± 21 ms → SD2% = 6.93 ± 2.3 %; Stress Index 9.7 ± 2.6
(midpoint and half-width of Baevsky's normal range 7.1-12.2 on the √ scale, i.e. that range
is read as mean ± 1 SD, like the Nunan norms). These are therefore
*Kubios-style*, not Kubios-identical values (see the report's comparison table).
"""

from __future__ import annotations

import numpy as np

from biofeedback.hrv._types import FloatArray
from biofeedback.hrv.detrend import smoothness_priors_detrend

NORMS: dict[str, tuple[float, float]] = {
    "MeanNN_ms": (926.0, 90.0),
    "RMSSD_ms": (42.0, 15.0),
    "SD1_pct": (3.21, 1.15),
    "MeanHR_bpm": (64.8, 6.3),
    "StressIndex": (9.7, 2.6),
    "SD2_pct": (6.93, 2.3),
}


def stress_index(nn_ms: FloatArray) -> float:
    """Kubios Stress Index = √(Baevsky SI) (dimensionless), on a detrended NN series.

    NaN when the NN range is zero (SI is undefined: it divides by the range).
    """
    nn = np.asarray(nn_ms, dtype=np.float64)
    med = float(np.median(nn))
    x = smoothness_priors_detrend(nn) + med
    bw = 50.0
    lo = np.floor(x.min() / bw) * bw
    edges = np.arange(lo, x.max() + bw, bw)
    if edges.size < 2:
        edges = np.array([lo, lo + bw])
    counts, _ = np.histogram(x, bins=edges)
    amo = counts.max() / x.size * 100.0
    mxdmn = (x.max() - x.min()) / 1000.0
    # SI divides by the NN range: a range below 1 ns (float noise of the detrending of a
    # constant series; strap resolution is 1/1024 s) is zero, and SI is undefined.
    if mxdmn <= 1e-9:
        return float("nan")
    return float(np.sqrt(amo / (2.0 * (med / 1000.0) * mxdmn)))


def _z(name: str, v: float) -> float:
    m, s = NORMS[name]
    return (v - m) / s


def pns_index(mean_nn_ms: float, rmssd_ms: float, sd1_ms: float) -> float:
    """Parasympathetic index: mean z-score of Mean RR, RMSSD and SD1 (%)."""
    sd1_pct = sd1_ms / mean_nn_ms * 100.0
    return (_z("MeanNN_ms", mean_nn_ms) + _z("RMSSD_ms", rmssd_ms) + _z("SD1_pct", sd1_pct)) / 3


def sns_index(mean_hr_bpm: float, stress_idx: float, sd2_ms: float, mean_nn_ms: float) -> float:
    """Sympathetic index: mean z-score of Mean HR, Stress Index and SD2 (%)."""
    sd2_pct = sd2_ms / mean_nn_ms * 100.0
    return (
        _z("MeanHR_bpm", mean_hr_bpm) + _z("StressIndex", stress_idx) + _z("SD2_pct", sd2_pct)
    ) / 3
