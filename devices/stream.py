"""The decode stage every source shares: raw notification bytes → typed stream items.

A live strap and a replayed capture both push their notifications through
:class:`FrameDecoder`, so replay exercises exactly the code a strap does. Rejected packets
are counted, logged once per reason kind at WARNING and then at DEBUG, and the stream goes on.
A packet whose only fault is its RR part keeps its heart rate: it becomes a frame without RR
(``HrFrame.rr_rejected`` says why) and is counted in ``rr_rejected``, not in ``rejected``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from devices.heart_rate import MalformedPacketError, MalformedRRError, parse_measurement
from devices.records import (
    DeviceInfo,
    HrFrame,
    LinkEvent,
    LinkState,
    RejectedPacket,
    StreamItem,
    packet_text,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """Counts over a whole stream, for the final summary line and the store."""

    frames: int = 0
    beats: int = 0
    rejected: int = 0
    gaps: int = 0
    no_contact_frames: int = 0
    duration_s: float = 0.0
    rr_rejected: int = 0


class FrameDecoder:
    """Decode notifications and keep running counts (one instance per stream)."""

    def __init__(self) -> None:
        self._frames = 0
        self._beats = 0
        self._rejected = 0
        self._gaps = 0
        self._no_contact = 0
        self._rr_rejected = 0
        self._first_t: float | None = None
        self._last_t = 0.0
        self._warned: set[str] = set()

    def _seen(self, t_s: float) -> None:
        if self._first_t is None:
            self._first_t = t_s
        self._last_t = max(self._last_t, t_s)

    def decode(self, t_s: float, data: bytes) -> HrFrame | RejectedPacket:
        """Decode one 0x2A37 notification that arrived at ``t_s``."""
        self._seen(t_s)
        rr_rejected: str | None = None
        try:
            m = parse_measurement(data)
        except MalformedRRError as exc:
            self._rr_rejected += 1
            self._warn_once(str(exc), "dropped the RR part of %s at t=%.3fs: %s", data, t_s)
            m, rr_rejected = exc.salvaged, str(exc)
        except MalformedPacketError as exc:
            self._rejected += 1
            self._warn_once(str(exc), "rejected packet %s at t=%.3fs: %s", data, t_s)
            return RejectedPacket(t_s=t_s, raw=bytes(data), reason=str(exc))
        self._frames += 1
        self._beats += len(m.rr_1024)
        if m.contact is False:
            self._no_contact += 1
        return HrFrame(t_s=t_s, measurement=m, raw=bytes(data), rr_rejected=rr_rejected)

    def _warn_once(self, reason: str, fmt: str, data: bytes, t_s: float) -> None:
        key = reason.split(":")[0]
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        log.log(level, fmt, packet_text(data), t_s, reason)

    def link(self, event: LinkEvent) -> LinkEvent:
        """Count a link event (each ``DISCONNECTED`` is a gap) and pass it on."""
        self._seen(event.t_s)
        if event.state is LinkState.DISCONNECTED:
            self._gaps += 1
        return event

    def summary(self) -> StreamSummary:
        """A frozen snapshot of the counts so far."""
        first = self._first_t if self._first_t is not None else 0.0
        return StreamSummary(
            frames=self._frames,
            beats=self._beats,
            rejected=self._rejected,
            gaps=self._gaps,
            no_contact_frames=self._no_contact,
            duration_s=max(0.0, self._last_t - first),
            rr_rejected=self._rr_rejected,
        )


class HeartRateSource(Protocol):
    """Anything that yields a heart-rate stream: a BLE strap or a replayed capture."""

    @property
    def info(self) -> DeviceInfo:
        """The strap's identity (may be filled in once connected)."""
        ...

    def stream(self) -> AsyncIterator[StreamItem]:
        """Yield frames, rejected packets and link events until the source ends."""
        ...

    def summary(self) -> StreamSummary:
        """Counts so far."""
        ...
