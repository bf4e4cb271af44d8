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
