"""Schema, migrations and connection rules of the SQLite store (one definition of each)."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from biofeedback.sessions.store.backend import new_uuid
from biofeedback.sessions.store.records import StoreError

if TYPE_CHECKING:
    from biofeedback.sessions.store.backend import Connection

log = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of our files ("BFBK"), so we never write into someone else's db.
APPLICATION_ID = 0x4246424B
#: A ``recording`` session whose writer is on another host (or whose pid cannot be checked)
#: is considered interrupted after this many seconds without a heartbeat.
STALE_AFTER_S = 30.0
BUSY_TIMEOUT_MS = 5000


# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class Migration:
    """Upgrade step to ``version``: statements run in one transaction.

    The statements are SQLite DDL; the PostgreSQL backend translates their column types
    (`biofeedback.sessions.store.pg.pg_ddl`). ``backfill``, if any, then fills new columns
    of existing rows through the portable connection API, in the same transaction.
    """

    version: int
    description: str
    statements: tuple[str, ...]
    backfill: Callable[[Connection], None] | None = None


def _backfill_uuids(conn: Connection) -> None:
    for (sid,) in conn.execute("SELECT id FROM sessions WHERE uuid IS NULL").fetchall():
        conn.execute("UPDATE sessions SET uuid = ? WHERE id = ?", (new_uuid(), sid))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "sessions, frames, rejected packets, beats, markers, link events, tags",
        (
            """CREATE TABLE migrations (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at REAL NOT NULL)""",
            """CREATE TABLE sessions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                started_at REAL NOT NULL,
                ended_at REAL,
                status TEXT NOT NULL CHECK (status IN
                    ('recording', 'complete', 'stopped_early', 'interrupted')),
                protocol TEXT NOT NULL DEFAULT 'free',
                source TEXT NOT NULL,
                title TEXT NOT NULL DEFAULT '',
                notes TEXT NOT NULL DEFAULT '',
                device_name TEXT,
                device_address TEXT,
                device_model TEXT,
                device_firmware TEXT,
                duration_s REAL NOT NULL DEFAULT 0)""",
            """CREATE TABLE tags (
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                PRIMARY KEY (session_id, tag)) WITHOUT ROWID""",
            """CREATE TABLE frames (
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                t_s REAL NOT NULL,
                hr_bpm INTEGER NOT NULL,
                contact INTEGER,
                energy_kj INTEGER,
                raw BLOB NOT NULL)""",
            "CREATE INDEX frames_by_session ON frames (session_id, t_s)",
            """CREATE TABLE rejected_packets (
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                t_s REAL NOT NULL,
                raw BLOB NOT NULL,
                reason TEXT NOT NULL)""",
            "CREATE INDEX rejected_by_session ON rejected_packets (session_id, t_s)",
            """CREATE TABLE beats (
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                t_s REAL NOT NULL,
                rr_ms REAL NOT NULL,
                rr_1024 INTEGER,
                segment INTEGER NOT NULL,
                PRIMARY KEY (session_id, idx)) WITHOUT ROWID""",
            """CREATE TABLE markers (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                t_s REAL NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('phase_start', 'phase_end', 'mark', 'note')),
                phase TEXT,
                phase_kind TEXT,
                text TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX markers_by_session ON markers (session_id, t_s)",
            """CREATE TABLE link_events (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                t_s REAL NOT NULL,
                state TEXT NOT NULL,
                detail TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX link_events_by_session ON link_events (session_id, t_s)",
        ),
    ),
    Migration(
        2,
        "writer heartbeat, pid and host for crash recovery",
        (
            "ALTER TABLE sessions ADD COLUMN heartbeat_at REAL",
            "ALTER TABLE sessions ADD COLUMN writer_pid INTEGER",
            "ALTER TABLE sessions ADD COLUMN writer_host TEXT",
        ),
    ),
    Migration(
        3,
        "analysis cache of finished sessions",
        (
            """CREATE TABLE analysis_cache (
                session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
                version TEXT NOT NULL,
                n_beats INTEGER NOT NULL,
                payload TEXT NOT NULL,
                created_at REAL)""",
        ),
    ),
    Migration(
        4,
        "global session uuid; participant code and study label",
        (
            "ALTER TABLE sessions ADD COLUMN uuid TEXT",
            "CREATE UNIQUE INDEX sessions_by_uuid ON sessions (uuid)",
            "ALTER TABLE sessions ADD COLUMN participant TEXT",
            "ALTER TABLE sessions ADD COLUMN study TEXT",
            "CREATE INDEX sessions_by_study ON sessions (study, participant)",
        ),
        backfill=_backfill_uuids,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def default_db_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$BIOFEEDBACK_DB`` if set, else ``<user data dir>/biofeedback.db``."""
    override = env.get("BIOFEEDBACK_DB")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("biofeedback")) / "biofeedback.db"


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    *,
    target: int = SCHEMA_VERSION,
    migrations: Sequence[Migration] = MIGRATIONS,
    where: str = "database",
) -> int:
    """Bring ``conn`` (autocommit mode) up to schema ``target``; returns the version before.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction and re-reads the version inside
    it, so two processes opening an old file at once upgrade it exactly once.
    """
    before = _user_version(conn)
    if before > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: database schema version {before} is newer than this program supports "
            f"({SCHEMA_VERSION}); upgrade biofeedback"
        )
    for m in migrations:
        if m.version > target:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _user_version(conn) >= m.version:
                conn.execute("ROLLBACK")
                continue
            if m.version == 1:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for stmt in m.statements:
                conn.execute(stmt)
            if m.backfill is not None:
                m.backfill(conn)
            conn.execute(
                "INSERT INTO migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (m.version, m.description, time.time()),
            )
            conn.execute(f"PRAGMA user_version = {m.version}")
            conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(conn)
            raise
    return before


def _check_ours(conn: sqlite3.Connection, where: str) -> None:
    # One read transaction, so the three reads see one snapshot: read one by one, a reader
    # could see the id of a file not yet migrated and the tables of migration 1 just
    # committed by another process, and call our own file foreign.
    conn.execute("BEGIN")
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = _user_version(conn)
        n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        if conn.in_transaction:  # read only: ending it either way is the same
            conn.execute("ROLLBACK")
    if app_id == APPLICATION_ID:
        if version < 0:  # migrate() would re-run step 1 over the existing tables
            raise StoreError(
                f"{where}: database schema version {version} is not valid (the file was "
                "damaged or edited)"
            )
        return
    if app_id != 0 or version != 0 or n_tables:
        raise StoreError(f"{where}: not a biofeedback database (another program's SQLite file)")


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")


def _pid_alive(pid: int) -> bool | None:
    """``True``/``False`` if we can tell on this platform, ``None`` if not."""
    if sys.platform == "win32":
        # os.kill(pid, 0) would *terminate* the process on Windows; rely on the heartbeat.
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return None
    return True


_HOST = socket.gethostname()


def _writer_gone(
    pid: int | None, host: str | None, heartbeat_at: float | None, now_wall: float
) -> bool:
    """Is the writer of a ``recording`` session gone?

    A live writer commits (and stamps ``heartbeat_at``) every ``flush_interval_s``, so a
    heartbeat older than `STALE_AFTER_S` means it is gone, whatever its pid: after a crash
    the pid may be reused by another process, which would otherwise keep the session
    "recording" (and undeletable) for ever. On this host a dead pid tells sooner.
    """
    if heartbeat_at is None:
        # A v1 file (no heartbeat) or a writer that died before its first commit.
        return True
    if pid is not None and host == _HOST and _pid_alive(pid) is False:
        return True
    return now_wall - heartbeat_at > STALE_AFTER_S


def _corrupted(where: str, detail: str) -> StoreError:
    return StoreError(
        f"{where}: database is corrupted ({detail}); refusing to read or write it. Restore a "
        f"backup, or salvage a copy with: sqlite3 {where} .recover"
    )


def check_integrity(conn: sqlite3.Connection, where: str) -> None:
    """Refuse a damaged file before anything reads or writes it (`StoreError`, one line).

    ``PRAGMA quick_check`` walks every b-tree page (O(file size), no index cross-check):
    without it, writes into a damaged file "succeed" and store rows that can never be read
    back, and reads return silently wrong or missing sessions.
    """
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc):
            raise _corrupted(where, str(exc)) from None
        raise
    if rows and rows[0][0] != "ok":
        lines = [ln for ln in str(rows[0][0]).splitlines() if not ln.startswith("***")]
        raise _corrupted(where, (lines[0] if lines else str(rows[0][0])).strip())


def sqlite_message(exc: sqlite3.Error, where: str) -> StoreError | None:
    """The one-line `StoreError` for an SQLite error caused by the file or the disk, or
    ``None`` for any other error (a bug: let it surface)."""
    msg = str(exc)
    if "not a database" in msg or "encrypted" in msg:
        return StoreError(f"{where}: not a biofeedback database (not SQLite: {msg})")
    if "malformed" in msg:
        return _corrupted(where, msg)
    if "database or disk is full" in msg:
        return StoreError(
            f"{where}: database or disk is full; the last write was not stored "
            "(everything stored before it is kept)"
        )
    if "readonly" in msg or "read-only" in msg:
        return StoreError(
            f"{where}: cannot write (the database file or its folder is read-only: {msg})"
        )
    if "unable to open" in msg:
        return StoreError(
            f"{where}: cannot open database ({msg}; check the folder exists "
            "and is readable and writable)"
        )
    if "disk I/O error" in msg:
        return StoreError(f"{where}: disk I/O error (failing disk, or file removed while open)")
    return None


@contextmanager
def _sqlite_errors(where: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        err = sqlite_message(exc, where)
        if err is not None:
            raise err from None
        raise


def rollback_quietly(conn: Connection) -> None:
    """Roll back the open transaction, if the engine has not already done so; never raise.

    On ``SQLITE_FULL``, ``SQLITE_IOERR`` and the like SQLite rolls the transaction back
    itself, and a second ``ROLLBACK`` raises "cannot rollback - no transaction is active";
    a lost PostgreSQL connection cannot roll back at all. Either would be a traceback that
    hides the error that caused it.
    """
    if not getattr(conn, "in_transaction", True):
        return
    try:
        conn.execute("ROLLBACK")
    except (sqlite3.Error, StoreError) as exc:  # the original error is the one to report
        log.debug("rollback failed: %s", exc)
