"""Guided sessions: a heart-rate source, a protocol and a store writer, run together.

`SessionRecorder` consumes ``source.stream()``, turns frames into beats with
`biofeedback.beats.BeatAssembler`, writes frames, rejected packets, beats, link events and
markers through a `biofeedback.sessions.store.SessionWriter`, and walks the protocol's phases.

Timeline
--------
Phase times are on the *stream* clock (``t_s``, the source's offsets). The protocol starts at
the first ``connected`` link event or frame, whichever comes first (a replayed capture starts
at 0; a strap when the link is up). Phase start/end markers carry the exact boundary times
(``start + cumulative durations``), whether the boundary is noticed by an arriving item or by
the recorder's timer on the injected clock (a link gap can last minutes). When the protocol's
last phase ends the recording stops with status ``complete``.

Ending
------
* protocol end, or a ``free`` protocol stopped by the user → ``complete``;
* `SessionRecorder.stop` / Ctrl-C / task cancellation before the end → ``stopped_early``;
* the source ends (capture over, strap gave up) → ``complete`` if the data reached the
  protocol end within `END_TOLERANCE_S`, else ``stopped_early``.

Link gaps are stored as link events and the recording goes on after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from biofeedback.beats import Beat, BeatAssembler
from biofeedback.hrv.live import LiveHrv, LiveSnapshot
from biofeedback.sessions.protocols import Pacer, Phase, Protocol
from biofeedback.sessions.store import Marker, MarkerKind, SessionStatus, SessionWriter
from devices.clock import Clock
from devices.records import HrFrame, LinkEvent, LinkState, StreamItem
from devices.stream import HeartRateSource, StreamSummary

__all__ = [
    "END_TOLERANCE_S",
    "LiveEvent",
    "LiveUpdate",
    "RecordingResult",
    "SessionRecorder",
]

log = logging.getLogger(__name__)

#: Straps notify about once a second, so a stream that ends within this many seconds of the
#: protocol end (the last notification before the end) counts as complete.
END_TOLERANCE_S = 2.0


class LiveEvent(StrEnum):
    """Why an observer is being called."""

    START = "start"
    FRAME = "frame"
    REJECTED = "rejected"
    LINK = "link"
    PHASE = "phase"
    PROMPT = "prompt"
    MARK = "mark"
    NOTE = "note"
    END = "end"


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """A snapshot for a live display, sent to the observer on every event.

    Attributes
    ----------
    event
        What just happened.
    t_s
        Stream time of the event, seconds.
    phase, phase_index, n_phases
        Current phase (``None`` before the start, after the end, or in a free session),
        its 0-based index and the number of phases.
    phase_left_s, protocol_left_s
        Seconds left in the phase and in the whole protocol (``None`` if not applicable).
    prompt
        Text of the latest prompt of the current phase.
    pacer
        Breathing pacer of the current phase, if any.
    hr_bpm
        Last heart rate reported by the strap, bpm.
    beats
        Beats carried by this frame.
    rmssd_ms, rmssd_window_s, rmssd_warming_up
        Running RMSSD (ms) over the last ``rmssd_window_s`` seconds from
        `biofeedback.hrv.live.LiveHrv` (artefact-gated); ``warming_up`` until the window is
        covered.
    live
        The last `biofeedback.hrv.live.LiveSnapshot` (all windows: mean HR, SDNN, RMSSD).
    beat_live
        One `biofeedback.hrv.live.LiveSnapshot` per beat of ``beats`` (same order): the
        recorder's own live engine, so a display never runs a second one.
    link
        The link event, for ``LINK`` updates.
    text
        Prompt, mark or note text.
    item
        The stream item behind a ``FRAME``, ``REJECTED`` or ``LINK`` update.
    """

    event: LiveEvent
    t_s: float
    phase: Phase | None
    phase_index: int | None
    n_phases: int
    phase_left_s: float | None
    protocol_left_s: float | None
    prompt: str | None
    pacer: Pacer | None
    hr_bpm: int | None
    beats: tuple[Beat, ...] = ()
    rmssd_ms: float | None = None
    rmssd_window_s: float = 60.0
    rmssd_warming_up: bool = True
    link: LinkEvent | None = None
    text: str = ""
    item: StreamItem | None = None
    live: LiveSnapshot | None = None
    beat_live: tuple[LiveSnapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """How a recording ended."""

    session_id: int
    status: SessionStatus
    summary: StreamSummary
    n_beats: int
    last_t_s: float


@dataclass
class _Scheduled:
    t_s: float
    kind: str  # "start" | "prompt" | "end" | "protocol_end"
    index: int
    text: str = ""


@dataclass
class _State:
    t0: float | None = None
    phase_index: int | None = None
    last_t: float = 0.0
    hr_bpm: int | None = None
    prompt: str | None = None
    clock_offset: float | None = None
    ended_by_protocol: bool = False
    stop_requested: bool = False
    schedule: list[_Scheduled] = field(default_factory=list)


class SessionRecorder:
    """Record one session: source → beats → writer, walking the protocol.

    Parameters
    ----------
    source
        Any `devices.stream.HeartRateSource` (strap or replay).
    writer
        A writer from `biofeedback.sessions.store.Store.begin_session`; the recorder runs its
        `autoflush` and closes it with the final status.
    protocol
        The protocol to walk; a protocol without phases (``free``) runs until stopped or
        until the source ends.
    clock
        The clock the source runs on (the same object), used for the phase timer and marks.
    observer
        Called with a `LiveUpdate` on every event; exceptions in it are logged, not raised.
    tap
        Called with every stream item before it is processed (e.g. to tee a capture).
    live
        Live HRV engine fed every beat (default: `LiveHrv` with windows of
        ``rmssd_window_s`` and 300 s).
    rmssd_window_s
        Window whose RMSSD is put in `LiveUpdate.rmssd_ms`.
    """

    def __init__(
        self,
        source: HeartRateSource,
        writer: SessionWriter,
        protocol: Protocol,
        clock: Clock,
        *,
        observer: Callable[[LiveUpdate], None] | None = None,
        tap: Callable[[StreamItem], None] | None = None,
        live: LiveHrv | None = None,
        rmssd_window_s: float = 60.0,
    ) -> None:
        self.source = source
        self.writer = writer
        self.protocol = protocol
        self.clock = clock
        self.observer = observer
        self.tap = tap
        self.assembler = BeatAssembler()
        self.live = live or LiveHrv(windows_s=(rmssd_window_s, 300.0))
        self.rmssd_window_s = rmssd_window_s
        self._snapshot: LiveSnapshot | None = None
        self._st = _State()
        self._consumer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- public controls -----------------------------------------------------------------

    def stream_now(self) -> float:
        """Current stream time from the clock (the last item's time before the first)."""
        off = self._st.clock_offset
        if off is None:
            return self._st.last_t
        return max(self._st.last_t, self.clock.monotonic() - off)

    def add_mark(self, text: str = "") -> float:
        """Mark this moment (e.g. Enter pressed); returns its stream time."""
        return self._user_marker(MarkerKind.MARK, text, LiveEvent.MARK)

    def add_note(self, text: str) -> float:
        """Attach a free-text note at this moment; returns its stream time."""
        return self._user_marker(MarkerKind.NOTE, text, LiveEvent.NOTE)

    def stop(self) -> None:
        """End the recording cleanly (from a signal handler, a key, a button)."""
        self._st.stop_requested = True
        if self._consumer is not None and not self._consumer.done():
            self._consumer.cancel()

    # -- internals -----------------------------------------------------------------------

    def _current_phase(self) -> Phase | None:
        i = self._st.phase_index
        return None if i is None else self.protocol.phases[i]

    def _user_marker(self, kind: MarkerKind, text: str, event: LiveEvent) -> float:
        t = self.stream_now()
        ph = self._current_phase()
        self.writer.add_marker(
            Marker(t, kind, ph.name if ph else None, ph.kind.value if ph else None, text)
        )
        self._notify(event, t, text=text)
        return t

    def _notify(
        self,
        event: LiveEvent,
        t_s: float,
        *,
        beats: tuple[Beat, ...] = (),
        link: LinkEvent | None = None,
        text: str = "",
        item: StreamItem | None = None,
        beat_live: tuple[LiveSnapshot, ...] = (),
    ) -> None:
        if self.observer is None:
            return
        st = self._st
        ph = self._current_phase()
        phase_left = protocol_left = None
        if st.t0 is not None and self.protocol.phases:
            end = st.t0 + self.protocol.total_s
            protocol_left = max(0.0, end - t_s)
            if ph is not None and st.phase_index is not None:
                start = st.t0 + self.protocol.timeline()[st.phase_index][0]
                phase_left = max(0.0, start + ph.duration_s - t_s)
        snap = self._snapshot
        win = snap.window(self.rmssd_window_s) if snap is not None else None
        upd = LiveUpdate(
            event=event,
            t_s=t_s,
            phase=ph,
            phase_index=st.phase_index,
            n_phases=len(self.protocol.phases),
            phase_left_s=phase_left,
            protocol_left_s=protocol_left,
            prompt=st.prompt,
            pacer=ph.pacer if ph else None,
            hr_bpm=st.hr_bpm,
            beats=beats,
            rmssd_ms=win.rmssd_ms if win is not None else None,
            rmssd_window_s=self.rmssd_window_s,
            rmssd_warming_up=win.warming_up if win is not None else True,
            link=link,
            text=text,
            item=item,
            live=self._snapshot,
            beat_live=beat_live,
        )
        try:
            self.observer(upd)
        except Exception:  # a display bug must not lose the recording
            log.exception("live observer failed")

    def _start_protocol(self, t0: float) -> None:
        st = self._st
        st.t0 = t0
        sched: list[_Scheduled] = []
        for i, (start, end, ph) in enumerate(self.protocol.timeline()):
            sched.append(_Scheduled(t0 + start, "start", i))
            sched.extend(_Scheduled(t0 + start + p.at_s, "prompt", i, p.text) for p in ph.prompts)
            sched.append(_Scheduled(t0 + end, "end", i))
        if self.protocol.phases:
            sched.append(_Scheduled(t0 + self.protocol.total_s, "protocol_end", -1))
        order = {"end": 0, "protocol_end": 1, "start": 2, "prompt": 3}
        # At a boundary the old phase ends before the new one starts and shows its prompt.
        sched.sort(key=lambda s: (s.t_s, order[s.kind], s.index))
        st.schedule = sched
        self._wake.set()

    def _advance_to(self, t_s: float) -> None:
        """Fire every scheduled protocol event due at or before ``t_s``."""
        st = self._st
        while st.schedule and st.schedule[0].t_s <= t_s + 1e-9:
            ev = st.schedule.pop(0)
            if ev.kind == "start":
                ph = self.protocol.phases[ev.index]
                st.phase_index = ev.index
                st.prompt = None
                self.writer.add_marker(
                    Marker(ev.t_s, MarkerKind.PHASE_START, ph.name, ph.kind.value)
                )
                self._notify(LiveEvent.PHASE, ev.t_s, text=ph.name)
            elif ev.kind == "prompt":
                st.prompt = ev.text
                self._notify(LiveEvent.PROMPT, ev.t_s, text=ev.text)
            elif ev.kind == "end":
                ph = self.protocol.phases[ev.index]
                self.writer.add_marker(Marker(ev.t_s, MarkerKind.PHASE_END, ph.name, ph.kind.value))
            else:
                st.phase_index = None
                st.prompt = None
                st.ended_by_protocol = True
                st.last_t = max(st.last_t, ev.t_s)
                consumer = self._consumer
                if (
                    consumer is not None
                    and not consumer.done()
                    and consumer is not asyncio.current_task()
                ):
                    consumer.cancel()  # fired by the timer during a quiet stretch
                return

    def _close_open_phase(self, t_s: float) -> None:
        """Write the phase_end of a phase cut short (stop, source end, crash excluded)."""
        st = self._st
        ph = self._current_phase()
        if ph is not None and not st.ended_by_protocol:
            self.writer.add_marker(Marker(t_s, MarkerKind.PHASE_END, ph.name, ph.kind.value))
        st.schedule = []

    def _handle(self, item: StreamItem) -> None:
        st = self._st
        if st.clock_offset is None:
            st.clock_offset = self.clock.monotonic() - item.t_s
        if st.t0 is None and (
            isinstance(item, HrFrame)
            or (isinstance(item, LinkEvent) and item.state is LinkState.CONNECTED)
        ):
            self._start_protocol(item.t_s)
        self._advance_to(item.t_s)
        if st.ended_by_protocol:
            return  # data after the protocol's end is not part of the session
        if self.tap is not None:
            self.tap(item)
        st.last_t = max(st.last_t, item.t_s)
        beats = self.assembler.feed(item)
        if isinstance(item, LinkEvent):
            if item.state is LinkState.CONNECTED and self.source.info.name:
                self.writer.update_device(self.source.info)
            if item.state is not LinkState.END:
                self.writer.add(item)
            self._notify(LiveEvent.LINK, item.t_s, link=item, item=item)
            return
        self.writer.add(item)
        if isinstance(item, HrFrame):
            st.hr_bpm = item.measurement.hr_bpm
            snaps: list[LiveSnapshot] = []
            if beats:
                self.writer.add_beats(beats)
                for b in beats:
                    self._snapshot = self.live.push(b.t_s, b.rr_ms, segment=b.segment)
                    snaps.append(self._snapshot)
            self._notify(
                LiveEvent.FRAME, item.t_s, beats=tuple(beats), item=item, beat_live=tuple(snaps)
            )
        else:
            self._notify(LiveEvent.REJECTED, item.t_s, item=item)

    async def _consume(self) -> None:
        stream = self.source.stream()
        try:
            async for item in stream:
                self._handle(item)
                if self._st.ended_by_protocol:
                    return
        finally:
            # Close the source's generator here, in this task, so a strap disconnects now
            # and not whenever the garbage collector finalises it.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _timer(self) -> None:
        """Fire phase boundaries and prompts on the clock when no item arrives to do it."""
        st = self._st
        while True:
            if st.t0 is None or st.clock_offset is None or not st.schedule:
                self._wake.clear()
                await self._wake.wait()
                continue
            due = st.schedule[0].t_s - self.stream_now()
            if due > 0:
                await self.clock.sleep(due)
            self._advance_to(self.stream_now())
            await asyncio.sleep(0)  # never spin, even if the clock did not move

    def _final_status(self, source_ended: bool) -> SessionStatus:
        st = self._st
        if st.ended_by_protocol or not self.protocol.phases:
            return SessionStatus.COMPLETE
        if source_ended and st.t0 is not None:
            end = st.t0 + self.protocol.total_s
            if st.last_t >= end - END_TOLERANCE_S:
                return SessionStatus.COMPLETE
        return SessionStatus.STOPPED_EARLY

    async def run(self) -> RecordingResult:
        """Record until the protocol ends, the source ends, `stop` or cancellation."""
        self._notify(LiveEvent.START, 0.0)
        self._consumer = asyncio.ensure_future(self._consume())
        timer = asyncio.ensure_future(self._timer())
        flusher = asyncio.ensure_future(self.writer.autoflush())
        source_ended = False
        cancelled_from_outside = False
        try:
            try:
                await asyncio.shield(self._consumer)
                source_ended = not self._st.ended_by_protocol
            except asyncio.CancelledError:
                if not self._consumer.cancelled():
                    # run() itself was cancelled (Ctrl-C under asyncio.run): stop, then re-raise.
                    cancelled_from_outside = True
                    self._consumer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._consumer
        finally:
            for t in (timer, flusher):
                t.cancel()
            for t in (timer, flusher):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            st = self._st
            end_t = st.last_t if source_ended else self.stream_now()
            st.last_t = max(st.last_t, end_t)
            self._close_open_phase(st.last_t)
            status = self._final_status(source_ended)
            self.writer.finish(status)
            self._notify(LiveEvent.END, st.last_t, text=status.value)
        if cancelled_from_outside:
            raise asyncio.CancelledError
        return RecordingResult(
            session_id=self.writer.session_id,
            status=status,
            summary=self.source.summary(),
            n_beats=self.writer.beats_written,
            last_t_s=st.last_t,
        )
