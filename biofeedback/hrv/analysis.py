"""Offline HRV analysis: RR (+ beat times, segments) → artefacts → NN → metrics.

``analyze_rr`` is the one entry point used by the CLI, the session comparison and reports.
It is pure numpy/scipy (no neurokit2), runs in bounded time and memory (24 h ≈ 80 k beats in
a few seconds, no O(n²) step), and never returns a number it cannot stand behind:

* **Out-of-range RR** (< 200 ms or > 3000 ms, i.e. outside 20-300 bpm) are not heartbeats:
  they are flagged ``out_of_range``, always removed, and they split the segment (no
  successive difference across them, no interpolated bridge), with or without correction.
* **Artefacts** (Lipponen & Tarvainen 2019, :mod:`biofeedback.hrv.artifacts`) are flagged
  per beat and, with ``correct=True``, corrected time-preservingly before the metrics.
* **Reliability gate**: the result is ``reliable=False`` — and every metric is withheld
  (``None``), with the reason in ``warnings`` — when the artefact rate (all flags / beats)
  exceeds ``ARTIFACT_RATE_LIMIT`` = 5 % (DESIGN.md §3; Quigley et al. 2024 use 10 % as an
  exclusion threshold, we are stricter), or when the ectopy burden screen (successive RR
  changing by > 20 %, Malik 1989) exceeds ``IRREGULAR_RATE_LIMIT`` = 10 %. The second test
  catches sustained bigeminy/trigeminy, which the adaptive Lipponen threshold learns to
  accept (the Polar H10 PVC file: 2.5 % Lipponen flags, but ~50 % irregular beats). The
  computed-but-withheld numbers stay available in ``HrvResult.withheld_metrics`` for expert
  display.
* **Too short**: each metric has a minimum analysed NN duration (``MIN_DURATION_S``); below it
  the metric is ``None`` with a warning; between the minimum and the recommended length it is
  given with a warning. For the spectral metrics the duration is that of the longest
  gap-free segment (the spectrum never spans a gap), not the total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from biofeedback.hrv import artifacts as art
from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.hrv.detrend import smoothness_priors_detrend
from biofeedback.hrv.frequency import Spectrum, band_metrics, lomb_spectrum, welch_spectrum
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
from biofeedback.hrv.time_domain import (
    successive_differences,
    time_domain,
    tinn_ms,
    triangular_index,
)

Detrend = Literal["none", "smoothness-priors"]
SpectralMethod = Literal["welch", "lomb"]

ARTIFACT_RATE_LIMIT = 0.05
IRREGULAR_RATE_LIMIT = 0.10

#: Metric keys, in report order (DESIGN.md §5).
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


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    """Artefacts found in the input beats.

    Attributes
    ----------
    corrected
        Whether Lipponen-type artefacts were corrected before the metrics.
    count, rate
        Flagged beats and their fraction of all input beats.
    by_type
        Count per type: ectopic, missed, extra, longshort, out_of_range.
    irregular_rate
        Fraction of successive RR changing by > 20 % (ectopy-burden screen).
    flags
        Per input beat type code (``biofeedback.hrv.artifacts.TYPE_NAMES``; 0 = normal).
    """

    corrected: bool
    count: int
    rate: float
    by_type: dict[str, int]
    irregular_rate: float
    flags: IntArray = field(repr=False)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "corrected": self.corrected,
            "count": self.count,
            "rate": self.rate,
            "by_type": dict(self.by_type),
        }


@dataclass(frozen=True, slots=True)
class HrvResult:
    """Outcome of :func:`analyze_rr`.

    ``metrics`` maps every key of ``METRIC_KEYS`` to a float or ``None`` (not computable,
    or withheld because ``reliable`` is False). ``nn_ms``/``nn_t_s``/``nn_segment`` are the
    (corrected) NN series actually analysed; ``spectrum`` the PSD used for the bands.
    """

    source: str
    n_beats: int
    duration_s: float
    reliable: bool
    warnings: tuple[str, ...]
    artifacts: ArtifactSummary
    metrics: dict[str, float | None]
    withheld_metrics: dict[str, float | None] = field(repr=False)
    nn_ms: FloatArray = field(repr=False)
    nn_t_s: FloatArray = field(repr=False)
    nn_segment: IntArray = field(repr=False)
    spectrum: Spectrum | None = field(repr=False, default=None)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of ``biofeedback analyze --json`` (DESIGN.md §5)."""
        return {
            "source": self.source,
            "n_beats": self.n_beats,
            "duration_s": self.duration_s,
            "reliable": self.reliable,
            "warnings": list(self.warnings),
            "artifacts": self.artifacts.to_json_dict(),
            "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
        }


def _runs(seg: IntArray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of constant-segment runs."""
    if seg.size == 0:
        return []
    cut = np.flatnonzero(seg[1:] != seg[:-1]) + 1
    starts = np.concatenate(([0], cut))
    stops = np.concatenate((cut, [seg.size]))
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _finite(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def analyze_rr(
    rr_ms: FloatArray | list[float],
    *,
    t_s: FloatArray | None = None,
    segment: IntArray | None = None,
    correct: bool = True,
    detrend: Detrend = "none",
    spectral: SpectralMethod = "welch",
    source: str = "",
    artifact_rate_limit: float = ARTIFACT_RATE_LIMIT,
    irregular_rate_limit: float = IRREGULAR_RATE_LIMIT,
    progress: ProgressFn | None = None,
) -> HrvResult:
    """Full offline HRV analysis of an RR series.

    Parameters
    ----------
    rr_ms
        RR intervals, ms (float; any source).
    t_s
        Time of the beat ending each interval, s. Default: cumulative sum of ``rr_ms``.
        Within a segment the engine uses the cumulative RR anchored at the segment's first
        beat time, like Kubios.
    segment
        Segment id per interval; successive differences, spectra, entropy and DFA never span
        two segments. Default: one segment.
    correct
        Correct Lipponen-Tarvainen artefacts (out-of-range RR are always removed).
    detrend
        ``"none"`` or ``"smoothness-priors"`` (λ = 500, Tarvainen 2002) applied to the NN
        series before the frequency-domain analysis.
    spectral
        ``"welch"`` (4 Hz cubic, 300 s Hann, 50 %) or ``"lomb"`` (Lomb-Scargle).
    source
        Free text naming the input (file name), copied into the result.
    artifact_rate_limit, irregular_rate_limit
        Reliability gate thresholds (fractions).
    progress
        Optional ``progress(stage, fraction)`` callback for long inputs.

    Returns
    -------
    HrvResult

    Raises
    ------
    ValueError
        Inputs of different lengths, or non-finite or negative RR. An RR of 0 ms (a strap's
        RR = 0 glitch, stored raw) is flagged ``out_of_range`` like any implausible value.
    """
    report: ProgressFn = progress or (lambda _s, _f: None)
    rr = np.asarray(rr_ms, dtype=np.float64).ravel()
    n = rr.size
    if not np.all(np.isfinite(rr)) or np.any(rr < 0):
        raise ValueError("rr_ms must be finite and non-negative")
    seg_in = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment, dtype=np.int64)
    t_in = np.cumsum(rr) / 1000.0 if t_s is None else np.asarray(t_s, dtype=np.float64)
    if seg_in.size != n or t_in.size != n:
        raise ValueError("rr_ms, t_s and segment must have the same length")
    warnings: list[str] = []
    flags = np.zeros(n, dtype=np.int64)
    report("artefacts", 0.0)

    # 1. out-of-range beats: flag, drop, split the segment at them.
    oor = (rr < art.RR_MIN_MS) | (rr > art.RR_MAX_MS)
    flags[oor] = art.OUT_OF_RANGE
    start = np.ones(n, dtype=bool)
    if n > 1:
        start[1:] = (seg_in[1:] != seg_in[:-1]) | oor[:-1]
    seg_key = np.cumsum(start) - 1
    keep = ~oor
    rr_k, t_k, seg_k, idx_k = rr[keep], t_in[keep], seg_key[keep], np.flatnonzero(keep)

    # 2. Lipponen detection (+ correction) per run, on the kept beats.
    nn_parts: list[FloatArray] = []
    t_parts: list[FloatArray] = []
    seg_parts: list[IntArray] = []
    runs = _runs(seg_k)
    for r_i, (a, b) in enumerate(runs):
        run_rr = rr_k[a:b]
        anchor = t_k[a] - run_rr[0] / 1000.0
        if run_rr.size >= 8:
            if correct:
                c = art.correct_artifacts(run_rr)
                det = c.first_pass
                new_rr = c.rr_ms
            else:
                det = art.detect_artifacts(run_rr)
                new_rr = run_rr
            flags[idx_k[a:b]] = np.where(det.flags != 0, det.flags, flags[idx_k[a:b]])
        else:
            new_rr = run_rr
        nn_parts.append(new_rr)
        t_parts.append(anchor + np.cumsum(new_rr) / 1000.0)
        seg_parts.append(np.full(new_rr.size, r_i, dtype=np.int64))
        if len(runs) > 20 and r_i % 10 == 0:
            report("artefacts", r_i / len(runs))
    nn = np.concatenate(nn_parts) if nn_parts else np.zeros(0)
    nn_t = np.concatenate(t_parts) if t_parts else np.zeros(0)
    nn_seg = np.concatenate(seg_parts) if seg_parts else np.zeros(0, dtype=np.int64)

    by_type = {name: int(np.count_nonzero(flags == code)) for code, name in art.TYPE_NAMES.items()}
    count = int(np.count_nonzero(flags))
    rate = count / n if n else 0.0
    irregular = art.irregular_fraction(rr_k, seg_k) if rr_k.size > 1 else 0.0
    summary = ArtifactSummary(correct, count, rate, by_type, irregular, flags)

    reliable = True
    if rate > artifact_rate_limit:
        reliable = False
        warnings.append(
            f"unreliable: artefact rate {rate * 100:.1f} % exceeds the "
            f"{artifact_rate_limit * 100:.0f} % limit ({count} of {n} beats flagged)"
        )
    if irregular > irregular_rate_limit:
        reliable = False
        warnings.append(
            f"unreliable: {irregular * 100:.1f} % of successive RR change by more than 20 % "
            f"(limit {irregular_rate_limit * 100:.0f} %): frequent ectopic beats or noise "
            "(e.g. bigeminy); HRV metrics are not meaningful"
        )
    if by_type["out_of_range"]:
        warnings.append(
            f"{by_type['out_of_range']} RR outside {art.RR_MIN_MS:.0f}-{art.RR_MAX_MS:.0f} ms "
            "removed (segment split there)"
        )

    report("time domain", 0.3)
    metrics = _compute_metrics(nn, nn_t, nn_seg, detrend, spectral, warnings, report)
    spectrum = metrics.pop("__spectrum__", None)
    values: dict[str, float | None] = {k: metrics.get(k) for k in METRIC_KEYS}
    withheld = dict(values)
    if not reliable:
        values = dict.fromkeys(METRIC_KEYS)
    report("done", 1.0)
    duration = float(np.sum(rr) / 1000.0)
    return HrvResult(
        source=source,
        n_beats=n,
        duration_s=duration,
        reliable=reliable,
        warnings=tuple(warnings),
        artifacts=summary,
        metrics=values,
        withheld_metrics=withheld,
        nn_ms=nn,
        nn_t_s=nn_t,
        nn_segment=nn_seg,
        spectrum=spectrum if isinstance(spectrum, Spectrum) else None,
    )


def _compute_metrics(
    nn: FloatArray,
    nn_t: FloatArray,
    nn_seg: IntArray,
    detrend: Detrend,
    spectral: SpectralMethod,
    warnings: list[str],
    report: ProgressFn,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dur = float(nn.sum() / 1000.0)
    runs = _runs(nn_seg)

    # The spectrum never spans a gap, so its length is that of the longest gap-free run.
    longest_s = max((float(nn[a:b].sum()) / 1000.0 for a, b in runs), default=0.0)

    def ok(key: str, have_s: float | None = None, what: str = "NN data") -> bool:
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
    for a, b in runs:
        x = nn[a:b]
        if detrend == "smoothness-priors" and x.size >= 3:
            x = smoothness_priors_detrend(x) + x.mean()
        run_arrays.append((nn_t[a:b], x))
    spec = None
    if longest_s >= MIN_DURATION_S["HF_ms2"][0]:
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
