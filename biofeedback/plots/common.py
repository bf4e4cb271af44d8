"""Shared figure machinery: min/max decimation, segments, phase/gap/mark shapes, time axes.

Long series are decimated for display with a min/max-preserving scheme
(:func:`decimate_minmax`) so spikes (artefacts) stay visible: a 24 h record (80 k beats,
~2.3 MB of JSON) is drawn with ≤ ``max_points`` points per trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import plotly.graph_objects as go

from biofeedback.hrv._types import FloatArray, IntArray
from biofeedback.plots.style import IDENTITY_LINE, MARK_COLOR, Style


class PhaseLike(Protocol):
    """Anything with a phase's name, kind and ``[start_s, end_s)`` (e.g. ``PhaseSpan``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class MarkLike(Protocol):
    """A user mark: time (s) and a label."""

    @property
    def t_s(self) -> float: ...
    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...


def decimate_minmax(
    x: FloatArray, y: FloatArray, max_points: int = 2000
) -> tuple[FloatArray, FloatArray]:
    """Reduce ``(x, y)`` to at most ``max_points`` points, keeping each bucket's min and max.

    The series is cut into ``max_points // 2`` buckets of consecutive samples; each bucket
    contributes its minimum and its maximum in their original order, so peaks (ectopic beats,
    artefacts) survive. ``y`` must be finite; series at or under the budget are returned as
    they are (copies).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if x.size != n:
        raise ValueError(f"x and y differ in length ({x.size} != {n})")
    if n <= max_points:
        return x.copy(), y.copy()
    if max_points < 2:
        raise ValueError("max_points must be >= 2")
    nb = max_points // 2
    bucket = (np.arange(n) * nb) // n  # bucket of each sample, non-decreasing
    order = np.lexsort((y, bucket))  # by bucket, then by value
    starts = np.searchsorted(bucket[order], np.arange(nb), side="left")
    ends = np.searchsorted(bucket[order], np.arange(nb), side="right") - 1
    keep = np.unique(np.concatenate([order[starts], order[ends]]))
    return x[keep], y[keep]


def segmented_line(
    x: FloatArray, y: FloatArray, segment: IntArray | None, max_points: int = 2000
) -> tuple[list[float | None], list[float | None]]:
    """Decimate each segment on its own and join them with ``None`` so gaps stay gaps.

    Non-finite points are dropped. Returns plain lists (JSON-ready); the point budget is
    shared in proportion to length.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y) & np.isfinite(x)
    seg = np.zeros(x.size, np.int64) if segment is None else np.asarray(segment, np.int64)
    x, y, seg = x[finite], y[finite], seg[finite]
    n = x.size
    if n == 0:
        return [], []
    cuts = np.flatnonzero(np.diff(seg) != 0) + 1
    pieces = np.split(np.arange(n), cuts)
    budget = max(2 * len(pieces), max_points - len(pieces))
    xs: list[float | None] = []
    ys: list[float | None] = []
    for k, idx in enumerate(pieces):
        share = max(2, int(budget * idx.size / n))
        px, py = decimate_minmax(x[idx], y[idx], share)
        if k:
            xs.append(None)
            ys.append(None)
        xs.extend(px.tolist())
        ys.extend(py.tolist())
    return xs, ys


def scatter(style: Style, **kwargs: object) -> go.Scatter | go.Scattergl:
    """A scatter trace of the style's kind (WebGL or SVG)."""
    return go.Scattergl(**kwargs) if style.webgl else go.Scatter(**kwargs)


def xspan_shape(x0_s: float, x1_s: float, **style: object) -> dict[str, object]:
    """A layout shape over ``[x0_s, x1_s]`` on the time axis, the plot's full height.

    ``x0_s == x1_s`` with ``type="line"`` makes a vertical line; ``style`` adds fill/line.
    """
    shape: dict[str, object] = {"type": "rect", "xref": "x", "yref": "paper"}
    shape.update(x0=x0_s, x1=x1_s, y0=0, y1=1)
    shape.update(style)
    return shape


def phase_shapes(
    phases: Sequence[PhaseLike], style: Style, *, labels: bool = True
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Layout shapes shading each phase, and (with ``labels``) annotations naming them."""
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for ph in phases:
        fill = style.phase_fill.get(ph.kind, "rgba(0,0,0,0.04)")
        shapes.append(
            xspan_shape(ph.start_s, ph.end_s, fillcolor=fill, line={"width": 0}, layer="below")
        )
        if not labels:
            continue
        font: dict[str, object] = {"size": style.phase_label_size}
        if style.phase_label_color is not None:
            font["color"] = style.phase_label_color.get(ph.kind, "#555")
        # Centred: plotly's default (auto) anchor; else pinned to the phase's left edge.
        where: dict[str, object] = (
            {"x": (ph.start_s + ph.end_s) / 2}
            if style.phase_label_centered
            else {"x": ph.start_s, "xanchor": "left"}
        )
        notes.append(
            {
                **where,
                "xref": "x",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "top",
                "text": ph.name,
                "showarrow": False,
                "font": font,
            }
        )
    return shapes, notes


def gap_shapes(gaps: Sequence[tuple[float, float]], style: Style) -> list[dict[str, object]]:
    """Layout rectangles over link gaps ``(start_s, end_s)`` (never interpolated)."""
    return [xspan_shape(a, max(b, a + style.gap_min_width_s), **style.gap_shape) for a, b in gaps]


def mark_shapes(
    marks: Sequence[MarkLike],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Dotted vertical lines at the user's marks, labelled along the bottom."""
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for m in marks:
        line = {"color": MARK_COLOR, "width": 1, "dash": "dot"}
        shapes.append(xspan_shape(m.t_s, m.t_s, type="line", line=line))
        notes.append(
            {
                "x": m.t_s,
                "xref": "x",
                "y": 0,
                "yref": "paper",
                "yanchor": "bottom",
                "text": m.label[:24] or m.kind,
                "showarrow": False,
                "textangle": -90,
                "font": {"size": 9, "color": MARK_COLOR},
            }
        )
    return shapes, notes


def time_figure(
    title: str,
    y_title: str,
    style: Style,
    phases: Sequence[PhaseLike] = (),
    gaps: Sequence[tuple[float, float]] = (),
    *,
    phase_labels: bool = True,
    shapes: Sequence[dict[str, object]] = (),
    annotations: Sequence[dict[str, object]] = (),
) -> go.Figure:
    """An empty figure against time (s): phases shaded, gaps marked, extra shapes added."""
    pshapes, pnotes = phase_shapes(phases, style, labels=phase_labels)
    fig = go.Figure()
    fig.update_layout(
        **style.layout,
        title={"text": title, **style.title},
        xaxis={"title": {"text": "time (s)"}, **style.axis},
        yaxis={"title": {"text": y_title}, **style.axis},
        shapes=pshapes + list(shapes) + gap_shapes(gaps, style),
        annotations=pnotes + list(annotations),
    )
    return fig


def card_layout(title: str, style: Style) -> dict[str, object]:
    """Layout of a figure not against time: the style's card layout, titled."""
    return {**style.card_layout, "title": {"text": title, **style.card_title}}


def identity_trace(lo: float, hi: float, **kwargs: object) -> go.Scatter:
    """The dotted line of identity from ``(lo, lo)`` to ``(hi, hi)`` for a Poincaré plot."""
    return go.Scatter(
        x=[lo, hi], y=[lo, hi], mode="lines", name="identity", line=IDENTITY_LINE, **kwargs
    )
