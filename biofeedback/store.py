"""The session store: one SQLite file, written crash-safely, read through `SessionReader`.

Layout
------
One database file (``biofeedback.db`` in the platform user-data folder, or ``--db PATH`` /
``BIOFEEDBACK_DB``) holds every session: metadata, decoded frames (with the raw notification
bytes), rejected packets, beats, markers (phase start/end, marks, notes) and link events,
plus each finished session's cached analysis (``analysis_cache``, see
`biofeedback.compare.cache_analysis`).

Durability
----------
* WAL journal, ``synchronous=NORMAL``. In WAL mode NORMAL only skips the fsync at each
  commit; a committed transaction is in the WAL file (the OS page cache) as soon as
  ``COMMIT`` returns, so killing the *process* (``kill -9``, a crash) loses nothing
  committed, and the database is never corrupted. Only an OS crash or power loss can lose
  the last transactions (SQLite docs, "PRAGMA synchronous"). That is the trade we want: a
  recording commits every ``flush_interval_s`` and must not stall the event loop on fsync.
* `SessionWriter` batches rows and commits every ``flush_interval_s`` (0.5 s by default) of
  the injected clock, so a ``kill -9`` loses at most that plus one commit's latency.
* Each commit also stamps the session's ``heartbeat_at`` (wall time) next to the writer's pid
  and host. When a store is opened, a session still marked ``recording`` whose writer is gone
  (same host: the pid no longer exists; otherwise: no heartbeat for ``STALE_AFTER_S``) is
  marked ``interrupted``; its data up to the last commit stay readable.
* Several processes may write to the same file: WAL lets readers run beside the writer, and
  writers serialise on short ``BEGIN IMMEDIATE`` transactions with a ``busy_timeout``.

Schema versions are ``PRAGMA user_version``, upgraded step by step by `MIGRATIONS`; a file
from a newer program is refused with a clear message, and so is a file that is not SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.beats import Beat
from biofeedback.errors import UserError
from devices.clock import Clock, SystemClock
from devices.records import DeviceInfo, HrFrame, RejectedPacket, StreamItem

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STALE_AFTER_S",
    "Marker",
    "MarkerKind",
    "Migration",
    "NewSession",
    "PhaseSpan",
    "SessionInfo",
    "SessionReader",
    "SessionStatus",
    "SessionWriter",
    "Store",
    "StoreError",
    "default_db_path",
    "migrate",
]

log = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of our files ("BFBK"), so we never write into someone else's db.
APPLICATION_ID = 0x4246424B
#: A ``recording`` session whose writer is on another host (or whose pid cannot be checked)
#: is considered interrupted after this many seconds without a heartbeat.
STALE_AFTER_S = 30.0
BUSY_TIMEOUT_MS = 5000


class StoreError(UserError):
    """The database cannot be used (not SQLite, newer schema, unknown session...)."""


class SessionStatus(StrEnum):
    """Life cycle of a session."""

    RECORDING = "recording"
    COMPLETE = "complete"
    STOPPED_EARLY = "stopped_early"
    INTERRUPTED = "interrupted"


class MarkerKind(StrEnum):
    """What a marker records."""

    PHASE_START = "phase_start"
    PHASE_END = "phase_end"
    MARK = "mark"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Marker:
    """A point on the session timeline (``t_s``, stream clock, seconds)."""

    t_s: float
    kind: MarkerKind
    phase: str | None = None
    phase_kind: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class NewSession:
    """Metadata of a session about to be written.

    ``started_at`` is Unix time in seconds (``None``: the writer's clock ``wall()`` now);
    ``source`` says where the data came from: ``strap``, ``replay`` or ``import``.
    """

    source: str
    protocol: str = "free"
    device: DeviceInfo | None = None
    title: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session as listed by `SessionReader`.

    Attributes
    ----------
    id
        Session id (positive integer, never reused within a file).
    started_at, ended_at
        Unix time, seconds (wall clock). ``ended_at`` is ``None`` while recording; for an
        interrupted session it is the last heartbeat (last commit).
    status
        ``recording``, ``complete``, ``stopped_early`` or ``interrupted``. A ``recording``
        session whose writer is gone is reported ``interrupted`` even before any writer has
        reopened the store.
    duration_s
        Stream time of the last stored item, seconds (stream clock starts at 0).
    n_beats, n_frames, n_rejected, n_gaps
        Stored beats, frames, rejected packets and ``disconnected`` link events.
    """

    id: int
    started_at: float
    ended_at: float | None
    status: SessionStatus
    protocol: str
    source: str
    title: str
    notes: str
    tags: tuple[str, ...]
    device_name: str | None
    device_address: str | None
    device_model: str | None
    device_firmware: str | None
    duration_s: float
    n_beats: int
    n_frames: int
    n_rejected: int
    n_gaps: int


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A protocol phase as recorded: ``[start_s, end_s)`` on the stream clock, seconds.

    ``end_s`` of a phase cut short (stopped or interrupted session) is where the data end.
    """

    name: str
    kind: str
    start_s: float
    end_s: float


# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class Migration:
    """Upgrade step to ``version``: statements run in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


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
            conn.execute(
                "INSERT INTO migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (m.version, m.description, time.time()),
            )
            conn.execute(f"PRAGMA user_version = {m.version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
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
    if pid is not None and host == _HOST:
        alive = _pid_alive(pid)
        if alive is not None:
            return not alive
    if heartbeat_at is None:
        # A v1 file (no heartbeat) or a writer that died before its first commit.
        return True
    return now_wall - heartbeat_at > STALE_AFTER_S


@contextmanager
def _sqlite_errors(where: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        msg = str(exc)
        if "not a database" in msg or "malformed" in msg or "encrypted" in msg:
            raise StoreError(
                f"{where}: not a biofeedback database (not SQLite or corrupted: {msg})"
            ) from None
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in msg:
            raise StoreError(f"{where}: cannot open database ({msg})") from None
        raise


# ----------------------------------------------------------------------------- writing


class Store:
    """Read-write access to a store file: creates, upgrades, recovers; edits sessions.

    Parameters
    ----------
    path
        Database file, or ``":memory:"`` for a throw-away store (``record --no-store``).
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
        self._where = self.path
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
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self._where}: cannot open database ({exc})") from None
            try:
                _configure(self.conn)
                _check_ours(self.conn, self._where)
                if not memory:
                    self._enable_wal()
                self.conn.execute("PRAGMA synchronous = NORMAL")
                migrate(self.conn, where=self._where)
                self.recovered: list[int] = self.recover_interrupted()
            except BaseException:
                self.conn.close()
                raise

    def _enable_wal(self) -> None:
        # Switching to WAL needs an exclusive lock and SQLite does not call the busy handler
        # for it, so two processes creating the same new file at once would see "database
        # is locked": retry for as long as the busy timeout. WAL is persistent: once set by
        # anyone, every later open finds it already on.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000.0
        while True:
            mode = str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return
            try:
                mode = str(self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
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
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so busy_timeout applies; a deferred
        # transaction that reads first can fail with SQLITE_BUSY on upgrade without waiting.
        with _sqlite_errors(self._where):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
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
                c.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (session_id, tag))
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

    def annotate(self, session_id: int, notes: str, *, append: bool = False) -> None:
        """Set (or append a line to) the session's free-text notes."""
        self._require(session_id)
        with self._tx() as c:
            if append:
                c.execute(
                    "UPDATE sessions SET notes = CASE WHEN notes = '' THEN ? "
                    "ELSE notes || char(10) || ? END WHERE id = ?",
                    (notes, notes, session_id),
                )
            else:
                c.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))

    def delete(self, session_id: int) -> None:
        """Delete a session and all its data; refuses one that is still being recorded."""
        status, pid, host, hb = self._require(session_id)
        if status == "recording" and not _writer_gone(pid, host, hb, self.clock.wall()):
            raise StoreError(f"{self._where}: session {session_id} is still being recorded")
        with self._tx() as c:
            # Explicit, not only ON DELETE CASCADE: a connection without foreign_keys=ON
            # (another tool) would leave the row behind for a later, reused id.
            c.execute("DELETE FROM analysis_cache WHERE session_id = ?", (session_id,))
            c.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def save_analysis(self, session_id: int, version: str, n_beats: int, payload: str) -> None:
        """Store (replace) the cached analysis of a session.

        ``payload`` is opaque text (`biofeedback.compare.SessionAnalysis.to_json`); it is
        valid while the analysis ``version`` and the session's beat count ``n_beats`` match
        (`SessionReader.cached_analysis`).
        """
        self._require(session_id)
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO analysis_cache "
                "(session_id, version, n_beats, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                (session_id, version, int(n_beats), payload, self.clock.wall()),
            )


class SessionWriter:
    """Append a session's data in batches; commit at least every ``flush_interval_s``.

    Rows are buffered in memory and written in one short transaction by `flush`, which
    `flush_if_due` calls when ``flush_interval_s`` of the injected clock has passed since the
    last commit. Items arrive irregularly (a link gap can last minutes), so a recorder also
    runs `autoflush` as a task: together they bound the data lost to a ``kill -9`` to
    ``flush_interval_s`` plus one commit. Each commit stamps the heartbeat used for crash
    recovery. A commit that finds the database locked for longer than the busy timeout keeps
    its rows and retries at the next flush.
    """

    def __init__(
        self,
        store: Store,
        meta: NewSession,
        *,
        clock: Clock,
        flush_interval_s: float = 0.5,
    ) -> None:
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be > 0")
        self._store = store
        self._conn = store.conn
        self._clock = clock
        self.flush_interval_s = flush_interval_s
        self._frames: list[tuple[Any, ...]] = []
        self._rejected: list[tuple[Any, ...]] = []
        self._beats: list[tuple[Any, ...]] = []
        self._markers: list[tuple[Any, ...]] = []
        self._links: list[tuple[Any, ...]] = []
        self._next_beat = 0
        self._device: DeviceInfo | None = None
        self._last_t_s = 0.0
        self._finished = False
        self.commits = 0
        started = meta.started_at if meta.started_at is not None else clock.wall()
        dev = meta.device
        with store._tx() as c:
            cur = c.execute(
                "INSERT INTO sessions (started_at, status, protocol, source, title, notes, "
                "device_name, device_address, device_model, device_firmware, heartbeat_at, "
                "writer_pid, writer_host) VALUES (?, 'recording', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started,
                    meta.protocol,
                    meta.source,
                    meta.title,
                    meta.notes,
                    dev.name if dev else None,
                    dev.address if dev else None,
                    dev.model if dev else None,
                    dev.firmware if dev else None,
                    time.time(),
                    os.getpid(),
                    _HOST,
                ),
            )
            sid = cur.lastrowid
            assert sid is not None
            self.session_id: int = sid
            for t in sorted(set(meta.tags)):
                c.execute("INSERT INTO tags VALUES (?, ?)", (sid, t))
        self._last_commit = clock.monotonic()

    # -- buffering -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Rows buffered and not yet committed."""
        return (
            len(self._frames)
            + len(self._rejected)
            + len(self._beats)
            + len(self._markers)
            + len(self._links)
        )

    @property
    def beats_written(self) -> int:
        """Beats handed to the writer so far (committed or pending)."""
        return self._next_beat

    def update_device(self, device: DeviceInfo) -> None:
        """Record the strap's identity once known (a strap fills it in after connecting)."""
        self._device = device
        self.flush_if_due()

    def _seen(self, t_s: float) -> None:
        self._last_t_s = max(self._last_t_s, t_s)

    def add(self, item: StreamItem) -> None:
        """Buffer one stream item: a frame, a rejected packet or a link event."""
        sid = self.session_id
        if isinstance(item, HrFrame):
            m = item.measurement
            self._frames.append(
                (
                    sid,
                    item.t_s,
                    m.hr_bpm,
                    None if m.contact is None else int(m.contact),
                    m.energy_kj,
                    item.raw,
                )
            )
        elif isinstance(item, RejectedPacket):
            self._rejected.append((sid, item.t_s, item.raw, item.reason))
        else:
            self._links.append((sid, item.t_s, item.state.value, item.detail))
        self._seen(item.t_s)
        self.flush_if_due()

    def add_beats(self, beats: Iterable[Beat]) -> None:
        """Buffer beats; they get consecutive ``idx`` from 0 in the order given."""
        for b in beats:
            self._beats.append(
                (self.session_id, self._next_beat, b.t_s, b.rr_ms, b.rr_1024, b.segment)
            )
            self._next_beat += 1
            self._seen(b.t_s)
        self.flush_if_due()

    def add_marker(self, marker: Marker) -> None:
        """Buffer a marker (phase start/end, mark, note)."""
        self._markers.append(
            (
                self.session_id,
                marker.t_s,
                marker.kind.value,
                marker.phase,
                marker.phase_kind,
                marker.text,
            )
        )
        self._seen(marker.t_s)
        self.flush_if_due()

    # -- committing ----------------------------------------------------------------------

    def flush_if_due(self) -> bool:
        """Commit if ``flush_interval_s`` has passed since the last commit."""
        if self._clock.monotonic() - self._last_commit >= self.flush_interval_s:
            return self.flush()
        return False

    def flush(self) -> bool:
        """Commit buffered rows and the heartbeat now; ``False`` if the db stayed locked."""
        self._last_commit = self._clock.monotonic()
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                log.warning("store busy for %d ms; will retry the commit", BUSY_TIMEOUT_MS)
                return False
            raise
        try:
            if self._frames:
                c.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", self._frames)
            if self._rejected:
                c.executemany("INSERT INTO rejected_packets VALUES (?, ?, ?, ?)", self._rejected)
            if self._beats:
                c.executemany("INSERT INTO beats VALUES (?, ?, ?, ?, ?, ?)", self._beats)
            if self._markers:
                c.executemany(
                    "INSERT INTO markers (session_id, t_s, kind, phase, phase_kind, text) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    self._markers,
                )
            if self._links:
                c.executemany(
                    "INSERT INTO link_events (session_id, t_s, state, detail) VALUES (?, ?, ?, ?)",
                    self._links,
                )
            dev = self._device
            if dev is not None:
                c.execute(
                    "UPDATE sessions SET device_name = ?, device_address = ?, "
                    "device_model = COALESCE(?, device_model), "
                    "device_firmware = COALESCE(?, device_firmware) WHERE id = ?",
                    (dev.name, dev.address, dev.model, dev.firmware, self.session_id),
                )
            # A writer paused for longer than STALE_AFTER_S (laptop asleep) may have been
            # marked interrupted by another process; it is alive, so take the status back.
            c.execute(
                "UPDATE sessions SET heartbeat_at = ?, duration_s = MAX(duration_s, ?), "
                "status = CASE WHEN status = 'interrupted' AND ? THEN 'recording' "
                "ELSE status END WHERE id = ?",
                (time.time(), self._last_t_s, not self._finished, self.session_id),
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._frames.clear()
        self._rejected.clear()
        self._beats.clear()
        self._markers.clear()
        self._links.clear()
        self._device = None
        self.commits += 1
        return True

    async def autoflush(self) -> None:
        """Commit every ``flush_interval_s`` of the clock until cancelled (run as a task)."""
        while True:
            due = self._last_commit + self.flush_interval_s - self._clock.monotonic()
            if due > 0:
                await self._clock.sleep(due)
            else:
                self.flush()
                # Yield even if the clock did not move (virtual clock), never spin.
                await asyncio.sleep(0)

    def finish(self, status: SessionStatus, *, ended_at: float | None = None) -> None:
        """Commit the rest and close the session with its final ``status``."""
        if self._finished:
            return
        # One retry if another writer held the lock for a whole busy timeout.
        if not self.flush() and not self.flush():
            raise StoreError(f"{self._store.path}: database stayed locked; session not closed")
        self._finished = True
        with self._store._tx() as c:
            c.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, duration_s = MAX(duration_s, ?), "
                "heartbeat_at = ? WHERE id = ?",
                (
                    status.value,
                    ended_at if ended_at is not None else self._clock.wall(),
                    self._last_t_s,
                    time.time(),
                    self.session_id,
                ),
            )


# ----------------------------------------------------------------------------- reading

_SESSION_COLS = (
    "s.id, s.started_at, s.ended_at, s.status, s.protocol, s.source, s.title, s.notes, "
    "s.device_name, s.device_address, s.device_model, s.device_firmware, s.duration_s, "
    "s.writer_pid, s.writer_host, s.heartbeat_at, "
    "(SELECT count(*) FROM beats b WHERE b.session_id = s.id), "
    "(SELECT count(*) FROM frames f WHERE f.session_id = s.id), "
    "(SELECT count(*) FROM rejected_packets r WHERE r.session_id = s.id), "
    "(SELECT count(*) FROM link_events l WHERE l.session_id = s.id "
    "AND l.state = 'disconnected'), "
    "(SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM tags t "
    "WHERE t.session_id = s.id ORDER BY tag))"
)


class SessionReader:
    """Read-only view of a store: the only read path for dashboards and reports.

    Opens the file with a read-only ``mode=ro`` URI connection (safe beside a live writer:
    WAL readers see the last committed state and never block it). One reader may be shared
    between threads (a Dash server): queries are serialised by a lock.

    Parameters
    ----------
    path
        The database file. It must exist.
    upgrade
        If the file has an older schema, upgrade it first through a short read-write open
        (otherwise a `StoreError` asks for it).
    clock
        Wall clock used to report dead ``recording`` sessions as ``interrupted``.

    DataFrame contract
    ------------------
    Every DataFrame is sorted by time and has a default ``RangeIndex``; times ``t_s`` are
    seconds on the session's stream clock (0 = start of the stream).

    `beats` : ``t_s`` float (time of the beat ending the interval), ``rr_ms`` float (RR
    interval, ms), ``rr_1024`` Int64 (raw 1/1024 s ticks, ``<NA>`` for imported ms data),
    ``segment`` int (contiguous run; RR differences are only meaningful within one),
    ``phase`` object (name of the phase span ``[start_s, end_s)`` containing ``t_s``; the
    last span also holds a beat at its very end; ``None`` outside phases),
    ``phase_kind`` object (``baseline``/``practice``/``recovery`` or ``None``). Row ``i`` is
    beat ``idx`` ``i``.

    `frames` : ``t_s`` float, ``hr_bpm`` int (strap-reported heart rate, bpm), ``contact``
    boolean (``<NA>`` when the strap has no contact sensing), ``energy_kj`` Int64 (kJ,
    ``<NA>`` when absent), ``raw`` object (notification bytes).

    `rejected` : ``t_s`` float, ``raw`` object (bytes), ``reason`` str.

    `markers` : ``t_s`` float, ``kind`` str (``phase_start``, ``phase_end``, ``mark``,
    ``note``), ``phase`` object (phase name or ``None``), ``phase_kind`` object, ``text`` str.

    `link_events` : ``t_s`` float, ``state`` str (`devices.records.LinkState` values:
    ``connected``, ``disconnected``, ``reconnecting``, ``battery`` (detail = %), ``end``...),
    ``detail`` str.
    """

    def __init__(
        self, path: str | Path, *, upgrade: bool = True, clock: Clock | None = None
    ) -> None:
        p = Path(path)
        self.path = p
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        where = str(p)
        if not p.exists():
            raise StoreError(f"{p}: no such database")
        if p.is_dir():
            raise StoreError(f"{p}: is a directory, expected a database file")
        uri = f"{p.resolve().as_uri()}?mode=ro"
        with _sqlite_errors(where):
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            try:
                _configure(conn)
                _check_ours(conn, where)
                version = _user_version(conn)
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{where}: database schema version {version} is newer than this "
                        f"program supports ({SCHEMA_VERSION}); upgrade biofeedback"
                    )
                if version < SCHEMA_VERSION:
                    if not upgrade:
                        raise StoreError(
                            f"{where}: database schema version {version} needs an upgrade "
                            f"to {SCHEMA_VERSION}"
                        )
                    conn.close()
                    Store(p, create=False, clock=self._clock).close()
                    conn = sqlite3.connect(
                        uri, uri=True, isolation_level=None, check_same_thread=False
                    )
                    _configure(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _sqlite_errors(str(self.path)):
            return self._conn.execute(sql, params).fetchall()

    def _info(self, r: tuple[Any, ...], now: float) -> SessionInfo:
        status = SessionStatus(r[3])
        ended = r[2]
        if status is SessionStatus.RECORDING and _writer_gone(r[13], r[14], r[15], now):
            status = SessionStatus.INTERRUPTED
            ended = r[15] if r[15] is not None else r[1]
        return SessionInfo(
            id=int(r[0]),
            started_at=float(r[1]),
            ended_at=None if ended is None else float(ended),
            status=status,
            protocol=str(r[4]),
            source=str(r[5]),
            title=str(r[6]),
            notes=str(r[7]),
            device_name=r[8],
            device_address=r[9],
            device_model=r[10],
            device_firmware=r[11],
            duration_s=float(r[12]),
            n_beats=int(r[16]),
            n_frames=int(r[17]),
            n_rejected=int(r[18]),
            n_gaps=int(r[19]),
            tags=tuple(r[20].split("\x1f")) if r[20] else (),
        )

    def list_sessions(
        self, *, tag: str | None = None, protocol: str | None = None
    ) -> list[SessionInfo]:
        """All sessions, oldest first, optionally only those with ``tag``/``protocol``."""
        sql = f"SELECT {_SESSION_COLS} FROM sessions s"
        conds: list[str] = []
        params: list[Any] = []
        if tag is not None:
            conds.append("EXISTS (SELECT 1 FROM tags t WHERE t.session_id = s.id AND t.tag = ?)")
            params.append(tag)
        if protocol is not None:
            conds.append("s.protocol = ?")
            params.append(protocol)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY s.started_at, s.id"
        now = self._clock.wall()
        return [self._info(r, now) for r in self._query(sql, params)]

    def session(self, session_id: int) -> SessionInfo:
        """One session; `StoreError` if there is none with that id."""
        rows = self._query(f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.id = ?", (session_id,))
        if not rows:
            raise StoreError(f"{self.path}: no session with id {session_id}")
        return self._info(rows[0], self._clock.wall())

    def _exists(self, session_id: int) -> None:
        if not self._query("SELECT 1 FROM sessions WHERE id = ?", (session_id,)):
            raise StoreError(f"{self.path}: no session with id {session_id}")

    def phases(self, session_id: int) -> list[PhaseSpan]:
        """Protocol phases as recorded, in order (see `PhaseSpan`)."""
        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, kind, phase, phase_kind FROM markers WHERE session_id = ? "
            "AND kind IN ('phase_start', 'phase_end') ORDER BY t_s, id",
            (session_id,),
        )
        end_of_data = self._end_of_data(session_id)
        spans: list[PhaseSpan] = []
        open_: tuple[str, str, float] | None = None
        for t_s, kind, phase, phase_kind in rows:
            if kind == "phase_start":
                if open_ is not None:
                    spans.append(PhaseSpan(open_[0], open_[1], open_[2], float(t_s)))
                open_ = (str(phase), str(phase_kind or ""), float(t_s))
            elif open_ is not None and open_[0] == phase:
                spans.append(PhaseSpan(open_[0], open_[1], open_[2], float(t_s)))
                open_ = None
        if open_ is not None:
            spans.append(PhaseSpan(open_[0], open_[1], open_[2], max(open_[2], end_of_data)))
        return spans

    def cached_analysis(self, session_id: int, version: str, n_beats: int) -> str | None:
        """The payload saved by `Store.save_analysis` for this analysis ``version`` and beat
        count ``n_beats``, or ``None`` (no row, or a stale one)."""
        rows = self._query(
            "SELECT payload FROM analysis_cache WHERE session_id = ? AND version = ? "
            "AND n_beats = ?",
            (session_id, version, int(n_beats)),
        )
        return str(rows[0][0]) if rows else None

    def _end_of_data(self, session_id: int) -> float:
        row = self._query(
            "SELECT max(duration_s, "
            "COALESCE((SELECT max(t_s) FROM frames WHERE session_id = ?1), 0), "
            "COALESCE((SELECT max(t_s) FROM beats WHERE session_id = ?1), 0)) "
            "FROM sessions WHERE id = ?1",
            (session_id,),
        )
        return float(row[0][0]) if row else 0.0

    def beats(self, session_id: int) -> pd.DataFrame:
        """Beats of a session with their phase (columns in the class docstring)."""
        import numpy as np
        import pandas as pd

        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, rr_ms, rr_1024, segment FROM beats WHERE session_id = ? ORDER BY idx",
            (session_id,),
        )
        # Build column by column: a DataFrame from rows would turn a NULL in the integer
        # column into NaN and the whole column into float.
        df = pd.DataFrame(
            {
                "t_s": np.array([r[0] for r in rows], dtype=np.float64),
                "rr_ms": np.array([r[1] for r in rows], dtype=np.float64),
                "rr_1024": pd.array([r[2] for r in rows], dtype="Int64"),
                "segment": np.array([r[3] for r in rows], dtype=np.int64),
            }
        )
        phase = np.full(len(df), None, dtype=object)
        phase_kind = np.full(len(df), None, dtype=object)
        t = df["t_s"].to_numpy()
        spans = self.phases(session_id)
        for k, span in enumerate(spans):
            # Half-open spans, except that the last one keeps the beat ending exactly at its
            # end (a session stopped or ended at its last beat).
            last = k == len(spans) - 1
            inside = (t >= span.start_s) & ((t <= span.end_s) if last else (t < span.end_s))
            phase[inside] = span.name
            phase_kind[inside] = span.kind
        df["phase"] = phase
        df["phase_kind"] = phase_kind
        return df

    def frames(self, session_id: int) -> pd.DataFrame:
        """Decoded frames (columns in the class docstring)."""
        import numpy as np
        import pandas as pd

        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, hr_bpm, contact, energy_kj, raw FROM frames WHERE session_id = ? "
            "ORDER BY t_s, rowid",
            (session_id,),
        )
        raw = np.empty(len(rows), dtype=object)
        raw[:] = [bytes(r[4]) for r in rows]
        return pd.DataFrame(
            {
                "t_s": np.array([r[0] for r in rows], dtype=np.float64),
                "hr_bpm": np.array([r[1] for r in rows], dtype=np.int64),
                "contact": pd.array(
                    [None if r[2] is None else bool(r[2]) for r in rows], dtype="boolean"
                ),
                "energy_kj": pd.array([r[3] for r in rows], dtype="Int64"),
                "raw": raw,
            }
        )

    def rejected(self, session_id: int) -> pd.DataFrame:
        """Rejected notifications (columns in the class docstring)."""
        import numpy as np
        import pandas as pd

        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, raw, reason FROM rejected_packets WHERE session_id = ? "
            "ORDER BY t_s, rowid",
            (session_id,),
        )
        raw = np.empty(len(rows), dtype=object)
        raw[:] = [bytes(r[1]) for r in rows]
        return pd.DataFrame(
            {
                "t_s": np.array([r[0] for r in rows], dtype=np.float64),
                "raw": raw,
                "reason": [str(r[2]) for r in rows],
            }
        )

    def markers(self, session_id: int) -> pd.DataFrame:
        """Markers (columns in the class docstring)."""
        import pandas as pd

        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, kind, phase, phase_kind, text FROM markers WHERE session_id = ? "
            "ORDER BY t_s, id",
            (session_id,),
        )
        df = pd.DataFrame(rows, columns=["t_s", "kind", "phase", "phase_kind", "text"])
        df["t_s"] = df["t_s"].astype("float64")
        return df

    def link_events(self, session_id: int) -> pd.DataFrame:
        """Link events (columns in the class docstring)."""
        import pandas as pd

        self._exists(session_id)
        rows = self._query(
            "SELECT t_s, state, detail FROM link_events WHERE session_id = ? ORDER BY t_s, id",
            (session_id,),
        )
        df = pd.DataFrame(rows, columns=["t_s", "state", "detail"])
        df["t_s"] = df["t_s"].astype("float64")
        return df
