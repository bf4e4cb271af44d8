"""The Live page's growing charts (the session figures are `biofeedback.plots`).

Left here for the live view's rework, which moves them into ``biofeedback.plots.live``.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from biofeedback.plots.style import DASH_STYLE, RMSSD_COLOR, RR_COLOR

__all__ = ["RMSSD_COLOR", "RR_COLOR", "extend_payload", "live_figure"]


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
        **{
            **DASH_STYLE.layout,
            "hovermode": "closest",
            "margin": {"l": 56, "r": 16, "t": 32, "b": 36},
        },
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
