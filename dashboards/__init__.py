"""Dash dashboard for biofeedback sessions: Live, Sessions, Session, Compare, Trends.

``import dashboards`` is cheap (no dash/plotly/pandas); `create_app` imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dash

    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader

__all__ = ["create_app"]


def create_app(reader: SessionReader, live: LiveWorker | None = None, **kw: Any) -> dash.Dash:
    """Build the Dash app over a read-only store ``reader`` and an optional live worker.

    Every callback is registered on the returned instance, so a process (or a test) can
    build many apps. Keyword arguments go to `dashboards.app.build_app`.
    """
    from dashboards.app import build_app

    return build_app(reader, live, **kw)
