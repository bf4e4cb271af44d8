"""App factory: layout shell, URL router, page callbacks, friendly error pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import Input, Output, dcc, html

from dashboards.data import DashboardData, friendly
from dashboards.pages import compare, live, session, sessions, trends
from dashboards.ui import alert

if TYPE_CHECKING:
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader

log = logging.getLogger(__name__)

#: Dash passes ``aria-*`` through; its type stubs do not list them.
_NAV_ARIA: dict[str, Any] = {"aria-label": "pages"}
NAV = (("/live", "Live"), ("/sessions", "Sessions"), ("/trends", "Trends"))
_SESSION_PATH = re.compile(r"^/session/([^/]+)/?$")


def _protocols() -> list[tuple[str, str]]:
    try:
        from biofeedback.sessions.protocols import list_protocols

        return [(p.name, p.title) for p in list_protocols()]
    except Exception:  # a broken user protocol file must not take the page down
        log.exception("cannot list protocols")
        return []


def render_page(
    data: DashboardData,
    worker: LiveWorker | None,
    pathname: str | None,
    search: str | None,
    protocols: Callable[[], list[tuple[str, str]]] = _protocols,
) -> Any:
    """The page for a URL; never raises (errors become a friendly message)."""
    path = (pathname or "/").rstrip("/") or "/"
    try:
        if path == "/":
            path = "/live" if worker is not None else "/sessions"
        if path == "/live":
            return live.layout(worker, protocols(), _normal_ms(data) if worker else None)
        if path == "/sessions":
            return sessions.layout(data, search)
        if path == "/compare":
            return compare.layout(data, search)
        if path == "/trends":
            return trends.layout(data)
        m = _SESSION_PATH.match(path)
        sid_text = m.group(1) if m else (dict(_q(search)).get("id") if path == "/session" else None)
        if sid_text is not None:
            if not sid_text.isdigit():
                return html.Div(
                    [
                        html.H2("Session"),
                        alert(
                            f"“{sid_text}” is not a session id (a whole number is expected).",
                            "bad",
                            id="session-missing",
                        ),
                    ]
                )
            return session.layout(data, int(sid_text))
        return html.Div(
            [
                html.H2("Page not found"),
                alert(
                    [
                        "There is no page at ",
                        html.Code(path),
                        ". ",
                        dcc.Link("Go to the sessions list.", href="/sessions"),
                    ],
                    "info",
                    id="not-found",
                ),
            ]
        )
    except Exception as exc:
        log.exception("page %s failed", path)
        return html.Div(
            [html.H2("Something went wrong"), alert(friendly(exc), "bad", id="page-error")]
        )


def _normal_ms(data: DashboardData) -> tuple[float, float] | None:
    """The personal normal range of resting RMSSD (ms), if there are enough baselines."""
    import math

    try:
        nr = data.normal_range()
    except Exception:  # the live page must open even if the store cannot be analysed
        log.exception("cannot compute the normal range")
        return None
    return None if nr is None else (math.exp(nr.low), math.exp(nr.high))


def _q(search: str | None) -> list[tuple[str, str]]:
    from dashboards.ui import query

    return list(query(search).items())


#: ``document.title`` from the URL: "Session #3 · biofeedback", "Live · biofeedback", ...
TITLE_JS = """
function(path) {
    var p = (path || "/").replace(/\\/+$/, "") || "/";
    var m = p.match(/^\\/session\\/(\\d+)$/);
    var names = {"/": "Home", "/live": "Live", "/sessions": "Sessions",
                 "/compare": "Compare", "/trends": "Trends"};
    var name = m ? "Session #" + m[1] : (names[p] || "Page not found");
    document.title = name + " · biofeedback";
    return document.title;
}
"""

#: Dash's page shell with the document's language declared.
INDEX_STRING = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def build_app(
    reader: SessionReader,
    worker: LiveWorker | None = None,
    *,
    data: DashboardData | None = None,
    title: str = "biofeedback",
    warm: bool = False,
    compress: bool = True,
) -> dash.Dash:
    """See `dashboards.create_app`; ``warm`` analyses all sessions in a background thread;
    ``compress`` gzips responses (off only to measure what it saves)."""
    d = data or DashboardData(reader)
    if warm:
        import threading

        threading.Thread(target=d.warm, name="dashboard-warm", daemon=True).start()
    app = dash.Dash(
        __name__,
        title=title,
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # None disables "Updating..."
        serve_locally=True,
    )
    app.index_string = INDEX_STRING
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Nav(
                [html.Span("♥ biofeedback", className="bf-brand")]
                + [dcc.Link(label, href=href) for href, label in NAV]
                + [
                    html.Button(
                        "Dark theme: off",
                        id="theme-toggle",
                        className="bf-nav-end",
                        title="Switch between the light and the dark theme (remembered)",
                    )
                ],
                className="bf-nav",
                **_NAV_ARIA,
            ),
            dcc.Store(id="page-title"),
            html.Div(id="page", className="bf-page"),
        ]
    )

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def _route(pathname: Any, search: Any) -> Any:
        return render_page(d, worker, pathname, search)

    # One title per page (the tab, the history, a screen reader's first words).
    app.clientside_callback(  # type: ignore[no-untyped-call]
        TITLE_JS, Output("page-title", "data"), Input("url", "pathname")
    )
    live.register(app, worker, d)
    sessions.register(app, d)
    session.register(app, d)
    compare.register(app, d)
    from dashboards.compress import enable_gzip
    from dashboards.exports import register_exports

    register_exports(app.server, reader)
    if compress:
        enable_gzip(app.server)
    app.server.config["biofeedback_data"] = d
    return app
