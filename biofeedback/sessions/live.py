"""A recording that outlives the browser: an asyncio loop in a thread, read by snapshot.

The dashboard must never run asyncio or touch a strap (DESIGN.md §1). `LiveWorker` owns one
event-loop thread that runs `SessionRecorder` (strap or capture replay →
store), and keeps what a live display needs in a lock-protected ring buffer of beats plus the
latest values. Web callbacks call `LiveWorker.state` (a frozen `LiveState` copy, O(new
beats)) and the control methods `start`, `mark`, `stop`; the latter hop onto the loop thread
with ``call_soon_threadsafe`` because the SQLite connection belongs to that thread. Closing a
browser tab therefore does not stop a recording; only `stop`, the protocol's end, the end of
the source or `close` do.

Strap discovery (`scan`) runs on the same loop thread, so a web callback only submits it and
later reads `scan_state`; it never blocks a server thread for the scan's duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import inspect
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.errors import UserError
from biofeedback.hrv.live import LiveHrv
from biofeedback.sessions.recorder import LiveEvent, LiveUpdate, RecordingResult, SessionRecorder
from devices.clock import Clock
from devices.records import HrFrame, LinkState, RejectedPacket, StreamItem
from devices.stream import HeartRateSource

if TYPE_CHECKING:
    from devices.ble import ScanResult

__all__ = ["LiveBeat", "LiveState", "LiveWorker", "ScanState", "SourceChoice"]

log = logging.getLogger(__name__)

#: Beats kept for the live charts (~10 min at 75 bpm); older beats are in the store.
RING_BEATS = 1000
#: Recompute the stress index (Baevsky, via the HRV engine) at most this often, stream seconds.
STRESS_EVERY_S = 5.0
#: Window of the live stress index, stream seconds.
STRESS_WINDOW_S = 120.0
#: Default length of a strap scan, seconds (short: the page waits for it).
SCAN_S = 5.0


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """A source the Live page can offer: ``value`` is what `LiveWorker.start` takes."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class ScanState:
    """The latest strap scan: ``straps`` are start-able ``strap:<address>`` choices.

    ``scan_id`` is 0 before the first scan; ``error`` is one line (e.g. no Bluetooth).
    """

    scan_id: int
    running: bool
    straps: tuple[SourceChoice, ...] = ()
    error: str | None = None
    timeout_s: float = SCAN_S


@dataclass(frozen=True, slots=True)
class LiveBeat:
    """One beat for the live charts, with the running values just after it."""

    seq: int
    t_s: float
    rr_ms: float
    rmssd60_ms: float | None
    hr_bpm: float | None
    wall_s: float  # Unix time the worker received it (for latency measurements)


@dataclass(frozen=True, slots=True)
class LiveState:
    """A consistent copy of the worker's state (see `LiveWorker.state`).

    Times are stream seconds. ``new_beats`` holds the ring-buffered beats with
    ``seq > since_seq`` of the request (all kept ones when the run changed).
    """

    run_id: int
    running: bool
    session_id: int | None
    source_label: str
    protocol: str
    speed: float
    t_s: float
    hr_bpm: float | None
    rmssd60_ms: float | None
    rmssd_warming_up: bool
    rmssd_window_fill: float
    stress_index: float | None
    phase: str | None
    phase_kind: str | None
    phase_index: int | None
    n_phases: int
    prompt: str | None
    phase_left_s: float | None
    protocol_left_s: float | None
    pacer_bpm: float | None
    pacer_inhale_ratio: float | None
    pacer_phase_t0_s: float | None
    contact: bool | None
    link: str
    link_detail: str
    rejected: int
    artefacts: int
    beats: int
    marks: int
    pending_rows: int
    seconds_since_save: float | None
    seconds_since_data: float | None
    status: str | None
    error: str | None
    last_seq: int
    new_beats: tuple[LiveBeat, ...] = ()


@dataclass
class _Run:
    run_id: int
    source_label: str
    protocol: str
    speed: float
    running: bool = True
    session_id: int | None = None
    t_s: float = 0.0
    hr_bpm: float | None = None
    rmssd: float | None = None
    warming: bool = True
    first_beat_t: float | None = None
    stress: float | None = None
    stress_at: float = -1e9
    phase: str | None = None
    phase_kind: str | None = None
    phase_index: int | None = None
    n_phases: int = 0
    prompt: str | None = None
    phase_left: float | None = None
    protocol_left: float | None = None
    pacer_bpm: float | None = None
    pacer_ratio: float | None = None
    pacer_t0: float | None = None
    contact: bool | None = None
    link: str = "connecting"
    link_detail: str = ""
    rejected: int = 0
    beats: int = 0
    marks: int = 0
    last_data_wall: float | None = None
    status: str | None = None
    error: str | None = None
    seq: int = 0
    ring: deque[LiveBeat] = field(default_factory=lambda: deque(maxlen=RING_BEATS))
    recorder: SessionRecorder | None = None
    hrv: LiveHrv = field(default_factory=LiveHrv)
    artefacts: int = 0
    stop_requested: bool = False  # Stop pressed, maybe before the recorder existed
    pending_rows: int = 0  # rows buffered by the writer, not yet committed
    commits_seen: int = 0
    saved_wall: float = field(default_factory=time.monotonic)  # last commit seen, monotonic


SourceFactory = Callable[[float], tuple[HeartRateSource, Clock]]
#: ``timeout_s -> straps``: `devices.ble.scan_straps` or any function with its signature
#: (async, or a plain function that returns quickly: it runs on the loop thread).
Scanner = Callable[[float], Any]


def strap_choice(r: ScanResult) -> SourceChoice:
    """A scanned strap as a Live-page source: ``strap:<address>``, labelled name + RSSI."""
    rssi = "RSSI ?" if r.rssi_dbm is None else f"{r.rssi_dbm} dBm"
    return SourceChoice(
        f"strap:{r.address}", f"strap: {r.name or 'unnamed'} · {r.address} · {rssi}"
    )


def _locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class LiveWorker:
    """Runs recordings in a background event loop and serves live snapshots.

    Parameters
    ----------
    db_path
        The store file recordings are written to (created if missing).
    recordings
        Captures offered as demo sources, ``{name: path}``; started as ``"replay:<name>"``.
    strap_opener
        Builds a BLE source for ``"strap:<name or address>"`` (default:
        ``devices.ble.open_strap_source``, imported only when used).
    protocol_loader
        ``name -> Protocol`` (default `biofeedback.sessions.protocols.load_protocol`).
    scanner
        ``timeout_s -> list[ScanResult]`` for `scan` (default: ``devices.ble.scan_straps``,
        imported only when used); async, or a plain function that returns quickly.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        recordings: Mapping[str, Path] | None = None,
        strap_opener: Callable[[str], HeartRateSource] | None = None,
        protocol_loader: Callable[[str], Any] | None = None,
        scanner: Scanner | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.recordings: dict[str, Path] = dict(recordings or {})
        self._strap_opener = strap_opener
        self._protocol_loader = protocol_loader
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: Future[RecordingResult | None] | None = None
        self._starting = False  # a start() is between its check and its new run
        self._scanner = scanner
        self._scan = ScanState(0, False)

    # -- loop thread -------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=main, name="biofeedback-live", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        self._loop = loop
        return loop

    # -- choices -------------------------------------------------------------------------

    def sources(self) -> list[SourceChoice]:
        """Straps found by the latest `scan`, then replays of the known recordings.

        Straps can also be typed in as ``strap:NAME``.
        """
        with self._lock:
            straps = list(self._scan.straps)
        return straps + [
            SourceChoice(f"replay:{name}", f"recording: {name} (demo, replayed as a strap)")
            for name in self.recordings
        ]

    # -- strap discovery -----------------------------------------------------------------

    def scan(self, timeout_s: float = SCAN_S) -> int:
        """Start scanning ``timeout_s`` for straps on the loop thread; returns the scan id.

        Returns at once (a scan already running is joined, not restarted); read the outcome
        with `scan_state`. Bluetooth being unavailable ends up in ``ScanState.error``.
        """
        if not timeout_s > 0:
            raise UserError(f"scan timeout: expected seconds > 0, got {timeout_s}")
        with self._lock:
            if self._scan.running:
                return self._scan.scan_id
            scan_id = self._scan.scan_id + 1
            self._scan = ScanState(scan_id, True, self._scan.straps, None, timeout_s)
        loop = self._ensure_loop()
        asyncio.run_coroutine_threadsafe(self._do_scan(scan_id, timeout_s), loop)
        return scan_id

    def scan_state(self) -> ScanState:
        """The latest scan (``scan_id`` 0: none yet)."""
        with self._lock:
            return self._scan

    async def _do_scan(self, scan_id: int, timeout_s: float) -> None:
        straps: tuple[SourceChoice, ...] = ()
        error: str | None = None
        try:
            scanner = self._scanner
            if scanner is None:
                scanner = importlib.import_module("devices.ble").scan_straps
            found = scanner(timeout_s)
            if inspect.isawaitable(found):
                # bleak's own stop can hang on a wedged adapter: bound the whole scan.
                found = await asyncio.wait_for(found, timeout_s + 10.0)
            straps = tuple(strap_choice(r) for r in found)
        except Exception as exc:
            error = _scan_error(exc)
        with self._lock:
            self._scan = ScanState(scan_id, False, straps, error, timeout_s)

    # -- controls ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        with self._lock:
            return self._run is not None and self._run.running

    def _source(self, source: str, speed: float) -> tuple[HeartRateSource, Clock, str, str]:
        kind, _, name = source.partition(":")
        if kind == "replay":
            from devices.capture import CaptureError
            from devices.replay import CaptureReplaySource, clock_for_speed

            path = self.recordings.get(name)
            if path is None:
                path = Path(name)
                if not path.is_file():
                    raise UserError(f"unknown recording {name!r}")
            if speed < 0:
                raise UserError(f"speed: expected a number >= 0, got {speed}")
            clock = clock_for_speed(speed)
            try:
                src = CaptureReplaySource(path, clock=clock)
            except CaptureError as exc:
                raise UserError(str(exc)) from None
            return src, clock, f"recording {path.name} at {speed:g}×", "replay"
        if kind == "strap" and name.strip():
            from devices.clock import SystemClock

            if self._strap_opener is not None:
                opener = self._strap_opener
            else:
                try:
                    ble = importlib.import_module("devices.ble")
                except ImportError as exc:
                    raise UserError(f"BLE support is not available ({exc})") from None
                opener = ble.open_strap_source
            return opener(name.strip()), SystemClock(), f"strap {name.strip()}", "strap"
        raise UserError(f"source: expected 'replay:NAME' or 'strap:NAME', got {source!r}")

    def start(self, source: str, protocol: str, *, speed: float = 1.0, title: str = "") -> int:
        """Start recording ``source`` with ``protocol``; returns the run id.

        Raises `UserError` if a recording is running or the source/protocol is unknown.
        """
        # Check and claim in one step: two tabs pressing Start together must not both get
        # past the check (the second run would replace the first, which could then never
        # be stopped from the page).
        with self._lock:
            if self._starting or (self._run is not None and self._run.running):
                raise UserError("a recording is already running; stop it first")
            self._starting = True
        try:
            if self._protocol_loader is not None:
                proto = self._protocol_loader(protocol)
            else:
                from biofeedback.sessions.protocols import load_protocol

                proto = load_protocol(protocol)
            src, clock, label, kind = self._source(source, speed)
            with self._lock:
                self._next_id += 1
                run = _Run(self._next_id, label, proto.name, speed, n_phases=len(proto.phases))
                self._run = run
        finally:
            with self._lock:
                self._starting = False
        loop = self._ensure_loop()
        self._task = asyncio.run_coroutine_threadsafe(
            self._record(run, src, clock, proto, kind, title), loop
        )
        return run.run_id

    def mark(self, text: str = "") -> bool:
        """Mark this moment in the running recording; False if none is running."""
        return self._call(lambda r: r.add_mark(text))

    def note(self, text: str) -> bool:
        """Attach a note at this moment; False if no recording is running."""
        return self._call(lambda r: r.add_note(text))

    def stop(self, wait_s: float = 10.0) -> RecordingResult | None:
        """Stop the running recording and wait up to ``wait_s`` for it to be saved."""
        with self._lock:
            if self._run is not None and self._run.running:
                # Seen by `_record` if the recorder does not exist yet (Stop right after Start).
                self._run.stop_requested = True
        self._call(lambda r: r.stop())
        return self.wait(wait_s)

    def wait(self, timeout_s: float | None = None) -> RecordingResult | None:
        """Wait for the current recording to end (``None`` if none ran or on timeout)."""
        task = self._task
        if task is None:
            return None
        try:
            return task.result(timeout_s)
        except Exception:
            return None

    def close(self) -> None:
        """Stop any recording and end the loop thread."""
        if self.running:
            self.stop(10.0)
        task = self._task
        if task is not None and not task.done():
            # The recording did not stop in time: cancel it, so that the recorder still
            # finishes the session, rather than stopping the loop under it.
            task.cancel()
            with contextlib.suppress(Exception):
                task.result(5.0)
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5.0)
            self._loop = None

    def _call(self, fn: Callable[[SessionRecorder], Any]) -> bool:
        with self._lock:
            run = self._run
            rec = run.recorder if run is not None and run.running else None
        if rec is None or self._loop is None:
            return False
        done: Future[Any] = Future()

        def call() -> None:
            try:
                done.set_result(fn(rec))
            except Exception as exc:  # reported to the caller
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        with contextlib.suppress(TimeoutError):
            done.result(5.0)
        return True

    # -- the recording -------------------------------------------------------------------

    async def _record(
        self,
        run: _Run,
        source: HeartRateSource,
        clock: Clock,
        proto: Any,
        kind: str,
        title: str,
    ) -> RecordingResult | None:
        from biofeedback.sessions.store import NewSession, Store

        store = None
        try:
            store = Store(self.db_path, clock=clock)
            writer = store.begin_session(
                NewSession(source=kind, protocol=proto.name, device=source.info, title=title)
            )

            def observe(u: LiveUpdate) -> None:
                self._observe(run, u)
                now = time.monotonic()
                with self._lock:
                    run.pending_rows = writer.pending
                    if writer.commits != run.commits_seen or not run.pending_rows:
                        run.commits_seen, run.saved_wall = writer.commits, now

            rec = SessionRecorder(
                source,
                writer,
                proto,
                clock,
                observer=observe,
                tap=lambda it: self._tap(run, it),
            )
            with self._lock:
                run.session_id = writer.session_id
                run.recorder = rec
                stop_now = run.stop_requested
            if stop_now:  # after run() has started its consumer, which stop() cancels
                asyncio.get_running_loop().call_soon(rec.stop)
            result = await rec.run()
            from biofeedback.sessions.compare import cache_analysis

            cache_analysis(store, result.session_id)  # before the status: Compare is next
            with self._lock:
                run.status = str(result.status)
            return result
        except UserError as exc:
            with self._lock:
                run.error = str(exc)
            return None
        except Exception as exc:
            if _locked(exc):
                started = run.session_id is not None
                with self._lock:
                    run.error = (
                        f"the store {self.db_path} is locked by another program (another "
                        "`biofeedback record` or an open database browser?); "
                        + (
                            "the beats recorded so far could not all be saved — close the "
                            "other program; the session will show as interrupted"
                            if started
                            else "nothing was recorded — close it and press Start again"
                        )
                    )
                return None
            log.exception("live recording failed")
            with self._lock:
                run.error = f"recording failed: {exc}"
            return None
        finally:
            with self._lock:
                run.running = False
                run.recorder = None
            if store is not None:
                store.close()

    def _tap(self, run: _Run, item: StreamItem) -> None:
        with self._lock:
            if isinstance(item, HrFrame):
                run.contact = item.measurement.contact
                run.last_data_wall = time.monotonic()
            elif isinstance(item, RejectedPacket):
                run.rejected += 1

    def _observe(self, run: _Run, u: LiveUpdate) -> None:
        now_wall = time.time()
        rr: list[float] = []
        with self._lock:
            run.t_s = max(run.t_s, u.t_s)
            if u.event is LiveEvent.LINK and u.link is not None:
                st = u.link.state
                if st is LinkState.END:
                    run.link, run.link_detail = "ended", u.link.detail
                elif st is not LinkState.BATTERY:
                    run.link, run.link_detail = st.value, u.link.detail
            elif u.event is LiveEvent.FRAME and run.link in (
                "connecting",
                "disconnected",
                "reconnecting",
            ):
                # Data flowing again is proof of a link even if no CONNECTED event came.
                run.link, run.link_detail = "connected", ""
            elif u.event in (LiveEvent.MARK, LiveEvent.NOTE):
                run.marks += 1
            elif u.event is LiveEvent.END:
                run.status = u.text
            run.hr_bpm = float(u.hr_bpm) if u.hr_bpm is not None else None
            ph = u.phase
            if ph is not None and ph.name != run.phase and ph.pacer is not None:
                elapsed = 0.0 if u.phase_left_s is None else ph.duration_s - u.phase_left_s
                run.pacer_t0 = u.t_s - elapsed
            run.phase = ph.name if ph else None
            run.phase_kind = ph.kind.value if ph else None
            run.phase_index = u.phase_index
            run.n_phases = u.n_phases
            run.prompt = u.prompt
            run.phase_left = u.phase_left_s
            run.protocol_left = u.protocol_left_s
            run.pacer_bpm = u.pacer.breaths_per_min if u.pacer else None
            run.pacer_ratio = u.pacer.inhale_ratio if u.pacer else None
            if u.pacer is None:
                run.pacer_t0 = None
            for b in u.beats:
                # The HRV engine's live windows gate artefacts (20 % rule) per beat, O(1).
                snap = run.hrv.push(b.t_s, b.rr_ms, segment=b.segment)
                w = snap.window(60.0)
                run.rmssd, run.warming = w.rmssd_ms, w.warming_up
                if snap.artifact:
                    run.artefacts += 1
                if run.first_beat_t is None:
                    run.first_beat_t = b.t_s
                run.seq += 1
                run.beats += 1
                run.ring.append(
                    LiveBeat(run.seq, b.t_s, b.rr_ms, w.rmssd_ms, snap.hr_bpm, now_wall)
                )
            if u.beats and u.beats[-1].t_s - run.stress_at >= STRESS_EVERY_S:
                inp = run.hrv.spectral_input()
                keep = inp.t_s >= u.beats[-1].t_s - STRESS_WINDOW_S
                rr = inp.rr_ms[keep].tolist()
                run.stress_at = u.beats[-1].t_s
        if len(rr) >= 30:
            stress = _stress_index(rr)
            with self._lock:
                run.stress = stress

    # -- reading -------------------------------------------------------------------------

    def state(self, since_seq: int = 0, run_id: int | None = None) -> LiveState:
        """A frozen copy of the live state with the beats after ``since_seq``.

        If ``run_id`` differs from the current run, every ring-buffered beat is returned
        (the display must reset its charts).
        """
        with self._lock:
            r = self._run
            if r is None:
                return _idle_state()
            if run_id != r.run_id:
                since_seq = 0
            beats = tuple(b for b in r.ring if b.seq > since_seq) if r.seq > since_seq else ()
            fill = 0.0
            if r.first_beat_t is not None:
                fill = min(1.0, max(0.0, (r.t_s - r.first_beat_t) / 60.0))
            ago = None if r.last_data_wall is None else time.monotonic() - r.last_data_wall
            return LiveState(
                run_id=r.run_id,
                running=r.running,
                session_id=r.session_id,
                source_label=r.source_label,
                protocol=r.protocol,
                speed=r.speed,
                t_s=r.t_s,
                hr_bpm=r.hr_bpm,
                rmssd60_ms=r.rmssd,
                rmssd_warming_up=r.warming,
                rmssd_window_fill=fill,
                stress_index=r.stress,
                phase=r.phase,
                phase_kind=r.phase_kind,
                phase_index=r.phase_index,
                n_phases=r.n_phases,
                prompt=r.prompt,
                phase_left_s=r.phase_left,
                protocol_left_s=r.protocol_left,
                pacer_bpm=r.pacer_bpm,
                pacer_inhale_ratio=r.pacer_ratio,
                pacer_phase_t0_s=r.pacer_t0,
                contact=r.contact,
                link=r.link,
                link_detail=r.link_detail,
                rejected=r.rejected,
                artefacts=r.artefacts,
                beats=r.beats,
                marks=r.marks,
                pending_rows=r.pending_rows,
                seconds_since_save=(
                    time.monotonic() - r.saved_wall if r.running and r.pending_rows else None
                ),
                seconds_since_data=ago,
                status=r.status,
                error=r.error,
                last_seq=r.seq,
                new_beats=beats,
            )


def _idle_state() -> LiveState:
    return LiveState(
        run_id=0,
        running=False,
        session_id=None,
        source_label="",
        protocol="",
        speed=1.0,
        t_s=0.0,
        hr_bpm=None,
        rmssd60_ms=None,
        rmssd_warming_up=True,
        rmssd_window_fill=0.0,
        stress_index=None,
        phase=None,
        phase_kind=None,
        phase_index=None,
        n_phases=0,
        prompt=None,
        phase_left_s=None,
        protocol_left_s=None,
        pacer_bpm=None,
        pacer_inhale_ratio=None,
        pacer_phase_t0_s=None,
        contact=None,
        link="idle",
        link_detail="",
        rejected=0,
        artefacts=0,
        beats=0,
        marks=0,
        pending_rows=0,
        seconds_since_save=None,
        seconds_since_data=None,
        status=None,
        error=None,
        last_seq=0,
    )


def _scan_error(exc: BaseException) -> str:
    """One line for a failed scan: why Bluetooth is unusable, or what went wrong."""
    try:
        reason = importlib.import_module("devices.ble").bluetooth_unavailable_reason(exc)
    except ImportError as imp:
        return f"Bluetooth support is not available ({imp})"
    if reason is not None:
        return str(reason)
    if isinstance(exc, TimeoutError):
        return "the Bluetooth scan did not finish (adapter busy or wedged?); try again"
    if isinstance(exc, OSError) and exc.errno == errno.EBUSY:
        return "the Bluetooth adapter is busy (another scan running?); try again"
    return f"scan failed: {exc}"


def _stress_index(rr_ms: Sequence[float]) -> float | None:
    """Kubios-style stress index (√ Baevsky SI) of the recent RR, from the HRV engine.

    Out-of-range intervals (< 200 ms or > 3000 ms) are left out; no ectopy correction on
    this short live window, so one ectopic beat can raise it until it leaves the window.
    """
    import numpy as np

    from biofeedback.beats import RR_MAX_MS, RR_MIN_MS
    from biofeedback.hrv.indices import stress_index

    rr = np.asarray(rr_ms, dtype=np.float64)
    rr = rr[(rr >= RR_MIN_MS) & (rr <= RR_MAX_MS)]
    if rr.size < 30:
        return None
    try:
        v = float(stress_index(rr))
    except Exception:  # a display value must never break the recording
        log.debug("stress index failed", exc_info=True)
        return None
    return v if np.isfinite(v) else None
