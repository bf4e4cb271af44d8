"""Helpers shared by the commands that use the session store (import-light)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: ``--db`` help shared by the commands that take one.
DB_HELP = (
    "database: a file path or a postgresql:// URL (default: $BIOFEEDBACK_DB, else the "
    "per-user database file)"
)


def db_path(args: argparse.Namespace) -> str | Path:
    """``--db`` if given, else `biofeedback.sessions.store.backend.default_target`: a file
    `Path`, or a ``postgresql://`` URL (`str`)."""
    from biofeedback.sessions.store.backend import default_target, parse_target

    return parse_target(args.db) if getattr(args, "db", None) else default_target()


def db_missing(target: str | Path) -> bool:
    """``True`` for a database file that does not exist (a server URL is never missing)."""
    return isinstance(target, Path) and not target.exists()


def make_default_folder(target: str | Path) -> None:
    """Create the folder of the default database file on first use."""
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)


def shown(target: str | Path) -> str:
    """``target`` for messages: a URL's password hidden."""
    from biofeedback.sessions.store.backend import redact

    return redact(target)


def add_label_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--participant`` and ``--study`` (a pseudonymous code and a study label)."""
    p.add_argument(
        "--participant",
        default=None,
        metavar="CODE",
        help="participant code (pseudonymous, e.g. P01; no names needed)",
    )
    p.add_argument("--study", default=None, metavar="LABEL", help="study label")
