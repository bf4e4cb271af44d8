"""Session page: one recording in detail (``/session/<id>``)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update

from biofeedback.plots import session as plots
from biofeedback.plots.style import DASH_STYLE
from biofeedback.wording import count
from dashboards.data import TABLE_METRICS, DashboardData, friendly
from dashboards.model import PhaseMetrics
from dashboards.pages.summary import session_card
from dashboards.ui import alert, fmt, fmt_duration, graph, metric_header, table


def phase_table(
    pms: tuple[PhaseMetrics, ...],
    tid: str = "phase-table",
    keys: tuple[str, ...] = TABLE_METRICS,
) -> html.Table:
    """Per-phase metrics, one row per phase (baseline rows shaded), whole session last."""
    rows = []
    classes = []
    for p in pms:
        label = "whole session" if p.phase == "all" else p.phase
        rows.append(
            [
                label,
                p.kind if p.phase != "all" else "",
                fmt_duration(p.end_s - p.start_s) if p.phase != "all" else "",
                f"{p.n_beats}",
                *[fmt(p.metrics.get(k), k) for k in keys],
                p.grade or ("yes" if p.reliable else "no"),
            ]
        )
        classes.append(p.kind)
    return table(
        ["phase", "kind", "length", "beats", *[metric_header(k) for k in keys], "quality"],
        rows,
        row_classes=classes,
        left=(0, 1),
        id=tid,
    )


def layout(data: DashboardData, session_id: int) -> Any:
    # Long because it is a layout: one tree of components, read top to bottom like the page.
    try:
        s = data.series(session_id)
        v = data.view(session_id)
        pms = data.phase_metrics(session_id)
    except Exception as exc:
        return html.Div(
            [
                html.H2(f"Session #{session_id}"),
                alert(
                    [friendly(exc), " ", dcc.Link("Back to the sessions list.", href="/sessions")],
                    "bad",
                    id="session-missing",
                ),
            ]
        )
    r = s.row
    warn_items = list(dict.fromkeys(w for p in pms for w in p.warnings)) + list(s.warnings)
    banners = []
    if r.status == "recording":
        banners.append(alert("This session is still being recorded; reload to see more.", "info"))
    elif r.status == "interrupted":
        banners.append(
            alert(
                "This recording was interrupted (the program stopped); data up to then "
                "are kept and analysed.",
                "warn",
            )
        )
    whole = next((p for p in pms if p.phase == "all"), None)
    if whole is not None and not whole.reliable:
        banners.append(
            alert(
                "Metrics marked unreliable: " + "; ".join(whole.warnings or ("see warnings",)),
                "bad",
            )
        )
    n_art = int(s.artefact.sum())
    header = html.Div(
        [
            html.H2(f"#{r.id} {r.name}", id="session-title"),
            html.Div(
                f"{r.started_at.replace('T', ' ')} · {r.protocol} · {fmt_duration(r.duration_s)}"
                f" · {r.n_beats:,} beats · {count(n_art, 'artefact')} flagged · {r.status}"
                + (f" · tags: {', '.join(r.tags)}" if r.tags else ""),
                className="bf-muted",
            ),
            html.Div(
                [
                    dcc.Link("Compare its phases →", href=f"/compare?ids={r.id}"),
                ],
                style={"marginTop": "6px"},
            ),
        ]
    )
    psd = plots.psd(v, DASH_STYLE)
    graphs = [
        html.Div(
            graph(plots.tachogram(v, DASH_STYLE), "session-tacho", height=340),
            className="bf-card",
        ),
        html.Div(
            [
                html.Div(
                    graph(plots.heart_rate(v, DASH_STYLE), "session-hr", height=260),
                    className="bf-card bf-grow",
                ),
                html.Div(
                    graph(plots.rolling_rmssd(v, DASH_STYLE), "session-rmssd", height=260),
                    className="bf-card bf-grow",
                ),
            ],
            className="bf-row",
        ),
        html.Div(
            [
                html.Div(
                    graph(plots.poincare(v, DASH_STYLE), "session-poincare", height=380),
                    className="bf-card bf-grow",
                ),
                html.Div(
                    graph(psd, "session-psd", height=380)
                    if psd is not None
                    else alert(
                        "No spectrum: less than 60 s of gap-free data.",
                        "info",
                    ),
                    className="bf-card bf-grow",
                ),
            ],
            className="bf-row",
        ),
    ]
    notes = html.Div(
        [
            html.H3("Notes"),
            html.Pre(r.notes or "(no notes)", id="session-notes", style={"whiteSpace": "pre-wrap"}),
            html.Ul([html.Li(f"{fmt_duration(m.t_s)} {m.kind}: {m.label}") for m in s.markers]),
            html.Div(
                [
                    dcc.Input(
                        id="session-note-text",
                        type="text",
                        placeholder="add a note",
                        style={"minWidth": "360px"},
                    ),
                    html.Button("Add note", id="session-note-add"),
                    dcc.Store(id="session-id", data=r.id),
                ],
                className="bf-controls",
            ),
        ],
        className="bf-card",
    )
    return html.Div(
        [
            header,
            session_card(data, session_id),  # the verdict and the exports come first
            *banners,
            *graphs,
            html.Div([html.H3("Per-phase metrics"), phase_table(pms)], className="bf-card"),
            html.Details(
                [
                    html.Summary(count(len(warn_items), "warning")),
                    html.Ul([html.Li(w) for w in warn_items]),
                ],
                className="bf-card",
            )
            if warn_items
            else None,
            notes,
        ]
    )


def add_note(data: DashboardData, session_id: int | None, text: str | None) -> tuple[Any, Any]:
    """Append a note; returns (notes text, cleared input)."""
    t = (text or "").strip()
    if session_id is None or not t:
        return no_update, no_update
    try:
        data.add_note(int(session_id), t)
        return data.session_row(int(session_id)).notes, ""
    except Exception as exc:
        return f"Could not save the note: {friendly(exc)}", no_update


def register(app: Dash, data: DashboardData) -> None:
    @app.callback(
        Output("session-notes", "children"),
        Output("session-note-text", "value"),
        Input("session-note-add", "n_clicks"),
        State("session-id", "data"),
        State("session-note-text", "value"),
        prevent_initial_call=True,
    )
    def _note(_n: Any, sid: Any, text: Any) -> tuple[Any, Any]:
        return add_note(data, sid, text)
