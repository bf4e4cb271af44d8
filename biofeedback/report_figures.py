"""Plotly figure builders shared by the reports and the dashboard (pure: arrays in, figures out).

Used by :mod:`biofeedback.reports.html` (and so the PDF) and by :mod:`dashboards.figures`,
which passes its own :class:`FigureStyle` and point budget. They live in ``biofeedback``
because the dependency direction is ``dashboards → biofeedback``. plotly is imported here at
module level, so import this module lazily (it is never imported by ``biofeedback --help`` nor
by ``import dashboards``).

Long series are decimated for display with a min/max-preserving scheme
(:func:`decimate_minmax`) so spikes (artefacts) stay visible: a 24 h record (80 k beats, ~2.3 MB
of JSON) is drawn with ≤ ``max_points`` points per trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

__all__ = [
    "ARTEFACT_COLOR",
    "BANDS_HZ",
    "MAX_POINTS",
    "REPORT_STYLE",
    "RMSSD_COLOR",
    "RR_COLOR",
    "FigureStyle",
    "PhaseLike",
    "SpectrumLine",
    "comparison_figure",
    "decimate_minmax",
    "gap_shapes",
    "identity_trace",
    "phase_fill",
    "phase_shapes",
    "poincare_figure",
    "poincare_pairs",
    "psd_figure",
    "rolling_rmssd",
    "rolling_rmssd_figure",
    "segmented_line",
    "tachogram_figure",
    "time_figure",
    "xspan_shape",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Point budget per trace in reports (a 1 h session has ~4-5 k beats: drawn in full).
MAX_POINTS = 6000

#: Phase hues by kind (grey rest, teal practice, indigo recovery); see :func:`phase_fill`.
PHASE_RGB: dict[str, tuple[int, int, int]] = {
    "baseline": (120, 120, 120),
    "practice": (0, 150, 136),
    "recovery": (63, 81, 181),
}


def phase_fill(alpha: float, practice_alpha: float) -> dict[str, str]:
    """Translucent phase fills by kind; practice a little stronger so it stands out."""
    return {
        kind: f"rgba({r}, {g}, {b}, {practice_alpha if kind == 'practice' else alpha:.2f})"
        for kind, (r, g, b) in PHASE_RGB.items()
    }


PHASE_FILL = phase_fill(0.12, 0.14)
RR_COLOR = "#37474f"
RMSSD_COLOR = "#00897b"
ARTEFACT_COLOR = "#d84315"
IDENTITY_LINE: dict[str, object] = {"color": "#9e9e9e", "dash": "dot", "width": 1}
GAP_FILL = "rgba(216, 67, 21, 0.10)"
#: HRV frequency bands, Hz (Task Force of the ESC/NASPE 1996, Circulation 93:1043).
BANDS_HZ: dict[str, tuple[float, float]] = {
    "VLF": (0.0033, 0.04),
    "LF": (0.04, 0.15),
    "HF": (0.15, 0.4),
}
BAND_FILL = {
    "VLF": "rgba(158,158,158,0.18)",
    "LF": "rgba(255,167,38,0.18)",
    "HF": "rgba(0,137,123,0.15)",
}
SERIES_COLORS = ("#00897b", "#3f51b5", "#d84315", "#6d4c41", "#8e24aa", "#f9a825", "#546e7a")

_LAYOUT: dict[str, object] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 16, "t": 66, "b": 44},
    "font": {"family": "DejaVu Sans, Helvetica, Arial, sans-serif", "size": 11},
    # Title on the first line, legend on the second (just above the plot): never overlapping.
    "legend": {"orientation": "h", "y": 1.01, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    "height": 320,
}


@dataclass(frozen=True)
class FigureStyle:
    """What differs between the report's and the dashboard's time-series figures.

    The logic (decimation, segments, phase/gap shading, artefact marks) is shared; only these
    looks differ. ``title``/``axis`` are merged into the layout's title and both axes;
    ``phase_fill``/``phase_label_color`` are keyed by phase kind; ``gap_shape`` is merged into
    each link-gap rectangle, whose width is at least ``gap_min_width_s`` seconds.
    """

    layout: Mapping[str, object]
    title: Mapping[str, object]
    axis: Mapping[str, object]
    phase_fill: Mapping[str, str]
    phase_label_color: Mapping[str, str] | None
    phase_label_size: int
    #: Phase labels centred over the phase (dashboard) or at its left edge (report).
    phase_label_centered: bool
    gap_shape: Mapping[str, object]
    gap_min_width_s: float
    #: WebGL traces (fast in the browser); plain SVG for reports (static export).
    webgl: bool
    rr_width: float
    artefact_size: int
    #: Draw at most ``max_points`` artefact marks (the dashboard's JSON budget).
    cap_artefacts: bool

    def scatter(self, **kwargs: object) -> go.Scatter | go.Scattergl:
        """A scatter trace of the style's kind (WebGL or SVG)."""
        return go.Scattergl(**kwargs) if self.webgl else go.Scatter(**kwargs)


#: Report (HTML/PDF) style.
REPORT_STYLE = FigureStyle(
    layout=_LAYOUT,
    title={"x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top"},
    axis={},
    phase_fill=PHASE_FILL,
    phase_label_color=None,
    phase_label_size=9,
    phase_label_centered=False,
    gap_shape={"fillcolor": GAP_FILL, "line": {"width": 0}, "layer": "below"},
    gap_min_width_s=0.5,
    webgl=False,
    rr_width=1.0,
    artefact_size=6,
    cap_artefacts=False,
)


def _title(text: str) -> dict[str, object]:
    return {"text": text, **REPORT_STYLE.title}


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


@dataclass(frozen=True)
class SpectrumLine:
    """One PSD to draw: label, frequencies (Hz) and density (ms²/Hz)."""

    label: str
    freq_hz: FloatArray
    psd_ms2_hz: FloatArray


def decimate_minmax(
    x: FloatArray, y: FloatArray, max_points: int = MAX_POINTS
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
    x: FloatArray,
    y: FloatArray,
    segment: IntArray | None,
    max_points: int = MAX_POINTS,
) -> tuple[list[float | None], list[float | None]]:
    """Decimate each segment on its own and join them with ``None`` so gaps stay gaps.

    Non-finite points are dropped. Returns plain lists (JSON-ready); the point budget is
    shared in proportion to length.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y) & np.isfinite(x)
    if segment is None:
        seg = np.zeros(x.size, dtype=np.int64)
    else:
        seg = np.asarray(segment, dtype=np.int64)
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


def xspan_shape(x0_s: float, x1_s: float, **style: object) -> dict[str, object]:
    """A layout shape over ``[x0_s, x1_s]`` on the time axis, the plot's full height.

    ``x0_s == x1_s`` with ``type="line"`` makes a vertical line; ``style`` adds fill/line.
    """
    shape: dict[str, object] = {"type": "rect", "xref": "x", "yref": "paper"}
    shape.update(x0=x0_s, x1=x1_s, y0=0, y1=1)
    shape.update(style)
    return shape


def phase_shapes(
    phases: Sequence[PhaseLike], style: FigureStyle = REPORT_STYLE, *, labels: bool = True
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


def gap_shapes(
    gaps: Sequence[tuple[float, float]], style: FigureStyle = REPORT_STYLE
) -> list[dict[str, object]]:
    """Layout rectangles over link gaps ``(start_s, end_s)`` (never interpolated)."""
    return [xspan_shape(a, max(b, a + style.gap_min_width_s), **style.gap_shape) for a, b in gaps]


def time_figure(
    title: str,
    y_title: str,
    style: FigureStyle = REPORT_STYLE,
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


def tachogram_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    artefact: BoolArray | None = None,
    phases: Sequence[PhaseLike] = (),
    gaps: Sequence[tuple[float, float]] = (),
    *,
    title: str = "RR tachogram",
    max_points: int = MAX_POINTS,
    style: FigureStyle = REPORT_STYLE,
    shapes: Sequence[dict[str, object]] = (),
    annotations: Sequence[dict[str, object]] = (),
) -> go.Figure:
    """RR (ms) against time (s): phases shaded, artefacts marked, link gaps marked.

    Segments (contiguous runs between gaps) are drawn as separate line pieces: a gap is never
    bridged. Flagged beats are drawn from the raw values (≤ ``max_points`` of them when the
    style caps them). ``shapes``/``annotations`` are added to the layout (e.g. user marks).
    """
    fig = time_figure(title, "RR (ms)", style, phases, gaps, shapes=shapes, annotations=annotations)
    xs, ys = segmented_line(t_s, rr_ms, segment, max_points)
    fig.add_trace(
        style.scatter(
            x=xs, y=ys, mode="lines", name="RR", line={"color": RR_COLOR, "width": style.rr_width}
        )
    )
    if artefact is not None and np.any(artefact):
        idx = np.flatnonzero(np.asarray(artefact, dtype=bool))
        if style.cap_artefacts:
            idx = idx[:max_points]
        fig.add_trace(
            style.scatter(
                x=np.asarray(t_s)[idx].tolist(),
                y=np.asarray(rr_ms)[idx].tolist(),
                mode="markers",
                name=f"artefact ({int(np.sum(artefact))})",
                marker={"color": ARTEFACT_COLOR, "symbol": "x", "size": style.artefact_size},
            )
        )
    return fig


def rolling_rmssd(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray,
    artefact: BoolArray,
    window_s: float = 60.0,
    min_pairs: int = 10,
) -> FloatArray:
    """RMSSD (ms) over the trailing ``window_s`` at each beat; NaN while too few pairs.

    A successive difference counts when both beats are in the same segment and neither is
    flagged as an artefact (so a gap or an ectopic beat never inflates it). O(n) with
    cumulative sums.
    """
    n = len(rr_ms)
    out = np.full(n, np.nan)
    if n < 2:
        return out
    d = np.diff(rr_ms)
    ok = (np.diff(segment) == 0) & ~artefact[1:] & ~artefact[:-1]
    d = np.where(ok, d, 0.0)  # an out-of-range beat (even 1e308 ms) never enters a square
    sq = d * d
    c_sq = np.concatenate([[0.0], np.cumsum(sq)])
    c_n = np.concatenate([[0], np.cumsum(ok.astype(np.int64))])
    # pair k (between beats k and k+1) is stamped at beat k+1's time t_s[k+1].
    start = np.searchsorted(t_s, t_s - window_s, side="right")  # first beat inside window
    # pairs k in [start, i-1] lie inside the window of beat i: cumsum indices start .. i.
    end = np.arange(n)
    lo = np.minimum(start, end)
    cnt = c_n[end] - c_n[lo]
    s = c_sq[end] - c_sq[lo]
    good = cnt >= min_pairs
    out[good] = np.sqrt(s[good] / cnt[good])
    return out


def rolling_rmssd_figure(
    t_s: FloatArray,
    rmssd_ms: FloatArray,
    segment: IntArray | None = None,
    phases: Sequence[PhaseLike] = (),
    *,
    window_s: float = 60.0,
    max_points: int = MAX_POINTS,
    title: str | None = None,
    name: str | None = None,
    phase_labels: bool = False,
    style: FigureStyle = REPORT_STYLE,
) -> go.Figure:
    """Rolling RMSSD (ms) against time (s) with the phases shaded; NaNs are left out."""
    fig = time_figure(
        title or f"Rolling RMSSD, {window_s:.0f}-s window",
        "RMSSD (ms)",
        style,
        phases,
        phase_labels=phase_labels,
    )
    xs, ys = segmented_line(t_s, rmssd_ms, segment, max_points)
    fig.add_trace(
        style.scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=name or f"RMSSD ({window_s:.0f} s)",
            line={"color": RMSSD_COLOR, "width": 1.5},
        )
    )
    return fig


def poincare_pairs(
    rr_ms: FloatArray, segment: IntArray | None = None, artefact: BoolArray | None = None
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Poincaré pairs ``(RR(n), RR(n+1))`` within one segment and clear of flagged beats.

    Also returns the mask over ``n`` (length ``len(rr_ms) - 1``) of the pairs kept.
    """
    rr = np.asarray(rr_ms, dtype=np.float64)
    if rr.size < 2:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty, np.zeros(0, dtype=np.bool_)
    seg = np.zeros(rr.size, np.int64) if segment is None else np.asarray(segment, np.int64)
    ok = np.ones(rr.size, bool) if artefact is None else ~np.asarray(artefact, bool)
    same: BoolArray = (seg[1:] == seg[:-1]) & ok[1:] & ok[:-1]
    return rr[:-1][same], rr[1:][same], same


def identity_trace(lo: float, hi: float, **kwargs: object) -> go.Scatter:
    """The dotted line of identity from ``(lo, lo)`` to ``(hi, hi)`` for a Poincaré plot."""
    return go.Scatter(
        x=[lo, hi], y=[lo, hi], mode="lines", name="identity", line=IDENTITY_LINE, **kwargs
    )


def poincare_figure(
    nn_ms: FloatArray,
    segment: IntArray,
    groups: Sequence[str] | None = None,
    *,
    sd1_ms: float | None = None,
    sd2_ms: float | None = None,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Poincaré plot NN(n) vs NN(n+1), one colour per group (phase), pairs within segments."""
    fig = go.Figure()
    x, y, same = poincare_pairs(nn_ms, segment)
    if x.size:  # (also no pair at all: every beat its own segment)
        g = np.asarray(groups if groups is not None else ["NN"] * len(nn_ms), dtype=object)
        g = g[1:][same]
        names = list(dict.fromkeys(g.tolist()))
        step = max(1, int(np.ceil(len(x) / max_points)))
        for i, name in enumerate(names):
            m = np.flatnonzero(g == name)[::step]
            fig.add_trace(
                go.Scatter(
                    x=x[m],
                    y=y[m],
                    mode="markers",
                    name=str(name) if name is not None else "(no phase)",
                    marker={"size": 4, "opacity": 0.6, "color": SERIES_COLORS[i % 7]},
                )
            )
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        fig.add_trace(identity_trace(lo, hi, showlegend=False))
    sub = ""
    if sd1_ms is not None and sd2_ms is not None:
        sub = f" (SD1 {sd1_ms:.1f} ms, SD2 {sd2_ms:.1f} ms)"
    layout = dict(_LAYOUT)
    layout["height"] = 380
    fig.update_layout(
        title=_title(f"Poincaré plot{sub}"),
        xaxis_title="NN(n) (ms)",
        yaxis_title="NN(n+1) (ms)",
        **layout,
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def psd_figure(spectra: Sequence[SpectrumLine], *, f_max_hz: float = 0.5) -> go.Figure:
    """Power spectral densities (ms²/Hz) with the VLF/LF/HF bands shaded."""
    fig = go.Figure()
    for band, (a, b) in BANDS_HZ.items():
        fig.add_vrect(
            x0=a,
            x1=b,
            fillcolor=BAND_FILL[band],
            line_width=0,
            layer="below",
            annotation_text=band,
            annotation_position="top left",
            annotation_font_size=9,
        )
    for i, s in enumerate(spectra):
        m = s.freq_hz <= f_max_hz
        fig.add_trace(
            go.Scatter(
                x=s.freq_hz[m],
                y=s.psd_ms2_hz[m],
                mode="lines",
                name=s.label,
                line={"color": SERIES_COLORS[i % 7], "width": 1.5},
            )
        )
    fig.update_layout(
        title=_title("Power spectral density (Welch, 4 Hz cubic interpolation)"),
        xaxis_title="frequency (Hz)",
        yaxis_title="PSD (ms²/Hz)",
        **_LAYOUT,
    )
    fig.update_xaxes(range=[0, f_max_hz])
    return fig


def comparison_figure(
    metric: str,
    sessions: Sequence[str],
    phases: Sequence[str],
    values: Sequence[Sequence[float | None]],
) -> go.Figure:
    """Grouped bars: ``values[i][j]`` is ``metric`` in session ``i``, phase ``j``."""
    fig = go.Figure()
    for i, name in enumerate(sessions):
        fig.add_trace(
            go.Bar(
                x=list(phases),
                y=[v if v is not None else None for v in values[i]],
                name=name,
                marker_color=SERIES_COLORS[i % 7],
            )
        )
    fig.update_layout(
        title=_title(f"{metric} per phase, by session"),
        barmode="group",
        yaxis_title=metric,
        **_LAYOUT,
    )
    return fig
