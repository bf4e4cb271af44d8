"""Offline HRV analysis: RR (+ beat times, segments) → artefacts → NN → metrics.

``analyze_rr`` is the one entry point used by the CLI, the session comparison and reports.
It is pure numpy/scipy (no neurokit2), runs in bounded time and memory (24 h ≈ 80 k beats in
a few seconds, no O(n²) step), and never returns a number it cannot stand behind:

* **Out-of-range RR** (< 200 ms or > 3000 ms, i.e. outside 20-300 bpm) are not heartbeats:
  they are flagged ``out_of_range``, always removed, and they split the segment (no
  successive difference across them, no interpolated bridge), with or without correction.
* **Artefacts** (Lipponen & Tarvainen 2019, :mod:`biofeedback.hrv.artifacts`) are flagged
  per beat and, with ``correct=True``, corrected time-preservingly before the metrics.
  Detection and correction know the time resolution of the beats (``resolution_ms``,
  declared or estimated) and never act on a deviation within quantisation noise.
* **Quality grade** (:mod:`biofeedback.hrv.quality`): ``HrvResult.quality`` grades the
  record good / acceptable / poor / withheld from the artefact *events* (beats corrected)
  and a rhythm screen on the corrected NN (sustained bigeminy, AF-like irregularity).
  Metrics are reported for every grade but ``withheld``; ``reliable`` is
  ``quality.reported``. Withheld numbers stay available in ``HrvResult.withheld_metrics``
  for expert display.
* **No number without a signal**: when the NN series varies no more than quantisation of a
  constant rhythm can (:func:`biofeedback.hrv.quality.has_signal`), spectral, nonlinear and
  index metrics are ``None`` with a warning.
* **Too short**: each metric has a minimum analysed NN duration (``MIN_DURATION_S``); below it
  the metric is ``None`` with a warning; between the minimum and the recommended length it is
  given with a warning. For the spectral metrics the duration is that of the longest
  gap-free segment (the spectrum never spans a gap), not the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biofeedback.beats import MAX_BEATS
from biofeedback.hrv import artifacts as art
from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.hrv.correction import correct_artifacts
from biofeedback.hrv.frequency import Spectrum
from biofeedback.hrv.metrics import (
    FAST_DEFAULT_BEATS,
    FAST_GROUPS,
    METRIC_KEYS,
    MIN_BEATS,
    MIN_DURATION_S,
    Detrend,
    ProgressFn,
    SpectralMethod,
    compute_metrics,
    metric_keys_for,
    segment_runs,
)
from biofeedback.hrv.quality import (
    IRREGULAR_RATE_LIMIT,
    POOR_MAX,
    Quality,
    ResolutionSource,
    estimate_resolution_ms,
    grade_quality,
)

#: Withhold above this fraction of beats corrected (the quality grades' poor/withheld edge).
ARTIFACT_RATE_LIMIT = POOR_MAX
__all__ = [
    "ARTIFACT_RATE_LIMIT", "IRREGULAR_RATE_LIMIT", "METRIC_KEYS", "MIN_BEATS", "MIN_DURATION_S",
    "ArtifactSummary", "Detrend", "HrvResult", "Quality", "SpectralMethod", "analyze_rr",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    """Artefacts found in the input beats.

    Attributes
    ----------
    corrected
        Whether Lipponen-type artefacts were corrected before the metrics.
    count, rate
        Flagged intervals and their fraction of all input beats (one ectopic beat flags up
        to three intervals; the quality grade counts corrected beats instead, see
        :class:`biofeedback.hrv.quality.Quality`).
    by_type
        Count per type: ectopic, missed, extra, longshort, out_of_range.
    irregular_rate
        Fraction of successive input RR changing by > 20 % (before correction).
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
    or withheld because ``quality.grade`` is ``"withheld"``). ``quality`` is the grade and
    its reasons, the one field every output shows; ``reliable`` equals
    ``quality.reported``. ``withheld_metrics`` holds the computed numbers whatever the
    grade (the expert view). ``nn_ms``/``nn_t_s``/``nn_segment`` are the (corrected) NN
    series actually analysed; ``spectrum`` the PSD used for the bands.
    """

    source: str
    n_beats: int
    duration_s: float
    reliable: bool
    warnings: tuple[str, ...]
    artifacts: ArtifactSummary
    metrics: dict[str, float | None]
    quality: Quality
    withheld_metrics: dict[str, float | None] = field(repr=False)
    nn_ms: FloatArray = field(repr=False)
    nn_t_s: FloatArray = field(repr=False)
    nn_segment: IntArray = field(repr=False)
    spectrum: Spectrum | None = field(repr=False, default=None)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of ``biofeedback analyze --json`` (docs/architecture.md §5)."""
        return {
            "source": self.source,
            "n_beats": self.n_beats,
            "duration_s": self.duration_s,
            "reliable": self.reliable,
            "quality": self.quality.to_json_dict(),
            "warnings": list(self.warnings),
            "artifacts": self.artifacts.to_json_dict(),
            "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "withheld_metrics": (
                None if self.reliable else {k: self.withheld_metrics.get(k) for k in METRIC_KEYS}
            ),
        }


def analyze_rr(
    rr_ms: FloatArray | list[float],
    *,
    t_s: FloatArray | None = None,
    segment: IntArray | None = None,
    correct: bool = True,
    detrend: Detrend = "none",
    spectral: SpectralMethod = "welch",
    source: str = "",
    resolution_ms: float | None = None,
    metrics: Iterable[str] | None = None,
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
    resolution_ms
        Time resolution of the beat times, ms: 1000/1024 for BLE Heart Rate Service
        straps, 1 for app exports, 1000/fs for ECG-derived or annotation beats (128 Hz
        Holter: 7.8125). ``None``: estimated from the spacing of the distinct RR values
        (:func:`biofeedback.hrv.quality.estimate_resolution_ms`).
    metrics
        Metric groups to compute (``biofeedback.hrv.metrics.METRIC_GROUPS``: time,
        geometric, freq, poincare, nonlinear, indices, or ``all``); the others are
        ``None``. Default: all, or ``FAST_GROUPS`` above ``FAST_DEFAULT_BEATS`` beats
        (with a warning). The value of a computed metric never depends on the selection.
    artifact_rate_limit, irregular_rate_limit
        Withhold the metrics above this fraction of beats corrected (default 20 %) or of
        successive corrected NN changing by > 20 % (default 10 %).
    progress
        Optional ``progress(stage, fraction)`` callback for long inputs.

    Returns
    -------
    HrvResult

    Raises
    ------
    ValueError
        Inputs of different lengths, non-finite RR, more than ``MAX_BEATS`` beats, or an
        unknown metric group. An RR of 0 ms (a strap's RR = 0 glitch, stored raw) or a
        negative one (kept raw by an importer) is flagged ``out_of_range`` like any
        implausible value.
    """
    report: ProgressFn = progress or (lambda _s, _f: None)
    rr = np.asarray(rr_ms, dtype=np.float64).ravel()
    n = rr.size
    if n > MAX_BEATS:
        raise ValueError(
            f"{n} beats is more than the {MAX_BEATS} supported (about 3 weeks); analyse it in parts"
        )
    if not np.all(np.isfinite(rr)):
        # Negative values (an importer keeps impossible values raw) are out-of-range beats.
        raise ValueError("rr_ms must be finite")
    warnings: list[str] = []
    if metrics is None and n > FAST_DEFAULT_BEATS:
        metrics = FAST_GROUPS
        warnings.append(
            f"long record ({n} beats): metrics {','.join(FAST_GROUPS)} only by default; "
            "--metrics all adds entropy, DFA and the indices"
        )
    wanted = None if metrics is None else metric_keys_for(metrics)
    seg_in = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment, dtype=np.int64)
    t_in = np.cumsum(rr) / 1000.0 if t_s is None else np.asarray(t_s, dtype=np.float64)
    if seg_in.size != n or t_in.size != n:
        raise ValueError("rr_ms, t_s and segment must have the same length")
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

    # 2. Lipponen detection + correction per run, on the kept beats. The correction runs
    # with correct=False too: its beats-corrected count grades the data and its NN feed the
    # rhythm screen whatever the user chose to analyse.
    res_ms, res_src = _resolution(rr_k, resolution_ms)
    nn_parts: list[FloatArray] = []
    fixed_parts: list[FloatArray] = []
    t_parts: list[FloatArray] = []
    seg_parts: list[IntArray] = []
    fixed_seg_parts: list[IntArray] = []
    events = int(np.count_nonzero(oor))
    runs = segment_runs(seg_k)
    for r_i, (a, b) in enumerate(runs):
        run_rr = rr_k[a:b]
        anchor = t_k[a] - run_rr[0] / 1000.0
        fixed = run_rr
        if run_rr.size >= 8:
            c = correct_artifacts(run_rr, resolution_ms=res_ms)
            det, fixed = c.first_pass, c.rr_ms
            events += c.beats_corrected
            flags[idx_k[a:b]] = np.where(det.flags != 0, det.flags, flags[idx_k[a:b]])
        new_rr = fixed if correct else run_rr
        nn_parts.append(new_rr)
        fixed_parts.append(fixed)
        t_parts.append(anchor + np.cumsum(new_rr) / 1000.0)
        seg_parts.append(np.full(new_rr.size, r_i, dtype=np.int64))
        fixed_seg_parts.append(np.full(fixed.size, r_i, dtype=np.int64))
        if len(runs) > 20 and r_i % 10 == 0:
            report("artefacts", r_i / len(runs))
    nn = np.concatenate(nn_parts) if nn_parts else np.zeros(0)
    nn_t = np.concatenate(t_parts) if t_parts else np.zeros(0)
    nn_seg = np.concatenate(seg_parts) if seg_parts else np.zeros(0, dtype=np.int64)
    fixed_nn = np.concatenate(fixed_parts) if fixed_parts else np.zeros(0)
    fixed_seg = np.concatenate(fixed_seg_parts) if fixed_seg_parts else np.zeros(0, np.int64)

    by_type = {name: int(np.count_nonzero(flags == code)) for code, name in art.TYPE_NAMES.items()}
    count = int(np.count_nonzero(flags))
    rate = count / n if n else 0.0
    irregular = art.irregular_fraction(rr_k, seg_k) if rr_k.size > 1 else 0.0
    summary = ArtifactSummary(correct, count, rate, by_type, irregular, flags)
    quality = grade_quality(
        beats_corrected=events,
        n_beats=n,
        irregular_rate=art.irregular_fraction(fixed_nn, fixed_seg) if fixed_nn.size > 1 else 0.0,
        resolution_ms=res_ms,
        resolution_source=res_src,
        irregular_rate_limit=irregular_rate_limit,
        poor_max=artifact_rate_limit,
    )
    if not quality.reported:
        warnings.extend(f"unreliable: {r}" for r in quality.reasons)
    elif quality.grade == "poor":
        warnings.extend(f"caution: {r}" for r in quality.reasons)
    if by_type["out_of_range"]:
        warnings.append(
            f"{by_type['out_of_range']} RR outside {art.RR_MIN_MS:.0f}-{art.RR_MAX_MS:.0f} ms "
            "removed (segment split there)"
        )

    report("time domain", 0.3)
    metrics = compute_metrics(nn, nn_t, nn_seg, detrend, spectral, res_ms, warnings, report, wanted)
    spectrum = metrics.pop("__spectrum__", None)
    values: dict[str, float | None] = {k: metrics.get(k) for k in METRIC_KEYS}
    withheld = dict(values)
    if not quality.reported:
        values = dict.fromkeys(METRIC_KEYS)
    report("done", 1.0)
    duration = float(np.sum(rr) / 1000.0)
    return HrvResult(
        source=source,
        n_beats=n,
        duration_s=duration,
        reliable=quality.reported,
        warnings=tuple(warnings),
        artifacts=summary,
        metrics=values,
        quality=quality,
        withheld_metrics=withheld,
        nn_ms=nn,
        nn_t_s=nn_t,
        nn_segment=nn_seg,
        spectrum=spectrum if isinstance(spectrum, Spectrum) else None,
    )


def _resolution(rr_ms: FloatArray, declared: float | None) -> tuple[float, ResolutionSource]:
    if declared is not None:
        if not np.isfinite(declared) or declared < 0:
            raise ValueError(f"resolution_ms must be finite and >= 0, got {declared}")
        return float(declared), "declared"
    return estimate_resolution_ms(rr_ms)
