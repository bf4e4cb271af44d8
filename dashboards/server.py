"""Serving the dashboard: a werkzeug server in a thread, the store reader and live worker.

Used by ``biofeedback dashboard`` and ``biofeedback demo`` (the CLI only parses and prints).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biofeedback.errors import UserError


def network_warning(host: str) -> str | None:
    """A warning when ``host`` is reachable from other machines (not loopback)."""
    if host in ("localhost",):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"warning: binding {host}: your heart-rate data become reachable from the network, "
        "without a password. Use 127.0.0.1 unless you trust every machine on it."
    )


class Server:
    """A werkzeug server for a WSGI app in a thread; `stop` shuts it down cleanly."""

    def __init__(self, wsgi_app: Any, host: str, port: int) -> None:
        from werkzeug.serving import make_server

        # werkzeug logs every request at INFO; the live page polls every second, which would
        # flood the terminal. Requests are shown with -v (the root level is then INFO).
        wlog = logging.getLogger("werkzeug")
        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            wlog.setLevel(logging.WARNING)
        try:
            self._srv = make_server(host, port, wsgi_app, threaded=True)
        except OSError as exc:
            raise UserError(
                f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})"
            ) from None
        self.host = host
        self.port: int = self._srv.server_port
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._thread.join(5.0)
        self._srv.server_close()


def serve_until_interrupted(
    server: Server,
    *,
    on_tick: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Block until Ctrl-C (or ``stop`` is set), calling ``on_tick`` about once a second."""
    ev = stop or threading.Event()
    try:
        while not ev.wait(1.0):
            if on_tick is not None:
                on_tick()
    except KeyboardInterrupt:
        pass


def open_dashboard(
    db: str | Path,
    *,
    live_recordings: dict[str, Path] | None = None,
    warm: bool = True,
    adapter: str | None = None,
) -> tuple[Any, Any]:
    """Store reader + live worker + Dash app for ``db`` (created if missing).

    ``adapter`` (``"hci1"``) is the Bluetooth adapter the Live page scans and connects with.
    """
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader, Store

    Store(db).close()  # create / upgrade / recover interrupted sessions first
    reader = SessionReader(db)
    strap: dict[str, Any] = {}
    if adapter is not None:
        import functools

        from devices import ble  # bleak itself is imported only when a strap is used

        strap["strap_opener"] = functools.partial(ble.open_strap_source, adapter=adapter)
        strap["scanner"] = functools.partial(ble.scan_straps, adapter=adapter)
    worker = LiveWorker(db, recordings=live_recordings or {}, **strap)
    from dashboards import create_app

    app = create_app(reader, worker, warm=warm)
    return app, worker
