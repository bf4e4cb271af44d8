"""Sessions page: the list with filters (in the URL), and rename / tag / delete / compare."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, dcc, html, no_update

from biofeedback.wording import count
from dashboards.data import DashboardData, friendly
from dashboards.model import SessionRow
from dashboards.ui import alert, fmt_duration, make_search, query, table

FILTER_KEYS = ("protocol", "tag", "from", "to", "study", "participant")


def filters_from_search(search: str | None) -> dict[str, str]:
    """The page's filters as held in the URL query."""
    q = query(search)
    return {k: q[k] for k in FILTER_KEYS if k in q}


def search_for(
    protocol: str | None,
    tag: str | None,
    day_from: str | None,
    day_to: str | None,
    study: str | None = None,
    participant: str | None = None,
) -> str:
    """The URL query for a set of filter values."""
    return make_search(
        {
            "protocol": protocol,
            "tag": tag,
            "from": day_from,
            "to": day_to,
            "study": study,
            "participant": participant,
        }
    )


def _filtered(data: DashboardData, f: dict[str, str]) -> list[SessionRow]:
    return data.sessions(
        protocol=f.get("protocol"),
        tag=f.get("tag"),
        day_from=f.get("from"),
        day_to=f.get("to"),
        study=f.get("study"),
        participant=f.get("participant"),
    )


def session_table(rows: list[SessionRow]) -> Any:
    """The table of sessions, one checkbox per row, or a friendly empty message."""
    if not rows:
        return alert("No sessions match these filters.", "info", id="sess-empty")
    body = []
    for r in rows:
        body.append(
            [
                dcc.Checklist(
                    id={"type": "sess-pick", "id": r.id},
                    options=[{"label": "", "value": r.id}],
                    value=[],
                    inline=True,
                ),
                dcc.Link(f"#{r.id} {r.name}", href=f"/session/{r.id}"),
                r.started_at.replace("T", " "),
                r.protocol,
                " / ".join(x for x in (r.study, r.participant) if x),
                ", ".join(r.tags),
                fmt_duration(r.duration_s),
                f"{r.n_beats:,}",
                r.status,
            ]
        )
    return table(
        [
            "",
            "session",
            "started",
            "protocol",
            "study / participant",
            "tags",
            "duration",
            "beats",
            "status",
        ],
        body,
        left=(0, 1, 2, 3, 4, 5),
        id="sess-list",
    )


def layout(data: DashboardData, search: str | None) -> Any:
    f = filters_from_search(search)
    all_rows = data.sessions()
    if not all_rows:
        return html.Div(
            [
                html.H2("Sessions"),
                alert(
                    [
                        "No sessions yet. Start one on the ",
                        dcc.Link("Live", href="/live"),
                        " page, or run ",
                        html.Code("biofeedback demo"),
                        " to replay a bundled session.",
                    ],
                    "info",
                    id="sess-empty",
                ),
            ]
        )
    rows = _filtered(data, f)
    protocols = sorted({r.protocol for r in all_rows})
    studies = sorted({r.study for r in all_rows if r.study})
    participants = sorted({r.participant for r in all_rows if r.participant})
    tags = sorted({t for r in all_rows for t in r.tags})
    return html.Div(
        [
            dcc.Location(id="sess-nav", refresh="callback-nav"),
            html.H2("Sessions"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="sess-f-protocol",
                        options=protocols,
                        value=f.get("protocol"),
                        placeholder="any protocol",
                        className="bf-dd",
                    ),
                    dcc.Dropdown(
                        id="sess-f-tag",
                        options=tags,
                        value=f.get("tag"),
                        placeholder="any tag",
                        className="bf-dd",
                    ),
                    dcc.Dropdown(
                        id="sess-f-study",
                        options=studies,
                        value=f.get("study"),
                        placeholder="any study",
                        className="bf-dd",
                    ),
                    dcc.Dropdown(
                        id="sess-f-participant",
                        options=participants,
                        value=f.get("participant"),
                        placeholder="any participant",
                        className="bf-dd",
                    ),
                    html.Span("from"),
                    dcc.Input(id="sess-f-from", type="date", value=f.get("from"), debounce=True),  # type: ignore[arg-type]
                    html.Span("to"),
                    dcc.Input(id="sess-f-to", type="date", value=f.get("to"), debounce=True),  # type: ignore[arg-type]
                ],
                className="bf-controls bf-card",
            ),
            html.Div(
                [
                    dcc.Input(
                        id="sess-text",
                        type="text",
                        placeholder="new name or tag",
                        debounce=False,
                    ),
                    html.Button("Rename", id="sess-rename"),
                    html.Button("Add tag", id="sess-tag-add"),
                    html.Button("Remove tag", id="sess-tag-remove"),
                    dcc.ConfirmDialogProvider(
                        html.Button("Delete", id="sess-delete-btn", className="danger"),
                        id="sess-delete",
                        message="Delete the selected sessions and all their data? "
                        "This cannot be undone.",
                    ),
                    html.Button("Compare selected", id="sess-compare", className="primary"),
                ],
                className="bf-controls bf-card",
            ),
            html.Div(id="sess-msg"),
            html.Div(f"{len(rows)} of {len(all_rows)} sessions", className="bf-muted"),
            html.Div(session_table(rows), id="sess-table", className="bf-card"),
        ]
    )


def apply_action(
    data: DashboardData,
    action: str,
    picked: list[int],
    text: str | None,
    search: str | None,
) -> tuple[Any, Any]:
    """Run an edit on the picked sessions; returns (message, refreshed table)."""
    if not picked:
        return alert("Select one or more sessions first (tick their boxes).", "info"), no_update
    t = (text or "").strip()
    try:
        if action == "rename":
            if not t:
                return alert("Type the new name first.", "info"), no_update
            for sid in picked:
                data.rename(sid, t)
            msg = f"Renamed {count(len(picked), 'session')} to “{t}”."
        elif action in ("tag-add", "tag-remove"):
            if not t:
                return alert("Type the tag first.", "info"), no_update
            for sid in picked:
                if action == "tag-add":
                    data.tag(sid, add=[t])
                else:
                    data.tag(sid, remove=[t])
            verb = "Tagged" if action == "tag-add" else "Removed the tag from"
            msg = f"{verb} {count(len(picked), 'session')}: {t}."
        elif action == "delete":
            for sid in picked:
                data.delete(sid)
            msg = f"Deleted {count(len(picked), 'session')}."
        else:
            return no_update, no_update
    except Exception as exc:  # store locked, session being recorded, ...
        return alert(friendly(exc), "bad"), no_update
    return alert(msg, "info"), session_table(_filtered(data, filters_from_search(search)))


def _picked(values: list[list[int]] | None) -> list[int]:
    return [int(v) for vs in (values or []) for v in (vs or [])]


def register(app: Dash, data: DashboardData) -> None:
    @app.callback(
        Output("sess-nav", "search"),
        Input("sess-f-protocol", "value"),
        Input("sess-f-tag", "value"),
        Input("sess-f-from", "value"),
        Input("sess-f-to", "value"),
        Input("sess-f-study", "value"),
        Input("sess-f-participant", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _filters(p: Any, t: Any, a: Any, b: Any, st: Any, pa: Any, current: str | None) -> Any:
        new = search_for(p, t, a, b, st, pa)
        return no_update if new == (current or "") else new

    def _action(name: str, trigger: str, prop: str) -> None:
        @app.callback(
            Output("sess-msg", "children", allow_duplicate=True),
            Output("sess-table", "children", allow_duplicate=True),
            Input(trigger, prop),
            State({"type": "sess-pick", "id": ALL}, "value"),
            State("sess-text", "value"),
            State("url", "search"),
            prevent_initial_call=True,
        )
        def _run(_n: Any, picks: Any, text: Any, search: Any) -> tuple[Any, Any]:
            return apply_action(data, name, _picked(picks), text, search)

    _action("rename", "sess-rename", "n_clicks")
    _action("tag-add", "sess-tag-add", "n_clicks")
    _action("tag-remove", "sess-tag-remove", "n_clicks")
    _action("delete", "sess-delete", "submit_n_clicks")

    @app.callback(
        Output("sess-nav", "href"),
        Output("sess-msg", "children", allow_duplicate=True),
        Input("sess-compare", "n_clicks"),
        State({"type": "sess-pick", "id": ALL}, "value"),
        prevent_initial_call=True,
    )
    def _compare(_n: Any, picks: Any) -> tuple[Any, Any]:
        ids = _picked(picks)
        if not ids:
            return no_update, alert("Select one or more sessions to compare.", "info")
        return "/compare?ids=" + ",".join(str(i) for i in sorted(ids)), no_update
