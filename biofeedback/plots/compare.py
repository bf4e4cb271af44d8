"""Comparison figures: one metric per phase across sessions, and differences with their CI.

Inputs are plain rows so both the report (phase kinds pooled per session) and the Compare
page (each phase of each session) draw with the same builders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from biofeedback.hrv.catalog import header
from biofeedback.plots.common import card_layout
from biofeedback.plots.style import RMSSD_COLOR, SERIES_COLORS, Style

__all__ = ["DifferenceRow", "SessionLine", "comparison_figure", "difference_figure"]

#: Above this many sessions the lines become context and the median per phase the message.
MANY_SESSIONS = 12


@dataclass(frozen=True, slots=True)
class SessionLine:
    """One session's values of a metric, in phase order: ``(phase label, value)``."""

    label: str
    points: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True, slots=True)
class DifferenceRow:
    """One difference from baseline with its 95 % CI (``None`` ends when there is none)."""

    label: str
    delta: float
    ci_low: float | None
    ci_high: float | None


def comparison_figure(lines: Sequence[SessionLine], metric: str, style: Style) -> go.Figure:
    """``metric`` per phase, one line per session; with many sessions, their median too."""
    fig = go.Figure()
    order: list[str] = list(dict.fromkeys(p for ln in lines for p, _ in ln.points))
    many = len(lines) > MANY_SESSIONS
    for i, ln in enumerate(lines):
        fig.add_trace(
            go.Scatter(
                x=[p for p, _ in ln.points],
                y=[v for _, v in ln.points],
                mode="lines+markers",
                name=ln.label,
                line={"width": 1 if many else 2, "color": SERIES_COLORS[i % len(SERIES_COLORS)]},
                opacity=0.35 if many else 1.0,
                showlegend=not many,
            )
        )
    if many:
        med: list[float | None] = []
        for ph in order:
            vals = [v for ln in lines for p, v in ln.points if p == ph and v is not None]
            med.append(float(np.median(vals)) if vals else None)
        fig.add_trace(
            go.Scatter(
                x=order,
                y=med,
                mode="lines+markers",
                name="median",
                line={"color": "#000", "width": 3},
            )
        )
    fig.update_layout(
        **card_layout(f"{header(metric)} by phase", style),
        xaxis={"title": "phase", "categoryorder": "array", "categoryarray": order},
        yaxis={"title": header(metric)},
    )
    return fig


def difference_figure(rows: Sequence[DifferenceRow], metric: str, style: Style) -> go.Figure:
    """Differences from baseline with their CI as error bars."""
    plus = [0.0 if r.ci_high is None else r.ci_high - r.delta for r in rows]
    minus = [0.0 if r.ci_low is None else r.delta - r.ci_low for r in rows]
    fig = go.Figure(
        go.Scatter(
            x=[r.label for r in rows],
            y=[r.delta for r in rows],
            mode="markers",
            marker={"size": 10, "color": RMSSD_COLOR},
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            name="difference",
        )
    )
    fig.add_hline(y=0, line={"color": "#9e9e9e", "dash": "dot"})
    fig.update_layout(
        **card_layout(f"Δ {header(metric)} vs baseline (95 % CI)", style),
        yaxis={"title": f"Δ {header(metric)}"},
        showlegend=False,
    )
    return fig
