"""Helpers shared by the commands that use the session store (import-light)."""

from __future__ import annotations

import argparse
from pathlib import Path


def db_path(args: argparse.Namespace) -> Path:
    """``--db`` if given, else `biofeedback.sessions.store.default_db_path`."""
    from biofeedback.sessions.store import default_db_path

    return Path(args.db).expanduser() if getattr(args, "db", None) else default_db_path()
