"""analyze_rr behaviour: segments, short records, options, long records."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.hrv import METRIC_KEYS, analyze_rr
from biofeedback.hrv.detrend import smoothness_priors_detrend, smoothness_priors_trend
from biofeedback.synth import stationary_rr as simulate_rr


def test_successive_differences_never_cross_segments() -> None:
    # source: property: two segments joined at a 300-ms level jump
    a = simulate_rr(300.0, seed=1)
    b = simulate_rr(300.0, seed=2) + 300.0
    rr = np.concatenate((a, b))
    seg = np.r_[np.zeros(a.size, int), np.ones(b.size, int)]
    joined = analyze_rr(rr, correct=False).metrics["RMSSD_ms"]
    split = analyze_rr(rr, segment=seg, correct=False).metrics["RMSSD_ms"]
    d = np.r_[np.diff(a), np.diff(b)]
    assert split == pytest.approx(float(np.sqrt(np.mean(d * d))), rel=1e-12)
    assert joined is not None and split is not None and joined > split


def test_every_metric_present_for_a_normal_record() -> None:
    # source: seeded simulated 20-min RR (all metrics computable)
    res = analyze_rr(simulate_rr(1200.0, seed=3))
    assert set(res.metrics) == set(METRIC_KEYS)
    assert all(v is not None and np.isfinite(v) for v in res.metrics.values()), res.metrics
    assert res.reliable and res.warnings == ()


def test_simulated_band_powers_match_construction() -> None:
    # source: simulate_rr construction: RSA 40 ms RMS at 0.25 Hz -> ≈1600 ms² in HF plus
    # 1/f noise; LF sine 25 ms RMS at 0.1 Hz -> ≈625 ms² plus noise. HF peak at 0.25 Hz.
    res = analyze_rr(simulate_rr(3600.0, seed=9, noise_ms=5.0, jitter_ms=1.0), correct=False)
    m = res.metrics
    assert m["HF_peak_Hz"] == pytest.approx(0.25, abs=0.004)
    assert m["LF_peak_Hz"] == pytest.approx(0.10, abs=0.004)
    # beat-by-beat sampling of the modulation scales power by ≈ (mean RR)² conventions;
    # allow 20 %
    assert m["HF_ms2"] == pytest.approx(1600.0, rel=0.2)
    assert m["LF_ms2"] == pytest.approx(625.0, rel=0.2)


def test_lomb_agrees_with_welch_on_ratio() -> None:
    # source: both estimate the same spectrum; LF/HF within 25 % on 20 min
    rr = simulate_rr(1200.0, seed=5)
    w = analyze_rr(rr, spectral="welch").metrics
    ls = analyze_rr(rr, spectral="lomb").metrics
    assert ls["LFHF"] == pytest.approx(w["LFHF"], rel=0.25)
    assert ls["HF_peak_Hz"] == pytest.approx(w["HF_peak_Hz"], abs=0.01)


def test_smoothness_priors_removes_slow_trend() -> None:
    # source: Tarvainen 2002: λ=500 removes components below ≈0.035 Hz at 1 beat/s
    n = 2000
    k = np.arange(n)
    slow = 100.0 * np.sin(2 * np.pi * k / 1000.0)
    fast = 20.0 * np.sin(2 * np.pi * 0.25 * k)
    det = smoothness_priors_detrend(800.0 + slow + fast)
    assert np.std(det[100:-100] - fast[100:-100]) < 3.0
    assert smoothness_priors_trend(np.full(10, 5.0)) == pytest.approx(np.full(10, 5.0))
    base = simulate_rr(1800.0, seed=12)
    tb = np.cumsum(base) / 1000.0
    drifting = base + 150.0 * np.sin(2 * np.pi * tb / 900.0)
    res = analyze_rr(drifting, detrend="smoothness-priors", correct=False)
    raw = analyze_rr(drifting, correct=False)
    assert res.reliable and raw.reliable
    assert res.metrics["VLF_ms2"] < 0.2 * raw.metrics["VLF_ms2"]  # type: ignore[operator]
    # the respiratory band is kept
    assert res.metrics["HF_ms2"] == pytest.approx(raw.metrics["HF_ms2"], rel=0.1)


def test_too_short_record() -> None:
    # source: MIN_DURATION_S table (Task Force 1996; Munoz 2015)
    res = analyze_rr(simulate_rr(20.0, seed=1))
    assert res.metrics["MeanNN_ms"] is not None
    assert res.metrics["RMSSD_ms"] is None
    assert any(w.startswith("RMSSD_ms: not computed") for w in res.warnings)
    empty = analyze_rr([800.0])
    assert all(v is None for v in empty.metrics.values())


def test_bad_arrays_raise() -> None:
    with pytest.raises(ValueError):
        analyze_rr([800.0, float("nan")])
    # A negative RR (kept raw by an importer) is an out-of-range beat, not an error.
    assert analyze_rr([800.0, -1.0, 810.0]).artifacts.by_type["out_of_range"] == 1
    with pytest.raises(ValueError):
        analyze_rr([800.0, 810.0], segment=np.zeros(3, dtype=np.int64))


@pytest.mark.slow
def test_long_record_bounded_and_windowed_sampen() -> None:
    # source: property: 6 h simulated (> 10 000 beats) uses the 300-s-window SampEn
    res = analyze_rr(simulate_rr(6 * 3600.0, seed=7))
    assert res.metrics["SampEn"] is not None
    assert any("SampEn: mean over 300-s windows" in w for w in res.warnings)


def test_progress_callback_reaches_done() -> None:
    seen: list[tuple[str, float]] = []
    analyze_rr(simulate_rr(300.0, seed=1), progress=lambda s, f: seen.append((s, f)))
    assert seen[0][1] == 0.0 and seen[-1] == ("done", 1.0)


def test_spectral_minimum_length_applies_to_the_gap_free_stretch() -> None:
    # source: Task Force 1996 / MIN_DURATION_S: LF needs >= 120 s and HF >= 60 s of
    # *continuous* data (the spectrum never spans a gap). Ten 50-s segments (500 s in all)
    # give one 50-s window at best, so no band power may be reported from them.
    rr = simulate_rr(500.0, seed=12)
    t = np.cumsum(rr) / 1000.0
    seg = (t // 50.0).astype(np.int64)
    res = analyze_rr(rr, segment=seg, correct=False)
    assert res.metrics["RMSSD_ms"] is not None  # time domain pools the segments
    for k in ("LF_ms2", "HF_ms2", "TP_ms2", "LFHF", "LF_nu", "HF_peak_Hz"):
        assert res.metrics[k] is None, k
    assert any(w.startswith("LF_ms2: not computed") and "gap-free" in w for w in res.warnings)
    # one 150-s gap-free stretch is enough for HF and LF (with a "recommended" warning)
    seg2 = np.where(t < 150.0, 0, (t // 50.0).astype(np.int64))
    res2 = analyze_rr(rr, segment=seg2, correct=False)
    assert res2.metrics["HF_ms2"] is not None and res2.metrics["LF_ms2"] is not None


def test_long_record_sampen_is_the_mean_over_all_300s_windows() -> None:
    # source: module docstring of biofeedback.hrv.nonlinear: records > SAMPEN_WHOLE_MAX_BEATS
    # use the mean over consecutive 300-s windows. With two segments the windows of both
    # count once each (a segment's windows are not weighted again by its beat count).
    from biofeedback.hrv.nonlinear import SAMPEN_WHOLE_MAX_BEATS, sample_entropy_windowed

    a = simulate_rr(7200.0, seed=21, noise_ms=40.0)  # irregular: high SampEn
    b = simulate_rr(1800.0, seed=22, noise_ms=2.0, jitter_ms=0.5)  # regular: low SampEn
    rr = np.concatenate((a, b))
    assert rr.size > SAMPEN_WHOLE_MAX_BEATS
    seg = np.r_[np.zeros(a.size, int), np.ones(b.size, int)]
    res = analyze_rr(rr, segment=seg, correct=False)
    va, na = sample_entropy_windowed(a, np.cumsum(a) / 1000.0)
    vb, nb = sample_entropy_windowed(b, np.cumsum(b) / 1000.0)
    assert na > nb > 0 and abs(va - vb) > 0.1
    assert res.metrics["SampEn"] == pytest.approx((va * na + vb * nb) / (na + nb), rel=1e-9)


def test_zero_variability_gives_no_made_up_peak_or_stress_index() -> None:
    # source: property: metronomic RR (fixed-rate pacing, every RR = 1000/1024 s) has no
    # spectral power and an NN range of 0, so the band peaks and Baevsky's SI (which divides
    # by the range) are undefined: None, not the band's lower edge or ~1e6 from float noise.
    # No number without a signal (issue 10.3): no band power either, only the time domain.
    res = analyze_rr(np.full(700, 1000.0 * 1000.0 / 1024.0))
    m = res.metrics
    assert m["RMSSD_ms"] == 0.0 and m["SDNN_ms"] == 0.0
    assert m["HF_ms2"] is None
    assert m["LF_peak_Hz"] is None and m["HF_peak_Hz"] is None
    assert m["StressIndex"] is None and m["SNS_index"] is None


def test_metric_selection_never_changes_a_computed_value() -> None:
    # source: property (issue 14): choosing what to compute leaves every computed number
    # identical; unselected metrics are None without a warning
    from biofeedback.synth import inject_artefacts_at_rate

    rr = inject_artefacts_at_rate(simulate_rr(1200.0, seed=12), rate=0.02, seed=12).rr_ms
    full = analyze_rr(rr)
    for groups in (["time"], ["freq", "poincare"], ["nonlinear"], ["indices"], ["all"]):
        part = analyze_rr(rr, metrics=groups)
        got = {k: v for k, v in part.metrics.items() if v is not None}
        assert got, groups
        assert all(full.metrics[k] == v for k, v in got.items()), groups
        assert part.quality == full.quality
    sel = analyze_rr(rr, metrics=["freq"]).metrics
    assert sel["LF_ms2"] is not None and sel["RMSSD_ms"] is None and sel["SampEn"] is None
    # the indices need time and Poincaré values, so those come along
    ind = analyze_rr(rr, metrics=["indices"]).metrics
    assert ind["PNS_index"] == full.metrics["PNS_index"] and ind["SD1_ms"] is not None
    with pytest.raises(ValueError, match="unknown metric group 'fft'"):
        analyze_rr(rr, metrics=["fft"])


def test_long_record_default_set_and_the_beat_limit() -> None:
    # source: property (issue 14): above FAST_DEFAULT_BEATS the default is the long-record
    # set with a warning saying so; above MAX_BEATS one clear error
    from biofeedback.hrv.analysis import MAX_BEATS
    from biofeedback.hrv.metrics import FAST_DEFAULT_BEATS

    rr = np.tile(simulate_rr(3600.0, seed=13), FAST_DEFAULT_BEATS // 4000 + 1)
    assert rr.size > FAST_DEFAULT_BEATS
    res = analyze_rr(rr)
    assert res.metrics["SampEn"] is None and res.metrics["LF_ms2"] is not None
    assert any(w.startswith("long record") for w in res.warnings)
    with pytest.raises(ValueError, match=f"more than the {MAX_BEATS} supported"):
        analyze_rr(np.full(MAX_BEATS + 1, 800.0))
