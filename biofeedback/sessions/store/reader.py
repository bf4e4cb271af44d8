"""Read-only access to a store (`SessionReader`): the only read path for pages and reports."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.sessions.store.backend import Connection, dialect_of, redact
from biofeedback.sessions.store.db import Store
from biofeedback.sessions.store.records import (
    PhaseSpan,
    SessionInfo,
    SessionStatus,
    StoreError,
    phase_index,
)
from biofeedback.sessions.store.schema import (
    SCHEMA_VERSION,
    _check_ours,
    _configure,
    _sqlite_errors,
    _user_version,
    _writer_gone,
    check_integrity,
)
from devices.clock import Clock, SystemClock

if TYPE_CHECKING:
    import pandas as pd


log = logging.getLogger(__name__)

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
    "s.uuid, s.participant, s.study"
)


def _connect(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5.0
    )
    _configure(conn)
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A ``mode=ro`` connection, also to a file in a folder we may not write.

    Reading a WAL database needs its ``-shm`` index; SQLite creates it on first read, which
    fails ("attempt to write a readonly database") in a read-only folder. With no pending
    ``-wal`` content, the main file alone is the whole database, so it is opened as
    ``immutable`` (no locking, no shared memory) instead.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = _connect(uri)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        if "readonly" in str(exc) and not (wal.exists() and wal.stat().st_size > 0):
            return _connect(uri + "&immutable=1")
        raise
    return conn


class SessionReader:
    """Read-only view of a store: the only read path for dashboards and reports.

    Opens the file with a read-only ``mode=ro`` URI connection (safe beside a live writer:
    WAL readers see the last committed state and never block it). One reader may be shared
    between threads (a Dash server): queries are serialised by a lock.

    Parameters
    ----------
    path
        The database file (it must exist), or a ``postgresql://`` URL (read-only
        transactions on the server).
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
    ``phase`` object (name of the phase holding ``t_s`` by `records.phase_index`, the one
    slicing rule; ``None`` outside phases),
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
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._conn: Connection
        self.dialect = dialect_of(path)
        self._where = redact(path)
        if self.dialect == "postgresql":
            self.path: str | Path = str(path)
            self._open_postgresql(str(path), upgrade)
            return
        p = Path(path)
        self.path = p
        where = str(p)
        if not p.exists():
            raise StoreError(f"{p}: no such database")
        if p.is_dir():
            raise StoreError(f"{p}: is a directory, expected a database file")
        with _sqlite_errors(where):
            conn = _connect_read_only(p)
            try:
                _configure(conn)
                _check_ours(conn, where)
                check_integrity(conn, where)
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
                    conn = _connect_read_only(p)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def _open_postgresql(self, url: str, upgrade: bool) -> None:
        from biofeedback.sessions.store import pg

        conn = pg.connect(url, read_only=True)
        try:
            version = pg.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self._where}: database schema version {version} is newer than this "
                    f"program supports ({SCHEMA_VERSION}); upgrade biofeedback"
                )
            if version < SCHEMA_VERSION:
                if not upgrade:
                    raise StoreError(
                        f"{self._where}: database schema version {version} needs an upgrade "
                        f"to {SCHEMA_VERSION}"
                    )
                Store(url, clock=self._clock).close()
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @property
    def where(self) -> str:
        """The store's file or URL for messages (a URL's password hidden)."""
        return self._where

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _sqlite_errors(self._where):
            rows: list[tuple[Any, ...]] = self._conn.execute(sql, params).fetchall()
            return rows

    def _tags(self, ids: Sequence[int] | None = None) -> dict[int, tuple[str, ...]]:
        sql = "SELECT session_id, tag FROM tags"
        if ids is not None and not ids:
            return {}
        if ids is not None:
            sql += f" WHERE session_id IN ({', '.join('?' * len(ids))})"
        out: dict[int, list[str]] = {}
        for sid, tag in self._query(sql + " ORDER BY session_id, tag", list(ids or ())):
            out.setdefault(int(sid), []).append(str(tag))
        return {k: tuple(v) for k, v in out.items()}

    def _info(
        self, r: tuple[Any, ...], now: float, tags: dict[int, tuple[str, ...]]
    ) -> SessionInfo:
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
            tags=tags.get(int(r[0]), ()),
            uuid=str(r[20] or ""),
            participant=r[21],
            study=r[22],
        )

    def list_sessions(
        self,
        *,
        tag: str | None = None,
        protocol: str | None = None,
        participant: str | None = None,
        study: str | None = None,
    ) -> list[SessionInfo]:
        """All sessions, oldest first, optionally only those with ``tag``, ``protocol``,
        ``participant`` and ``study``."""
        sql = f"SELECT {_SESSION_COLS} FROM sessions s"
        conds: list[str] = []
        params: list[Any] = []
        if tag is not None:
            conds.append("EXISTS (SELECT 1 FROM tags t WHERE t.session_id = s.id AND t.tag = ?)")
            params.append(tag)
        for column, value in (
            ("protocol", protocol),
            ("participant", participant),
            ("study", study),
        ):
            if value is not None:
                conds.append(f"s.{column} = ?")
                params.append(value)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY s.started_at, s.id"
        now = self._clock.wall()
        rows = self._query(sql, params)
        tags = self._tags(None if len(rows) > 500 or not conds else [int(r[0]) for r in rows])
        return [self._info(r, now, tags) for r in rows]

    def session(self, session_id: int) -> SessionInfo:
        """One session; `StoreError` if there is none with that id."""
        rows = self._query(f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.id = ?", (session_id,))
        if not rows:
            raise StoreError(f"{self._where}: no session with id {session_id}")
        return self._info(rows[0], self._clock.wall(), self._tags([session_id]))

    def session_by_uuid(self, uuid: str) -> SessionInfo | None:
        """The session with global id ``uuid``, or ``None``."""
        rows = self._query(f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.uuid = ?", (uuid,))
        if not rows:
            return None
        return self._info(rows[0], self._clock.wall(), self._tags([int(rows[0][0])]))

    def _exists(self, session_id: int) -> None:
        if not self._query("SELECT 1 FROM sessions WHERE id = ?", (session_id,)):
            raise StoreError(f"{self._where}: no session with id {session_id}")

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
            "SELECT duration_s, "
            "(SELECT max(t_s) FROM frames WHERE session_id = ?), "
            "(SELECT max(t_s) FROM beats WHERE session_id = ?) "
            "FROM sessions WHERE id = ?",
            (session_id, session_id, session_id),
        )
        return max(float(v) for v in row[0] if v is not None) if row else 0.0

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
        spans = self.phases(session_id)
        where = phase_index(df["t_s"].to_numpy(), spans)
        names = np.array([None] + [s.name for s in spans], dtype=object)
        kinds = np.array([None] + [s.kind for s in spans], dtype=object)
        phase = names[where + 1]
        phase_kind = kinds[where + 1]
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
