"""Which database a store lives in: a SQLite file (default) or a PostgreSQL server.

A *target* is what ``--db`` / ``BIOFEEDBACK_DB`` hold: a file path, or a
``postgresql://user@host:port/dbname`` URL (libpq connection URI; the password comes from
``PGPASSWORD`` or ``~/.pgpass`` rather than the URL, so it never shows in a process list).
`Store`, `SessionWriter` and `SessionReader` speak one portable SQL subset to a `Connection`;
for SQLite that is the ``sqlite3`` connection itself, for PostgreSQL the adapter in
`biofeedback.sessions.store.pg`. The schema and its migration history are the same
`biofeedback.sessions.store.schema.MIGRATIONS` for both.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

#: URL schemes that select the PostgreSQL backend.
PG_SCHEMES = ("postgresql://", "postgres://")


class Dialect(StrEnum):
    """The database engine behind a store."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Cursor(Protocol):
    """What the store reads back from a statement."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the store uses (``?`` placeholders, autocommit,
    explicit ``BEGIN``/``COMMIT``)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...


def is_url(target: str | Path) -> bool:
    """``True`` if ``target`` names a PostgreSQL server rather than a file."""
    return isinstance(target, str) and target.startswith(PG_SCHEMES)


def dialect_of(target: str | Path) -> Dialect:
    """The backend ``target`` selects."""
    return Dialect.POSTGRESQL if is_url(target) else Dialect.SQLITE


_PASSWORD = re.compile(r"^(postgres(?:ql)?://[^:/@]*):[^@]*@")


def redact(target: str | Path) -> str:
    """``target`` fit for messages and logs: a URL's password is replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", str(target))


def parse_target(text: str) -> str | Path:
    """A ``--db`` / ``BIOFEEDBACK_DB`` value: a URL as is, anything else as a file path."""
    return text if is_url(text) else Path(text).expanduser()


def default_target(env: Mapping[str, str] = os.environ) -> str | Path:
    """``$BIOFEEDBACK_DB`` (a path or a URL) if set, else the per-user database file."""
    override = env.get("BIOFEEDBACK_DB")
    if override:
        return parse_target(override)
    from biofeedback.sessions.store.schema import default_db_path

    return default_db_path(env)


def new_uuid() -> str:
    """A new globally unique session id (random UUID, text form): sessions recorded on many
    machines keep their identity when they meet in one database (``biofeedback sync``)."""
    return str(uuid.uuid4())
