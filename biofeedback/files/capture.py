"""Beats of a ``biofeedback-capture`` JSONL file, through the live decode path.

Decoded with the same :class:`devices.stream.FrameDecoder` +
:class:`biofeedback.beats.BeatAssembler` as a live strap, so beats carry the assembler's
segments (gaps, contact loss, resyncs). A capture holds what a strap sent (16-bit ticks, so
0-64 s, never a unit mistake): every beat is kept, 0 and 65535 ticks included, for the
analysis to flag, like a live recording does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from biofeedback.files.model import STRAP_RESOLUTION_MS, ImportedRR, RRFileError, RRSeries
from biofeedback.files.validate import MAX_TEXT_BYTES, check_wall_time, regular_file


def capture_started_at(path: Path, text: str) -> dt.datetime | None:
    """The header's ``started_at`` as an aware datetime (naive is taken as UTC), or
    ``None`` if missing or unreadable; a date outside the plausible years is an error."""
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return check_wall_time(path, t, "header field 'started_at'")


def read_capture_rr(path: str | Path) -> ImportedRR:
    """Beats of a capture file (segments included), with the header's start time."""
    from biofeedback.beats import BeatAssembler
    from devices.capture import CaptureError, read_capture
    from devices.records import LinkEvent, LinkState, short_uuid
    from devices.stream import FrameDecoder

    p = Path(path)
    regular_file(p, MAX_TEXT_BYTES, "capture")
    try:
        cap = read_capture(p)
    except CaptureError as exc:
        raise RRFileError(str(exc)) from None
    dec = FrameDecoder()
    asm = BeatAssembler()
    rr: list[float] = []
    ts: list[float] = []
    seg: list[int] = []
    for ev in cap.events:
        if ev.kind == "notify" and short_uuid(ev.char) == "2a37":
            beats = asm.feed(dec.decode(ev.t_s, ev.data))
        elif ev.kind == "disconnect":
            beats = asm.feed(dec.link(LinkEvent(ev.t_s, LinkState.DISCONNECTED, ev.detail)))
        else:
            continue
        for b in beats:
            rr.append(b.rr_ms)
            ts.append(b.t_s)
            seg.append(b.segment)
    if not rr:
        raise RRFileError(f"{p}: capture contains no RR intervals")
    series = RRSeries(
        np.asarray(rr, dtype=np.float64),
        np.asarray(ts, dtype=np.float64),
        np.asarray(seg, dtype=np.int64),
        str(p),
        "capture",
        STRAP_RESOLUTION_MS,
    )
    warn: tuple[str, ...] = ()
    if cap.truncated_line is not None:
        warn = (f"line {cap.truncated_line} is cut short (not valid JSON, no line end): left "
                "out, the capture is read up to the line before",)  # fmt: skip
    return ImportedRR(series, capture_started_at(p, cap.header.started_at), warnings=warn)
