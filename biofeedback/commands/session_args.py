"""Arguments of ``biofeedback session tag|rename|note|delete`` (import-light)."""

from __future__ import annotations

import argparse


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("tag", help="add (or with --remove, remove) tags")
    t.add_argument("id", type=int, metavar="ID")
    t.add_argument("tags", nargs="+", metavar="TAG")
    t.add_argument("--remove", action="store_true", help="remove the tags instead")
    _db(t)
    r = sub.add_parser("rename", help="set the session title")
    r.add_argument("id", type=int, metavar="ID")
    r.add_argument("title", metavar="TITLE")
    _db(r)
    n = sub.add_parser("note", help="set the session notes (or --append a line)")
    n.add_argument("id", type=int, metavar="ID")
    n.add_argument("text", metavar="TEXT")
    n.add_argument("--append", action="store_true", help="append a line to the notes")
    _db(n)
    d = sub.add_parser("delete", help="delete a session and all its data")
    d.add_argument("id", type=int, metavar="ID")
    d.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _db(d)
