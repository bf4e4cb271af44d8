"""``biofeedback demo``: replay the bundled session as a live strap, into the dashboard.

By default a temporary store is created, the dashboard is served on 127.0.0.1, and the
bundled self-compassion-break capture is replayed at real speed (``--speed X``) through the
live worker (the same `SessionRecorder` a strap uses) into the store, so
the Live page shows it as it happens; when the replay ends, the comparison of its phases is a
click away (the URL is printed). ``--no-dashboard`` prints the frames to the terminal instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import cast

from biofeedback.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay speed: 1 real time (default), X times faster, 0 as fast as possible",
    )
    p.add_argument(
        "--recording",
        metavar="CAPTURE",
        default=None,
        help="capture to replay (default: the bundled self-compassion-break session)",
    )
    p.add_argument(
        "--no-dashboard",
        action="store_true",
        help="print the replayed frames to the terminal instead of starting the dashboard",
    )
    p.add_argument("--port", type=int, default=8050, help="dashboard port (default 8050)")
    p.add_argument(
        "--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1: this computer)"
    )
    p.add_argument(
        "--protocol",
        default="self-compassion-break",
        metavar="NAME",
        help="protocol walked during the replay (default self-compassion-break)",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="store for the demo session (default: a temporary file, deleted at exit)",
    )


def _terminal(args: argparse.Namespace, path: Path) -> int:
    from biofeedback.cli.record import stream_to_terminal
    from biofeedback.sessions.service import SourceSpec, open_source
    from devices.replay import CaptureReplaySource

    opened = open_source(SourceSpec("replay", str(path)), speed=args.speed)
    source = cast(CaptureReplaySource, opened.source)  # a replay spec opens a replay
    h = source.capture.header
    print(
        f"demo: replaying {path.name} ({h.origin.kind}, {source.capture.duration_s / 60:.1f} min) "
        f"as a live strap at speed {args.speed:g}; Ctrl-C to stop",
        file=sys.stderr,
    )
    asyncio.run(stream_to_terminal(source, out=sys.stdout))
    return 0


def _dashboard(args: argparse.Namespace, path: Path) -> int:
    from dashboards.server import (
        Server,
        network_warning,
        open_dashboard,
        serve_until_interrupted,
    )
    from devices.capture import CaptureError, read_capture

    try:
        read_capture(path)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="biofeedback-demo-")
        db = Path(tmp.name) / "demo.db"
    name = path.stem
    session_id: int | None = None
    try:
        app, worker = open_dashboard(db, live_recordings={name: path})
        server = Server(app.server, args.host, args.port).start()
        warn = network_warning(args.host)
        if warn:
            print(warn, file=sys.stderr)
        worker.start(f"replay:{name}", args.protocol, speed=args.speed, title="demo")
        print(
            f"demo: replaying {path.name} at speed {args.speed:g} into {db}\n"
            f"demo: watch it live at {server.url}/live   (Ctrl-C to stop)",
            file=sys.stderr,
        )
        announced = False

        def tick() -> None:
            nonlocal announced
            st = worker.state(since_seq=1 << 62)
            if not announced and not st.running and st.session_id is not None:
                announced = True
                print(
                    f"demo: replay finished ({st.status}); compare its phases at "
                    f"{server.url}/compare?ids={st.session_id}",
                    file=sys.stderr,
                )

        try:
            serve_until_interrupted(server, on_tick=tick)
        finally:
            print("demo: stopping…", file=sys.stderr)
            session_id = worker.state(since_seq=1 << 62).session_id
            worker.close()
            server.stop()
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(_where_it_went(session_id, db, kept=tmp is None), file=sys.stderr)
    return 0


def _where_it_went(session_id: int | None, db: Path, *, kept: bool) -> str:
    """The last line of a demo: where its session was, and how to keep the next one (it
    used to vanish with its temporary store without a word)."""
    what = "the demo session" if session_id is None else f"session {session_id}"
    if kept:
        return f"demo: {what} is kept in {db} (biofeedback sessions --db {db})"
    return (
        f"demo: {what} was in the temporary store {db}, now deleted; to keep it, run "
        "biofeedback demo --db PATH"
    )


def run(args: argparse.Namespace) -> int:
    from biofeedback.sessions.bundled import bundled_recording

    path = Path(args.recording) if args.recording else bundled_recording()
    from biofeedback.sessions.service import check_speed

    check_speed(args.speed)
    if args.no_dashboard:
        return _terminal(args, path)
    if not (0 <= args.port <= 65535):
        raise UserError(f"--port: expected 0..65535, got {args.port}")
    return _dashboard(args, path)
