"""The end-of-session card: the CLI ``compare`` verdict of one session, with its links.

Shown on the Live page when a recording ends and at the top of the Session page: practice
versus baseline with its CI, the heart-rate change, the breathing caveat and the data
quality grade, exactly the lines ``biofeedback compare`` prints (`DashboardData.compare`
reads the same cached analysis), then links to Compare and to every export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import dcc, html

from dashboards.exports import EXPORTS, export_href

if TYPE_CHECKING:
    from dashboards.data import DashboardData


def export_links(session_id: int) -> html.Div:
    """One download link per export format."""
    return html.Div(
        [html.Span("Export:", className="bf-label")]
        + [
            html.A(
                label,
                href=export_href(session_id, fmt),
                download="",
                id=f"export-{fmt}",
                className="bf-button",
            )
            for fmt, (_suffix, _mime, label) in EXPORTS.items()
        ],
        className="bf-controls bf-exports",
    )


def session_card(
    data: DashboardData,
    session_id: int,
    *,
    heading: str = "",
    link_id: str = "summary-compare-link",
) -> html.Div:
    """The verdict card of one stored session (a friendly line if it cannot be analysed)."""
    try:
        cmp = data.compare([session_id])
        verdict: list[Any] = [
            html.Div(
                cmp.verdict,
                className="bf-verdict",
                id="summary-verdict",
                style={"whiteSpace": "pre-line"},
            ),
            *[html.Div(n, className="bf-muted") for n in cmp.notes],
        ]
    except Exception as exc:  # the card must never take its page down
        from dashboards.data import friendly

        verdict = [html.Div(f"No verdict: {friendly(exc)}", className="bf-muted")]
    return html.Div(
        [
            html.H2(heading or f"Session #{session_id}: the verdict", className="bf-card-title"),
            *verdict,
            html.Div(
                [
                    dcc.Link(
                        "See the comparison of its phases →",
                        href=f"/compare?ids={session_id}",
                        id=link_id,
                    ),
                    " · ",
                    dcc.Link("open the session", href=f"/session/{session_id}"),
                ],
                style={"margin": "8px 0"},
            ),
            export_links(session_id),
        ],
        className="bf-card bf-summary",
        id="session-summary",
    )
