"""Arguments of ``biofeedback dashboard`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="session store (default: $BIOFEEDBACK_DB or the platform user-data folder)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this computer only)",
    )
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
