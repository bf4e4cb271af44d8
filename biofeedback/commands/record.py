"""``biofeedback record``: stream a strap or a replayed capture to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import TextIO

from biofeedback.beats import Beat, BeatAssembler
from biofeedback.errors import UserError
from devices.capture import CaptureError, CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket, StreamItem
from devices.stream import HeartRateSource, StreamSummary


def open_source(args: argparse.Namespace) -> tuple[HeartRateSource, CaptureOrigin]:
    """Build the source named on the command line (replay or strap)."""
    if args.replay:
        from devices.replay import CaptureReplaySource, clock_for_speed

        if args.speed < 0:
            raise UserError(f"--speed: expected a number >= 0, got {args.speed}")
        try:
            src = CaptureReplaySource(args.replay, clock=clock_for_speed(args.speed))
        except CaptureError as exc:
            raise UserError(str(exc)) from None
        o = src.capture.header.origin
        notes = f"re-recorded from replay of {Path(args.replay).name}"
        return src, CaptureOrigin(o.kind, o.generator, o.seed, notes)
    from devices import ble

    kw: dict[str, float] = {}
    if args.deadline is not None:
        kw["deadline_s"] = args.deadline
    return ble.open_strap_source(args.device, **kw), CaptureOrigin("strap")


def format_frame(item: HrFrame, beats: list[Beat]) -> str:
    """One terminal line for a frame: time, HR, RR values and contact."""
    m = item.measurement
    contact = {True: "contact", False: "NO CONTACT", None: ""}[m.contact]
    rr = " ".join(f"{b.rr_ms:7.1f}" for b in beats) if beats else "-"
    if not beats and m.rr_1024:
        rr = "(dropped: no contact)"
    return f"t={item.t_s:8.2f}s  HR {m.hr_bpm:3d} bpm  RR ms {rr:<24s} {contact}".rstrip()


def format_summary(s: StreamSummary, assembler: BeatAssembler) -> str:
    """The final summary line."""
    return (
        f"summary: {s.frames} frames, {s.beats} beats, {s.rejected} rejected packets, "
        f"{s.gaps} gaps, {s.no_contact_frames} no-contact frames, "
        f"{assembler.resyncs} resyncs, {s.duration_s:.1f} s"
    )


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


async def stream_to_terminal(
    source: HeartRateSource,
    *,
    out: TextIO,
    quiet: bool = False,
    capture_path: Path | None = None,
    origin: CaptureOrigin | None = None,
) -> StreamSummary:
    """Print every frame and link event; optionally tee the raw traffic to a capture."""
    assembler = BeatAssembler()
    writer: CaptureWriter | None = None
    try:
        async for item in source.stream():
            beats = assembler.feed(item)
            if capture_path is not None:
                if writer is None:
                    header = CaptureHeader(
                        device=source.info,
                        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        origin=origin or CaptureOrigin("strap"),
                    )
                    writer = CaptureWriter(capture_path, header)
                ev = _capture_event(item)
                if ev is not None:
                    writer.write(ev)
            if quiet:
                continue
            if isinstance(item, HrFrame):
                print(format_frame(item, beats), file=out)
            elif isinstance(item, RejectedPacket):
                print(
                    f"t={item.t_s:8.2f}s  rejected packet {item.raw.hex()}: {item.reason}", file=out
                )
            elif isinstance(item, LinkEvent) and item.state is not LinkState.END:
                print(
                    f"t={item.t_s:8.2f}s  link {item.state.value} {item.detail}".rstrip(), file=out
                )
    finally:
        if writer is not None:
            writer.close()
    summary = source.summary()
    print(format_summary(summary, assembler), file=out)
    return summary


def run(args: argparse.Namespace) -> int:
    capture_path = Path(args.capture) if args.capture else None
    if capture_path is not None and not capture_path.parent.is_dir():
        raise UserError(f"{capture_path}: directory {capture_path.parent} does not exist")
    source, origin = open_source(args)
    asyncio.run(
        stream_to_terminal(
            source, out=sys.stdout, quiet=args.quiet, capture_path=capture_path, origin=origin
        )
    )
    return 0
