"""Trends page: resting HRV per day against the personal normal range; practice per week."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from biofeedback.plots.style import DASH_STYLE
from biofeedback.plots.trends import practice_figure, trends_figure
from dashboards.data import DashboardData, friendly
from dashboards.ui import alert, graph


def layout(data: DashboardData) -> Any:
    head = [html.H2("Trends")]
    try:
        tr = data.trends()
    except Exception as exc:
        return html.Div([*head, alert(friendly(exc), "bad")])
    if not tr.days and not tr.week_starts:
        return html.Div(
            [
                *head,
                alert(
                    [
                        "No baseline phases recorded yet. Trends need sessions with a baseline "
                        "phase (e.g. the self-compassion-break protocol); see ",
                        dcc.Link("Live", href="/live"),
                        ".",
                    ],
                    "info",
                    id="trends-empty",
                ),
            ]
        )
    last = tr.days[-1] if tr.days else None
    summary = "No resting values yet."
    if last is not None:
        if last.normal_low_ms is None or last.normal_high_ms is None:
            summary = (
                f"Latest resting RMSSD {last.rmssd_ms:.1f} ms ({last.day}). The personal normal "
                "range appears after 7 days with a baseline."
            )
        else:
            where = (
                "within"
                if last.normal_low_ms <= last.rmssd_ms <= last.normal_high_ms
                else ("below" if last.rmssd_ms < last.normal_low_ms else "above")
            )
            summary = (
                f"Latest resting RMSSD {last.rmssd_ms:.1f} ms ({last.day}), {where} your normal "
                f"range {last.normal_low_ms:.1f}–{last.normal_high_ms:.1f} ms."
            )
    return html.Div(
        [
            *head,
            html.Div(summary, className="bf-card", id="trends-summary"),
            html.Div(
                graph(trends_figure(tr.days, DASH_STYLE), "trends-rmssd", height=360),
                className="bf-card",
            ),
            html.Div(
                graph(
                    practice_figure(tr.week_starts, tr.practice_min, DASH_STYLE),
                    "trends-practice",
                    height=300,
                ),
                className="bf-card",
            ),
        ]
    )
