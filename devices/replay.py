"""Replay a capture file as if it were a live strap, at ``speed``× real time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from devices.capture import Capture, read_capture
from devices.clock import Clock, ScaledClock, SystemClock, VirtualClock
from devices.records import DeviceInfo, LinkEvent, LinkState, StreamItem, short_uuid
from devices.stream import FrameDecoder, StreamSummary


def clock_for_speed(speed: float, base: Clock | None = None) -> Clock:
    """``speed`` 0 → as fast as possible (virtual time), 1 → real time, X → X times faster."""
    if speed < 0:
        raise ValueError(f"--speed must be >= 0, got {speed}")
    if speed == 0:
        return VirtualClock(wall_start_s=(base or SystemClock()).wall())
    if speed == 1 and base is None:
        return SystemClock()
    return ScaledClock(speed, base)


class CaptureReplaySource:
    """A :class:`devices.stream.HeartRateSource` fed from a capture file.

    Events keep their capture offsets as ``t_s``; the injected clock only decides how long
    the replay waits between them, so the stream is identical at every speed.
    """

    def __init__(self, capture: Capture | str | Path, *, clock: Clock | None = None) -> None:
        self.capture = capture if isinstance(capture, Capture) else read_capture(capture)
        self._clock = clock or SystemClock()
        self._decoder = FrameDecoder()
        h = self.capture.header
        self._info = h.device

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def summary(self) -> StreamSummary:
        return self._decoder.summary()

    async def stream(self) -> AsyncIterator[StreamItem]:
        clock = self._clock
        start = clock.monotonic()
        connected = False
        for ev in self.capture.events:
            delay = ev.t_s - (clock.monotonic() - start)
            if delay > 0:
                await clock.sleep(delay)
            if ev.kind == "notify":
                if short_uuid(ev.char) != "2a37":
                    continue
                if not connected:
                    # Captures made by older tools may omit the connect line.
                    connected = True
                    yield self._decoder.link(LinkEvent(ev.t_s, LinkState.CONNECTED, "replay"))
                yield self._decoder.decode(ev.t_s, ev.data)
            elif ev.kind == "connect":
                connected = True
                yield self._decoder.link(LinkEvent(ev.t_s, LinkState.CONNECTED, "replay"))
            elif ev.kind == "disconnect":
                connected = False
                yield self._decoder.link(
                    LinkEvent(ev.t_s, LinkState.DISCONNECTED, ev.detail or "link lost")
                )
            elif ev.kind == "battery" and ev.battery_pct is not None:
                yield self._decoder.link(LinkEvent(ev.t_s, LinkState.BATTERY, str(ev.battery_pct)))
        yield self._decoder.link(
            LinkEvent(self.capture.duration_s, LinkState.END, "end of capture")
        )
