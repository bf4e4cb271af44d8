"""Arguments of ``biofeedback compare`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sessions", nargs="+", type=int, metavar="SESSION", help="session id(s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--db", metavar="PATH", help="database (default: $BIOFEEDBACK_DB or user data dir)"
    )
