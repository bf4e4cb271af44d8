"""Arguments of ``biofeedback import`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="RR text (one ms value per line), CSV with an RR column, Kubios RR .txt, "
        "or a capture (.jsonl)",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )
    p.add_argument("--title", default=None, help="session title (default: the file name)")
    p.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag the session (repeatable)"
    )
