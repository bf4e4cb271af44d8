"""``biofeedback report``: write a session report or export (html, pdf, csv, json, kubios).

Every check that can fail on user input runs before the (slower) analysis: the output's
folder must exist and be writable, an existing file is refused without ``--force`` (for
``csv`` also the ``.metrics.csv`` beside it), unknown session ids are refused, and ``pdf``
needs a Chromium. Each failure is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from biofeedback.cli.options import db_path
from biofeedback.errors import UserError

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
        "--db", metavar="PATH|URL", help="database (default: $BIOFEEDBACK_DB or user data dir)"
    )
    p.add_argument("--paper", choices=PAPERS, default="a4", help="PDF paper size (default a4)")


def _targets(path: Path, fmt: str) -> list[Path]:
    if fmt == "csv":
        from biofeedback.reports.csv_export import metrics_path_for

        return [path, metrics_path_for(path)]
    return [path]


def check_output(path: Path, fmt: str, force: bool) -> None:
    """Refuse an output we cannot or must not write (one-line `UserError`)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file name")
    if not parent.is_dir():
        raise UserError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: directory {parent} is not writable")
    for t in _targets(path, fmt):
        if t.exists() and not force:
            raise UserError(f"{t}: already exists (use --force to overwrite)")
        if t.exists() and not os.access(t, os.W_OK):
            raise UserError(f"{t}: exists and is not writable")


def run(args: argparse.Namespace) -> int:
    from biofeedback.reports import write_report
    from biofeedback.sessions.store import SessionReader

    out = Path(args.output).expanduser()
    check_output(out, args.format, args.force)
    if args.format == "kubios" and len(args.sessions) != 1:
        raise UserError(
            f"--format kubios: the Kubios RR format holds one session, got {len(args.sessions)}"
        )
    if args.format == "pdf":
        from biofeedback.reports.pdf import PdfError, find_chromium

        if find_chromium() is None:
            raise PdfError(
                f"{out}: PDF output needs Chromium or Chrome (install 'chromium' or set "
                "BIOFEEDBACK_CHROMIUM); --format html works without it"
            )
    db = db_path(args)
    with SessionReader(db) as reader:
        for sid in args.sessions:
            reader.session(sid)  # unknown id → StoreError (UserError) before any work
        written = write_report(reader, args.sessions, args.format, out, paper=args.paper)
        n_oor = 0
        breaks = (0, 0)
        if args.format == "kubios":
            from biofeedback.reports.kubios import joined_breaks, out_of_range_count
            from biofeedback.sessions.view import link_gaps

            sid = args.sessions[0]
            beats = reader.beats(sid)
            gaps = link_gaps(reader.link_events(sid), reader.session(sid).duration_s)
            breaks = joined_breaks(beats, [(g.start_s, g.end_s) for g in gaps])
            n_oor = out_of_range_count(beats)
    for p in written:
        print(f"wrote {p} ({p.stat().st_size:,} bytes)")
    if n_oor > 0:
        print(
            f"warning: {n_oor} out-of-range RR (strap glitches) in session {args.sessions[0]} "
            "are left out of the Kubios file",
            file=sys.stderr,
        )
    if sum(breaks) > 0:
        from biofeedback.wording import count

        print(
            f"warning: the Kubios file joins {count(sum(breaks), 'break')} in session "
            f"{args.sessions[0]}'s beats ({count(breaks[0], 'link gap')}, "
            f"{count(breaks[1], 'other break')}: lost contact or a dropped RR); the format has "
            "no time column",
            file=sys.stderr,
        )
    return 0
