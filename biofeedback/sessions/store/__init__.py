"""The session store: one SQLite file (or a PostgreSQL server), written crash-safely, read
through `SessionReader`.

Backends
--------
``--db`` / ``BIOFEEDBACK_DB`` is a file path (SQLite, the default) or a ``postgresql://`` URL
(`biofeedback.sessions.store.backend`, `biofeedback.sessions.store.pg`). Both run the same
statements, the same `MIGRATIONS` and the same crash-recovery rules; what follows about WAL
and ``PRAGMA`` is SQLite's side. Each session has a short integer ``id`` (per database) and
a global ``uuid`` that stays the same wherever it is synced.

Layout
------
One database file (``biofeedback.db`` in the platform user-data folder, or ``--db PATH`` /
``BIOFEEDBACK_DB``) holds every session: metadata, decoded frames (with the raw notification
bytes), rejected packets, beats, markers (phase start/end, marks, notes) and link events,
plus each finished session's cached analysis (``analysis_cache``, see
`biofeedback.sessions.analysis.cache_analysis`).

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
  (no heartbeat for ``STALE_AFTER_S``, whatever the pid, which may have been reused; on the
  same host a dead pid tells sooner) is marked ``interrupted``; its data up to the last
  commit stay readable.
* A damaged file (``PRAGMA quick_check`` fails) is refused at open by readers and writers;
  errors from the file or the disk (full, read-only, I/O) are one-line `StoreError` s, and a
  failed commit leaves everything committed before it as it was.
* Several processes may write to the same file: WAL lets readers run beside the writer, and
  writers serialise on short ``BEGIN IMMEDIATE`` transactions with a ``busy_timeout``.

Schema versions are ``PRAGMA user_version``, upgraded step by step by `MIGRATIONS`; a file
from a newer program is refused with a clear message, and so is a file that is not SQLite.
"""

from biofeedback.sessions.store.db import Store
from biofeedback.sessions.store.reader import SessionReader
from biofeedback.sessions.store.records import (
    Marker,
    MarkerKind,
    NewSession,
    PhaseSpan,
    SessionInfo,
    SessionStatus,
    StoreError,
    phase_index,
)
from biofeedback.sessions.store.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    Migration,
    default_db_path,
    migrate,
)
from biofeedback.sessions.store.writer import SessionWriter

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
    "phase_index",
]
