"""Trend figures: resting HRV per day against the personal normal range, practice per week."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import plotly.graph_objects as go

from biofeedback.plots.common import card_layout
from biofeedback.plots.style import RMSSD_COLOR, RR_COLOR, Style

__all__ = ["TrendDayLike", "practice_figure", "trends_figure"]


class TrendDayLike(Protocol):
    """One day of resting HRV: mean baseline RMSSD (ms) and the normal range before it."""

    @property
    def day(self) -> str: ...
    @property
    def rmssd_ms(self) -> float: ...
    @property
    def normal_low_ms(self) -> float | None: ...
    @property
    def normal_high_ms(self) -> float | None: ...
    @property
    def n_sessions(self) -> int: ...


def trends_figure(days: Sequence[TrendDayLike], style: Style) -> go.Figure:
    """Daily resting RMSSD (baseline phases) against the personal normal range band."""
    x = [d.day for d in days]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[d.normal_high_ms for d in days],
            mode="lines",
            line={"width": 0},
            showlegend=False,
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[d.normal_low_ms for d in days],
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
            x=x,
            y=[d.rmssd_ms for d in days],
            mode="lines+markers",
            name="resting RMSSD",
            line={"color": RR_COLOR},
            customdata=[d.n_sessions for d in days],
            hovertemplate="%{x}: %{y:.1f} ms (%{customdata} session(s))<extra></extra>",
        )
    )
    fig.update_layout(
        **card_layout("Resting HRV (baseline RMSSD) per day", style),
        xaxis={"title": "day", "type": "date"},
        yaxis={"title": "RMSSD (ms)"},
    )
    return fig


def practice_figure(
    week_starts: Sequence[str], minutes: Sequence[float], style: Style
) -> go.Figure:
    """Practice minutes per ISO week (weeks start on Monday)."""
    fig = go.Figure(
        go.Bar(x=list(week_starts), y=list(minutes), marker={"color": RMSSD_COLOR}, name="practice")
    )
    fig.update_layout(
        **card_layout("Practice minutes per week", style),
        xaxis={"title": "week starting", "type": "date"},
        yaxis={"title": "minutes"},
        showlegend=False,
    )
    return fig
