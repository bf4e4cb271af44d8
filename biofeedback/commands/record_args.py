"""Arguments of ``biofeedback record`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", metavar="NAME|ADDR", help="strap name or address to connect to")
    src.add_argument("--replay", metavar="CAPTURE", help="replay a capture file as a live strap")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay speed: 1 real time, X times faster, 0 as fast as possible (default 1)",
    )
    p.add_argument("--capture", metavar="OUT.jsonl", help="also write the raw traffic to a capture")
    p.add_argument(
        "--quiet", action="store_true", help="no per-frame lines, only the final summary"
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="S",
        help="strap only: give up reconnecting after S seconds without data",
    )
