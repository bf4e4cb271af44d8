"""Properties of the seeded RR simulator, the artefact injector and the strap model.

Every number pinned here is a property of seeded simulated data (the simulator's own
parameters), never a recorded output.
"""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.synth import (
    GARBAGE_KINDS,
    SELF_COMPASSION_BREAK,
    ArtefactKind,
    ContactLoss,
    Dropout,
    GarbagePacket,
    Phase,
    StrapConfig,
    Window,
    inject_artefacts,
    random_artefact_sites,
    simulate_capture,
    simulate_rr,
    strap_events,
)
from devices.heart_rate import MalformedPacketError, parse_measurement

SESSION = list(SELF_COMPASSION_BREAK)


def _rmssd(rr_ms: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.diff(rr_ms) ** 2)))


def _peak_hz(rr_ms: np.ndarray, t_s: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    """Frequency of the largest periodogram peak of the 4 Hz-resampled tachogram in a band."""
    grid = np.arange(t_s[0], t_s[-1], 0.25)
    x = np.interp(grid, t_s, rr_ms)
    x = (x - np.polyval(np.polyfit(grid, x, 1), grid)) * np.hanning(grid.size)
    n = 8 * grid.size  # zero padding for a finer frequency grid
    f = np.fft.rfftfreq(n, 0.25)
    p = np.abs(np.fft.rfft(x, n)) ** 2
    band = (f >= lo_hz) & (f <= hi_hz)
    return float(f[band][np.argmax(p[band])])


def test_same_seed_same_beats_other_seed_differs() -> None:
    a = simulate_rr(SESSION, seed=3)
    b = simulate_rr(SESSION, seed=3)
    c = simulate_rr(SESSION, seed=4)
    assert np.array_equal(a.rr_ms, b.rr_ms)
    assert np.array_equal(a.phase_index, b.phase_index)
    assert a.rr_ms.size != c.rr_ms.size or not np.allclose(a.rr_ms, c.rr_ms)


def test_same_seed_same_capture() -> None:
    cfg = StrapConfig(dropouts=(Dropout(60.0, 5.0),), garbage=(GarbagePacket(30.2, "empty"),))
    phases = SESSION[:1]
    a = simulate_capture(phases, 11, strap=cfg, n_ectopic=2)
    b = simulate_capture(phases, 11, strap=cfg, n_ectopic=2)
    assert a.events == b.events
    assert a.header == b.header
    assert simulate_capture(phases, 12, strap=cfg, n_ectopic=2).events != a.events


@pytest.mark.parametrize(("hr_bpm", "seed"), [(52.0, 1), (70.0, 2), (95.0, 3)])
def test_mean_rr_matches_target_hr(hr_bpm: float, seed: int) -> None:
    beats = simulate_rr([Phase("rest", "baseline", 300.0, hr_bpm, 30.0, 13.0)], seed)
    # The first seconds sit on the starting value already (the lag starts at the target).
    assert 60000.0 / beats.rr_ms.mean() == pytest.approx(hr_bpm, abs=1.5)
    # Beats tile the phase: the last peak is within one RR of the end.
    assert 300.0 - beats.t_s[-1] < beats.rr_ms[-1] / 1000.0 + 0.5


@pytest.mark.parametrize(("breaths_per_min", "seed"), [(15.0, 5), (7.5, 6), (20.0, 7)])
def test_rsa_is_a_spectral_peak_at_the_breathing_frequency(
    breaths_per_min: float, seed: int
) -> None:
    beats = simulate_rr([Phase("p", "practice", 300.0, 66.0, 50.0, breaths_per_min)], seed)
    f_peak = _peak_hz(beats.rr_ms, beats.t_s, 0.05, 0.45)
    assert f_peak == pytest.approx(breaths_per_min / 60.0, abs=0.01)


def test_without_rsa_there_is_no_breathing_peak() -> None:
    # The same seed without RSA: the 0.25 Hz peak must come from the RSA term alone.
    with_rsa = simulate_rr([Phase("p", "baseline", 300.0, 66.0, 40.0, 15.0)], 9)
    without = simulate_rr([Phase("p", "baseline", 300.0, 66.0, 0.0, 15.0)], 9)
    assert _peak_hz(with_rsa.rr_ms, with_rsa.t_s, 0.15, 0.4) == pytest.approx(0.25, abs=0.01)
    assert _peak_hz(without.rr_ms, without.t_s, 0.15, 0.4) != pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("seed", [20261124, 1, 2])
def test_practice_calms_and_recovery_partly_persists(seed: int) -> None:
    beats = simulate_rr(SESSION, seed)
    hr = {i: 60000.0 / beats.in_phase(i).mean() for i in range(len(SESSION))}
    rmssd = {i: _rmssd(beats.in_phase(i)) for i in range(len(SESSION))}
    # Last practice step vs baseline: targets differ by 7 bpm; VLF drift (15 ms SD) moves a
    # 2-min phase mean by ~1-2 bpm (over 200 seeds the drop spans 4.0-9.2 bpm).
    assert 3.5 <= hr[0] - hr[3] <= 10.0
    assert rmssd[3] > 1.5 * rmssd[0]
    # Each practice step is calmer (lower HR) than the baseline (over 200 seeds the
    # smallest step drop is 0.8 bpm; targets are 4-7 bpm below).
    assert all(hr[i] < hr[0] for i in (1, 2, 3))
    # Recovery sits between practice and baseline: the calm persists partly.
    assert hr[3] < hr[4] < hr[0]
    early_recovery = beats.rr_ms[(beats.t_s >= 540.0) & (beats.t_s < 600.0)]
    assert 60000.0 / early_recovery.mean() < SESSION[4].mean_hr_bpm - 1.0
    # Breathing slows to the practice rate: the RSA peak moves.
    sel = (beats.t_s >= 440.0) & (beats.t_s < 540.0)
    assert _peak_hz(beats.rr_ms[sel], beats.t_s[sel], 0.05, 0.45) == pytest.approx(
        6.5 / 60.0, abs=0.015
    )


def _local_median_flags(rr_ms: np.ndarray, tol: float = 0.15, half: int = 5) -> set[int]:
    """Plain detector: an interval deviating > tol from the median of its neighbourhood."""
    out = set()
    for i in range(rr_ms.size):
        lo, hi = max(0, i - half), min(rr_ms.size, i + half + 1)
        med = float(np.median(rr_ms[lo:hi]))
        if abs(rr_ms[i] - med) > tol * med:
            out.add(i)
    return out


def test_injected_artefacts_are_where_the_rr_deviates() -> None:
    clean = simulate_rr([Phase("rest", "baseline", 600.0, 70.0, 25.0, 14.0)], 21)
    rng = np.random.default_rng(22)
    sites = random_artefact_sites(clean.rr_ms.size, rng, n_ectopic=5, n_missed=4, n_extra=3)
    inj = inject_artefacts(clean.rr_ms, sites, rng)
    assert [a.kind for a in inj.artefacts].count(ArtefactKind.MISSED) == 4
    assert inj.rr_ms.size == clean.rr_ms.size - 4 + 3
    assert _local_median_flags(clean.rr_ms) == set()
    assert _local_median_flags(inj.rr_ms) == set(inj.artefact_indices)
    for a in inj.artefacts:
        i, s = a.indices[0], a.source_index
        if a.kind is ArtefactKind.ECTOPIC:
            assert inj.rr_ms[i] < 0.8 * clean.rr_ms[s]
            assert inj.rr_ms[i + 1] > 1.15 * clean.rr_ms[s + 1]
        elif a.kind is ArtefactKind.MISSED:
            assert inj.rr_ms[i] == pytest.approx(clean.rr_ms[s] + clean.rr_ms[s + 1])
        else:
            assert inj.rr_ms[i] + inj.rr_ms[i + 1] == pytest.approx(clean.rr_ms[s])
        assert inj.t_s[a.indices[-1]] == pytest.approx(
            clean.t_s[s + (0 if a.kind is ArtefactKind.EXTRA else 1)]
        )
    # Every beat time outside the artefacts is a beat time of the clean series.
    keep = np.ones(inj.t_s.size, bool)
    keep[list(inj.artefact_indices)] = False
    assert np.isin(np.round(inj.t_s[keep], 9), np.round(clean.t_s, 9)).all()


def test_overlapping_artefact_sites_are_refused() -> None:
    rr = np.full(50, 800.0)
    with pytest.raises(ValueError, match="overlaps"):
        inject_artefacts(
            rr, [(ArtefactKind.ECTOPIC, 10), (ArtefactKind.MISSED, 11)], np.random.default_rng(0)
        )


def _frames(events: tuple) -> list[tuple[float, bytes]]:  # type: ignore[type-arg]
    return [(e.t_s, e.data) for e in events if e.kind == "notify"]


def test_strap_reports_tick_rounded_rr_one_notification_a_second() -> None:
    beats = simulate_rr([Phase("rest", "baseline", 240.0, 75.0, 25.0, 14.0)], 31)
    cfg = StrapConfig(clock_ppm=0.0)
    s = strap_events(beats.peaks_s, 240.0, cfg, np.random.default_rng(32))
    frames = _frames(s.events)
    decoded = [parse_measurement(d) for _, d in frames]
    rr = [t for m in decoded for t in m.rr_1024]
    ticks = np.diff(np.rint(beats.peaks_s * 1024.0).astype(np.int64))
    idx = np.array(s.reported_peak_index) - 1
    assert rr == ticks[idx].tolist()
    # RR are consecutive after settling: nothing is lost on a clean link.
    assert np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size))
    assert beats.peaks_s[idx[0]] >= cfg.settle_s
    counts = [len(m.rr_1024) for m in decoded]
    assert max(counts) <= 3 and min(counts[10:]) >= 0
    gaps = np.diff([t for t, _ in frames])
    assert np.median(gaps) == pytest.approx(1.0, abs=0.02)
    # HR field tracks the beats (strap-style smoothing, integer bpm).
    hr = np.array([m.hr_bpm for m in decoded[10:]])
    assert abs(hr.mean() - 75.0) < 3.0


def test_strap_quirks_contact_loss_dropout_bogus_rr_formats() -> None:
    beats = simulate_rr([Phase("rest", "baseline", 120.0, 70.0, 20.0, 14.0)], 41)
    cfg = StrapConfig(
        skip_prob=0.0,
        contact_losses=(ContactLoss(30.0, 5.0, hr="zero"),),
        dropouts=(Dropout(60.0, 8.0, reason="link loss"),),
        uint16_hr=(Window(80.0, 5.0),),
        energy=(Window(85.0, 5.0),),
        contact_unsupported=(Window(95.0, 10.0),),
        bogus_trailing_rr=(Window(95.0, 10.0),),
    )
    s = strap_events(beats.peaks_s, 120.0, cfg, np.random.default_rng(42))
    kinds = [(e.kind, e.t_s) for e in s.events if e.kind in ("connect", "disconnect")]
    assert kinds == [("connect", 0.0), ("disconnect", 60.0), ("connect", 68.0)]
    for t, data in _frames(s.events):
        m = parse_measurement(data)
        if t < 1.5:
            assert m.contact is False and m.hr_bpm == 0
        if t < cfg.settle_s:
            assert m.rr_1024 == ()
        if 30.1 <= t < 35.0:
            assert m.contact is False and m.rr_1024 == () and m.hr_bpm == 0
        assert not 60.0 <= t < 68.0
        if 80.1 <= t < 85.0:
            assert data[0] & 0x01  # uint16 HR
        if 85.1 <= t < 90.0:
            assert m.energy_kj is not None
        if 95.1 <= t < 105.0:
            assert m.contact is None
            if m.rr_1024:
                assert m.rr_1024[-1] < 100  # the Garmin bogus trailing value
        elif t > 106.0 and m.rr_1024:
            assert min(m.rr_1024) > 500
    # Beats across the contact loss and the gap are never reported.
    rep = beats.peaks_s[np.array(s.reported_peak_index)]
    prev = beats.peaks_s[np.array(s.reported_peak_index) - 1]
    for lo, hi in ((30.0, 35.0), (60.0, 68.0 + cfg.resettle_s)):
        assert not ((rep >= lo) & (rep < hi)).any()
        assert not ((prev >= lo) & (prev < hi)).any()
    assert s.rr_bogus > 0


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_garbage_packets_are_rejected_by_the_decoder(kind: str) -> None:
    beats = simulate_rr([Phase("rest", "baseline", 30.0, 70.0, 20.0, 14.0)], 51)
    cfg = StrapConfig(garbage=(GarbagePacket(12.5, kind),))  # type: ignore[arg-type]
    s = strap_events(beats.peaks_s, 30.0, cfg, np.random.default_rng(52))
    bad = [d for t, d in _frames(s.events) if t == 12.5]
    assert len(bad) == 1
    with pytest.raises(MalformedPacketError):
        parse_measurement(bad[0])
    assert s.garbage == 1


def test_capture_header_says_synthetic_and_carries_the_truth() -> None:
    cap = simulate_capture(SESSION, 61, n_ectopic=3, n_missed=2)
    h = cap.header
    assert h.origin.kind == "synthetic"
    assert h.origin.seed == 61
    assert h.origin.generator is not None and "biofeedback.simulate" in h.origin.generator
    names = [p["name"] for p in h.extra["phases"]]
    assert names == [p.name for p in SESSION]
    starts = [p["start_s"] for p in h.extra["phases"]]
    assert starts == [0.0, 180.0, 300.0, 420.0, 540.0]
    assert len(h.extra["truth"]["artefacts"]) == 5
    times = [e.t_s for e in cap.events]
    assert times == sorted(times)
