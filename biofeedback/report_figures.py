"""Plotly figure builders for session reports (pure: arrays in, figures out).

Used by :mod:`biofeedback.reports.html` (and so the PDF). They live in ``biofeedback`` because
the dependency direction is ``dashboards → biofeedback``; the dashboard may reuse them.
plotly is imported here at module level, so import this module lazily (it is never imported
by ``biofeedback --help``).

Long series are decimated for display with a min/max-preserving scheme so spikes (artefacts)
stay visible: a 24 h record (80 k beats) is drawn with ≤ ``max_points`` points per trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

__all__ = [
    "BANDS_HZ",
    "MAX_POINTS",
    "PhaseLike",
    "SpectrumLine",
    "comparison_figure",
    "decimate_minmax",
    "poincare_figure",
    "psd_figure",
    "rolling_rmssd",
    "rolling_rmssd_figure",
    "tachogram_figure",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Point budget per trace in reports (a 1 h session has ~4-5 k beats: drawn in full).
MAX_POINTS = 6000

PHASE_FILL = {
    "baseline": "rgba(120, 120, 120, 0.12)",
    "practice": "rgba(0, 150, 136, 0.14)",
    "recovery": "rgba(63, 81, 181, 0.12)",
}
PHASE_LINE = {"baseline": "#616161", "practice": "#00897b", "recovery": "#3f51b5"}
RR_COLOR = "#37474f"
RMSSD_COLOR = "#00897b"
ARTEFACT_COLOR = "#d84315"
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


def _title(text: str) -> dict[str, object]:
    return {"text": text, "x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top"}


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
    """Keep each bucket's min and max (in time order) so at most ``max_points`` remain."""
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    for a, b in pairwise(edges.tolist()):
        if b <= a:
            continue
        seg = y[a:b]
        i, j = a + int(np.argmin(seg)), a + int(np.argmax(seg))
        keep.extend(sorted({i, j}))
    idx = np.asarray(keep, dtype=np.int64)
    return x[idx], y[idx]


def _broken_line(
    t_s: FloatArray, y: FloatArray, segment: IntArray, max_points: int
) -> tuple[list[float | None], list[float | None]]:
    """x/y lists with ``None`` between segments so the line is not drawn across gaps."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    if len(t_s) == 0:
        return xs, ys
    cut = np.flatnonzero(np.diff(segment) != 0) + 1
    bounds = [0, *cut.tolist(), len(t_s)]
    budget = max(2, max_points // max(1, len(bounds) - 1))
    for a, b in pairwise(bounds):
        dx, dy = decimate_minmax(t_s[a:b], y[a:b], budget)
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(dx.tolist())
        ys.extend(dy.tolist())
    return xs, ys


def _phase_shapes(fig: go.Figure, phases: Sequence[PhaseLike], labels: bool = True) -> None:
    for ph in phases:
        # Only pass annotation arguments with a label: plotly otherwise writes "new text".
        ann: dict[str, object] = (
            {"annotation_text": ph.name, "annotation_position": "top left",
             "annotation_font_size": 9}
            if labels
            else {}
        )  # fmt: skip
        fig.add_vrect(
            x0=ph.start_s,
            x1=ph.end_s,
            fillcolor=PHASE_FILL.get(ph.kind, "rgba(0,0,0,0.05)"),
            line_width=0,
            layer="below",
            **ann,
        )


def _gap_shapes(fig: go.Figure, gaps: Sequence[tuple[float, float]]) -> None:
    for a, b in gaps:
        fig.add_vrect(x0=a, x1=max(b, a + 0.5), fillcolor=GAP_FILL, line_width=0, layer="below")


def tachogram_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray,
    artefact: BoolArray,
    phases: Sequence[PhaseLike] = (),
    gaps: Sequence[tuple[float, float]] = (),
    *,
    title: str = "RR tachogram",
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """RR (ms) against time (s): phases shaded, artefacts marked, link gaps tinted red."""
    fig = go.Figure()
    _phase_shapes(fig, phases)
    _gap_shapes(fig, gaps)
    xs, ys = _broken_line(t_s, rr_ms, segment, max_points)
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", name="RR", line={"color": RR_COLOR, "width": 1})
    )
    if artefact.any():
        fig.add_trace(
            go.Scatter(
                x=t_s[artefact],
                y=rr_ms[artefact],
                mode="markers",
                name=f"artefact ({int(artefact.sum())})",
                marker={"color": ARTEFACT_COLOR, "size": 6, "symbol": "x"},
            )
        )
    fig.update_layout(
        title=_title(title),
        xaxis_title="time (s)",
        yaxis_title="RR (ms)",
        **_LAYOUT,
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
    sq = np.where(ok, d * d, 0.0)
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
    segment: IntArray,
    phases: Sequence[PhaseLike] = (),
    *,
    window_s: float = 60.0,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Rolling RMSSD (ms) against time (s) with the phases shaded."""
    fig = go.Figure()
    _phase_shapes(fig, phases, labels=False)
    ok = np.isfinite(rmssd_ms)
    xs, ys = _broken_line(t_s[ok], rmssd_ms[ok], segment[ok], max_points)
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=f"RMSSD ({window_s:.0f} s)",
            line={"color": RMSSD_COLOR, "width": 1.5},
        )
    )
    fig.update_layout(
        title=_title(f"Rolling RMSSD, {window_s:.0f}-s window"),
        xaxis_title="time (s)",
        yaxis_title="RMSSD (ms)",
        **_LAYOUT,
    )
    return fig


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
    if len(nn_ms) >= 2:
        same = np.diff(segment) == 0
        x, y = nn_ms[:-1][same], nn_ms[1:][same]
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
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                name="identity",
                line={"color": "#9e9e9e", "dash": "dot", "width": 1},
                showlegend=False,
            )
        )
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
