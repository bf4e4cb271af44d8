"""``biofeedback dashboard``: serve the Dash dashboard over a session store."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from biofeedback.errors import UserError

DEMO_RECORDING_NAME = "self-compassion-break"


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
    db: Path, *, live_recordings: dict[str, Path] | None = None, warm: bool = True
) -> tuple[Any, Any]:
    """Store reader + live worker + Dash app for ``db`` (created if missing)."""
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader, Store

    Store(db).close()  # create / upgrade / recover interrupted sessions first
    reader = SessionReader(db)
    worker = LiveWorker(db, recordings=live_recordings or {})
    from dashboards import create_app

    app = create_app(reader, worker, warm=warm)
    return app, worker


def bundled_recordings() -> dict[str, Path]:
    from biofeedback.commands.demo import demo_recording_path

    return {DEMO_RECORDING_NAME: demo_recording_path()}


def run(args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    from biofeedback.commands._db import db_path

    db = db_path(args)
    if not args.db:
        db.parent.mkdir(parents=True, exist_ok=True)
    if not (0 <= args.port <= 65535):
        raise UserError(f"--port: expected 0..65535, got {args.port}")
    warn = network_warning(args.host)
    app, worker = open_dashboard(db, live_recordings=bundled_recordings())
    server = Server(app.server, args.host, args.port).start()
    if warn:
        print(warn, file=out)
    print(f"dashboard: {server.url}/  (store {db}); Ctrl-C to stop", file=out)
    try:
        serve_until_interrupted(server)
    finally:
        print("dashboard: stopping…", file=out)
        worker.close()
        server.stop()
    return 0
