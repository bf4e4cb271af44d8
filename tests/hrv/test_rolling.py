"""The one rolling RMSSD (moved here from the report's and the dashboard's copies)."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.hrv.rolling import rolling_rmssd


def test_rolling_rmssd_matches_brute_force() -> None:
    # Moved from the report's tests; the window rule is the dashboard/live one that won:
    # a difference counts when its *later* beat is in (t_i - w, t_i] (the report's copy also
    # required the earlier beat inside, one pair fewer).
    rng = np.random.default_rng(11)
    rr = 800 + 50 * rng.standard_normal(400)
    t = np.cumsum(rr) / 1000
    seg = np.repeat([0, 1], 200).astype(np.int64)
    art = np.zeros(400, dtype=bool)
    art[[50, 51, 300]] = True
    got = rolling_rmssd(t, rr, seg, art, window_s=30.0, min_pairs=5)
    for i in (10, 60, 199, 200, 205, 260, 399):
        later = np.flatnonzero((t > t[i] - 30.0) & (np.arange(400) <= i) & (np.arange(400) >= 1))
        d = [
            rr[k] - rr[k - 1]
            for k in later
            if seg[k] == seg[k - 1] and not art[k] and not art[k - 1]
        ]
        want = np.sqrt(np.mean(np.square(d))) if len(d) >= 5 else np.nan
        np.testing.assert_allclose(got[i], want, equal_nan=True)


def test_rolling_rmssd_matches_the_definition_on_a_window() -> None:
    # Moved from the dashboard's tests (its value k was at beat k + 1).
    rng = np.random.default_rng(5)
    rr = 800 + rng.normal(0, 30, 400)
    t = np.cumsum(rr) / 1000
    seg = np.zeros(400, np.int64)
    art = np.zeros(400, bool)
    v = rolling_rmssd(t, rr, seg, art, 60.0)
    k = 300
    inwin = (t[1:] > t[k + 1] - 60.0) & (t[1:] <= t[k + 1])
    d = np.diff(rr)[inwin]
    assert v[k + 1] == pytest.approx(float(np.sqrt(np.mean(d**2))))
    assert np.isnan(v[0])  # no difference before the first beat
