"""Arguments of ``biofeedback demo`` (import-light)."""

from __future__ import annotations

import argparse


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
