"""``biofeedback sync --to URL [--db PATH]``: push local sessions the server lacks."""

from __future__ import annotations

import argparse

from biofeedback.cli.options import db_missing, db_path, shown
from biofeedback.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="destination store, e.g. postgresql://lab@server/biofeedback (created if empty)",
    )
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        default=None,
        help="local store to push from (default: $BIOFEEDBACK_DB, else the user data folder)",
    )


def run(args: argparse.Namespace) -> int:
    from biofeedback.sessions.store.backend import parse_target
    from biofeedback.sessions.store.sync import SentSession, sync

    source = db_path(args)
    if db_missing(source):
        raise UserError(f"{source}: no such database")
    dest = parse_target(args.to)

    def sent(s: SentSession) -> None:
        who = "/".join(x for x in (s.study, s.participant) if x)
        print(
            f"sent session {s.local_id} -> {s.remote_id} ({s.uuid}, {s.status.value}, "
            f"{s.n_beats} beats{', ' + who if who else ''})",
            flush=True,
        )

    report = sync(source, dest, on_sent=sent)
    line = (
        f"sync {shown(source)} -> {report.destination}: {len(report.sent)} sent, "
        f"{len(report.present)} already there"
    )
    if report.recording:
        ids = ", ".join(str(i) for i in report.recording)
        line += f", {len(report.recording)} still recording (skipped: {ids})"
    print(line)
    return 0
