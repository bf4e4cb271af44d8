"""Live running metrics equal a from-scratch numpy computation over the same window."""

from __future__ import annotations

import asyncio
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.hrv.live import LiveHrv, live_spectral
from biofeedback.synth import stationary_rr as simulate_rr


def _numpy_window(t: np.ndarray, rr: np.ndarray, seg: np.ndarray, ok: np.ndarray, now: float,
                  w: float) -> tuple[int, float, float | None, float | None]:  # fmt: skip
    """Reference: beats with t in (now - w, now], accepted only; diffs between consecutive
    accepted beats of the same segment with no rejected beat in between."""
    idx = np.flatnonzero((t > now - w) & (t <= now) & ok)
    x = rr[idx]
    if x.size == 0:
        return 0, math.nan, None, None
    sd = float(np.std(x, ddof=1)) if x.size > 1 else None
    d = []
    for a, b in itertools.pairwise(idx):
        if b == a + 1 and seg[a] == seg[b]:
            d.append(rr[b] - rr[a])
    # a pair whose first beat is before the window start still counts (diff belongs to b)
    if idx.size and idx[0] > 0 and ok[idx[0] - 1] and seg[idx[0] - 1] == seg[idx[0]]:
        d.insert(0, rr[idx[0]] - rr[idx[0] - 1])
    rm = math.sqrt(float(np.mean(np.square(d)))) if d else None
    return int(x.size), float(x.mean()), sd, rm


@settings(max_examples=60, deadline=None)
@given(
    rr=st.lists(st.floats(min_value=300.0, max_value=2000.0), min_size=2, max_size=400),
    art_every=st.integers(min_value=0, max_value=15),
    seg_every=st.integers(min_value=0, max_value=50),
)
def test_running_sums_equal_numpy(rr: list[float], art_every: int, seg_every: int) -> None:
    # source: definition of MeanNN/SDNN/RMSSD over a time window (property test)
    r = np.asarray(rr)
    t = np.cumsum(r) / 1000.0
    art = np.zeros(r.size, dtype=bool)
    if art_every:
        art[::art_every] = True
    seg = (np.arange(r.size) // seg_every) if seg_every else np.zeros(r.size, dtype=int)
    live = LiveHrv(windows_s=(60.0, 300.0), gate=False)
    for i in range(r.size):
        snap = live.push(float(t[i]), float(r[i]), artifact=bool(art[i]), segment=int(seg[i]))
    for ws in snap.windows:
        n, mean, sd, rm = _numpy_window(t, r, seg, ~art, float(t[-1]), ws.window_s)
        assert ws.n_beats == n
        if n == 0:
            continue
        assert ws.mean_rr_ms == pytest.approx(mean, rel=1e-9)
        assert ws.mean_hr_bpm == pytest.approx(60000.0 / mean, rel=1e-9)
        if sd is None:
            assert ws.sdnn_ms is None
        else:
            assert ws.sdnn_ms == pytest.approx(sd, rel=1e-6, abs=1e-6)
        if rm is None:
            assert ws.rmssd_ms is None
        else:
            assert ws.rmssd_ms == pytest.approx(rm, rel=1e-6, abs=1e-6)


def test_long_run_matches_numpy_after_resums() -> None:
    # source: property of seeded simulated RR (1 h, > RESUM_EVERY beats)
    rr = simulate_rr(3600.0, seed=2)
    t = np.cumsum(rr) / 1000.0
    live = LiveHrv(gate=False)
    for a, b in zip(t.tolist(), rr.tolist(), strict=True):
        snap = live.push(a, b)
    w = snap.window(300.0)
    m = t > t[-1] - 300.0
    assert w.sdnn_ms == pytest.approx(float(np.std(rr[m], ddof=1)), rel=1e-9)
    d = np.diff(rr[np.flatnonzero(m)[0] - 1 :])
    assert w.rmssd_ms == pytest.approx(float(np.sqrt(np.mean(d * d))), rel=1e-9)


def test_warming_up_until_window_covered_and_after_segment_change() -> None:
    # source: definition of the warming-up state (window not yet covered)
    live = LiveHrv(gate=False)
    t = 0.0
    states = []
    for _ in range(400):
        t += 1.0
        s = live.push(t, 1000.0)
        states.append((t, s.window(60.0).warming_up, s.window(300.0).warming_up))
    assert all(w60 for tt, w60, _ in states if tt < 60.0)
    assert not any(w60 for tt, w60, _ in states if tt >= 60.0)
    assert all(w300 for tt, _, w300 in states if tt < 300.0)
    assert not states[-1][2]
    s = live.push(t + 1.0, 1000.0, segment=1)
    assert s.window(60.0).warming_up and s.window(300.0).warming_up
    assert s.window(60.0).window_s == 60.0


def test_builtin_gate_rejects_ectopic_beat() -> None:
    # source: the 20 % rule against the median of the last 11 accepted RR
    live = LiveHrv()
    t = 0.0
    for _ in range(20):
        t += 0.8
        live.push(t, 800.0)
    s = live.push(t + 0.5, 500.0)
    assert s.artifact
    s = live.push(t + 1.3, 800.0)
    assert not s.artifact
    assert s.window(60.0).rmssd_ms == 0.0  # the ectopic beat never entered the window


async def test_spectral_off_loop_breathing_rate() -> None:
    # source: seeded simulated RR with RSA at 0.25 Hz (15 breaths/min)
    rr = simulate_rr(400.0, seed=4, resp_hz=0.25)
    live = LiveHrv()
    t = np.cumsum(rr) / 1000.0
    for a, b in zip(t.tolist(), rr.tolist(), strict=True):
        live.push(a, b)
    spec = await live.spectral_async()
    assert not spec.warming_up
    assert spec.breaths_per_min == pytest.approx(15.0, abs=0.5)
    assert spec.hf_ms2 is not None and spec.lf_ms2 is not None
    assert spec.coherence is not None and spec.coherence > 0
    # also usable with asyncio.to_thread
    spec2 = await asyncio.to_thread(live_spectral, live.spectral_input())
    assert spec2 == spec


def test_spectral_warming_up_and_none_when_short() -> None:
    # source: LF needs ≥ 120 s (Task Force 1996)
    rr = simulate_rr(90.0, seed=1)
    live = LiveHrv()
    t = np.cumsum(rr) / 1000.0
    for a, b in zip(t.tolist(), rr.tolist(), strict=True):
        live.push(a, b)
    spec = live_spectral(live.spectral_input())
    assert spec.warming_up and spec.lf_ms2 is None and spec.coherence is None


def test_coherence_higher_for_paced_breathing() -> None:
    # source: HeartMath coherence definition: a single dominant 0.1 Hz peak scores higher
    paced = simulate_rr(320.0, seed=6, resp_hz=0.1, rsa_ms=80.0, lf_ms=0.0, noise_ms=10.0)
    normal = simulate_rr(320.0, seed=6, resp_hz=0.3, rsa_ms=20.0, noise_ms=40.0)
    vals = []
    for rr in (paced, normal):
        live = LiveHrv()
        t = np.cumsum(rr) / 1000.0
        for a, b in zip(t.tolist(), rr.tolist(), strict=True):
            live.push(a, b)
        c = live_spectral(live.spectral_input()).coherence
        assert c is not None
        vals.append(c)
    assert vals[0] > 3 * vals[1]


def test_breathing_rate_follows_slow_paced_breathing_below_the_hf_band() -> None:
    # source: seeded simulated RR with RSA at 0.1 Hz (6 breaths/min, the resonance-breathing
    # pacer). Breathing at 6/min puts the respiratory peak in the LF band (Task Force 1996;
    # Shaffer & Ginsberg 2017), so "HF peak × 60" cannot be the breathing rate here.
    rr = simulate_rr(320.0, seed=6, resp_hz=0.1, rsa_ms=80.0, lf_ms=0.0, noise_ms=10.0)
    live = LiveHrv()
    t = np.cumsum(rr) / 1000.0
    for a, b in zip(t.tolist(), rr.tolist(), strict=True):
        live.push(a, b)
    spec = live_spectral(live.spectral_input())
    assert spec.breaths_per_min == pytest.approx(6.0, abs=0.5)
    assert spec.hf_peak_hz is not None and spec.hf_peak_hz >= 0.15  # HF peak stays in its band


@pytest.mark.parametrize("rr_ms", [1999.7, 333.3, 1234.567])
def test_constant_rhythm_far_from_850_ms_has_zero_sdnn(rr_ms: float) -> None:
    # source: SDNN of identical intervals is 0 by definition (sums shifted by a fixed 850 ms
    # gave 1e-5 ms for these values: cancellation in Σx² − n·mean²)
    live = LiveHrv(windows_s=(60.0, 300.0), gate=False)
    t = 0.0
    for _ in range(400):
        t += rr_ms / 1000.0
        snap = live.push(t, rr_ms)
    for ws in snap.windows:
        assert ws.sdnn_ms == 0.0
        assert ws.mean_rr_ms == pytest.approx(rr_ms, rel=1e-12)
