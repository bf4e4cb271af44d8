"""Arguments of ``biofeedback scan`` (import-light: no bleak here)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to listen for advertisements (default 5)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
