"""Read-write access to a store file: create, upgrade, recover, edit sessions (`Store`)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from biofeedback.sessions.store.backend import Connection, Dialect, dialect_of, redact
from biofeedback.sessions.store.records import NewSession, StoreError, clean_label
from biofeedback.sessions.store.schema import (
    BUSY_TIMEOUT_MS,
    MIGRATIONS,
    _check_ours,
    _configure,
    _sqlite_errors,
    _writer_gone,
    check_integrity,
    migrate,
    rollback_quietly,
)
from biofeedback.sessions.store.writer import SessionWriter
from devices.clock import Clock, SystemClock

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- writing


class Store:
    """Read-write access to a store: creates, upgrades, recovers; edits sessions.

    Parameters
    ----------
    path
        Database file, ``":memory:"`` for a throw-away store (``record --no-store``), or a
        ``postgresql://`` URL (`biofeedback.sessions.store.backend`).
    clock
        Wall clock for heartbeats and staleness checks (``wall()``), and the default clock
        of the writers it creates.
    create
        Create the file (and a missing default folder) if it does not exist.
    """

    def __init__(
        self, path: str | Path, *, clock: Clock | None = None, create: bool = True
    ) -> None:
        self.path = str(path)
        self.clock: Clock = clock or SystemClock()
        self._where = redact(self.path)
        self.dialect = dialect_of(path)
        self.conn: Connection
        if self.dialect is Dialect.POSTGRESQL:
            self._open_postgresql()
            return
        memory = self.path == ":memory:"
        if not memory:
            p = Path(self.path)
            if not p.exists():
                if not create:
                    raise StoreError(f"{p}: no such database")
                if not p.parent.is_dir():
                    raise StoreError(f"{p}: directory {p.parent} does not exist")
            elif p.is_dir():
                raise StoreError(f"{p}: is a directory, expected a database file")
        with _sqlite_errors(self._where):
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self._where}: cannot open database ({exc})") from None
            self.conn = conn
            try:
                _configure(conn)
                _check_ours(conn, self._where)
                if not memory:
                    check_integrity(conn, self._where)
                    self._enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn, where=self._where)
                self.recovered: list[int] = self.recover_interrupted()
            except BaseException:
                conn.close()
                raise

    def _open_postgresql(self) -> None:
        from biofeedback.sessions.store import pg

        conn = pg.connect(self.path)
        self.conn = conn
        try:
            pg.migrate(conn, MIGRATIONS)
            self.recovered = self.recover_interrupted()
        except BaseException:
            conn.close()
            raise

    @property
    def where(self) -> str:
        """The store's file or URL for messages (a URL's password hidden)."""
        return self._where

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs an exclusive lock and SQLite does not call the busy handler
        # for it, so two processes creating the same new file at once would see "database
        # is locked": retry for as long as the busy timeout. WAL is persistent: once set by
        # anyone, every later open finds it already on.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000.0
        while True:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return
            try:
                mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"{self._where}: cannot switch to WAL ({exc})") from None
                time.sleep(0.01)
                continue
            if mode != "wal":  # e.g. a file system without shared memory
                log.warning("%s: journal mode is %s, not WAL", self.path, mode)
            return

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (writers created from this store stop working)."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so busy_timeout applies; a deferred
        # transaction that reads first can fail with SQLITE_BUSY on upgrade without waiting.
        with _sqlite_errors(self._where):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                rollback_quietly(self.conn)
                raise
            self.conn.execute("COMMIT")

    def recover_interrupted(self) -> list[int]:
        """Mark ``recording`` sessions whose writer is gone as ``interrupted``; their ids."""
        now = self.clock.wall()
        rows = self.conn.execute(
            "SELECT id, writer_pid, writer_host, heartbeat_at FROM sessions "
            "WHERE status = 'recording'"
        ).fetchall()
        gone = [r[0] for r in rows if _writer_gone(r[1], r[2], r[3], now)]
        if gone:
            with self._tx() as c:
                for sid in gone:
                    c.execute(
                        "UPDATE sessions SET status = 'interrupted', "
                        "ended_at = COALESCE(ended_at, heartbeat_at, started_at) "
                        "WHERE id = ? AND status = 'recording'",
                        (sid,),
                    )
            log.warning("sessions %s were interrupted (writer gone); marked as such", gone)
        return gone

    # -- sessions ----------------------------------------------------------------------

    def begin_session(
        self,
        meta: NewSession,
        *,
        clock: Clock | None = None,
        flush_interval_s: float = 0.5,
    ) -> SessionWriter:
        """Create a session in status ``recording`` and return its writer."""
        return SessionWriter(
            self, meta, clock=clock or self.clock, flush_interval_s=flush_interval_s
        )

    def _require(self, session_id: int) -> tuple[str, int | None, str | None, float | None]:
        row = self.conn.execute(
            "SELECT status, writer_pid, writer_host, heartbeat_at FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"{self._where}: no session with id {session_id}")
        return str(row[0]), row[1], row[2], row[3]

    def tag(
        self, session_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """Add and remove tags; returns the session's tags afterwards (sorted)."""
        self._require(session_id)
        with self._tx() as c:
            for t in add:
                tag = t.strip()
                if not tag:
                    raise StoreError("tag: expected a non-empty tag")
                c.execute(
                    "INSERT INTO tags (session_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (session_id, tag),
                )
            for t in remove:
                c.execute("DELETE FROM tags WHERE session_id = ? AND tag = ?", (session_id, t))
        rows = self.conn.execute(
            "SELECT tag FROM tags WHERE session_id = ? ORDER BY tag", (session_id,)
        ).fetchall()
        return tuple(r[0] for r in rows)

    def rename(self, session_id: int, title: str) -> None:
        """Set the session's title."""
        self._require(session_id)
        with self._tx() as c:
            c.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    def set_labels(
        self, session_id: int, *, participant: str | None = None, study: str | None = None
    ) -> None:
        """Set the participant code and/or study label; ``None`` leaves one as it is and
        ``""`` clears it."""
        self._require(session_id)
        with self._tx() as c:
            for column, value in (("participant", participant), ("study", study)):
                if value is not None:
                    c.execute(
                        f"UPDATE sessions SET {column} = ? WHERE id = ?",
                        (clean_label(column, value), session_id),
                    )

    def annotate(self, session_id: int, notes: str, *, append: bool = False) -> None:
        """Set (or append a line to) the session's free-text notes."""
        self._require(session_id)
        with self._tx() as c:
            if append:
                c.execute(
                    "UPDATE sessions SET notes = CASE WHEN notes = '' THEN ? "
                    "ELSE notes || ? END WHERE id = ?",
                    (notes, "\n" + notes, session_id),
                )
            else:
                c.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))

    def delete(self, session_id: int) -> None:
        """Delete a session and all its data; refuses one that is still being recorded."""
        status, pid, host, hb = self._require(session_id)
        if status == "recording" and not _writer_gone(pid, host, hb, self.clock.wall()):
            raise StoreError(f"{self._where}: session {session_id} is still being recorded")
        self.remove(session_id)

    def remove(self, session_id: int) -> None:
        """Delete a session without the "still being recorded" check (`delete` checks;
        its own writer uses this through `SessionWriter.discard`)."""
        with self._tx() as c:
            # Explicit, not only ON DELETE CASCADE: a connection without foreign_keys=ON
            # (another tool) would leave the row behind for a later, reused id.
            c.execute("DELETE FROM analysis_cache WHERE session_id = ?", (session_id,))
            c.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def save_analysis(self, session_id: int, version: str, n_beats: int, payload: str) -> None:
        """Store (replace) the cached analysis of a session.

        ``payload`` is opaque text (`biofeedback.sessions.analysis.SessionAnalysis.to_json`); it is
        valid while the analysis ``version`` and the session's beat count ``n_beats`` match
        (`SessionReader.cached_analysis`).
        """
        self._require(session_id)
        with self._tx() as c:
            c.execute(
                "INSERT INTO analysis_cache "
                "(session_id, version, n_beats, payload, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (session_id) DO UPDATE SET version = excluded.version, "
                "n_beats = excluded.n_beats, payload = excluded.payload, "
                "created_at = excluded.created_at",
                (session_id, version, int(n_beats), payload, self.clock.wall()),
            )
