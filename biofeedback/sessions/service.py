"""One ingestion/recording service: name a source, open it, record it into the store.

``record``, ``import`` (captures), ``demo`` and the dashboard's live worker all go through
here, so a recording behaves the same whoever starts it:

* `parse_source` is the one parser of source names: ``replay:PATH`` (or a known recording's
  name), ``strap:NAME|ADDRESS``, or a bare strap name/address;
* `open_source` builds the `devices.stream.HeartRateSource` (a capture replay on a clock of
  the requested speed, or a supervised BLE strap), refusing a bad speed with a reason;
* `CaptureTee` tees the raw traffic into a capture file;
* `Recording` runs a `SessionRecorder` into a new stored session, removes the session again
  if the radio never came up (no empty session for a strap that never connected), and caches
  the analysis so Compare and the reports are instant.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.errors import UserError
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.clock import Clock
from devices.records import HrFrame, LinkState, RejectedPacket, StreamItem
from devices.stream import HeartRateSource
from devices.supervisor import LinkUnavailableError

if TYPE_CHECKING:
    from biofeedback.sessions.protocols import Protocol
    from biofeedback.sessions.recorder import LiveUpdate, RecordingResult, SessionRecorder
    from biofeedback.sessions.store import NewSession, Store

__all__ = [
    "CaptureTee",
    "OpenedSource",
    "Recording",
    "SourceSpec",
    "check_speed",
    "open_source",
    "parse_source",
]

log = logging.getLogger(__name__)

SOURCE_KINDS = ("replay", "strap")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed source name: ``kind`` is ``"replay"`` or ``"strap"``; ``target`` is the
    capture path (or a known recording's name) or the strap's name or address."""

    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_source(text: str) -> SourceSpec:
    """Parse ``replay:PATH``, ``strap:NAME|ADDRESS`` or a bare strap name/address.

    A BLE address (``AA:BB:CC:DD:EE:FF``) has colons too; only the two known prefixes are
    prefixes. Raises `UserError` (one line) for an empty name.
    """
    t = (text or "").strip()
    kind, sep, rest = t.partition(":")
    if sep and kind.lower() in SOURCE_KINDS:
        if not rest.strip():
            raise UserError(f"source {text!r}: expected a name after '{kind}:'")
        return SourceSpec(kind.lower(), rest.strip())
    if not t:
        raise UserError(
            "source: expected 'replay:PATH', 'strap:NAME' or a strap name/address, got ''"
        )
    return SourceSpec("strap", t)


def check_speed(speed: float, what: str = "--speed") -> float:
    """``speed`` if it is a finite number >= 0 (0: as fast as possible), else `UserError`."""
    # `not >= 0` also refuses nan; inf would make the scaled clock's time inf/nan.
    if not (speed >= 0 and math.isfinite(speed)):
        raise UserError(
            f"{what}: expected a finite number >= 0 (1 real time, 0 as fast as possible), "
            f"got {speed:g}"
        )
    return speed


@dataclass(frozen=True, slots=True)
class OpenedSource:
    """A source ready to stream, with the clock it runs on and how to describe it.

    ``kind`` is what the store records as the session's source (``replay`` or ``strap``);
    ``label`` is a short human description (``recording x.jsonl at 10×``).
    """

    source: HeartRateSource
    clock: Clock
    origin: CaptureOrigin
    kind: str
    label: str


StrapOpener = Callable[[str], HeartRateSource]


def open_source(
    spec: SourceSpec,
    *,
    speed: float = 1.0,
    clock: Clock | None = None,
    recordings: Mapping[str, Path] | None = None,
    strap_opener: StrapOpener | None = None,
    deadline_s: float | None = None,
    adapter: str | None = None,
) -> OpenedSource:
    """Open the source ``spec`` names.

    Parameters
    ----------
    spec
        From `parse_source`.
    speed
        Replay speed (1 real time, X times faster, 0 as fast as possible); checked for
        every source so that a bad value is refused, not silently replaced.
    clock
        Clock for the source (default: `devices.replay.clock_for_speed` of ``speed`` for a
        replay, the system clock for a strap); a guided session passes the clock its phase
        timer uses.
    recordings
        Known captures by name (``replay:NAME`` finds them before trying a path; a name
        that is neither is refused as an unknown recording). ``None`` on the command line:
        the target is a path, and errors say ``--speed``.
    strap_opener
        ``target -> source`` for straps (default `devices.ble.open_strap_source`, imported
        only when a strap is opened).
    deadline_s
        Strap only: give up reconnecting after this many seconds without data.
    adapter
        Strap only: the Bluetooth adapter to use (``hci1``; default: the system's).
    """
    check_speed(speed, "speed" if recordings is not None else "--speed")
    if spec.kind == "replay":
        return _open_replay(spec.target, speed, clock, recordings)
    from devices.clock import SystemClock

    clk = clock or SystemClock()
    if strap_opener is not None:
        src = strap_opener(spec.target)
    else:
        try:
            ble = importlib.import_module("devices.ble")
        except ImportError as exc:
            raise UserError(f"BLE support is not available ({exc})") from None
        kw: dict[str, Any] = {}
        if deadline_s is not None:
            if not deadline_s > 0:  # also refuses nan, which would give up at once
                raise UserError(f"--deadline: expected a number of seconds > 0, got {deadline_s}")
            kw["deadline_s"] = deadline_s
        if adapter:
            kw["adapter"] = adapter
        src = ble.open_strap_source(spec.target, clock=clk, **kw)
    return OpenedSource(src, clk, CaptureOrigin("strap"), "strap", f"strap {spec.target}")


def _open_replay(
    target: str, speed: float, clock: Clock | None, recordings: Mapping[str, Path] | None
) -> OpenedSource:
    from devices.capture import CaptureError
    from devices.replay import CaptureReplaySource, clock_for_speed

    path = (recordings or {}).get(target)
    if path is None:
        path = Path(target)
        if recordings is not None and not path.is_file():
            raise UserError(f"unknown recording {target!r}")
    clk = clock or clock_for_speed(speed)
    try:
        src = CaptureReplaySource(path, clock=clk)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    o = src.capture.header.origin
    origin = CaptureOrigin(o.kind, o.generator, o.seed, f"re-recorded from replay of {path.name}")
    return OpenedSource(src, clk, origin, "replay", f"recording {path.name} at {speed:g}×")


def _capture_event(item: StreamItem) -> CaptureEvent | None:
    if isinstance(item, HrFrame | RejectedPacket):
        return CaptureEvent(item.t_s, "notify", char="2a37", data=item.raw)
    if item.state is LinkState.CONNECTED:
        return CaptureEvent(item.t_s, "connect")
    if item.state is LinkState.DISCONNECTED:
        return CaptureEvent(item.t_s, "disconnect", detail=item.detail)
    if item.state is LinkState.BATTERY and item.detail.isdigit():
        return CaptureEvent(item.t_s, "battery", battery_pct=int(item.detail))
    return None


class CaptureTee:
    """Tee the raw traffic of a stream to a capture file (terminal streaming and guided
    sessions alike).

    The file is opened at the first event worth keeping (a strap's ``connected``), not at the
    first item (``scanning``): only then does the source know the strap's model, firmware,
    body location and battery for the header.
    """

    def __init__(self, path: Path, source: HeartRateSource, origin: CaptureOrigin) -> None:
        self.path = path
        self.source = source
        self.origin = origin
        self.writer: CaptureWriter | None = None

    def __call__(self, item: StreamItem) -> None:
        ev = _capture_event(item)
        if ev is None:
            return
        if self.writer is None:
            header = CaptureHeader(
                device=self.source.info,
                started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                origin=self.origin,
            )
            self.writer = CaptureWriter(self.path, header)
        self.writer.write(ev)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Recording:
    """One recording into ``store``: a new session, its `SessionRecorder`, its ending.

    Create it on the thread that owns ``store`` (SQLite), wire controls to `recorder`
    (``add_mark``, ``stop``) and ``await run()``.

    Parameters
    ----------
    store
        Where the session goes.
    meta
        The new session's description.
    source, clock
        The source and the clock it runs on (`OpenedSource.source` / ``.clock``).
    protocol
        The protocol walked.
    observer
        Called with every `LiveUpdate` (display, live worker).
    capture
        Tee of the raw traffic, closed when the recording ends.
    flush_interval_s
        Writer commit period (imports use long ones).
    """

    def __init__(
        self,
        store: Store,
        meta: NewSession,
        source: HeartRateSource,
        clock: Clock,
        protocol: Protocol,
        *,
        observer: Callable[[LiveUpdate], None] | None = None,
        capture: CaptureTee | None = None,
        flush_interval_s: float = 0.5,
    ) -> None:
        from biofeedback.sessions.recorder import SessionRecorder

        self.store = store
        self.source = source
        self.capture = capture
        self.writer = store.begin_session(meta, clock=clock, flush_interval_s=flush_interval_s)
        self.recorder: SessionRecorder = SessionRecorder(
            source, self.writer, protocol, clock, observer=observer, tap=capture
        )

    @property
    def session_id(self) -> int:
        return self.writer.session_id

    async def run(self, *, analyse: bool = True) -> RecordingResult:
        """Record to the end; with ``analyse``, cache the session's analysis afterwards.

        Raises `devices.supervisor.LinkUnavailableError` if the radio stack is unusable;
        when nothing at all was received the session is deleted first.
        """
        try:
            result = await self.recorder.run()
        except LinkUnavailableError:
            if self.source.summary().frames == 0:
                self._forget()
            raise
        finally:
            if self.capture is not None:
                self.capture.close()
        if analyse:
            from biofeedback.sessions.analysis import cache_analysis

            cache_analysis(self.store, result.session_id)
        return result

    def _forget(self) -> None:
        from biofeedback.sessions.store import StoreError

        try:
            self.store.delete(self.session_id)
        except StoreError as exc:
            log.warning("could not remove the empty session %d: %s", self.session_id, exc)
