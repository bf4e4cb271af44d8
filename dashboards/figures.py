"""Pure figure builders: arrays and frozen view models in, ``plotly`` figures out.

No I/O, no Dash, no store: every function here can be called from a test or a report with
hand-made inputs. Long series are decimated for display with a min/max-preserving scheme
(:func:`decimate_minmax`) so a 24 h recording (80 k beats, ~2.3 MB of JSON) goes to the
browser as ≤ ``max_points`` points per trace (~50 KB) without hiding spikes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from biofeedback.report_figures import (
    ARTEFACT_COLOR,
    BANDS_HZ,
    RMSSD_COLOR,
    RR_COLOR,
    FigureStyle,
    decimate_minmax,
    identity_trace,
    phase_fill,
    poincare_pairs,
    segmented_line,
    time_figure,
    xspan_shape,
)
from biofeedback.report_figures import rolling_rmssd_figure as _rolling_rmssd_figure
from biofeedback.report_figures import tachogram_figure as _tachogram_figure
from dashboards.model import (
    BoolArray,
    Comparison,
    FloatArray,
    IntArray,
    LinkGap,
    MarkerPoint,
    PhaseBand,
    Trends,
)

__all__ = [
    "ARTEFACT_COLOR",
    "BANDS_HZ",
    "DASH_STYLE",
    "HR_COLOR",
    "MAX_POINTS",
    "RMSSD_COLOR",
    "RR_COLOR",
    "compare_figure",
    "decimate_minmax",
    "difference_figure",
    "extend_payload",
    "hr_figure",
    "live_figure",
    "poincare_figure",
    "practice_figure",
    "psd_figure",
    "rolling_rmssd_figure",
    "segmented_line",
    "tachogram_figure",
    "trends_figure",
]

#: Default point budget per trace (DESIGN.md §6: 2 k points ≈ 52 KB of JSON).
MAX_POINTS = 2000

PHASE_FILL = phase_fill(0.10, 0.12)
PHASE_LINE = {"baseline": "#757575", "practice": "#00897b", "recovery": "#3f51b5"}
HR_COLOR = "#c62828"
BAND_FILL = {
    "VLF": "rgba(158,158,158,0.35)",
    "LF": "rgba(255,167,38,0.45)",
    "HF": "rgba(0,137,123,0.45)",
}

_LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    "hovermode": "x unified",
}
_TITLE: dict[str, object] = {"x": 0, "font": {"size": 14}}


def _layout(title: str) -> dict[str, object]:
    """Dashboard layout for a figure not against time: nearest-point hover, titled.

    These figures sit in half-width cards, where a right-aligned legend on the title's line
    runs into the title (the PSD's band legend did): the title gets the top line of the
    margin and the legend a left-aligned line of its own below it.
    """
    return {
        **_LAYOUT,
        "hovermode": "closest",
        "margin": {"l": 56, "r": 16, "t": 76, "b": 40},
        "title": {
            "text": title,
            **_TITLE,
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 12},
        },
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"},
    }


#: The dashboard's looks for the shared time-series builders of `biofeedback.report_figures`.
DASH_STYLE = FigureStyle(
    layout=_LAYOUT,
    title=_TITLE,
    axis={"zeroline": False},
    phase_fill=PHASE_FILL,
    phase_label_color=PHASE_LINE,
    phase_label_size=10,
    phase_label_centered=True,
    gap_shape={
        "fillcolor": "rgba(0,0,0,0)",
        "line": {"width": 1, "color": "#b71c1c", "dash": "dash"},
    },
    gap_min_width_s=0.0,
    webgl=True,
    rr_width=1.2,
    artefact_size=8,
    cap_artefacts=True,
)


# --------------------------------------------------------------------------- helpers


def _marker_shapes(
    markers: Sequence[MarkerPoint],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for m in markers:
        line = {"color": "#6a1b9a", "width": 1, "dash": "dot"}
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
                "font": {"size": 9, "color": "#6a1b9a"},
            }
        )
    return shapes, notes


def _spans(gaps: Sequence[LinkGap]) -> list[tuple[float, float]]:
    return [(g.start_s, g.end_s) for g in gaps]


# --------------------------------------------------------------------------- session page


def tachogram_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    artefact: BoolArray | None = None,
    phases: Sequence[PhaseBand] = (),
    markers: Sequence[MarkerPoint] = (),
    gaps: Sequence[LinkGap] = (),
    max_points: int = MAX_POINTS,
    title: str = "RR tachogram",
) -> go.Figure:
    """RR intervals (ms) against time (s), phases shaded, artefacts as red crosses.

    The shared builder (`biofeedback.report_figures.tachogram_figure`) in the dashboard's
    style, with the user's marks as dotted lines. Segments are never bridged; at most
    ``max_points`` points per trace.
    """
    shapes, notes = _marker_shapes(markers)
    return _tachogram_figure(
        t_s,
        rr_ms,
        segment,
        artefact,
        phases,
        _spans(gaps),
        title=title,
        max_points=max_points,
        style=DASH_STYLE,
        shapes=shapes,
        annotations=notes,
    )


def hr_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    phases: Sequence[PhaseBand] = (),
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Instantaneous heart rate (60000 / RR, bpm) against time."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        hr = np.where(rr > 0, 60000.0 / rr, np.nan)
    fig = time_figure("Heart rate", "HR (bpm)", DASH_STYLE, phases)
    xs, ys = segmented_line(t_s, hr, segment, max_points)
    fig.add_trace(
        go.Scattergl(x=xs, y=ys, mode="lines", name="HR", line={"color": HR_COLOR, "width": 1})
    )
    return fig


def rolling_rmssd_figure(
    t_s: FloatArray,
    rmssd_ms: FloatArray,
    *,
    window_s: float,
    phases: Sequence[PhaseBand] = (),
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Rolling RMSSD (ms) over the trailing ``window_s`` seconds, against time."""
    return _rolling_rmssd_figure(
        t_s,
        rmssd_ms,
        None,
        phases,
        window_s=window_s,
        max_points=max_points,
        title=f"Rolling RMSSD ({window_s:g} s window)",
        name="RMSSD",
        phase_labels=True,
        style=DASH_STYLE,
    )


def poincare_figure(
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    artefact: BoolArray | None = None,
    sd1_ms: float | None = None,
    sd2_ms: float | None = None,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Poincaré plot RR(n+1) against RR(n), pairs within a segment only, SD1/SD2 ellipse.

    Pairs touching a flagged beat are left out. Above ``max_points`` pairs an evenly spaced
    subset is drawn (the cloud's shape survives; the ellipse uses the given SD1/SD2).
    """
    x, y, _ = poincare_pairs(rr_ms, segment, artefact)
    if x.size > max_points:
        pick = np.linspace(0, x.size - 1, max_points).astype(np.int64)
        x, y = x[pick], y[pick]
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=x.tolist(),
            y=y.tolist(),
            mode="markers",
            name="RR pairs",
            marker={"size": 4, "color": RR_COLOR, "opacity": 0.45},
        )
    )
    lo = float(min(x.min(), y.min())) if x.size else 400.0
    hi = float(max(x.max(), y.max())) if x.size else 1200.0
    fig.add_trace(identity_trace(lo, hi, hoverinfo="skip"))
    if sd1_ms is not None and sd2_ms is not None and x.size:
        c = float(np.mean(np.concatenate([x, y])))
        a = np.linspace(0, 2 * np.pi, 121)
        # Ellipse axes along the identity line (SD2) and across it (SD1), Brennan et al. 2001.
        u, v = sd2_ms * np.cos(a), sd1_ms * np.sin(a)
        ex = c + (u - v) / np.sqrt(2)
        ey = c + (u + v) / np.sqrt(2)
        fig.add_trace(
            go.Scatter(
                x=ex.tolist(),
                y=ey.tolist(),
                mode="lines",
                name=f"SD1 {sd1_ms:.1f} ms, SD2 {sd2_ms:.1f} ms",
                line={"color": RMSSD_COLOR, "width": 2},
            )
        )
    fig.update_layout(
        **_layout("Poincaré plot"),
        xaxis={"title": "RR n (ms)"},
        yaxis={"title": "RR n+1 (ms)", "scaleanchor": "x", "scaleratio": 1},
    )
    return fig


def psd_figure(
    freq_hz: FloatArray,
    psd_ms2_per_hz: FloatArray,
    *,
    band_power_ms2: dict[str, float | None] | None = None,
    max_hz: float = 0.5,
) -> go.Figure:
    """Power spectral density (ms²/Hz) with the VLF/LF/HF bands filled and their power."""
    f = np.asarray(freq_hz, dtype=np.float64)
    p = np.asarray(psd_ms2_per_hz, dtype=np.float64)
    keep = f <= max_hz
    f, p = f[keep], p[keep]
    fig = go.Figure()
    power = band_power_ms2 or {}
    for band, (lo, hi) in BANDS_HZ.items():
        m = (f >= lo) & (f <= hi)
        if not np.any(m):
            continue
        pw = power.get(band)
        label = f"{band} {pw:.0f} ms²" if pw is not None else band
        fig.add_trace(
            go.Scatter(
                x=f[m].tolist(),
                y=p[m].tolist(),
                mode="lines",
                fill="tozeroy",
                name=label,
                line={"width": 0},
                fillcolor=BAND_FILL[band],
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=f.tolist(),
            y=p.tolist(),
            mode="lines",
            name="PSD",
            line={"color": RR_COLOR, "width": 1.5},
        )
    )
    fig.update_layout(
        **_layout("Power spectral density (Welch)"),
        xaxis={"title": "frequency (Hz)", "range": [0, max_hz]},
        yaxis={"title": "PSD (ms²/Hz)", "rangemode": "tozero"},
    )
    return fig


# --------------------------------------------------------------------------- live page


def live_figure(
    title: str,
    y_title: str,
    color: str,
    t_s: Sequence[float] = (),
    values: Sequence[float | None] = (),
    *,
    window_s: float = 180.0,
) -> go.Figure:
    """A one-trace live chart that later grows by ``extendData`` (see :func:`extend_payload`).

    ``uirevision`` keeps the user's zoom across updates; the x range follows the data.
    """
    fig = go.Figure(
        go.Scatter(
            x=list(t_s),
            y=list(values),
            mode="lines+markers",
            name=title,
            line={"color": color, "width": 1.5},
            marker={"size": 3},
        )
    )
    fig.update_layout(
        **{**_LAYOUT, "hovermode": "closest", "margin": {"l": 56, "r": 16, "t": 32, "b": 36}},
        title={"text": title, "x": 0, "font": {"size": 13}},
        xaxis={"title": "time (s)"},
        yaxis={"title": y_title},
        uirevision="live",
        showlegend=False,
        height=260,
    )
    return fig


def extend_payload(
    t_s: Sequence[float], values: Sequence[float | None], max_points: int
) -> tuple[dict[str, list[list[float | None]]], list[int], int]:
    """``dcc.Graph.extendData`` value appending points to trace 0, keeping ``max_points``."""
    return {"x": [list(t_s)], "y": [list(values)]}, [0], max_points


# --------------------------------------------------------------------------- compare page


def compare_figure(cmp: Comparison, metric: str) -> go.Figure:
    """One metric per phase, one line per session (sessions in order of their ids)."""
    fig = go.Figure()
    by_session: dict[int, list[tuple[str, float | None]]] = {}
    phase_order: list[str] = []
    for pm in cmp.phases:
        if pm.phase == "all":
            continue
        by_session.setdefault(pm.session_id, []).append((pm.phase, pm.metrics.get(metric)))
        if pm.phase not in phase_order:
            phase_order.append(pm.phase)
    many = len(by_session) > 12
    for sid, pts in by_session.items():
        fig.add_trace(
            go.Scatter(
                x=[p for p, _ in pts],
                y=[v for _, v in pts],
                mode="lines+markers",
                name=f"#{sid}",
                line={"width": 1 if many else 2},
                opacity=0.35 if many else 1.0,
                showlegend=not many,
            )
        )
    if many:
        # With many sessions the spaghetti is context; the median per phase is the message.
        med = []
        for ph in phase_order:
            vals = [
                v
                for pm in cmp.phases
                if pm.phase == ph and (v := pm.metrics.get(metric)) is not None
            ]
            med.append(float(np.median(vals)) if vals else None)
        fig.add_trace(
            go.Scatter(
                x=phase_order,
                y=med,
                mode="lines+markers",
                name="median",
                line={"color": "#000", "width": 3},
            )
        )
    fig.update_layout(
        **_layout(f"{metric} by phase"),
        xaxis={"title": "phase", "categoryorder": "array", "categoryarray": phase_order},
        yaxis={"title": metric},
    )
    return fig


def difference_figure(cmp: Comparison, metric: str) -> go.Figure:
    """Differences from baseline with their CI as error bars (pooled or per session)."""
    rows = [d for d in cmp.differences if d.metric == metric and d.delta is not None]
    labels = [d.phase if d.session_id is None else f"#{d.session_id} {d.phase}" for d in rows]
    deltas = [d.delta for d in rows]
    plus = [
        (d.ci_high - d.delta) if d.ci_high is not None and d.delta is not None else 0.0
        for d in rows
    ]
    minus = [
        (d.delta - d.ci_low) if d.ci_low is not None and d.delta is not None else 0.0 for d in rows
    ]
    fig = go.Figure(
        go.Scatter(
            x=labels,
            y=deltas,
            mode="markers",
            marker={"size": 10, "color": RMSSD_COLOR},
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            name="difference",
        )
    )
    fig.add_hline(y=0, line={"color": "#9e9e9e", "dash": "dot"})
    fig.update_layout(
        **_layout(f"Δ {metric} vs baseline (95 % CI)"),
        yaxis={"title": f"Δ {metric}"},
        showlegend=False,
    )
    return fig


# --------------------------------------------------------------------------- trends page


def trends_figure(tr: Trends) -> go.Figure:
    """Daily resting RMSSD (baseline phases) against the personal normal range band."""
    days = [d.day for d in tr.days]
    fig = go.Figure()
    lo = [d.normal_low_ms for d in tr.days]
    hi = [d.normal_high_ms for d in tr.days]
    fig.add_trace(
        go.Scatter(
            x=days,
            y=hi,
            mode="lines",
            line={"width": 0},
            showlegend=False,
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=lo,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(0,137,123,0.15)",
            name="personal normal range (60 days)",
            connectgaps=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=[d.rmssd_ms for d in tr.days],
            mode="lines+markers",
            name="resting RMSSD",
            line={"color": RR_COLOR},
            customdata=[d.n_sessions for d in tr.days],
            hovertemplate="%{x}: %{y:.1f} ms (%{customdata} session(s))<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout("Resting HRV (baseline RMSSD) per day"),
        xaxis={"title": "day", "type": "date"},
        yaxis={"title": "RMSSD (ms)"},
    )
    return fig


def practice_figure(tr: Trends) -> go.Figure:
    """Practice minutes per ISO week (weeks start on Monday)."""
    fig = go.Figure(
        go.Bar(
            x=list(tr.week_starts),
            y=list(tr.practice_min),
            marker={"color": RMSSD_COLOR},
            name="practice",
        )
    )
    fig.update_layout(
        **_layout("Practice minutes per week"),
        xaxis={"title": "week starting", "type": "date"},
        yaxis={"title": "minutes"},
        showlegend=False,
    )
    return fig
