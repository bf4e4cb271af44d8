"""``biofeedback dashboard``: serve the Dash dashboard over a session store."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from biofeedback.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        default=None,
        help="session store (default: $BIOFEEDBACK_DB or the platform user-data folder)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this computer only)",
    )
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument(
        "--adapter",
        metavar="hciX",
        default=None,
        help="Linux: the Bluetooth adapter the Live page scans and connects with",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from biofeedback.cli.options import db_path, make_default_folder, shown
    from biofeedback.sessions.bundled import bundled_recordings
    from dashboards.server import Server, network_warning, open_dashboard, serve_until_interrupted

    out = out or sys.stderr  # looked up now: the CLI's control-character-safe stream
    db = db_path(args)
    if not args.db:
        make_default_folder(db)
    if not (0 <= args.port <= 65535):
        raise UserError(f"--port: expected 0..65535, got {args.port}")
    warn = network_warning(args.host)
    app, worker = open_dashboard(
        db, live_recordings=bundled_recordings(), adapter=getattr(args, "adapter", None)
    )
    server = Server(app.server, args.host, args.port).start()
    if warn:
        print(warn, file=out)
    print(f"dashboard: {server.url}/  (store {shown(db)}); Ctrl-C to stop", file=out)
    try:
        serve_until_interrupted(server)
    finally:
        print("dashboard: stopping…", file=out)
        worker.close()
        server.stop()
    return 0
