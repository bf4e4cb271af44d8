"""Crash-safe batched writing of one session (`SessionWriter`)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from biofeedback.beats import Beat
from biofeedback.sessions.store.backend import new_uuid
from biofeedback.sessions.store.records import (
    Marker,
    NewSession,
    SessionStatus,
    StoreError,
    clean_label,
)
from biofeedback.sessions.store.schema import (
    _HOST,
    BUSY_TIMEOUT_MS,
    rollback_quietly,
    sqlite_message,
)
from devices.clock import Clock
from devices.records import DeviceInfo, HrFrame, RejectedPacket, StreamItem

if TYPE_CHECKING:
    from biofeedback.sessions.store.backend import Connection
    from biofeedback.sessions.store.db import Store

log = logging.getLogger(__name__)


class SessionWriter:
    """Append a session's data in batches; commit at least every ``flush_interval_s``.

    Rows are buffered in memory and written in one short transaction by `flush`, which
    `flush_if_due` calls when ``flush_interval_s`` of the injected clock, or of stream time,
    has passed since the last commit. Items arrive irregularly (a link gap can last
    minutes), so a recorder also runs `autoflush` as a task: together they bound the data
    lost to a ``kill -9`` to ``flush_interval_s`` plus one commit. Each commit stamps the
    heartbeat used for crash recovery. A commit that finds the database locked for longer
    than the busy timeout keeps its rows and retries at the next flush.
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
        self._failed: StoreError | None = None
        self._committed_t_s = 0.0
        self.commits = 0
        started = meta.started_at if meta.started_at is not None else clock.wall()
        dev = meta.device
        self.uuid: str = meta.uuid or new_uuid()
        with store._tx() as c:
            row = c.execute(
                "INSERT INTO sessions (uuid, started_at, status, protocol, source, title, "
                "notes, participant, study, device_name, device_address, device_model, "
                "device_firmware, heartbeat_at, writer_pid, writer_host) "
                "VALUES (?, ?, 'recording', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    self.uuid,
                    started,
                    meta.protocol,
                    meta.source,
                    meta.title,
                    meta.notes,
                    clean_label("participant", meta.participant),
                    clean_label("study", meta.study),
                    dev.name if dev else None,
                    dev.address if dev else None,
                    dev.model if dev else None,
                    dev.firmware if dev else None,
                    time.time(),
                    os.getpid(),
                    _HOST,
                ),
            ).fetchone()
            sid = int(row[0])
            self.session_id: int = sid
            for t in sorted(set(meta.tags)):
                c.execute("INSERT INTO tags (session_id, tag) VALUES (?, ?)", (sid, t))
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
        """Commit if ``flush_interval_s`` has passed since the last commit, on the clock or in
        stream time (a process that fell behind gets its backlog at once: the clock has
        hardly moved, but a kill would lose all of it)."""
        if (
            self._clock.monotonic() - self._last_commit >= self.flush_interval_s
            or self._last_t_s - self._committed_t_s >= self.flush_interval_s
        ):
            return self.flush()
        return False

    def flush(self) -> bool:
        """Commit buffered rows and the heartbeat now; ``False`` if the db stayed locked.

        A commit the file or disk refuses (disk full, read-only, corrupted) raises a one-line
        `StoreError`; the writer is then failed: every later call raises the same error
        without touching the file, so what was committed before stays as it was, and the
        session becomes ``interrupted`` once this process is gone.
        """
        if self._failed is not None:
            raise self._failed
        self._last_commit = self._clock.monotonic()
        c = self._conn
        try:
            return self._commit(c)
        except sqlite3.Error as exc:
            err = sqlite_message(exc, self._store.where)
            if err is None:
                raise
            self._failed = StoreError(
                f"{err}; session {self.session_id} is kept up to the last commit "
                f"(t={self._committed_t_s:.1f} s)"
            )
            raise self._failed from None

    def _commit(self, c: Connection) -> bool:
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                log.warning("store busy for %d ms; will retry the commit", BUSY_TIMEOUT_MS)
                return False
            raise
        except StoreError as exc:  # a database server out of reach (PostgreSQL backend)
            log.warning("%s; will retry the commit", exc)
            return False
        try:
            self._insert_pending(c)
            # A writer paused for longer than STALE_AFTER_S (laptop asleep) may have been
            # marked interrupted by another process; it is alive, so take the status back.
            c.execute(
                "UPDATE sessions SET heartbeat_at = ?, duration_s = "
                "CASE WHEN duration_s > ? THEN duration_s ELSE ? END, "
                "status = CASE WHEN status = 'interrupted' AND ? THEN 'recording' "
                "ELSE status END WHERE id = ?",
                (
                    time.time(),
                    self._last_t_s,
                    self._last_t_s,
                    not self._finished,
                    self.session_id,
                ),
            )
            c.execute("COMMIT")
        except StoreError as exc:  # the server went away mid-commit: keep the rows, retry
            rollback_quietly(c)
            log.warning("%s; will retry the commit", exc)
            return False
        except BaseException:
            rollback_quietly(c)
            raise
        self._frames.clear()
        self._rejected.clear()
        self._beats.clear()
        self._markers.clear()
        self._links.clear()
        self._device = None
        self._committed_t_s = self._last_t_s
        self.commits += 1
        return True

    def _insert_pending(self, c: Connection) -> None:
        if self._frames:
            c.executemany(
                "INSERT INTO frames (session_id, t_s, hr_bpm, contact, energy_kj, raw) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._frames,
            )
        if self._rejected:
            c.executemany(
                "INSERT INTO rejected_packets (session_id, t_s, raw, reason) VALUES (?, ?, ?, ?)",
                self._rejected,
            )
        if self._beats:
            c.executemany(
                "INSERT INTO beats (session_id, idx, t_s, rr_ms, rr_1024, segment) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._beats,
            )
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

    def discard(self) -> bool:
        """Delete this writer's session and everything committed for it (an import that
        failed half-way: the store is left as it was). ``False`` (and a warning) if even
        that is refused; the session is then ``interrupted`` once this process is gone."""
        self._finished = True
        self._failed = self._failed or StoreError(f"session {self.session_id} was discarded")
        try:
            self._store.remove(self.session_id)
        except StoreError as exc:
            log.warning("could not remove the incomplete session %d: %s", self.session_id, exc)
            return False
        return True

    def finish(self, status: SessionStatus, *, ended_at: float | None = None) -> None:
        """Commit the rest and close the session with its final ``status``."""
        if self._finished:
            return
        # One retry if another writer held the lock for a whole busy timeout.
        if not self.flush() and not self.flush():
            raise StoreError(f"{self._store.where}: database stayed locked; session not closed")
        self._finished = True
        with self._store._tx() as c:
            c.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, duration_s = "
                "CASE WHEN duration_s > ? THEN duration_s ELSE ? END, "
                "heartbeat_at = ? WHERE id = ?",
                (
                    status.value,
                    ended_at if ended_at is not None else self._clock.wall(),
                    self._last_t_s,
                    self._last_t_s,
                    time.time(),
                    self.session_id,
                ),
            )
