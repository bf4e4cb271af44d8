"""Small shared layout helpers: formatting, tables, alerts, URL query parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import dcc, html


def fmt(value: float | None, key: str = "") -> str:
    """A metric for a table cell: the catalogue's digits (`biofeedback.hrv.catalog`), ``—``
    for missing."""
    from biofeedback.hrv.catalog import format_value

    return format_value(key, value, missing="—")


def metric_header(key: str, prefix: str = "") -> html.Span:
    """A column header for metric ``key``: its label and unit, its meaning as a tooltip."""
    from biofeedback.hrv.catalog import metric

    m = metric(key)
    tip = "; ".join(x for x in (m.meaning, m.reference) if x)
    return html.Span(f"{prefix}{m.header}", title=tip or None)


def fmt_duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``)."""
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def alert(text: Any, level: str = "warn", **kw: Any) -> html.Div:
    """A friendly message box (``warn``, ``bad`` or ``info``)."""
    return html.Div(text, className=f"bf-alert {level}", **kw)


def table(
    headers: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    *,
    row_classes: Sequence[str] | None = None,
    left: Sequence[int] = (0,),
    **kw: Any,
) -> html.Table:
    """A plain HTML table (no DataTable: it is deprecated and heavy for this use)."""
    head = html.Thead(
        html.Tr([html.Th(h, className="l" if i in left else None) for i, h in enumerate(headers)])
    )
    body = html.Tbody(
        [
            html.Tr(
                [html.Td(c, className="l" if i in left else None) for i, c in enumerate(r)],
                className=row_classes[k] if row_classes else None,
            )
            for k, r in enumerate(rows)
        ]
    )
    return html.Table([head, body], className="bf-table", **kw)


def query(search: str | None) -> dict[str, str]:
    """``?a=1&b=2`` → ``{"a": "1", "b": "2"}`` (last value wins; blank values kept out)."""
    q = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    return {k: v[-1] for k, v in q.items() if v}


def make_search(params: dict[str, Any]) -> str:
    """``{"a": 1, "b": None}`` → ``?a=1`` (``None``/empty left out)."""
    clean = {k: v for k, v in params.items() if v not in (None, "", [], ())}
    return "?" + urlencode(clean, safe=",") if clean else ""


def parse_ids(text: str | None) -> tuple[list[int], list[str]]:
    """``"3,7, 9"`` → ``([3, 7, 9], [])``; bad items are returned as the second list."""
    ids: list[int] = []
    bad: list[str] = []
    for part in (text or "").split(","):
        p = part.strip()
        if not p:
            continue
        if p.isdigit() and int(p) > 0:
            ids.append(int(p))
        else:
            bad.append(p)
    return ids, bad


def graph(fig: Any, gid: str | dict[str, Any], height: int | None = None) -> dcc.Graph:
    """A ``dcc.Graph`` with the mode bar trimmed (no plotly.com links; offline)."""
    if height is not None:
        fig.update_layout(height=height)
    return dcc.Graph(
        id=gid,
        figure=fig,
        config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]},
    )
