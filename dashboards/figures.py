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

#: Default point budget per trace (DESIGN.md §6: 2 k points ≈ 52 KB of JSON).
MAX_POINTS = 2000

PHASE_FILL = {
    "baseline": "rgba(120, 120, 120, 0.10)",
    "practice": "rgba(0, 150, 136, 0.12)",
    "recovery": "rgba(63, 81, 181, 0.10)",
}
PHASE_LINE = {"baseline": "#757575", "practice": "#00897b", "recovery": "#3f51b5"}
RR_COLOR = "#37474f"
HR_COLOR = "#c62828"
RMSSD_COLOR = "#00897b"
ARTEFACT_COLOR = "#d84315"
#: HRV frequency bands, Hz (Task Force of the ESC/NASPE 1996, Circulation 93:1043).
BANDS_HZ: dict[str, tuple[float, float]] = {
    "VLF": (0.0033, 0.04),
    "LF": (0.04, 0.15),
    "HF": (0.15, 0.4),
}
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


# --------------------------------------------------------------------------- decimation


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

    Returns plain lists (JSON-ready); the point budget is shared in proportion to length.
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


# --------------------------------------------------------------------------- helpers


def _phase_shapes(
    phases: Sequence[PhaseBand],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for ph in phases:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": ph.start_s,
                "x1": ph.end_s,
                "y0": 0,
                "y1": 1,
                "fillcolor": PHASE_FILL.get(ph.kind, "rgba(0,0,0,0.04)"),
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "x": (ph.start_s + ph.end_s) / 2,
                "xref": "x",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "top",
                "text": ph.name,
                "showarrow": False,
                "font": {"size": 10, "color": PHASE_LINE.get(ph.kind, "#555")},
            }
        )
    return shapes, notes


def _marker_shapes(
    markers: Sequence[MarkerPoint],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for m in markers:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": m.t_s,
                "x1": m.t_s,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#6a1b9a", "width": 1, "dash": "dot"},
            }
        )
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


def _gap_shapes(gaps: Sequence[LinkGap]) -> list[dict[str, object]]:
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": g.start_s,
            "x1": g.end_s,
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(0,0,0,0)",
            "line": {"width": 1, "color": "#b71c1c", "dash": "dash"},
        }
        for g in gaps
    ]


def _time_figure(
    title: str,
    y_title: str,
    phases: Sequence[PhaseBand] = (),
    markers: Sequence[MarkerPoint] = (),
    gaps: Sequence[LinkGap] = (),
) -> go.Figure:
    shapes, notes = _phase_shapes(phases)
    mshapes, mnotes = _marker_shapes(markers)
    fig = go.Figure()
    fig.update_layout(
        **_LAYOUT,
        title={"text": title, "x": 0, "font": {"size": 14}},
        xaxis={"title": "time (s)", "zeroline": False},
        yaxis={"title": y_title, "zeroline": False},
        shapes=shapes + mshapes + _gap_shapes(gaps),
        annotations=notes + mnotes,
    )
    return fig


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

    Segments (contiguous runs between gaps) are drawn as separate line pieces: a gap is never
    bridged. Flagged beats are drawn from the raw values (≤ ``max_points`` of them).
    """
    fig = _time_figure(title, "RR (ms)", phases, markers, gaps)
    xs, ys = segmented_line(t_s, rr_ms, segment, max_points)
    fig.add_trace(
        go.Scattergl(x=xs, y=ys, mode="lines", name="RR", line={"color": RR_COLOR, "width": 1.2})
    )
    if artefact is not None and np.any(artefact):
        idx = np.flatnonzero(np.asarray(artefact, dtype=bool))[:max_points]
        fig.add_trace(
            go.Scattergl(
                x=np.asarray(t_s)[idx].tolist(),
                y=np.asarray(rr_ms)[idx].tolist(),
                mode="markers",
                name=f"artefact ({int(np.sum(artefact))})",
                marker={"color": ARTEFACT_COLOR, "symbol": "x", "size": 8},
            )
        )
    return fig


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
    fig = _time_figure("Heart rate", "HR (bpm)", phases)
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
    fig = _time_figure(f"Rolling RMSSD ({window_s:g} s window)", "RMSSD (ms)", phases)
    xs, ys = segmented_line(t_s, rmssd_ms, None, max_points)
    fig.add_trace(
        go.Scattergl(
            x=xs, y=ys, mode="lines", name="RMSSD", line={"color": RMSSD_COLOR, "width": 1.5}
        )
    )
    return fig


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
    rr = np.asarray(rr_ms, dtype=np.float64)
    seg = np.zeros(rr.size, np.int64) if segment is None else np.asarray(segment, np.int64)
    ok = np.ones(rr.size, bool) if artefact is None else ~np.asarray(artefact, bool)
    same = (seg[1:] == seg[:-1]) & ok[1:] & ok[:-1]
    x, y = rr[:-1][same], rr[1:][same]
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
    fig.add_trace(
        go.Scatter(
            x=[lo, hi],
            y=[lo, hi],
            mode="lines",
            name="identity",
            line={"color": "#9e9e9e", "dash": "dot", "width": 1},
            hoverinfo="skip",
        )
    )
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
    layout = {**_LAYOUT, "hovermode": "closest"}
    fig.update_layout(
        **layout,
        title={"text": "Poincaré plot", "x": 0, "font": {"size": 14}},
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
        **{**_LAYOUT, "hovermode": "closest"},
        title={"text": "Power spectral density (Welch)", "x": 0, "font": {"size": 14}},
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
        **{**_LAYOUT, "hovermode": "closest"},
        title={"text": f"{metric} by phase", "x": 0, "font": {"size": 14}},
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
        **{**_LAYOUT, "hovermode": "closest"},
        title={"text": f"Δ {metric} vs baseline (95 % CI)", "x": 0, "font": {"size": 14}},
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
        **{**_LAYOUT, "hovermode": "closest"},
        title={"text": "Resting HRV (baseline RMSSD) per day", "x": 0, "font": {"size": 14}},
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
        **{**_LAYOUT, "hovermode": "closest"},
        title={"text": "Practice minutes per week", "x": 0, "font": {"size": 14}},
        xaxis={"title": "week starting", "type": "date"},
        yaxis={"title": "minutes"},
        showlegend=False,
    )
    return fig
