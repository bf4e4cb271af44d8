"""Push the sessions of one store into another (a laptop's file into the lab's server).

Sessions are matched by their global ``uuid``, never by the short per-database id, so any
number of machines can push into one server without collisions. Each session is copied in
one transaction on the destination (all its rows or none), so a sync cut short (network
gone, Ctrl-C, ``kill -9``) leaves only whole sessions behind and the next run sends the
rest: running it twice sends nothing the second time. Sessions still being recorded are
skipped (sent by a later run, once finished); a session whose writer is gone goes as
``interrupted``. Two syncs pushing the same session at once insert it once: the unique
index on ``uuid`` turns the second insert into "already there".

Offline first: recording never needs the server; sync is a separate step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biofeedback.sessions.store.backend import Connection, redact
from biofeedback.sessions.store.db import Store
from biofeedback.sessions.store.reader import SessionReader
from biofeedback.sessions.store.records import SessionInfo, SessionStatus, StoreError
from devices.clock import Clock

_SESSION_COPY = (
    "started_at, protocol, source, title, notes, device_name, device_address, device_model, "
    "device_firmware, duration_s, heartbeat_at, writer_pid, writer_host, participant, study"
)

#: Child tables copied with a session: (table, columns, order that keeps insertion order).
_CHILDREN: tuple[tuple[str, str, str], ...] = (
    ("tags", "tag", "tag"),
    ("frames", "t_s, hr_bpm, contact, energy_kj, raw", "t_s, rowid"),
    ("rejected_packets", "t_s, raw, reason", "t_s, rowid"),
    ("beats", "idx, t_s, rr_ms, rr_1024, segment", "idx"),
    ("markers", "t_s, kind, phase, phase_kind, text", "t_s, id"),
    ("link_events", "t_s, state, detail", "t_s, id"),
    ("analysis_cache", "version, n_beats, payload, created_at", "session_id"),
)


@dataclass(frozen=True, slots=True)
class SentSession:
    """A session copied to the destination: its id there and what it carried."""

    local_id: int
    remote_id: int
    uuid: str
    status: SessionStatus
    participant: str | None
    study: str | None
    n_beats: int
    n_frames: int


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did.

    ``sent``: sessions copied now; ``present``: local ids the destination already had;
    ``recording``: local ids skipped because they are still being recorded.
    """

    source: str
    destination: str
    sent: tuple[SentSession, ...]
    present: tuple[int, ...]
    recording: tuple[int, ...]


def sync(
    source: str | Path,
    destination: str | Path,
    *,
    clock: Clock | None = None,
    on_sent: Callable[[SentSession], None] | None = None,
) -> SyncReport:
    """Copy the sessions of ``source`` that ``destination`` lacks (matched by uuid).

    Parameters
    ----------
    source
        The local store (file or URL); opened read-only.
    destination
        The store to push into, usually a ``postgresql://`` URL; created or upgraded.
    clock
        Wall clock for telling dead writers from live ones (tests inject one).
    on_sent
        Called after each session is committed on the destination (progress output).
    """
    if str(source) == str(destination):
        raise StoreError(f"{redact(source)}: source and destination are the same database")
    sent: list[SentSession] = []
    present: list[int] = []
    recording: list[int] = []
    with SessionReader(source, clock=clock) as reader, Store(destination, clock=clock) as dest:
        remote = {str(r[0]) for r in dest.conn.execute("SELECT uuid FROM sessions").fetchall()}
        for info in reader.list_sessions():
            if info.uuid in remote:
                present.append(info.id)
            elif info.status is SessionStatus.RECORDING:
                recording.append(info.id)
            else:
                remote_id = _copy(reader, dest, info)
                if remote_id is None:  # another sync sent it meanwhile
                    present.append(info.id)
                    continue
                done = SentSession(
                    info.id,
                    remote_id,
                    info.uuid,
                    info.status,
                    info.participant,
                    info.study,
                    info.n_beats,
                    info.n_frames,
                )
                sent.append(done)
                if on_sent is not None:
                    on_sent(done)
    return SyncReport(
        redact(source), redact(destination), tuple(sent), tuple(present), tuple(recording)
    )


def _copy(reader: SessionReader, dest: Store, info: SessionInfo) -> int | None:
    """Copy one session in one destination transaction; its new id, or ``None`` if the
    destination got the same uuid from someone else first."""
    (row,) = reader._query(f"SELECT {_SESSION_COPY} FROM sessions WHERE id = ?", (info.id,))
    children = [
        (table, cols, reader._query(f"SELECT {cols} FROM {table} WHERE session_id = ? "
                                    f"ORDER BY {order}", (info.id,)))
        for table, cols, order in _CHILDREN
    ]  # fmt: skip
    n_cols = len(_SESSION_COPY.split(","))
    with dest._tx() as c:
        got = c.execute(
            f"INSERT INTO sessions (uuid, status, ended_at, {_SESSION_COPY}) "
            f"VALUES (?, ?, ?, {', '.join('?' * n_cols)}) "
            "ON CONFLICT (uuid) DO NOTHING RETURNING id",
            (info.uuid, info.status.value, info.ended_at, *row),
        ).fetchone()
        if got is None:
            return None
        remote_id = int(got[0])
        for table, cols, rows in children:
            _insert_children(c, table, cols, remote_id, rows)
    return remote_id


def _insert_children(
    c: Connection, table: str, cols: str, session_id: int, rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    marks = ", ".join("?" * (len(rows[0]) + 1))
    c.executemany(
        f"INSERT INTO {table} (session_id, {cols}) VALUES ({marks})",
        [(session_id, *r) for r in rows],
    )
