"""Arguments of ``biofeedback record`` (import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    # Not required at parse time so that ``--protocol list`` works alone; `record.run` checks.
    src = p.add_mutually_exclusive_group()
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
        "--lsl",
        action="store_true",
        help="also publish HR and RR as Lab Streaming Layer streams (needs the 'lsl' extra)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="S",
        help="strap only: give up reconnecting after S seconds without data",
    )
    guided = p.add_argument_group(
        "guided sessions and storage",
        "With --protocol or --db the session is stored (default database: $BIOFEEDBACK_DB, "
        "else biofeedback.db in the user data folder). Press Enter (or m Enter) to mark a "
        "moment, type text and Enter for a note; Ctrl-C stops cleanly.",
    )
    guided.add_argument(
        "--protocol",
        metavar="NAME|list",
        default=None,
        help="guide the session with a protocol (a name, a .toml file, or 'list' to show them)",
    )
    guided.add_argument(
        "--protocols-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="extra folder of protocol .toml files (repeatable)",
    )
    guided.add_argument(
        "--breaths-per-min",
        type=float,
        default=None,
        metavar="N",
        help="pacer rate for paced phases (resonance-breathing default 6)",
    )
    guided.add_argument("--db", metavar="PATH", default=None, help="session database file")
    guided.add_argument(
        "--no-store", action="store_true", help="do not store the session (display only)"
    )
    guided.add_argument("--title", default="", help="session title")
    guided.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag the session (repeatable)"
    )
