"""Arguments of ``biofeedback analyze`` (import-light: argparse only)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="RR file: one RR (ms) per line, CSV with an RR column, Kubios RR export, or a "
        "capture (.jsonl)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--no-correct",
        action="store_true",
        help="do not correct artefacts (they are still detected and counted; RR outside "
        "200-3000 ms are always removed)",
    )
    p.add_argument(
        "--detrend",
        choices=("none", "smoothness-priors"),
        default="none",
        help="detrending before the spectrum (smoothness priors, lambda 500; default none)",
    )
    p.add_argument(
        "--lomb",
        action="store_true",
        help="Lomb-Scargle periodogram instead of Welch (4 Hz cubic, 300 s, 50 %%)",
    )
