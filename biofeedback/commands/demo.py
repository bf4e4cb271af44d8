"""``biofeedback demo``: replay the bundled session through the real pipeline."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from pathlib import Path

from biofeedback.commands.record import stream_to_terminal
from biofeedback.errors import UserError
from devices.capture import CaptureError
from devices.replay import CaptureReplaySource, clock_for_speed

DEMO_RECORDING = "self-compassion-break.jsonl"


def demo_recording_path() -> Path:
    """The bundled demo capture (package data, so it works from an installed wheel)."""
    return Path(str(resources.files("biofeedback") / "data" / DEMO_RECORDING))


def run(args: argparse.Namespace) -> int:
    path = Path(args.recording) if args.recording else demo_recording_path()
    if args.speed < 0:
        raise UserError(f"--speed: expected a number >= 0, got {args.speed}")
    try:
        source = CaptureReplaySource(path, clock=clock_for_speed(args.speed))
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    h = source.capture.header
    print(
        f"demo: replaying {path.name} ({h.origin.kind}, {source.capture.duration_s / 60:.1f} min) "
        f"as a live strap at speed {args.speed:g}; Ctrl-C to stop",
        file=sys.stderr,
    )
    asyncio.run(stream_to_terminal(source, out=sys.stdout))
    return 0
