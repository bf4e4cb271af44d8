"""A recording that outlives the browser: an asyncio loop in a thread, read by snapshot.

The dashboard must never run asyncio or touch a strap. `LiveWorker` owns one event-loop
thread that runs a `biofeedback.sessions.service.Recording` (the same service as ``record``,
``import`` and ``demo``: source → `SessionRecorder` → store) and keeps what a live display
needs in a lock-protected ring buffer of beats plus the latest values. It is fed by the
recorder's observer only (one channel), and every live number comes from the recorder's own
`biofeedback.hrv.live.LiveHrv` (per-beat snapshots and its spectral window): nothing is
computed twice. Web callbacks call `LiveWorker.state` (a frozen
`biofeedback.sessions.live_state.LiveState`, O(new beats)) and the controls `start`, `mark`,
`stop`; the controls hop onto the loop thread with ``call_soon_threadsafe`` because the
SQLite connection belongs to that thread. Closing a browser tab therefore does not stop a
recording; only `stop`, the protocol's end, the end of the source or `close` do.

A run walks the explicit `RunState` machine (idle → connecting → recording → ending →
ended/failed) and ends with one outcome message.

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
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.errors import UserError
from biofeedback.hrv.live import LiveHrv, live_spectral
from biofeedback.sessions.live_run import Run, Transitions, apply_update, ended_outcome, move
from biofeedback.sessions.live_state import (
    IDLE_STATE,
    LiveBeat,
    LiveState,
    RunState,
    ScanState,
    SourceChoice,
)
from biofeedback.sessions.recorder import LiveUpdate, RecordingResult, SessionRecorder
from biofeedback.sessions.service import OpenedSource, open_source, parse_source
from biofeedback.sessions.store.backend import is_url
from devices.stream import HeartRateSource
from devices.supervisor import LinkUnavailableError

if TYPE_CHECKING:
    from devices.ble import ScanResult

__all__ = ["LiveBeat", "LiveState", "LiveWorker", "RunState", "ScanState", "SourceChoice"]

log = logging.getLogger(__name__)

#: Beats kept for the live charts (~10 min at 75 bpm); older beats are in the store.

#: Recompute the stress index and the spectral values at most this often, stream seconds.
SPECTRAL_EVERY_S = 5.0
#: Window of the live stress index, stream seconds.
STRESS_WINDOW_S = 120.0
#: Default length of a strap scan, seconds (short: the page waits for it).
SCAN_S = 5.0
#: Beat pairs of the baseline phase needed before "vs this session's baseline" is shown.
BASELINE_MIN_PAIRS = 30


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
        self.db_path: str | Path = db_path if is_url(db_path) else Path(db_path)
        self.recordings: dict[str, Path] = dict(recordings or {})
        self._strap_opener = strap_opener
        self._protocol_loader = protocol_loader
        self._lock = threading.Lock()
        self._run: Run | None = None
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: Future[RecordingResult | None] | None = None
        self._starting = False  # a start() is between its check and its new run
        self._scanner = scanner
        self._scan = ScanState(0, False)
        #: ``(run_id, state)`` for every state a run entered, in order (for tests and logs).
        self.transitions: Transitions = []

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
            # Tasks still pending (a replay clock's driver, a scan) are cancelled and awaited
            # here: closed with the loop they would be "destroyed but pending" at some later
            # garbage collection, in whatever code happens to run then.
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
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
            return self._run is not None and self._run.state.active

    def start(
        self,
        source: str,
        protocol: str,
        *,
        speed: float = 1.0,
        title: str = "",
        breaths_per_min: float | None = None,
    ) -> int:
        """Start recording ``source`` with ``protocol``; returns the run id.

        ``source`` is anything `biofeedback.sessions.service.parse_source` reads
        (``replay:NAME``, ``strap:NAME``, an address). ``breaths_per_min`` overrides the
        pacer rate of paced phases. Raises `UserError` (one line) if a recording is running,
        the speed is invalid or the source/protocol is unknown; nothing is stored then.
        """
        # Check and claim in one step: two tabs pressing Start together must not both get
        # past the check (the second run would replace the first, which could then never
        # be stopped from the page).
        with self._lock:
            if self._starting or (self._run is not None and self._run.state.active):
                raise UserError("a recording is already running; stop it first")
            self._starting = True
        try:
            if self._protocol_loader is not None:
                proto = self._protocol_loader(protocol)
            else:
                from biofeedback.sessions.protocols import load_protocol

                proto = load_protocol(protocol)
            if breaths_per_min is not None:
                proto = proto.with_breaths_per_min(breaths_per_min)
            opened = open_source(
                parse_source(source),
                speed=speed,
                recordings=self.recordings,
                strap_opener=self._strap_opener,
            )
            with self._lock:
                self._next_id += 1
                run = Run(
                    self._next_id, opened.label, proto.name, speed, n_phases=len(proto.phases)
                )
                self._run = run
                self.transitions.append((run.run_id, RunState.CONNECTING))
        finally:
            with self._lock:
                self._starting = False
        loop = self._ensure_loop()
        self._task = asyncio.run_coroutine_threadsafe(self._record(run, opened, proto, title), loop)
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
            run = self._run
            if run is not None and run.state.active:
                # Seen by `_record` if the recorder does not exist yet (Stop right after Start).
                run.stop_requested = True
                move(run, self.transitions, RunState.ENDING)
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
            rec = run.recorder if run is not None and run.state.active else None
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
        self, run: Run, opened: OpenedSource, proto: Any, title: str
    ) -> RecordingResult | None:
        from biofeedback.sessions.service import Recording
        from biofeedback.sessions.store import NewSession, Store

        store = None
        result: RecordingResult | None = None
        try:
            store = Store(self.db_path, clock=opened.clock)
            meta = NewSession(
                source=opened.kind, protocol=proto.name, device=opened.source.info, title=title
            )
            recording = Recording(
                store,
                meta,
                opened.source,
                opened.clock,
                proto,
                observer=lambda u: self._observe(run, u, recording),
            )
            with self._lock:
                run.session_id = recording.session_id
                run.recorder = recording.recorder
                stop_now = run.stop_requested
            if stop_now:  # after run() has started its consumer, which stop() cancels
                asyncio.get_running_loop().call_soon(recording.recorder.stop)
            result = await recording.run()  # caches the analysis: Compare is next
            with self._lock:
                run.status = str(result.status)
                run.outcome = ended_outcome(run, result)
            return result
        except LinkUnavailableError as exc:
            # Bluetooth itself is unusable: one line, and no empty session left behind.
            self._fail(run, f"{exc}. Nothing was recorded.", forgotten=True)
            return None
        except UserError as exc:
            self._fail(run, str(exc))
            return None
        except Exception as exc:
            if _locked(exc):
                started = run.session_id is not None
                self._fail(
                    run,
                    f"the store {self.db_path} is locked by another program (another "
                    "`biofeedback record` or an open database browser?); "
                    + (
                        "the beats recorded so far could not all be saved — close the "
                        "other program; the session will show as interrupted"
                        if started
                        else "nothing was recorded — close it and press Start again"
                    ),
                )
                return None
            log.exception("live recording failed")
            self._fail(run, f"recording failed: {exc}")
            return None
        finally:
            with self._lock:
                if run.state is not RunState.FAILED:
                    move(run, self.transitions, RunState.ENDING)
                    move(
                        run,
                        self.transitions,
                        RunState.ENDED if result is not None else RunState.FAILED,
                    )
                run.recorder = None
            if store is not None:
                store.close()

    def _fail(self, run: Run, message: str, *, forgotten: bool = False) -> None:
        with self._lock:
            run.error = run.outcome = message
            if forgotten:
                run.session_id = None
            move(run, self.transitions, RunState.FAILED)

    def _observe(self, run: Run, u: LiveUpdate, recording: Any) -> None:
        writer = recording.writer
        now = time.monotonic()
        with self._lock:
            apply_update(run, u, now, self.transitions)
            run.pending_rows = writer.pending
            if writer.commits != run.commits_seen or not run.pending_rows:
                run.commits_seen, run.saved_wall = writer.commits, now
            due = bool(u.beats) and u.beats[-1].t_s - run.spectral_at >= SPECTRAL_EVERY_S
            if due:
                run.spectral_at = u.beats[-1].t_s
        if due:
            self._spectral(run, recording.recorder.live)

    def _spectral(self, run: Run, hrv: LiveHrv) -> None:
        """Stress index (last 2 min) and coherence/breathing rate (longest window) from the
        recorder's live engine; on the loop thread, outside the lock (a few ms)."""
        inp = hrv.spectral_input()
        keep = inp.t_s >= (inp.t_s[-1] - STRESS_WINDOW_S if inp.t_s.size else 0.0)
        stress = _stress_index(inp.rr_ms[keep].tolist())
        try:
            spec = live_spectral(inp)
            coherence, breaths = spec.coherence, spec.breaths_per_min
        except Exception:  # a display value must never break the recording
            log.debug("live spectral failed", exc_info=True)
            coherence = breaths = None
        with self._lock:
            run.stress, run.coherence, run.breaths = stress, coherence, breaths
            run.spectral_covered = inp.covered_s

    # -- reading -------------------------------------------------------------------------

    def state(self, since_seq: int = 0, run_id: int | None = None) -> LiveState:
        """A frozen copy of the live state with the beats after ``since_seq``.

        If ``run_id`` differs from the current run, every ring-buffered beat is returned
        (the display must reset its charts).
        """
        with self._lock:
            r = self._run
            if r is None:
                return IDLE_STATE
            if run_id != r.run_id:
                since_seq = 0
            beats = tuple(b for b in r.ring if b.seq > since_seq) if r.seq > since_seq else ()
            warm = 0.0
            if not r.warming:
                warm = 60.0
            elif r.warm_start is not None and r.last_beat_t is not None:
                warm = max(0.0, min(60.0, r.last_beat_t - r.warm_start))
            ago = None if r.last_data_wall is None else time.monotonic() - r.last_data_wall
            active = r.state.active
            base = None
            # shown once the baseline phase is over: a settled reference, not a moving one
            if r.base_n >= BASELINE_MIN_PAIRS and r.phase_kind != "baseline":
                base = math.sqrt(r.base_sd / r.base_n)
            return LiveState(
                run_id=r.run_id,
                state=r.state,
                session_id=r.session_id,
                source_label=r.source_label,
                protocol=r.protocol,
                speed=r.speed,
                t_s=r.t_s,
                hr_bpm=r.hr_bpm,
                rmssd60_ms=r.rmssd,
                rmssd_warming_up=r.warming,
                rmssd_warm_s=warm,
                stress_index=r.stress,
                coherence=r.coherence,
                breaths_per_min=r.breaths,
                spectral_window_s=300.0,
                spectral_covered_s=r.spectral_covered,
                baseline_rmssd_ms=base,
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
                    time.monotonic() - r.saved_wall if active and r.pending_rows else None
                ),
                seconds_since_data=ago,
                status=r.status,
                error=r.error,
                outcome=r.outcome,
                last_seq=r.seq,
                phases=tuple(r.phases),
                mark_times_s=tuple(r.mark_times),
                new_beats=beats,
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
