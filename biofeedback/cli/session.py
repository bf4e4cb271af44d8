"""``biofeedback session tag|rename|note|delete ID``: edit a stored session."""

from __future__ import annotations

import argparse
import sys

from biofeedback.cli.options import add_label_arguments, db_missing, db_path
from biofeedback.errors import UserError
from biofeedback.sessions.store import SessionReader, Store


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH|URL",
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
    lb = sub.add_parser("label", help="set (or with '' clear) participant code and study label")
    lb.add_argument("id", type=int, metavar="ID")
    add_label_arguments(lb)
    _db(lb)
    d = sub.add_parser("delete", help="delete a session and all its data")
    d.add_argument("id", type=int, metavar="ID")
    d.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _db(d)


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    path = db_path(args)
    if db_missing(path):
        raise UserError(f"{path}: no such database")
    if args.action == "delete" and not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"delete session {args.id}: refusing without --yes (no terminal)")
        with SessionReader(path) as reader:
            info = reader.session(args.id)
        what = info.title or info.protocol
        if not _confirm(
            f"delete session {info.id} ({what}, {info.n_beats} beats)? this cannot be undone [y/N] "
        ):
            print("not deleted")
            return 0
    with Store(path, create=False) as store:
        if args.action == "tag":
            if args.remove:
                tags = store.tag(args.id, remove=args.tags)
            else:
                tags = store.tag(args.id, add=args.tags)
            print(f"session {args.id} tags: {' '.join(tags) or '(none)'}")
        elif args.action == "rename":
            store.rename(args.id, args.title)
            print(f"session {args.id} renamed to {args.title!r}")
        elif args.action == "label":
            if args.participant is None and args.study is None:
                raise UserError("session label: give --participant and/or --study")
            store.set_labels(args.id, participant=args.participant, study=args.study)
            with SessionReader(path) as reader:
                info = reader.session(args.id)
            print(
                f"session {args.id}: participant {info.participant or '(none)'}, "
                f"study {info.study or '(none)'}"
            )
        elif args.action == "note":
            store.annotate(args.id, args.text, append=args.append)
            print(f"session {args.id} notes updated")
        else:
            store.delete(args.id)
            print(f"session {args.id} deleted")
    return 0
