"""Arguments of ``biofeedback report`` (import-light: argparse only)."""

from __future__ import annotations

import argparse

FORMATS = ("html", "pdf", "csv", "json", "kubios")
PAPERS = ("a4", "letter")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sessions",
        nargs="+",
        type=int,
        metavar="SESSION",
        help="session id(s); several make a comparison report (html, pdf, csv, json)",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="html (self-contained, offline), pdf (needs Chromium), csv (beats + "
        "PATH.metrics.csv), json (full, with schema), kubios (RR ms per line, one session)",
    )
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="file to write")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument(
        "--db", metavar="PATH", help="database (default: $BIOFEEDBACK_DB or user data dir)"
    )
    p.add_argument("--paper", choices=PAPERS, default="a4", help="PDF paper size (default a4)")
