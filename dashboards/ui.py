"""Small shared layout helpers: formatting, tables, alerts, URL query parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import dcc, html

# Display precision per metric-key suffix (units are in the key, DESIGN.md §5).
_DECIMALS = {"_ms": 1, "_ms2": 0, "_bpm": 1, "_pct": 1, "_Hz": 3, "_nu": 1}


def fmt(value: float | None, key: str = "") -> str:
    """A metric for a table cell: ``—`` for missing, precision by unit."""
    if value is None:
        return "—"
    for suffix, d in _DECIMALS.items():
        if key.endswith(suffix):
            return f"{value:,.{d}f}"
    return f"{value:.2f}"


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
    headers: Sequence[str],
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
