"""The metric set of one (corrected) NN series: time, geometric, frequency, nonlinear and
index metrics, each with its minimum-length rule (``MIN_DURATION_S``, ``MIN_BEATS``).

Called by :func:`biofeedback.hrv.analysis.analyze_rr`, which does the artefact handling
and the quality grade first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.hrv.detrend import smoothness_priors_detrend
from biofeedback.hrv.frequency import band_metrics, lomb_spectrum, welch_spectrum
from biofeedback.hrv.indices import pns_index, sns_index, stress_index
from biofeedback.hrv.nonlinear import (
    DFA1_SCALES,
    DFA2_SCALES,
    SAMPEN_WHOLE_MAX_BEATS,
    dfa_alpha,
    poincare,
    sample_entropy,
    sample_entropy_windowed,
)
from biofeedback.hrv.quality import has_signal
from biofeedback.hrv.time_domain import (
    successive_differences,
    time_domain,
    tinn_ms,
    triangular_index,
)

Detrend = Literal["none", "smoothness-priors"]
SpectralMethod = Literal["welch", "lomb"]


#: Metric keys, in report order (docs/architecture.md §5).
METRIC_KEYS: tuple[str, ...] = (
    "MeanNN_ms", "SDNN_ms", "RMSSD_ms", "pNN50_pct", "MeanHR_bpm", "SDHR_bpm", "HTI",
    "TINN_ms", "VLF_ms2", "LF_ms2", "HF_ms2", "TP_ms2", "LF_nu", "HF_nu", "LFHF",
    "LF_peak_Hz", "HF_peak_Hz", "SD1_ms", "SD2_ms", "SampEn", "DFA_alpha1", "DFA_alpha2",
    "StressIndex", "PNS_index", "SNS_index",
)  # fmt: skip

# (minimum, recommended) analysed NN duration in seconds per metric. Sources: Task Force
# 1996 (≈10× the longest period: HF ≥ 1 min, LF ≥ 2 min, 5 min standard, VLF not from
# ≤ 5 min, HTI/TINN ≥ 20 min); Munoz et al. 2015 (RMSSD valid from 10-30 s, ≥ 60 s better);
# shared/notes/perf-baseline.md §7 (SDNN, SampEn ≥ 5 min; DFA α1 ≥ 200 beats).
MIN_DURATION_S: dict[str, tuple[float, float]] = {
    "MeanNN_ms": (10.0, 60.0),
    "MeanHR_bpm": (10.0, 60.0),
    "RMSSD_ms": (30.0, 60.0),
    "pNN50_pct": (30.0, 60.0),
    "SD1_ms": (30.0, 60.0),
    "SDNN_ms": (60.0, 300.0),
    "SDHR_bpm": (60.0, 300.0),
    "SD2_ms": (60.0, 300.0),
    "HTI": (120.0, 1200.0),
    "TINN_ms": (120.0, 1200.0),
    "HF_ms2": (60.0, 120.0),
    "HF_peak_Hz": (60.0, 120.0),
    "LF_ms2": (120.0, 300.0),
    "LF_peak_Hz": (120.0, 300.0),
    "LF_nu": (120.0, 300.0),
    "HF_nu": (120.0, 300.0),
    "LFHF": (120.0, 300.0),
    "TP_ms2": (120.0, 300.0),
    "VLF_ms2": (300.0, 1200.0),
    "SampEn": (120.0, 300.0),
    "DFA_alpha1": (120.0, 300.0),
    "DFA_alpha2": (300.0, 600.0),
    "StressIndex": (120.0, 300.0),
    "PNS_index": (120.0, 300.0),
    "SNS_index": (120.0, 300.0),
}
#: Minimum number of NN intervals for the beat-count-based methods.
MIN_BEATS: dict[str, int] = {"DFA_alpha1": 200, "DFA_alpha2": 256, "SampEn": 100}

ProgressFn = Callable[[str, float], None]

#: Metric groups for ``analyze --metrics`` / ``analyze_rr(metrics=...)``. Selecting groups
#: changes which metrics are computed, never the value of one that is.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "time": ("MeanNN_ms", "SDNN_ms", "RMSSD_ms", "pNN50_pct", "MeanHR_bpm", "SDHR_bpm"),
    "geometric": ("HTI", "TINN_ms"),
    "freq": ("VLF_ms2", "LF_ms2", "HF_ms2", "TP_ms2", "LF_nu", "HF_nu", "LFHF", "LF_peak_Hz",
             "HF_peak_Hz"),
    "poincare": ("SD1_ms", "SD2_ms"),
    "nonlinear": ("SampEn", "DFA_alpha1", "DFA_alpha2"),
    "indices": ("StressIndex", "PNS_index", "SNS_index"),
}  # fmt: skip
#: The indices are built from time-domain and Poincaré values, so they bring those along.
GROUP_NEEDS: dict[str, tuple[str, ...]] = {"indices": ("time", "poincare")}
#: Default for records longer than ``FAST_DEFAULT_BEATS`` (≈ 2 days at 70 bpm): the
#: standard long-record set, without entropy, DFA and the indices.
FAST_GROUPS: tuple[str, ...] = ("time", "geometric", "freq", "poincare")
FAST_DEFAULT_BEATS = 200_000


def metric_keys_for(groups: Iterable[str]) -> frozenset[str]:
    """The metric keys of ``groups`` (names of ``METRIC_GROUPS`` or ``"all"``), with the
    groups they need (``GROUP_NEEDS``).

    Raises
    ------
    ValueError
        An unknown group name.
    """
    names: set[str] = set()
    for g in groups:
        g = g.strip()
        if g == "all":
            names.update(METRIC_GROUPS)
        elif g in METRIC_GROUPS:
            names.add(g)
            names.update(GROUP_NEEDS.get(g, ()))
        else:
            raise ValueError(f"unknown metric group {g!r} (known: {', '.join(METRIC_GROUPS)}, all)")
    return frozenset(k for g in names for k in METRIC_GROUPS[g])


def segment_runs(seg: IntArray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of constant-segment runs."""
    if seg.size == 0:
        return []
    cut = np.flatnonzero(seg[1:] != seg[:-1]) + 1
    starts = np.concatenate(([0], cut))
    stops = np.concatenate((cut, [seg.size]))
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _finite(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def compute_metrics(
    nn: FloatArray,
    nn_t: FloatArray,
    nn_seg: IntArray,
    detrend: Detrend,
    spectral: SpectralMethod,
    resolution_ms: float,
    warnings: list[str],
    report: ProgressFn,
    wanted: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Metrics of one NN series (``wanted``: keys to compute; ``None``: every key)."""
    out: dict[str, Any] = {}
    want = frozenset(MIN_DURATION_S) if wanted is None else wanted
    dur = float(nn.sum() / 1000.0)
    runs = segment_runs(nn_seg)

    # The spectrum never spans a gap, so its length is that of the longest gap-free run.
    longest_s = max((float(nn[a:b].sum()) / 1000.0 for a, b in runs), default=0.0)

    def ok(key: str, have_s: float | None = None, what: str = "NN data") -> bool:
        if key not in want:
            return False
        have = dur if have_s is None else have_s
        lo, rec = MIN_DURATION_S[key]
        nmin = MIN_BEATS.get(key, 3)
        if have < lo or nn.size < nmin:
            need = f"≥ {lo:.0f} s" + (f" and ≥ {nmin} beats" if key in MIN_BEATS else "")
            warnings.append(
                f"{key}: not computed, needs {need} of {what} (have {have:.0f} s, "
                f"{nn.size} beats); ≥ {rec:.0f} s recommended"
            )
            return False
        if have < rec:
            warnings.append(f"{key}: only {have:.0f} s of {what}, ≥ {rec:.0f} s recommended")
        return True

    def ok_spec(key: str) -> bool:
        return ok(key, longest_s, "gap-free NN data")

    if nn.size >= 2:
        td = time_domain(nn, nn_seg)
        for k, v in td.items():
            if ok(k):
                out[k] = _finite(v)
    if nn.size >= 2 and not has_signal(nn, resolution_ms):
        sd = float(np.std(nn, ddof=1))
        warnings.append(
            f"no variability beyond quantisation noise (SDNN {sd:.2f} ms ≤ half the "
            f"{resolution_ms:.3g} ms resolution): geometric, spectral, nonlinear and index "
            "metrics not computed"
        )
        return out
    if nn.size >= 3 and ok("HTI"):
        out["HTI"] = _finite(triangular_index(nn))
    if nn.size >= 3 and ok("TINN_ms"):
        out["TINN_ms"] = _finite(tinn_ms(nn))
    diffs = successive_differences(nn, nn_seg)
    sd1, sd2 = poincare(nn, diffs) if nn.size >= 3 else (float("nan"), float("nan"))
    if ok("SD1_ms"):
        out["SD1_ms"] = _finite(sd1)
    if ok("SD2_ms"):
        out["SD2_ms"] = _finite(sd2)

    report("frequency domain", 0.45)
    run_arrays: list[tuple[FloatArray, FloatArray]] = []
    for a, b in runs if want & set(METRIC_GROUPS["freq"]) else ():
        x = nn[a:b]
        if detrend == "smoothness-priors" and x.size >= 3:
            x = smoothness_priors_detrend(x) + x.mean()
        run_arrays.append((nn_t[a:b], x))
    spec = None
    if run_arrays and longest_s >= MIN_DURATION_S["HF_ms2"][0]:
        spec = lomb_spectrum(run_arrays) if spectral == "lomb" else welch_spectrum(run_arrays)
    if spec is not None:
        if spectral == "welch" and spec.window_s < 299.0:
            warnings.append(
                f"spectrum: no gap-free stretch of 300 s; one {spec.window_s:.0f}-s window used"
            )
        bm = band_metrics(spec)
        for k in ("VLF_ms2", "LF_ms2", "HF_ms2", "TP_ms2", "LF_nu", "HF_nu", "LFHF"):
            if ok_spec(k):
                out[k] = _finite(bm[k])
        if ok_spec("LF_peak_Hz"):
            out["LF_peak_Hz"] = _finite(bm["LF_peak_Hz"])
        if ok_spec("HF_peak_Hz"):
            out["HF_peak_Hz"] = _finite(bm["HF_peak_Hz"])
        out["__spectrum__"] = spec
    else:
        for k in ("VLF_ms2", "LF_ms2", "HF_ms2", "TP_ms2", "LF_nu", "HF_nu", "LFHF"):
            ok_spec(k)
        ok_spec("LF_peak_Hz")
        ok_spec("HF_peak_Hz")

    report("nonlinear", 0.6)
    if ok("SampEn"):
        if nn.size <= SAMPEN_WHOLE_MAX_BEATS and len(runs) == 1:
            out["SampEn"] = _finite(sample_entropy(nn))
        else:
            vals, weights = [], []
            for a, b in runs:
                if b - a < 100:
                    continue
                if b - a <= SAMPEN_WHOLE_MAX_BEATS and nn.size <= SAMPEN_WHOLE_MAX_BEATS:
                    # whole runs: weighted by their beats
                    v, w = sample_entropy(nn[a:b]), b - a
                else:
                    # long records: every 300-s window of every run counts once
                    v, w = sample_entropy_windowed(nn[a:b], nn_t[a:b])
                if np.isfinite(v) and w:
                    vals.append(v)
                    weights.append(w)
            if vals:
                out["SampEn"] = float(np.average(vals, weights=weights))
                if nn.size > SAMPEN_WHOLE_MAX_BEATS:
                    warnings.append(
                        f"SampEn: mean over 300-s windows (record > {SAMPEN_WHOLE_MAX_BEATS} beats)"
                    )
    report("nonlinear", 0.8)
    for key, scales in (("DFA_alpha1", DFA1_SCALES), ("DFA_alpha2", DFA2_SCALES)):
        if not ok(key):
            continue
        vals, weights = [], []
        for a, b in runs:
            if b - a >= 4 * int(scales[-1]) or (b - a >= 200 and key == "DFA_alpha1"):
                v = dfa_alpha(nn[a:b], scales)
                if np.isfinite(v):
                    vals.append(v)
                    weights.append(b - a)
        if vals:
            out[key] = float(np.average(vals, weights=weights))
    report("indices", 0.95)
    if ok("StressIndex"):
        # per run, weighted by length (the histogram is global but trends are per run)
        si_vals = [(stress_index(nn[a:b]), b - a) for a, b in runs if b - a >= 30]
        if si_vals:
            out["StressIndex"] = _finite(
                float(np.average([v for v, _ in si_vals], weights=[w for _, w in si_vals]))
                if len(si_vals) > 1
                else si_vals[0][0]
            )
    if ok("PNS_index"):
        m, r, s1 = out.get("MeanNN_ms"), out.get("RMSSD_ms"), out.get("SD1_ms")
        if m is not None and r is not None and s1 is not None:
            out["PNS_index"] = _finite(pns_index(m, r, s1))
    if ok("SNS_index"):
        hr, si, s2, m = (
            out.get("MeanHR_bpm"),
            out.get("StressIndex"),
            out.get("SD2_ms"),
            out.get("MeanNN_ms"),
        )
        if hr is not None and si is not None and s2 is not None and m is not None:
            out["SNS_index"] = _finite(sns_index(hr, si, s2, m))
    return out
