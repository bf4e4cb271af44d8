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
