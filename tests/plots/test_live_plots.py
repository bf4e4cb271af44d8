"""Live figures: gaps stay gaps, artefacts are marked not joined, empty charts have no axes."""

from __future__ import annotations

from biofeedback.plots.live import live_points, mmss, rmssd_figure, tachogram_figure
from biofeedback.sessions.live_state import LiveBeat, PhaseSpan


def beat(seq: int, t: float, rr: float, *, art: bool = False, seg: int = 0) -> LiveBeat:
    return LiveBeat(seq, t, rr, 40.0, 60000 / rr, 0.0, art, seg)


def test_a_new_segment_and_a_long_pause_break_the_line() -> None:
    beats = [beat(1, 1.0, 1000), beat(2, 2.0, 1000), beat(3, 30.0, 1000, seg=1)]
    beats += [beat(4, 31.0, 1000, seg=1), beat(5, 40.0, 1000, seg=1)]  # 9 s pause
    pts = live_points(beats)
    assert pts.x == [1.0, 2.0, None, 30.0, 31.0, None, 40.0]
    assert pts.last_t_s == 40.0 and pts.last_segment == 1


def test_a_continued_line_breaks_at_the_first_new_point_after_a_gap() -> None:
    pts = live_points([beat(9, 50.0, 1000, seg=2)], last_t_s=40.0, last_segment=1)
    assert pts.x == [None, 50.0]


def test_artefacts_are_left_out_of_the_line_and_marked() -> None:
    beats = [beat(1, 1.0, 1000), beat(2, 2.7, 1700, art=True), beat(3, 3.4, 700)]
    pts = live_points(beats)
    assert pts.rr == [1000.0, 700.0] and pts.art_rr == [1700.0] and pts.art_x == [2.7]


def test_empty_charts_have_no_axes_and_say_what_they_wait_for() -> None:
    for fig in (tachogram_figure(()), rmssd_figure(())):
        assert fig["data"] == []
        assert fig["layout"]["xaxis"] == {"visible": False}
        assert fig["layout"]["yaxis"] == {"visible": False}
        assert fig["layout"]["annotations"][0]["text"]


def test_time_axis_reads_minutes_and_seconds_and_phases_are_drawn() -> None:
    phases = (PhaseSpan("baseline", "baseline", 0.0, 180.0), PhaseSpan("m", "practice", 180, None))
    fig = tachogram_figure([beat(1, 1.0, 1000), beat(2, 2.0, 1000)], phases, (90.0,), now_s=200)
    ax = fig["layout"]["xaxis"]
    assert ax["ticktext"][:3] == ["0:00", "1:00", "2:00"] and mmss(3723) == "1:02:03"
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert [s["x0"] for s in lines] == [0.0, 180, 90.0]  # two phase starts and the mark
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["baseline", "m"]


def test_the_practice_chart_draws_baseline_and_normal_range() -> None:
    fig = rmssd_figure(
        [beat(1, 1.0, 1000), beat(2, 2.0, 1000)], baseline_ms=35.0, normal_ms=(28.0, 45.0)
    )
    shapes = fig["layout"]["shapes"]
    assert {"y0": 28.0, "y1": 45.0}.items() <= shapes[0].items()
    assert shapes[1]["y0"] == shapes[1]["y1"] == 35.0
