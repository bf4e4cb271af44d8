"""``biofeedback export --study S``: a study's tidy tables (CSV, Parquet) and dictionary."""

from __future__ import annotations

import argparse
from pathlib import Path

from biofeedback.cli.options import DB_HELP, db_missing, db_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", required=True, metavar="S", help="study label to export")
    p.add_argument("--out", metavar="DIR", default=".", help="folder for the files (default: here)")
    p.add_argument(
        "--format",
        choices=("both", "csv", "parquet"),
        default="both",
        help="table format (default both; parquet needs pyarrow, in the lab extra)",
    )
    p.add_argument("--db", metavar="PATH|URL", default=None, help=DB_HELP)


def run(args: argparse.Namespace) -> int:
    from biofeedback.errors import UserError
    from biofeedback.sessions.store import SessionReader
    from biofeedback.sessions.study import study_tables, write_study

    db = db_path(args)
    if db_missing(db):
        raise UserError(f"{db}: no such database")
    formats = ("csv", "parquet") if args.format == "both" else (args.format,)
    with SessionReader(db) as reader:
        tables = study_tables(reader, args.study)
    written = write_study(tables, Path(args.out), formats=formats)
    n_sessions = tables.phases["session_uuid"].nunique()
    print(
        f"study {args.study}: {n_sessions} sessions, "
        f"{tables.phases['participant'].nunique()} participants, "
        f"{len(tables.phases)} phase×metric rows, {len(tables.beats)} beats"
    )
    for path in written:
        print(f"wrote {path}")
    return 0
