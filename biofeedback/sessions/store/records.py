"""Typed records of the session store: statuses, markers, session metadata, phase spans."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from biofeedback.errors import UserError
from devices.records import DeviceInfo

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class StoreError(UserError):
    """The database cannot be used (not SQLite, newer schema, unknown session...)."""


def clean_label(field: str, value: str | None) -> str | None:
    """A participant code or study label as stored: trimmed, ``None`` when empty."""
    if value is None:
        return None
    text = value.strip()
    if any(ord(ch) < 32 for ch in text) or len(text) > 100:
        raise StoreError(f"{field}: expected one line of at most 100 characters")
    return text or None


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
    ``participant`` is a pseudonymous participant code and ``study`` a study label (no names
    or other identifying data are needed); ``uuid`` is the session's global id (``None``: a
    new random one; `biofeedback.sessions.sync` passes the original's).
    """

    source: str
    protocol: str = "free"
    device: DeviceInfo | None = None
    title: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()
    started_at: float | None = None
    participant: str | None = None
    study: str | None = None
    uuid: str | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session as listed by `SessionReader`.

    Attributes
    ----------
    id
        Session id (positive integer, never reused within a database; what users type).
    uuid
        Global session id (UUID text), the same in every database the session is synced to.
    participant, study
        Participant code and study label, or ``None``.
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
    uuid: str = ""
    participant: str | None = None
    study: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A protocol phase as recorded: ``[start_s, end_s)`` on the stream clock, seconds.

    ``end_s`` of a phase cut short (stopped or interrupted session) is where the data end.
    """

    name: str
    kind: str
    start_s: float
    end_s: float


def phase_index(t_s: Any, spans: Sequence[PhaseSpan]) -> Any:
    """Index into ``spans`` of the phase holding each beat time, ``-1`` outside every phase.

    The one phase-slicing rule of the package: spans are half-open ``[start_s, end_s)``,
    except that the last span also holds a beat at its very end (a session stopped or ended
    at its last beat keeps that beat in its last phase). ``t_s`` is a float array (s);
    returns an int64 array of the same length.
    """
    import numpy as np

    t = np.asarray(t_s, dtype=np.float64)
    out = np.full(t.size, -1, dtype=np.int64)
    for k, span in enumerate(spans):
        last = k == len(spans) - 1
        inside = (t >= span.start_s) & ((t <= span.end_s) if last else (t < span.end_s))
        out[inside & (out < 0)] = k
    return out
