"""``biofeedback record``: stream a strap or a replayed capture to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from biofeedback.beats import Beat, BeatAssembler
from biofeedback.cli.options import add_label_arguments
from biofeedback.errors import UserError
from biofeedback.lsl import with_lsl
from biofeedback.sessions.service import CaptureTee
from devices.capture import CaptureOrigin
from devices.clock import Clock
from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket
from devices.stream import HeartRateSource, StreamSummary


def add_arguments(p: argparse.ArgumentParser) -> None:
    # Not required at parse time so that ``--protocol list`` works alone; `record.run` checks.
    src = p.add_mutually_exclusive_group()
    src.add_argument("--device", metavar="NAME|ADDR", help="strap name or address to connect to")
    src.add_argument("--replay", metavar="CAPTURE", help="replay a capture file as a live strap")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay speed: 1 real time, X times faster, 0 as fast as possible (default 1)",
    )
    p.add_argument(
        "--adapter",
        metavar="hciX",
        default=None,
        help="strap only, Linux: the Bluetooth adapter to use (default: the lowest-numbered "
        "powered one)",
    )
    p.add_argument("--capture", metavar="OUT.jsonl", help="also write the raw traffic to a capture")
    p.add_argument("--force", action="store_true", help="overwrite an existing --capture file")
    p.add_argument(
        "--quiet", action="store_true", help="no per-frame lines, only the final summary"
    )
    p.add_argument(
        "--lsl",
        action="store_true",
        help="also publish HR and RR as Lab Streaming Layer streams (needs the 'lsl' extra)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="S",
        help="strap only: give up reconnecting after S seconds without data",
    )
    guided = p.add_argument_group(
        "guided sessions and storage",
        "With --protocol or --db the session is stored (default database: $BIOFEEDBACK_DB, "
        "else biofeedback.db in the user data folder). Press Enter (or m Enter) to mark a "
        "moment, type text and Enter for a note; Ctrl-C stops cleanly.",
    )
    guided.add_argument(
        "--protocol",
        metavar="NAME|list",
        default=None,
        help="guide the session with a protocol (a name, a .toml file, or 'list' to show them)",
    )
    guided.add_argument(
        "--protocols-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="extra folder of protocol .toml files (repeatable)",
    )
    guided.add_argument(
        "--breaths-per-min",
        type=float,
        default=None,
        metavar="N",
        help="pacer rate for paced phases (resonance-breathing default 6)",
    )
    guided.add_argument("--db", metavar="PATH|URL", default=None, help="session database file")
    guided.add_argument(
        "--no-store", action="store_true", help="do not store the session (display only)"
    )
    guided.add_argument("--title", default="", help="session title")
    add_label_arguments(guided)
    guided.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag the session (repeatable)"
    )


if TYPE_CHECKING:
    from biofeedback.sessions.protocols import Protocol
    from biofeedback.sessions.recorder import LiveUpdate, RecordingResult, SessionRecorder
    from biofeedback.sessions.store import Store


log = logging.getLogger(__name__)


def open_source(
    args: argparse.Namespace, clock: Clock | None = None
) -> tuple[HeartRateSource, CaptureOrigin]:
    """Build the source named on the command line (replay or strap), via the service.

    ``clock`` is the source's clock (replay default: `devices.replay.clock_for_speed` of
    ``--speed``; strap default: the system clock); a guided session passes its own so the
    phase timer and the source share one clock.
    """
    from biofeedback.sessions.service import SourceSpec
    from biofeedback.sessions.service import open_source as open_named

    spec = SourceSpec("replay", args.replay) if args.replay else SourceSpec("strap", args.device)
    speed = args.speed if args.replay else 1.0
    opened = open_named(
        spec,
        speed=speed,
        clock=clock,
        deadline_s=args.deadline,
        adapter=getattr(args, "adapter", None),
    )
    return opened.source, opened.origin


def format_frame(item: HrFrame, beats: list[Beat]) -> str:
    """One terminal line for a frame: time, HR, RR values and contact."""
    m = item.measurement
    contact = {True: "contact", False: "NO CONTACT", None: ""}[m.contact]
    rr = " ".join(f"{b.rr_ms:7.1f}" for b in beats) if beats else "-"
    if not beats and m.rr_1024:
        rr = "(dropped: no contact)"
    if item.rr_rejected is not None:
        rr = "(malformed, dropped)"
    return f"t={item.t_s:8.2f}s  HR {m.hr_bpm:3d} bpm  RR ms {rr:<24s} {contact}".rstrip()


def format_summary(s: StreamSummary, assembler: BeatAssembler) -> str:
    """The final summary line."""
    from biofeedback.wording import count

    parts = (
        count(s.frames, "frame"),
        count(s.beats, "beat"),
        count(s.rejected, "rejected packet"),
        count(s.gaps, "link gap"),
        count(s.no_contact_frames, "no-contact frame"),
        count(s.rr_rejected, "malformed RR part"),
        count(assembler.resyncs, "resync"),
    )
    return f"summary: {', '.join(parts)}, {s.duration_s:.1f} s"


def format_rejected(item: RejectedPacket) -> str:
    """The terminal line of a rejected packet (hex as ``0x…``, an empty one as ``(empty)``)."""
    return f"t={item.t_s:8.2f}s  rejected packet {item.shown}: {item.reason}"


@contextlib.contextmanager
def _terminal_shows_rejects(quiet: bool) -> Iterator[None]:
    """While every rejected packet gets its own terminal line, the decoder's warning about
    it (logged once per kind, on stderr) would print it a second time: hold it back. With
    ``--quiet`` the warning is the only trace, so it stays."""
    stream_log = logging.getLogger("devices.stream")
    old = stream_log.level
    if not quiet and stream_log.getEffectiveLevel() > logging.DEBUG:
        stream_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        stream_log.setLevel(old)


async def stream_to_terminal(
    source: HeartRateSource,
    *,
    out: TextIO,
    quiet: bool = False,
    capture_path: Path | None = None,
    origin: CaptureOrigin | None = None,
    interactive: bool = False,
) -> StreamSummary:
    """Print every frame and link event; optionally tee the raw traffic to a capture.

    With ``interactive``, the first Ctrl-C ends the stream cleanly (a strap source stops and
    disconnects, even mid-connect) so the summary is still printed; a second one interrupts.
    """
    assembler = BeatAssembler()
    tee = (
        CaptureTee(capture_path, source, origin or CaptureOrigin("strap"))
        if capture_path is not None
        else None
    )
    stop = _stop_on_sigint(source) if interactive else contextlib.nullcontext()
    try:
        with stop, _terminal_shows_rejects(quiet):
            await _print_stream(source, assembler, out=out, quiet=quiet, tee=tee)
    finally:
        if tee is not None:
            tee.close()
    summary = source.summary()
    print(format_summary(summary, assembler), file=out)
    return summary


@contextlib.contextmanager
def _stop_on_sigint(source: HeartRateSource) -> Iterator[None]:
    """First SIGINT: ``source.stop()`` (or cancel the streaming task for sources without
    one, ending it as a clean stop); the handler is then removed so a second SIGINT raises
    KeyboardInterrupt as usual."""
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stopper = getattr(source, "stop", None)
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        loop.remove_signal_handler(signal.SIGINT)
        if callable(stopper):
            stopper()
        elif task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if not interrupted or callable(stopper):
            raise
        if task is not None:
            task.uncancel()
    finally:
        if not interrupted:
            loop.remove_signal_handler(signal.SIGINT)


async def _print_stream(
    source: HeartRateSource,
    assembler: BeatAssembler,
    *,
    out: TextIO,
    quiet: bool,
    tee: CaptureTee | None,
) -> None:
    """The per-item terminal lines of `stream_to_terminal`."""
    async for item in source.stream():
        beats = assembler.feed(item)
        if tee is not None:
            tee(item)
        if quiet:
            continue
        if isinstance(item, HrFrame):
            print(format_frame(item, beats), file=out)
        elif isinstance(item, RejectedPacket):
            print(format_rejected(item), file=out)
        elif isinstance(item, LinkEvent) and item.state is not LinkState.END:
            print(f"t={item.t_s:8.2f}s  link {item.state.value} {item.detail}".rstrip(), file=out)


def _mmss(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"


class TerminalDisplay:
    """Observer printing a guided session: the lead's frame lines plus phases and prompts.

    Frame, rejected-packet and link lines are exactly those of `stream_to_terminal`
    (suppressed by ``--quiet``); phase and prompt lines are always shown (they are the
    guidance), and a status line with time left, HR and live RMSSD every ``status_every_s``
    seconds of stream time.
    """

    def __init__(self, out: TextIO, *, quiet: bool = False, status_every_s: float = 10.0) -> None:
        self.out = out
        self.quiet = quiet
        self.status_every_s = status_every_s
        self._next_status = status_every_s

    def __call__(self, u: LiveUpdate) -> None:
        from biofeedback.sessions.recorder import LiveEvent

        out = self.out
        if u.event is LiveEvent.PHASE and u.phase is not None and u.phase_index is not None:
            pacer = ""
            if u.pacer is not None:
                pacer = f", pacer {u.pacer.breaths_per_min:g} breaths/min"
            print(
                f"t={u.t_s:8.2f}s  == phase {u.phase_index + 1}/{u.n_phases}: {u.phase.name} "
                f"({u.phase.kind.value}, {_mmss(u.phase.duration_s)}{pacer})",
                file=out,
            )
        elif u.event is LiveEvent.PROMPT:
            print(f"t={u.t_s:8.2f}s  >> {u.text}", file=out)
        elif u.event in (LiveEvent.MARK, LiveEvent.NOTE):
            what = "mark" if u.event is LiveEvent.MARK else "note"
            print(f"t={u.t_s:8.2f}s  {what} {u.text}".rstrip(), file=out)
        elif self.quiet:
            return
        elif u.event is LiveEvent.FRAME and isinstance(u.item, HrFrame):
            print(format_frame(u.item, list(u.beats)), file=out)
            if u.t_s >= self._next_status:
                self._next_status = (u.t_s // self.status_every_s + 1) * self.status_every_s
                print(self.status_line(u), file=out)
        elif u.event is LiveEvent.REJECTED and isinstance(u.item, RejectedPacket):
            item = u.item
            print(format_rejected(item), file=out)
        elif u.event is LiveEvent.LINK and u.link is not None and u.link.state is not LinkState.END:
            ev = u.link
            print(f"t={ev.t_s:8.2f}s  link {ev.state.value} {ev.detail}".rstrip(), file=out)

    @staticmethod
    def status_line(u: LiveUpdate) -> str:
        """``[phase 1:23 left | session 9:10 left] HR 64 bpm  RMSSD 42.1 ms (60 s)``."""
        where = "free session"
        if u.phase is not None and u.phase_left_s is not None:
            where = f"{u.phase.name} {_mmss(u.phase_left_s)} left"
            if u.protocol_left_s is not None:
                where += f" | session {_mmss(u.protocol_left_s)} left"
        hr = f"HR {u.hr_bpm} bpm" if u.hr_bpm is not None else "HR -"
        if u.rmssd_ms is None:
            rmssd = "RMSSD -"
        else:
            warm = ", warming up" if u.rmssd_warming_up else ""
            rmssd = f"RMSSD {u.rmssd_ms:.1f} ms ({u.rmssd_window_s:g} s{warm})"
        return f"{' ' * 12}[{where}] {hr}  {rmssd}"


def _stdin_marks(loop: asyncio.AbstractEventLoop, recorder: SessionRecorder) -> bool:
    """On a TTY: Enter or "m" Enter marks the moment, other text becomes a note."""
    if not sys.stdin.isatty():
        return False

    def on_line() -> None:
        line = sys.stdin.readline()
        if not line:  # EOF (Ctrl-D): stop listening, keep recording
            loop.remove_reader(sys.stdin.fileno())
            return
        text = line.strip()
        if text in ("", "m", "M"):
            recorder.add_mark()
        else:
            recorder.add_note(text)

    try:
        loop.add_reader(sys.stdin.fileno(), on_line)
    except (NotImplementedError, ValueError, OSError):  # Windows proactor loop
        return False
    return True


async def record_session(
    source: HeartRateSource,
    *,
    store: Store,
    protocol: Protocol,
    clock: Clock,
    source_kind: str,
    out: TextIO,
    quiet: bool = False,
    capture: CaptureTee | None = None,
    title: str = "",
    tags: tuple[str, ...] = (),
    interactive: bool = True,
    analyse: bool = False,
    participant: str | None = None,
    study: str | None = None,
) -> RecordingResult:
    """Run a guided (or free) session into ``store`` with the terminal display."""
    import signal

    from biofeedback.sessions.service import Recording
    from biofeedback.sessions.store import NewSession

    meta = NewSession(
        source=source_kind,
        protocol=protocol.name,
        device=source.info,
        title=title,
        tags=tags,
        participant=participant,
        study=study,
    )
    display = TerminalDisplay(out, quiet=quiet)
    recording = Recording(store, meta, source, clock, protocol, observer=display, capture=capture)
    recorder = recording.recorder
    loop = asyncio.get_running_loop()
    listening = interactive and _stdin_marks(loop, recorder)
    handled_sigint = False
    if interactive:
        try:
            loop.add_signal_handler(signal.SIGINT, recorder.stop)
            handled_sigint = True
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # Windows: Ctrl-C cancels asyncio.run; the recorder still closes the session
    total = f", {_mmss(protocol.total_s)}" if protocol.phases else ""
    hint = "; Enter marks a moment" if listening else ""
    print(
        f"recording session {recording.session_id} ({protocol.name}{total}) into {store.where}"
        f"{hint}; Ctrl-C stops",
        file=out,
    )
    try:
        with _terminal_shows_rejects(quiet):
            result = await recording.run(analyse=analyse)
    finally:
        if listening:
            loop.remove_reader(sys.stdin.fileno())
        if handled_sigint:
            loop.remove_signal_handler(signal.SIGINT)
    print(format_summary(result.summary, recorder.assembler), file=out)
    return result


def _run_guided(args: argparse.Namespace, capture_path: Path | None, store_it: bool) -> int:
    from biofeedback.cli.options import db_path, make_default_folder, shown
    from biofeedback.sessions.protocols import load_protocol
    from biofeedback.sessions.service import check_speed
    from biofeedback.sessions.store import Store
    from devices.clock import SystemClock
    from devices.replay import clock_for_speed

    protocol = load_protocol(args.protocol or "free", args.protocols_dir)
    if args.breaths_per_min is not None:
        protocol = protocol.with_breaths_per_min(args.breaths_per_min)
    if args.replay:
        check_speed(args.speed)
    clock: Clock = clock_for_speed(args.speed) if args.replay else SystemClock()
    db = db_path(args) if store_it else None
    if db is not None and not args.db:
        make_default_folder(db)
    source, origin = open_source(args, clock)
    source = with_lsl(source, getattr(args, "lsl", False))
    store = Store(db if db is not None else ":memory:", clock=clock)
    try:
        tee = CaptureTee(capture_path, source, origin) if capture_path is not None else None
        result = asyncio.run(
            record_session(
                source,
                store=store,
                protocol=protocol,
                clock=clock,
                source_kind="replay" if args.replay else "strap",
                out=sys.stdout,
                quiet=args.quiet,
                capture=tee,
                title=args.title,
                tags=tuple(args.tag),
                participant=args.participant,
                study=args.study,
                analyse=db is not None,
            )
        )
    finally:
        store.close()
    if db is not None:
        print(
            f"session {result.session_id} {result.status.value}: {result.n_beats} beats, "
            f"{result.last_t_s:.1f} s, stored in {shown(db)}"
        )
    else:
        print(f"session {result.status.value}: {result.n_beats} beats (not stored)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.protocol == "list":
        from biofeedback.sessions.protocols import scan_protocols

        found = scan_protocols(args.protocols_dir)
        for p in found.protocols:
            length = _mmss(p.total_s) if p.phases else "open"
            phases = ", ".join(ph.name for ph in p.phases) or "no phases, manual marks"
            print(f"{p.name:<24s} {length:>6s}  {p.title}: {phases}")
        for exc in found.errors:
            print(f"biofeedback record: error: {exc}", file=sys.stderr)
        return 2 if found.errors else 0
    if not args.device and not args.replay:
        raise UserError("one of --device NAME|ADDR or --replay CAPTURE is required")
    capture_path = Path(args.capture) if args.capture else None
    if capture_path is not None and not capture_path.parent.is_dir():
        raise UserError(f"{capture_path}: directory {capture_path.parent} does not exist")
    if capture_path is not None and capture_path.is_dir():
        raise UserError(f"{capture_path}: is a directory, expected a .jsonl file")
    if capture_path is not None and capture_path.exists() and not args.force:
        # Raw traffic cannot be made again; reports can (they refuse the same way).
        raise UserError(f"{capture_path}: already exists (use --force to overwrite)")
    # Storing is the default as soon as a protocol or a database is named; a bare
    # `record --replay/--device` keeps its original behaviour (terminal + optional capture).
    store_it = (args.protocol is not None or args.db is not None) and not args.no_store
    if args.protocol is not None or store_it:
        return _run_guided(args, capture_path, store_it)
    source, origin = open_source(args)
    source = with_lsl(source, getattr(args, "lsl", False))
    asyncio.run(
        stream_to_terminal(
            source,
            out=sys.stdout,
            quiet=args.quiet,
            capture_path=capture_path,
            origin=origin,
            interactive=True,
        )
    )
    return 0
