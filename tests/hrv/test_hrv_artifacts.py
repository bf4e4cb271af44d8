"""Artefact detection/correction and the reliability gate."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from biofeedback.hrv import analyze_rr
from biofeedback.hrv.artifacts import detect_artifacts
from biofeedback.hrv.correction import correct_artifacts
from biofeedback.synth import inject_artefacts_at_rate as inject_artifacts
from biofeedback.synth import stationary_rr as simulate_rr
from tests.conftest import reference_dir


def _event_scores(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Event sensitivity and beat specificity.

    An injected event counts as detected when a flag falls on its intervals or the one
    before/after (the detector may flag the neighbouring interval of a displaced beat).
    Specificity is over beats more than one interval away from any event.
    """
    truth = labels != 0
    starts = np.flatnonzero(np.diff(np.concatenate(([0], truth.astype(int)))) == 1)
    near = np.zeros(truth.size, dtype=bool)
    hit = 0
    for k in starts:
        lo, hi = max(0, k - 1), min(truth.size, k + 3)
        near[lo:hi] = True
        hit += bool(flags[lo:hi].any())
    far = ~near
    fp = np.count_nonzero(flags[far])
    return hit / starts.size, 1.0 - fp / np.count_nonzero(far)


@pytest.mark.parametrize("seed", range(4))
def test_simulated_artifacts_detected_and_corrected(seed: int) -> None:
    # source: properties of seeded simulated RR (biofeedback.hrv.simulate), 30 min, artefact
    # events cycling ectopic/missed/extra so that 5 % of intervals are artefacts.
    clean = simulate_rr(1800.0, seed=seed)
    inj = inject_artifacts(clean, rate=0.03, seed=seed)
    frac = float(np.mean(inj.labels != 0))
    assert 0.04 <= frac <= 0.06
    det = detect_artifacts(inj.rr_ms)
    sens, spec = _event_scores(det.flags != 0, inj.labels)
    # Lipponen & Tarvainen 2019 report 100 % for missed/extra beats
    assert sens >= 0.98
    assert spec >= 0.995
    truth = analyze_rr(clean, correct=False).metrics
    res = analyze_rr(inj.rr_ms, artifact_rate_limit=0.10, irregular_rate_limit=0.15)
    assert res.reliable
    got = res.metrics
    assert got["RMSSD_ms"] == pytest.approx(truth["RMSSD_ms"], rel=0.05)
    assert got["SDNN_ms"] == pytest.approx(truth["SDNN_ms"], rel=0.03)
    # without correction the same record is far off (the test can fail)
    raw = analyze_rr(inj.rr_ms, correct=False, artifact_rate_limit=1, irregular_rate_limit=1)
    assert raw.metrics["RMSSD_ms"] is not None
    assert raw.metrics["RMSSD_ms"] > 1.5 * truth["RMSSD_ms"]  # type: ignore[operator]


def test_correction_preserves_time_and_clean_data_untouched() -> None:
    # source: property of seeded simulated RR
    clean = simulate_rr(600.0, seed=11)
    c = correct_artifacts(clean)
    assert c.first_pass.count <= 0.01 * clean.size
    inj = inject_artifacts(clean, rate=0.03, seed=11)
    c2 = correct_artifacts(inj.rr_ms)
    assert c2.rr_ms.sum() == pytest.approx(inj.rr_ms.sum(), abs=1e-6)


def _mitdb_rr() -> tuple[np.ndarray, np.ndarray]:
    d = reference_dir("mitdb_100")
    with (d / "100_annotations.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["symbol"] in ("N", "A", "V")]
    t = np.array([float(r["time_s"]) for r in rows])
    sym = np.array([r["symbol"] for r in rows])
    # interval k ends at beat k+1
    return np.diff(t) * 1000.0, sym[1:]


def test_mitdb_100_ectopic_detection() -> None:
    # source: MIT-BIH Arrhythmia DB record 100 cardiologist labels (N 2239, A 33, V 1);
    # Lipponen & Tarvainen 2019 report 96.96 % sensitivity / 99.94 % specificity on MIT-BIH.
    rr, sym = _mitdb_rr()
    flags = detect_artifacts(rr).flags != 0
    ect = np.flatnonzero(sym != "N")
    assert ect.size == 34
    # an ectopic beat k shortens interval k and lengthens k+1: detected if either is flagged
    hit = sum(bool(flags[k] or (k + 1 < flags.size and flags[k + 1])) for k in ect)
    sens = hit / ect.size
    near = np.zeros(flags.size, dtype=bool)
    for k in ect:
        near[max(0, k - 1) : k + 3] = True
    spec = 1.0 - np.count_nonzero(flags & ~near) / np.count_nonzero(~near)
    assert sens >= 0.9696
    assert spec >= 0.995


def test_detection_identical_to_neurokit2() -> None:
    """The numpy detector flags exactly the beats neurokit2 0.2.13 flags (single pass)."""
    # source: neurokit2.signal_fixpeaks(method="kubios", iterative=False) on the same input
    nk = pytest.importorskip("neurokit2")
    clean = simulate_rr(900.0, seed=3)
    inj = inject_artifacts(clean, rate=0.03, seed=3)
    for rr in (clean, inj.rr_ms):
        peaks = np.concatenate(([0.0], np.cumsum(rr)))
        with np.errstate(all="ignore"):
            nk_art, _ = nk.signal_fixpeaks(peaks, sampling_rate=1000, iterative=False,
                                           method="kubios")  # fmt: skip
        ours = detect_artifacts(rr)
        for key in ("ectopic", "missed", "extra", "longshort"):
            np.testing.assert_array_equal(np.asarray(nk_art[key]) - 1, getattr(ours, key))


def test_polar_h10_pvc_file_is_marked_unreliable() -> None:
    # source: kbroman/detectPVC polar_h10 RR (frequent PVCs; naive RMSSD ≈ 430 ms, research
    # note reference-data.md §3d)
    from biofeedback.files import read_rr

    d = reference_dir("polar_h10_detectpvc")
    s = read_rr(d / "polar_h10_rr.csv")
    res = analyze_rr(s.rr_ms, t_s=s.t_s, segment=s.segment)
    assert not res.reliable
    assert all(v is None for v in res.metrics.values())
    assert any("unreliable" in w and "20 %" in w for w in res.warnings)
    withheld = res.withheld_metrics["RMSSD_ms"]
    assert withheld is not None and withheld > 300.0  # the nonsense we refuse to report
    assert res.to_json_dict()["reliable"] is False


def test_clean_simulated_record_is_reliable() -> None:
    # source: property of seeded simulated RR
    res = analyze_rr(simulate_rr(600.0, seed=5))
    assert res.reliable
    assert res.artifacts.rate < 0.01


def test_out_of_range_values_flagged_and_split_segment() -> None:
    # source: property of seeded simulated RR with two implausible values inserted
    rr = simulate_rr(600.0, seed=8)
    bad = np.concatenate((rr[:300], [4500.0], rr[300:500], [150.0], rr[500:]))
    res = analyze_rr(bad)
    assert res.artifacts.by_type["out_of_range"] == 2
    assert res.nn_ms.max() < 3000 and res.nn_ms.min() > 200
    assert np.unique(res.nn_segment).size == 3
    ref = analyze_rr(rr).metrics["RMSSD_ms"]
    assert res.metrics["RMSSD_ms"] == pytest.approx(ref, rel=0.02)


def test_rolling_quantiles_equal_numpy_quantile_on_every_window() -> None:
    # source: definition (pandas rolling(center=True, min_periods=1).quantile, linear
    # interpolation) evaluated window by window with np.quantile; the rank-filter form must
    # give the same numbers, edges included.
    from biofeedback.hrv.artifacts import _rolling_quantiles

    rng = np.random.default_rng(7)
    for n, window in ((500, 91), (300, 11), (60, 91), (91, 91), (1200, 91)):
        x = np.round(rng.normal(0.0, 0.05, n), 4)  # ties, as in quantised RR
        got = _rolling_quantiles(x, window, (0.25, 0.5, 0.75))
        half = window // 2
        for q, g in zip((0.25, 0.5, 0.75), got, strict=True):
            want = [np.quantile(x[max(0, i - half) : i + half + 1], q) for i in range(n)]
            np.testing.assert_allclose(g, want, rtol=0, atol=1e-12)


def test_dense_sample_entropy_counts_equal_kd_tree_counts() -> None:
    # source: definition (Richman & Moorman 2000 template matches, Chebyshev ≤ r); the dense
    # matrix path for short windows must count the same pairs as the k-d tree path
    from scipy.spatial import cKDTree

    from biofeedback.hrv.nonlinear import _sampen_counts_dense

    rng = np.random.default_rng(3)
    for t in range(40):
        n = int(rng.integers(10, 1500))
        x = rng.normal(800.0, 40.0, n)
        if t % 2:
            x = np.round(x)  # integer-ms ties at exactly r
        r = 0.2 * float(np.std(x, ddof=1))
        nt = n - 2
        tb = cKDTree(np.lib.stride_tricks.sliding_window_view(x, 2)[:nt])
        ta = cKDTree(np.lib.stride_tricks.sliding_window_view(x, 3)[:nt])
        want = (
            (int(ta.count_neighbors(ta, r, p=np.inf)) - nt) // 2,
            (int(tb.count_neighbors(tb, r, p=np.inf)) - nt) // 2,
        )
        assert _sampen_counts_dense(x, 2, r) == want


@pytest.mark.parametrize("seed", range(6))
def test_redetection_near_changes_equals_full_detection(seed: int) -> None:
    # source: property: flags are local (threshold windows of 91 beats), so detecting
    # again only around changed intervals must give exactly the full detection, including
    # changes next to the start (neurokit2's mean placeholder) and the end.
    from biofeedback.hrv.artifacts import redetect_artifacts

    rng = np.random.default_rng(seed)
    clean = simulate_rr(3000.0, seed=seed)
    rr = inject_artifacts(clean, rate=0.03, seed=seed).rr_ms
    old = detect_artifacts(rr, resolution_ms=1.0)
    n = rr.size
    spots = [int(v) for v in rng.integers(0, n, size=int(rng.integers(1, 30)))]
    spots += [0, 3, n - 1, n - 4][: 1 + seed % 4]
    new = rr.copy()
    for k in spots:
        new[k] *= rng.choice([0.55, 0.8, 1.25, 1.9])
    changed = np.flatnonzero(new != rr)
    got = redetect_artifacts(new, old, changed, resolution_ms=1.0)
    want = detect_artifacts(new, resolution_ms=1.0)
    np.testing.assert_array_equal(got.flags, want.flags)
    for key in ("ectopic", "missed", "extra", "longshort"):
        np.testing.assert_array_equal(getattr(got, key), getattr(want, key))
