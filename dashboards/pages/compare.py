"""Compare page: ``/compare?ids=3`` (phases of one session) or ``?ids=3,7,9`` (several)."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from biofeedback.hrv.catalog import header, label
from biofeedback.plots.compare import comparison_figure, difference_figure
from biofeedback.plots.style import DASH_STYLE
from dashboards.data import COMPARE_METRICS, TABLE_METRICS, DashboardData, friendly
from dashboards.model import Comparison, PhaseMetrics
from dashboards.pages.session import phase_table
from dashboards.ui import alert, fmt, make_search, metric_header, parse_ids, query, table

#: Above this many sessions the per-session tables fold away and pooled medians lead.
MANY = 8


def comparison_lines(cmp: Comparison, metric: str) -> list[Any]:
    """One `biofeedback.plots.compare.SessionLine` of ``metric`` per session, phase order."""
    from biofeedback.plots.compare import SessionLine

    by_session: dict[int, list[tuple[str, float | None]]] = {}
    for pm in cmp.phases:
        if pm.phase != "all":
            by_session.setdefault(pm.session_id, []).append((pm.phase, pm.metrics.get(metric)))
    return [SessionLine(f"#{sid}", tuple(pts)) for sid, pts in by_session.items()]


def difference_rows(cmp: Comparison, metric: str) -> list[Any]:
    """`biofeedback.plots.compare.DifferenceRow` of each computable difference of ``metric``."""
    from biofeedback.plots.compare import DifferenceRow

    return [
        DifferenceRow(
            d.phase if d.session_id is None else f"#{d.session_id} {d.phase}",
            d.delta,
            d.ci_low,
            d.ci_high,
        )
        for d in cmp.differences
        if d.metric == metric and d.delta is not None
    ]


def pooled_table(cmp: Comparison) -> html.Table:
    """Median (and session count) of each metric per phase, over the sessions."""
    keys = cmp.metrics or TABLE_METRICS
    order: list[str] = []
    by_phase: dict[str, list[PhaseMetrics]] = {}
    for p in cmp.phases:
        if p.phase == "all":
            continue
        by_phase.setdefault(p.phase, []).append(p)
        if p.phase not in order:
            order.append(p.phase)
    rows = []
    classes = []
    for ph in order:
        pms = by_phase[ph]
        cells: list[str] = []
        for k in keys:
            vals = [v for p in pms if (v := p.metrics.get(k)) is not None]
            cells.append(fmt(float(np.median(vals)), k) if vals else "—")
        rows.append([ph, pms[0].kind, str(len(pms)), *cells])
        classes.append(pms[0].kind)
    return table(
        ["phase", "kind", "sessions", *[metric_header(k, "median ") for k in keys]],
        rows,
        row_classes=classes,
        left=(0, 1),
        id="compare-pooled",
    )


def differences_table(cmp: Comparison, metric: str) -> html.Table | html.Div:
    """Each phase kind minus baseline with its 95 % CI, or a line saying there is none."""
    rows = []
    for d in cmp.differences:
        if d.metric != metric:
            continue
        ci = (
            f"[{fmt(d.ci_low, metric)}, {fmt(d.ci_high, metric)}]"
            if d.ci_low is not None and d.ci_high is not None
            else "pending"
        )
        rows.append(
            [
                "pooled" if d.session_id is None else f"#{d.session_id}",
                f"{d.phase} − {d.reference}",
                fmt(d.delta, metric),
                ci,
                d.verdict,
            ]
        )
    if not rows:  # a table of headers over nothing reads like a rendering bug
        return html.Div(
            f"No differences from baseline for {label(metric)}: they need a practice or recovery "
            "phase besides the baseline.",
            className="bf-muted",
            id="compare-diffs",
        )
    return table(
        ["session", "difference", metric_header(metric, "Δ "), "95 % CI", "verdict"],
        rows,
        left=(0, 1, 4),
        id="compare-diffs",
    )


def layout(data: DashboardData, search: str | None) -> Any:
    # Long because it is a layout: one tree of components, read top to bottom like the page.
    q = query(search)
    ids, bad = parse_ids(q.get("ids"))
    metric = q.get("metric", "RMSSD_ms")
    head = [html.H2("Compare"), dcc.Location(id="cmp-nav", refresh="callback-nav")]
    if bad:
        head.append(alert(f"Ignored session ids that are not numbers: {', '.join(bad)}.", "warn"))
    if not ids:
        return html.Div(
            [
                *head,
                alert(
                    [
                        "Choose sessions to compare on the ",
                        dcc.Link("Sessions", href="/sessions"),
                        " page (tick them, then “Compare selected”), or open ",
                        html.Code("/compare?ids=1,2"),
                        ".",
                    ],
                    "info",
                    id="compare-empty",
                ),
            ]
        )
    known = {r.id for r in data.sessions()}
    missing = [i for i in ids if i not in known]
    ids = [i for i in ids if i in known]
    if missing:
        head.append(
            alert(
                f"No session with id {', '.join(map(str, missing))}; left out.",
                "warn",
                id="compare-missing",
            )
        )
    if not ids:
        return html.Div(head)
    try:
        cmp = data.compare(ids)
    except Exception as exc:
        return html.Div([*head, alert(friendly(exc), "bad")])
    options = list(cmp.metrics or COMPARE_METRICS)
    if metric not in options:
        metric = "RMSSD_ms"
    keys = cmp.metrics or TABLE_METRICS
    title = f"Phases of session #{ids[0]}" if len(ids) == 1 else f"{len(ids)} sessions side by side"
    controls = html.Div(
        [
            html.Span("metric"),
            dcc.Dropdown(
                id="cmp-metric",
                options=[{"label": header(k), "value": k} for k in options],
                value=metric,
                clearable=False,
                className="bf-dd",
            ),
            dcc.Store(id="cmp-ids", data=ids),
        ],
        className="bf-controls bf-card",
    )
    verdict = html.Div(
        [
            html.Div(
                cmp.verdict,
                className="bf-verdict",
                id="compare-verdict",
                style={"whiteSpace": "pre-line"},
            ),
            *[html.Div(n, className="bf-muted") for n in cmp.notes],
        ],
        className="bf-card",
    )
    if len(ids) <= MANY:
        tables: list[Any] = [
            html.Div(
                [
                    html.H3(
                        dcc.Link(f"#{sid} {data.session_row(sid).name}", href=f"/session/{sid}")
                    ),
                    phase_table(
                        tuple(p for p in cmp.phases if p.session_id == sid),
                        tid=f"phase-table-{sid}",
                        keys=keys,
                    ),
                ],
                className="bf-card",
            )
            for sid in ids
        ]
        if len(ids) > 1:
            tables.insert(0, html.Div([html.H3("Pooled"), pooled_table(cmp)], className="bf-card"))
    else:
        tables = [
            html.Div([html.H3("Pooled over sessions"), pooled_table(cmp)], className="bf-card"),
        ]
    return html.Div(
        [
            *head,
            html.Div(title, className="bf-muted"),
            controls,
            verdict,
            html.Div(
                [
                    html.Div(
                        dcc.Graph(
                            id="compare-fig",
                            figure=comparison_figure(
                                comparison_lines(cmp, metric), metric, DASH_STYLE
                            ),
                            config={"displaylogo": False},
                        ),
                        className="bf-card bf-grow",
                    ),
                    html.Div(
                        alert(
                            f"No differences for {label(metric)}: they need a baseline and a "
                            "later phase (and get CIs for mean HR, RMSSD and ln RMSSD).",
                            "info",
                        )
                        if not any(
                            d.metric == metric and d.delta is not None for d in cmp.differences
                        )
                        else dcc.Graph(
                            id="compare-diff-fig",
                            figure=difference_figure(
                                difference_rows(cmp, metric), metric, DASH_STYLE
                            ),
                            config={"displaylogo": False},
                        ),
                        className="bf-card bf-grow",
                    ),
                ],
                className="bf-row",
            ),
            html.Div(
                [html.H3("Differences from baseline"), differences_table(cmp, metric)],
                className="bf-card",
            )
            if len(ids) <= MANY
            else html.Details(
                [
                    html.Summary("Differences from baseline, per session"),
                    differences_table(cmp, metric),
                ],
                className="bf-card",
            ),
            *tables,
        ]
    )


def register(app: Dash, data: DashboardData) -> None:
    @app.callback(
        Output("cmp-nav", "search"),
        Input("cmp-metric", "value"),
        State("cmp-ids", "data"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _metric(metric: Any, ids: Any, current: Any) -> Any:
        new = make_search({"ids": ",".join(str(i) for i in ids or []), "metric": metric})
        return no_update if new == (current or "") else new
