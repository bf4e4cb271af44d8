"""Live figures: the practice chart (RMSSD against this session's baseline and the personal
normal range) and the tachogram, both with phase boundaries, marks, artefacts and gaps.

Pure functions of the live worker's ring-buffered beats (`LiveBeat`) and its phase spans;
plain dict figures (the browser grows them by ``extendData``, see `extend_payload`).

* gaps stay gaps: a new segment (after a link or contact gap) or a pause of more than
  `GAP_S` starts a new line (a ``None`` point), never a straight join;
* artefacts (the live engine's verdict) are left out of the line and drawn as marks, so
  a 1700-ms spike is visibly an artefact and does not pull the line;
* an empty chart shows no axes (no −1…6 ticks), only what it waits for;
* the time axis reads mm:ss.

Text colours are left to the page's theme (light or dark), so the figures carry only trace
and band colours that keep ≥ 3:1 against both backgrounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from biofeedback.sessions.live_state import LiveBeat, PhaseSpan

__all__ = [
    "GAP_S",
    "LivePoints",
    "extend_payload",
    "live_points",
    "rmssd_figure",
    "tachogram_figure",
]

#: A pause between beats longer than this (s) is drawn as a gap even within a segment.
GAP_S = 3.0
RR_COLOR = "#5c7a89"
RMSSD_COLOR = "#00897b"
ARTEFACT_COLOR = "#e65100"
MARK_COLOR = "#8e24aa"
BASELINE_COLOR = "#5c7a89"
#: Phase kinds shaded on the live charts (alpha kept low: the line is the message).
PHASE_FILL = {
    "baseline": "rgba(120,120,120,0.10)",
    "practice": "rgba(0,150,136,0.12)",
    "recovery": "rgba(63,81,181,0.12)",
}
TICK_STEP_S = 60.0
TICK_SPAN_S = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class LivePoints:
    """Chart points of some beats: the line (``None`` at gaps and artefacts) and the marks.

    ``last_t_s``/``last_segment`` are where the line stopped, to continue it later.
    """

    x: list[float | None]
    rr: list[float | None]
    rmssd: list[float | None]
    art_x: list[float]
    art_rr: list[float]
    last_t_s: float | None
    last_segment: int | None


def live_points(
    beats: Sequence[LiveBeat], last_t_s: float | None = None, last_segment: int | None = None
) -> LivePoints:
    """Line and artefact points of ``beats``, continuing a line that ended at ``last_t_s``."""
    x: list[float | None] = []
    rr: list[float | None] = []
    rm: list[float | None] = []
    ax: list[float] = []
    ay: list[float] = []
    for b in beats:
        if b.artefact:
            ax.append(round(b.t_s, 3))
            ay.append(round(b.rr_ms, 1))
            continue
        broken = last_t_s is not None and (
            b.segment != last_segment or b.t_s - last_t_s > max(GAP_S, b.rr_ms / 1000.0 + 1.0)
        )
        if broken and (not x or x[-1] is not None):
            x.append(None)
            rr.append(None)
            rm.append(None)
        x.append(round(b.t_s, 3))
        rr.append(round(b.rr_ms, 1))
        rm.append(None if b.rmssd60_ms is None else round(b.rmssd60_ms, 1))
        last_t_s, last_segment = b.t_s, b.segment
    return LivePoints(x, rr, rm, ax, ay, last_t_s, last_segment)


def mmss(t_s: float) -> str:
    """``m:ss`` of seconds (``12:00``; hours as ``1:02:03``)."""
    s = max(0, round(t_s))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _time_axis() -> dict[str, Any]:
    vals = [i * TICK_STEP_S for i in range(int(TICK_SPAN_S / TICK_STEP_S) + 1)]
    return {
        "title": {"text": "session time (m:ss)"},
        "tickmode": "array",
        "tickvals": vals,
        "ticktext": [mmss(v) for v in vals],
        "showgrid": True,
        "zeroline": False,
    }


def _phase_decor(
    phases: Sequence[PhaseSpan], now_s: float, marks_s: Sequence[float]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for ph in phases:
        end = ph.end_s if ph.end_s is not None else now_s
        common = {"xref": "x", "yref": "paper", "y0": 0, "y1": 1, "layer": "below"}
        shapes.append(
            {"type": "rect", "x0": ph.start_s, "x1": end, "line": {"width": 0}, **common}
            | {"fillcolor": PHASE_FILL.get(ph.kind, "rgba(0,0,0,0.04)")}
        )
        shapes.append(
            {"type": "line", "x0": ph.start_s, "x1": ph.start_s, **common}
            | {"line": {"color": BASELINE_COLOR, "width": 1}}
        )
        notes.append(
            {
                "x": ph.start_s,
                "xref": "x",
                "xanchor": "left",
                "y": 1,
                "yref": "paper",
                "yanchor": "top",
                "text": ph.name,
                "showarrow": False,
                "font": {"size": 11},
            }
        )
    for t in marks_s:
        shapes.append(
            {"type": "line", "x0": t, "x1": t, "xref": "x", "yref": "paper", "y0": 0, "y1": 1}
            | {"line": {"color": MARK_COLOR, "width": 1.5, "dash": "dot"}}
        )
    return shapes, notes


def _empty(title: str, waiting: str, height: int) -> dict[str, Any]:
    return {
        "data": [],
        "layout": {
            "title": {"text": title, "x": 0, "font": {"size": 14}},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": waiting,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "showarrow": False,
                    "font": {"size": 15},
                }
            ],
            "height": height,
            "margin": {"l": 16, "r": 16, "t": 36, "b": 16},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def _layout(title: str, y_title: str, height: int) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0, "font": {"size": 14}},
        "xaxis": _time_axis(),
        "yaxis": {"title": {"text": y_title}, "zeroline": False},
        "height": height,
        "margin": {"l": 56, "r": 12, "t": 36, "b": 44},
        "showlegend": False,
        "hovermode": "closest",
        "uirevision": "live",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }


def tachogram_figure(
    beats: Sequence[LiveBeat],
    phases: Sequence[PhaseSpan] = (),
    marks_s: Sequence[float] = (),
    *,
    now_s: float = 0.0,
    height: int = 240,
) -> dict[str, Any]:
    """RR intervals (ms) against session time: trace 0 the line, trace 1 the artefacts."""
    title = "Beat-to-beat intervals (RR)"
    if not beats:
        return _empty(title, "Waiting for the first beats", height)
    pts = live_points(beats)
    shapes, notes = _phase_decor(phases, now_s, marks_s)
    layout = _layout(title, "RR (ms)", height) | {"shapes": shapes, "annotations": notes}
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": pts.x,
                "y": pts.rr,
                "name": "RR",
                "line": {"color": RR_COLOR, "width": 1.5},
                "connectgaps": False,
            },
            {
                "type": "scatter",
                "mode": "markers",
                "x": pts.art_x,
                "y": pts.art_rr,
                "name": "artefact (left out)",
                "marker": {"color": ARTEFACT_COLOR, "symbol": "x", "size": 8},
            },
        ],
        "layout": layout,
    }


def rmssd_figure(
    beats: Sequence[LiveBeat],
    phases: Sequence[PhaseSpan] = (),
    marks_s: Sequence[float] = (),
    *,
    baseline_ms: float | None = None,
    normal_ms: tuple[float, float] | None = None,
    now_s: float = 0.0,
    height: int = 280,
) -> dict[str, Any]:
    """The practice chart: RMSSD (60-s window) with this session's baseline (dashed) and the
    personal normal range (band) when known. Trace 0 is the line."""
    title = "RMSSD (60-s window) vs your baseline"
    pts = live_points(beats)
    if not any(v is not None for v in pts.rmssd):
        return _empty(title, "RMSSD after the first minute", height)
    shapes, notes = _phase_decor(phases, now_s, marks_s)
    if normal_ms is not None:
        shapes.append(
            {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y"}
            | {"y0": normal_ms[0], "y1": normal_ms[1], "line": {"width": 0}, "layer": "below"}
            | {"fillcolor": "rgba(0,137,123,0.10)"}
        )
        notes.append(_right_note(normal_ms[1], "your normal range", "bottom"))
    if baseline_ms is not None:
        shapes.append(
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y"}
            | {"y0": baseline_ms, "y1": baseline_ms}
            | {"line": {"color": BASELINE_COLOR, "width": 2, "dash": "dash"}}
        )
        notes.append(_right_note(baseline_ms, "this session's baseline", "top"))
    layout = _layout(title, "RMSSD (ms)", height) | {"shapes": shapes, "annotations": notes}
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": pts.x,
                "y": pts.rmssd,
                "name": "RMSSD",
                "line": {"color": RMSSD_COLOR, "width": 3},
                "connectgaps": False,
            }
        ],
        "layout": layout,
    }


def _right_note(y: float, text: str, anchor: str) -> dict[str, Any]:
    return {
        "x": 1,
        "xref": "paper",
        "xanchor": "right",
        "y": y,
        "yref": "y",
        "yanchor": anchor,
        "text": text,
        "showarrow": False,
        "font": {"size": 11},
    }


def extend_payload(
    pts: LivePoints, max_points: int
) -> tuple[tuple[dict[str, Any], list[int], int], tuple[dict[str, Any], list[int], int]]:
    """``extendData`` values for the tachogram (line + artefacts) and the RMSSD chart."""
    tacho = ({"x": [pts.x, pts.art_x], "y": [pts.rr, pts.art_rr]}, [0, 1], max_points)
    rmssd = ({"x": [pts.x], "y": [pts.rmssd]}, [0], max_points)
    return tacho, rmssd
