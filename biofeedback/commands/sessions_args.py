"""Arguments of ``biofeedback sessions`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )
    p.add_argument("--tag", default=None, help="only sessions with this tag")
    p.add_argument("--protocol", default=None, help="only sessions of this protocol")
    p.add_argument(
        "--no-artifacts",
        action="store_true",
        help="skip the artefact-rate column (faster on many long sessions)",
    )
