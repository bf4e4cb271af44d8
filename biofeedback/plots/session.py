"""One session's figures: tachogram, heart rate, rolling RMSSD, Poincaré plot, PSD.

Each figure has an array-level builder (``*_figure``: plain arrays in, for tests and the live
view) and a `SessionView`-level one (``tachogram(view, style)``...) that the reports and the
Session page both call, so they draw the same thing from the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from biofeedback.hrv._types import BoolArray, FloatArray, IntArray
from biofeedback.hrv.frequency import BANDS_HZ
from biofeedback.plots.common import (
    MarkLike,
    PhaseLike,
    card_layout,
    identity_trace,
    mark_shapes,
    scatter,
    segmented_line,
    time_figure,
    xspan_shape,
)
from biofeedback.plots.style import (
    ARTEFACT_COLOR,
    HR_COLOR,
    RMSSD_COLOR,
    RR_COLOR,
    SERIES_COLORS,
    Style,
)

if TYPE_CHECKING:
    from biofeedback.sessions.view import SessionView

__all__ = [
    "BANDS_HZ",
    "SpectrumLine",
    "heart_rate",
    "hr_figure",
    "poincare",
    "poincare_figure",
    "poincare_pairs",
    "psd",
    "psd_figure",
    "rolling_rmssd",
    "rolling_rmssd_figure",
    "tachogram",
    "tachogram_figure",
]


@dataclass(frozen=True)
class SpectrumLine:
    """One PSD to draw: label, frequencies (Hz) and density (ms²/Hz)."""

    label: str
    freq_hz: FloatArray
    psd_ms2_hz: FloatArray


def tachogram_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    artefact: BoolArray | None = None,
    phases: Sequence[PhaseLike] = (),
    gaps: Sequence[tuple[float, float]] = (),
    marks: Sequence[MarkLike] = (),
    style: Style,
    max_points: int | None = None,
    title: str = "RR tachogram",
) -> go.Figure:
    """RR (ms) against time (s): phases shaded, artefacts marked, link gaps and marks drawn.

    Segments (contiguous runs between gaps) are drawn as separate line pieces: a gap is never
    bridged. Flagged beats are drawn from the raw values (≤ ``max_points`` of them when the
    style caps them).
    """
    budget = style.max_points if max_points is None else max_points
    shapes, notes = mark_shapes(marks)
    fig = time_figure(title, "RR (ms)", style, phases, gaps, shapes=shapes, annotations=notes)
    xs, ys = segmented_line(t_s, rr_ms, segment, budget)
    line = {"color": RR_COLOR, "width": style.rr_width}
    fig.add_trace(scatter(style, x=xs, y=ys, mode="lines", name="RR", line=line))
    if artefact is not None and np.any(artefact):
        idx = np.flatnonzero(np.asarray(artefact, dtype=bool))
        if style.cap_artefacts:
            idx = idx[:budget]
        fig.add_trace(
            scatter(
                style,
                x=np.asarray(t_s)[idx].tolist(),
                y=np.asarray(rr_ms)[idx].tolist(),
                mode="markers",
                name=f"artefact ({int(np.sum(artefact))})",
                marker={"color": ARTEFACT_COLOR, "symbol": "x", "size": style.artefact_size},
            )
        )
    return fig


def hr_figure(
    t_s: FloatArray,
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    phases: Sequence[PhaseLike] = (),
    style: Style,
    max_points: int | None = None,
) -> go.Figure:
    """Instantaneous heart rate (60000 / RR, bpm) against time."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        hr = np.where(rr > 0, 60000.0 / rr, np.nan)
    fig = time_figure("Heart rate", "HR (bpm)", style, phases)
    xs, ys = segmented_line(
        t_s, hr, segment, style.max_points if max_points is None else max_points
    )
    fig.add_trace(
        scatter(style, x=xs, y=ys, mode="lines", name="HR", line={"color": HR_COLOR, "width": 1})
    )
    return fig


def rolling_rmssd_figure(
    t_s: FloatArray,
    rmssd_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    window_s: float,
    phases: Sequence[PhaseLike] = (),
    style: Style,
    max_points: int | None = None,
    phase_labels: bool = True,
) -> go.Figure:
    """Rolling RMSSD (ms) over the trailing ``window_s`` against time; NaNs are left out."""
    fig = time_figure(
        f"Rolling RMSSD ({window_s:g} s window)",
        "RMSSD (ms)",
        style,
        phases,
        phase_labels=phase_labels,
    )
    budget = style.max_points if max_points is None else max_points
    xs, ys = segmented_line(t_s, rmssd_ms, segment, budget)
    line = {"color": RMSSD_COLOR, "width": 1.5}
    fig.add_trace(scatter(style, x=xs, y=ys, mode="lines", name="RMSSD", line=line))
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


def _ellipse(x: FloatArray, y: FloatArray, sd1_ms: float, sd2_ms: float) -> go.Scatter:
    c = float(np.mean(np.concatenate([x, y])))
    a = np.linspace(0, 2 * np.pi, 121)
    # Ellipse axes along the identity line (SD2) and across it (SD1), Brennan et al. 2001.
    u, v = sd2_ms * np.cos(a), sd1_ms * np.sin(a)
    return go.Scatter(
        x=(c + (u - v) / np.sqrt(2)).tolist(),
        y=(c + (u + v) / np.sqrt(2)).tolist(),
        mode="lines",
        name=f"SD1 {sd1_ms:.1f} ms, SD2 {sd2_ms:.1f} ms",
        line={"color": RMSSD_COLOR, "width": 2},
    )


def poincare_figure(
    rr_ms: FloatArray,
    segment: IntArray | None = None,
    *,
    artefact: BoolArray | None = None,
    groups: Sequence[str] | None = None,
    sd1_ms: float | None = None,
    sd2_ms: float | None = None,
    style: Style,
    max_points: int | None = None,
) -> go.Figure:
    """Poincaré plot RR(n+1) against RR(n): pairs within a segment, clear of artefacts.

    One trace per group (phase) of the pair's later beat, then the line of identity, then
    the SD1/SD2 ellipse. Above ``max_points`` pairs an evenly spaced subset is drawn (the
    cloud's shape survives; the ellipse uses the given SD1/SD2).
    """
    x, y, same = poincare_pairs(rr_ms, segment, artefact)
    budget = style.max_points if max_points is None else max_points
    fig = go.Figure()
    g = np.asarray(groups if groups is not None else ["RR pairs"] * len(rr_ms), dtype=object)
    g = g[1:][same] if len(g) > 1 else g[:0]
    step = max(1, int(np.ceil(x.size / budget)))
    for i, name in enumerate(dict.fromkeys(g.tolist())):
        m = np.flatnonzero(g == name)[::step]
        color = RR_COLOR if groups is None else SERIES_COLORS[i % len(SERIES_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=x[m].tolist(),
                y=y[m].tolist(),
                mode="markers",
                name=str(name),
                marker={"size": 4, "color": color, "opacity": 0.5},
            )
        )
    lo = float(min(x.min(), y.min())) if x.size else 400.0
    hi = float(max(x.max(), y.max())) if x.size else 1200.0
    fig.add_trace(identity_trace(lo, hi, hoverinfo="skip", showlegend=False))
    if sd1_ms is not None and sd2_ms is not None and x.size:
        fig.add_trace(_ellipse(x, y, sd1_ms, sd2_ms))
    fig.update_layout(
        **card_layout("Poincaré plot", style),
        xaxis={"title": "NN(n) (ms)"},
        yaxis={"title": "NN(n+1) (ms)", "scaleanchor": "x", "scaleratio": 1},
    )
    return fig


def psd_figure(
    spectra: Sequence[SpectrumLine],
    *,
    band_power_ms2: Mapping[str, float | None] | None = None,
    style: Style,
    max_hz: float = 0.5,
) -> go.Figure:
    """Power spectral densities (ms²/Hz) with the VLF/LF/HF bands (`BANDS_HZ`).

    One spectrum: each band filled under the curve, labelled with its power when given.
    Several (one per phase): the bands shaded behind the lines.
    """
    fig = go.Figure()
    power = band_power_ms2 or {}
    band_shapes: list[dict[str, object]] = []
    band_notes: list[dict[str, object]] = []
    for band, (lo, hi) in BANDS_HZ.items():
        if len(spectra) != 1:
            # Plain layout shapes: add_vrect costs ~50 ms a band in plotly's validation.
            band_shapes.append(xspan_shape(lo, hi, fillcolor=style.band_fill[band],
                                           line={"width": 0}, layer="below"))  # fmt: skip
            band_notes.append({"x": lo, "xref": "x", "xanchor": "left", "y": 1.0,
                               "yref": "paper", "yanchor": "top", "text": band,
                               "showarrow": False, "font": {"size": 9}})  # fmt: skip
            continue
        f, p = spectra[0].freq_hz, spectra[0].psd_ms2_hz
        m = (f >= lo) & (f <= hi) & (f <= max_hz)
        if not np.any(m):
            continue
        pw = power.get(band)
        fig.add_trace(
            go.Scatter(
                x=f[m].tolist(),
                y=p[m].tolist(),
                mode="lines",
                fill="tozeroy",
                name=f"{band} {pw:.0f} ms²" if pw is not None else band,
                line={"width": 0},
                fillcolor=style.band_fill[band],
                hoverinfo="skip",
            )
        )
    for i, s in enumerate(spectra):
        m = s.freq_hz <= max_hz
        color = RR_COLOR if len(spectra) == 1 else SERIES_COLORS[i % len(SERIES_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=s.freq_hz[m].tolist(),
                y=s.psd_ms2_hz[m].tolist(),
                mode="lines",
                name=s.label,
                line={"color": color, "width": 1.5},
            )
        )
    fig.update_layout(
        **card_layout("Power spectral density (Welch, 4 Hz cubic interpolation)", style),
        xaxis={"title": "frequency (Hz)", "range": [0, max_hz]},
        yaxis={"title": "PSD (ms²/Hz)", "rangemode": "tozero"},
        shapes=band_shapes,
        annotations=band_notes,
    )
    return fig


# --------------------------------------------------------------------------- from a view


def tachogram(view: SessionView, style: Style, *, max_points: int | None = None) -> go.Figure:
    """The session's tachogram (`tachogram_figure` of its beats, phases, gaps and marks)."""
    return tachogram_figure(
        view.t_s,
        view.rr_ms,
        view.segment,
        artefact=view.artefact,
        phases=view.spans,
        gaps=[(g.start_s, g.end_s) for g in view.gaps],
        marks=view.marks,
        style=style,
        max_points=max_points,
    )


def heart_rate(view: SessionView, style: Style, *, max_points: int | None = None) -> go.Figure:
    """The session's instantaneous heart rate."""
    return hr_figure(
        view.t_s, view.rr_ms, view.segment, phases=view.spans, style=style, max_points=max_points
    )


def rolling_rmssd(view: SessionView, style: Style, *, max_points: int | None = None) -> go.Figure:
    """The session's rolling RMSSD (`biofeedback.hrv.rolling.rolling_rmssd`, computed once)."""
    return rolling_rmssd_figure(
        view.t_s,
        view.rolling_rmssd_ms,
        view.segment,
        window_s=view.rolling_window_s,
        phases=view.spans,
        style=style,
        max_points=max_points,
    )


def poincare(view: SessionView, style: Style, *, max_points: int | None = None) -> go.Figure:
    """Poincaré plot of the corrected NN series, one colour per phase, SD1/SD2 of the whole
    session (none when its metrics are withheld)."""
    an = view.analysis
    return poincare_figure(
        an.nn_ms,
        an.nn_segment,
        groups=view.nn_groups if view.spans else None,
        sd1_ms=view.whole.metrics.get("SD1_ms"),
        sd2_ms=view.whole.metrics.get("SD2_ms"),
        style=style,
        max_points=max_points,
    )


def spectra_of(view: SessionView) -> list[SpectrumLine]:
    """Each phase's PSD, or the whole session's when no phase has one."""
    lines = [SpectrumLine(p.name, p.freq_hz, p.psd_ms2_hz) for p in view.phases if p.freq_hz.size]
    if view.spans and lines:
        return lines
    w = view.whole
    return [SpectrumLine("whole session", w.freq_hz, w.psd_ms2_hz)] if w.freq_hz.size else []


def psd(view: SessionView, style: Style) -> go.Figure | None:
    """PSD per phase (or of the whole session, with its band powers); ``None`` without any
    spectrum (less than 60 s of gap-free data)."""
    lines = spectra_of(view)
    if not lines:
        return None
    w = view.whole.metrics
    bands = {b: w.get(f"{b}_ms2") for b in BANDS_HZ} if len(lines) == 1 else None
    return psd_figure(lines, band_power_ms2=bands, style=style)
