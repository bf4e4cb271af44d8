"""The figure builders of `biofeedback.plots` (moved from the dashboard's figure tests),
called directly on seeded data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly")

from biofeedback.plots import common, session
from biofeedback.plots.compare import comparison_figure, difference_figure
from biofeedback.plots.style import DASH_STYLE
from biofeedback.plots.trends import practice_figure, trends_figure
from dashboards.model import (
    Comparison,
    Difference,
    MarkerPoint,
    PhaseBand,
    PhaseMetrics,
    TrendDay,
    Trends,
)
from dashboards.pages.compare import comparison_lines, difference_rows


def _rr(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rr = 850.0 + 40.0 * np.sin(np.arange(n) / 4.0) + rng.normal(0, 10, n)
    return np.cumsum(rr) / 1000.0, rr


def test_decimation_keeps_budget_extremes_and_order() -> None:
    t, rr = _rr(100_000)
    rr[12_345] = 1900.0  # a lone spike must survive
    rr[67_890] = 310.0
    x, y = common.decimate_minmax(t, rr, 2000)
    assert len(x) <= 2000
    assert y.max() == 1900.0 and y.min() == 310.0
    assert np.all(np.diff(x) > 0)
    # every kept point is an original sample
    idx = np.searchsorted(t, x)
    assert np.array_equal(rr[idx], y)


def test_short_series_is_not_decimated() -> None:
    t, rr = _rr(500)
    _x, y = common.decimate_minmax(t, rr, 2000)
    assert np.array_equal(y, rr)


def test_segments_are_never_bridged() -> None:
    t, rr = _rr(9000)
    seg = np.repeat([0, 1, 2], 3000)
    xs, ys = common.segmented_line(t, rr, seg, 600)
    assert xs.count(None) == 2 and ys.count(None) == 2
    assert len(xs) <= 600 + 2


def test_tachogram_shades_phases_marks_artefacts_and_decimates() -> None:
    t, rr = _rr(20_000)
    art = np.zeros(rr.size, bool)
    art[[10, 500, 7000]] = True
    phases = (PhaseBand("baseline", "baseline", 0, 180), PhaseBand("calm", "practice", 180, 400))
    fig = session.tachogram_figure(
        t,
        rr,
        np.zeros(rr.size, np.int64),
        artefact=art,
        phases=phases,
        marks=(MarkerPoint(50.0, "itch"),),
        max_points=1500,
        style=DASH_STYLE,
    )
    line, marks = fig.data
    assert len(line.x) <= 1500
    assert list(marks.x) == pytest.approx(t[[10, 500, 7000]].tolist())
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(0, 180), (180, 400)]
    assert rects[0].fillcolor != rects[1].fillcolor
    assert any(a.text == "itch" for a in fig.layout.annotations)


def test_poincare_leaves_out_pairs_across_gaps_and_artefacts() -> None:
    rr = np.array([800.0, 810, 820, 1500, 830, 840, 850])
    seg = np.array([0, 0, 0, 0, 1, 1, 1])
    art = np.array([False, False, False, True, False, False, False])
    fig = session.poincare_figure(rr, seg, artefact=art, sd1_ms=5.0, sd2_ms=20.0, style=DASH_STYLE)
    pairs = list(zip(fig.data[0].x, fig.data[0].y, strict=True))
    assert pairs == [(800, 810), (810, 820), (830, 840), (840, 850)]
    assert "SD1 5.0 ms" in fig.data[2].name


def test_psd_fills_each_band_within_its_limits() -> None:
    f = np.linspace(0, 2, 513)
    p = np.exp(-((f - 0.1) ** 2) / 0.001) * 1000
    fig = session.psd_figure(
        [session.SpectrumLine("PSD", f, p)],
        band_power_ms2={"LF": 420.0, "HF": None},
        style=DASH_STYLE,
    )
    bands = {tr.name.split()[0]: tr for tr in fig.data if tr.fill == "tozeroy"}
    assert set(bands) == {"VLF", "LF", "HF"}
    lo, hi = session.BANDS_HZ["LF"]
    assert min(bands["LF"].x) >= lo and max(bands["LF"].x) <= hi
    assert bands["LF"].name == "LF 420 ms²"
    assert max(fig.data[-1].x) <= 0.5


def _cmp(n_sessions: int) -> Comparison:
    pms = []
    for sid in range(1, n_sessions + 1):
        for i, (ph, kind) in enumerate((("baseline", "baseline"), ("calm", "practice"))):
            pms.append(
                PhaseMetrics(
                    sid,
                    ph,
                    kind,
                    i * 100.0,
                    i * 100.0 + 100,
                    120,
                    {"RMSSD_ms": 20.0 + sid + 5 * i},
                    True,
                )
            )
    diffs = tuple(
        Difference(sid, "RMSSD_ms", "practice", "baseline", 5.0, 2.0, 8.0, "higher")
        for sid in range(1, n_sessions + 1)
    )
    return Comparison(tuple(range(1, n_sessions + 1)), tuple(pms), diffs, "v", True)


def _compare_figure(cmp: Comparison, metric: str) -> object:
    # The Compare page's path: its page model → session lines → the shared builder.
    return comparison_figure(comparison_lines(cmp, metric), metric, DASH_STYLE)


def test_compare_figure_one_line_per_session_and_median_when_many() -> None:
    few = _compare_figure(_cmp(3), "RMSSD_ms")
    assert [t.name for t in few.data] == ["#1", "#2", "#3"]
    assert list(few.data[1].y) == [22.0, 27.0]
    many = _compare_figure(_cmp(20), "RMSSD_ms")
    assert many.data[-1].name == "median"
    assert list(many.data[-1].y) == [
        float(np.median(np.arange(21, 41))),
        float(np.median(np.arange(26, 46))),
    ]


def test_difference_figure_error_bars_are_the_ci() -> None:
    fig = difference_figure(difference_rows(_cmp(2), "RMSSD_ms"), "RMSSD_ms", DASH_STYLE)
    assert list(fig.data[0].error_y.array) == [3.0, 3.0]
    assert list(fig.data[0].error_y.arrayminus) == [3.0, 3.0]


def test_trend_band_and_practice_bars() -> None:
    tr = Trends(
        (TrendDay("2026-09-01", 30.0, None, None, 1), TrendDay("2026-09-02", 33.0, 28.0, 35.0, 2)),
        ("2026-08-31",),
        (36.0,),
    )
    fig = trends_figure(tr.days, DASH_STYLE)
    assert list(fig.data[2].y) == [30.0, 33.0]
    assert list(fig.data[0].y) == [None, 35.0] and list(fig.data[1].y) == [None, 28.0]
    bars = practice_figure(tr.week_starts, tr.practice_min, DASH_STYLE)
    assert list(bars.data[0].y) == [36.0]
