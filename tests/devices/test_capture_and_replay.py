"""Capture format, replay source and beat assembly on small captures built in the test."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from biofeedback.beats import BeatAssembler, beats_from_items
from devices.capture import (
    CaptureError,
    CaptureEvent,
    CaptureHeader,
    CaptureOrigin,
    CaptureWriter,
    read_capture,
)
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo, HrFrame, LinkEvent, LinkState, RejectedPacket, StreamItem
from devices.replay import CaptureReplaySource, clock_for_speed

HEADER = CaptureHeader(
    device=DeviceInfo(name="Test H10", address="00:11:22:33:44:55", model="H10"),
    started_at="2026-11-24T09:00:00+00:00",
    origin=CaptureOrigin("synthetic", generator="test", seed=1),
)


def _write(path: Path, events: list[CaptureEvent]) -> Path:
    with CaptureWriter(path, HEADER) as w:
        for ev in events:
            w.write(ev)
    return path


def _steady(n: int, rr_1024: int = 1024, t0: float = 0.0) -> list[CaptureEvent]:
    """``n`` notifications, one per second, each with one RR of ``rr_1024`` ticks."""
    return [
        CaptureEvent(t0 + i + 1.0, "notify", char="2a37", data=encode_measurement(60, [rr_1024]))
        for i in range(n)
    ]


def _collect(src: CaptureReplaySource) -> list[StreamItem]:
    async def go() -> list[StreamItem]:
        return [it async for it in src.stream()]

    return asyncio.run(go())


def test_writer_reader_round_trip(tmp_path: Path) -> None:
    events = [CaptureEvent(0.0, "connect"), CaptureEvent(0.2, "battery", battery_pct=80)]
    events += _steady(3)
    events.append(CaptureEvent(3.5, "disconnect", detail="link loss"))
    cap = read_capture(_write(tmp_path / "c.jsonl", events))
    assert cap.header.device == HEADER.device
    assert cap.header.origin == HEADER.origin
    assert cap.events == events
    assert cap.duration_s == 3.5


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty file"),
        (["{not json"], ":1: not valid JSON"),
        (['{"format": "other"}'], "not a capture header"),
        (['{"format": "biofeedback-capture", "version": 99, "device": {"name": "x"}}'], "newer"),
        (["HDR", '{"t_s": "a", "kind": "connect"}'], ":2: field 't_s'"),
        (["HDR", '{"t_s": 1, "kind": "notify", "hex": "zz"}'], "not hexadecimal"),
        (["HDR", '{"t_s": 2, "kind": "connect"}', '{"t_s": 1, "kind": "connect"}'], "back in time"),
        (["HDR", '{"t_s": 1, "kind": "battery", "pct": 300}'], "'pct' 0..100"),
        # json.loads accepts NaN/Infinity; a NaN would disable the ordering check after it
        # and an infinite offset would make the replay sleep forever.
        (["HDR", '{"t_s": NaN, "kind": "connect"}', '{"t_s": 0, "kind": "connect"}'], ":2: "),
        (["HDR", '{"t_s": Infinity, "kind": "connect"}'], ":2: field 't_s'"),
    ],
)
def test_corrupted_captures_give_one_line_errors(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    header = json.dumps(
        {
            "format": "biofeedback-capture",
            "version": 1,
            "device": {"name": "x"},
            "origin": {"kind": "synthetic"},
        }
    )
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(header if x == "HDR" else x for x in lines) + "\n")
    with pytest.raises(CaptureError, match=message) as info:
        read_capture(p)
    assert "\n" not in str(info.value)
    assert str(p) in str(info.value)


def test_missing_capture_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such capture file"):
        read_capture(tmp_path / "nope.jsonl")


def test_unknown_event_kinds_are_skipped(tmp_path: Path) -> None:
    p = _write(tmp_path / "c.jsonl", _steady(2))
    with p.open("a") as fh:
        fh.write('{"t_s": 5, "kind": "pmd_data", "hex": "00"}\n')
    assert len(read_capture(p).events) == 2


def test_replay_yields_frames_rejects_and_gaps(tmp_path: Path) -> None:
    events = [CaptureEvent(0.0, "connect"), *_steady(3)]
    # truncated uint16 HR: nothing to salvage (a half RR interval would keep its HR)
    events.append(CaptureEvent(3.2, "notify", char="2a37", data=bytes.fromhex("0148")))
    events.append(CaptureEvent(3.5, "disconnect", detail="link loss"))
    events.append(CaptureEvent(6.0, "connect"))
    events += _steady(2, t0=6.0)
    src = CaptureReplaySource(_write(tmp_path / "c.jsonl", events), clock=clock_for_speed(0))
    items = _collect(src)
    frames = [i for i in items if isinstance(i, HrFrame)]
    assert len(frames) == 5
    assert [type(i) for i in items].count(RejectedPacket) == 1
    states = [i.state for i in items if isinstance(i, LinkEvent)]
    assert states == [
        LinkState.CONNECTED,
        LinkState.DISCONNECTED,
        LinkState.CONNECTED,
        LinkState.END,
    ]
    s = src.summary()
    assert (s.frames, s.beats, s.rejected, s.gaps) == (5, 5, 1, 1)
    beats = beats_from_items(items)
    assert [b.segment for b in beats] == [0, 0, 0, 1, 1]
    assert all(b.rr_ms == 1000.0 for b in beats)


def test_replay_speed_zero_uses_virtual_time_and_keeps_offsets(tmp_path: Path) -> None:
    clock = VirtualClock()
    src = CaptureReplaySource(_write(tmp_path / "c.jsonl", _steady(600)), clock=clock)
    items = _collect(src)
    assert clock.monotonic() == pytest.approx(600.0)
    assert [i.t_s for i in items if isinstance(i, HrFrame)] == [float(i + 1) for i in range(600)]


def test_beat_times_follow_cumulative_rr_and_resync_after_drift() -> None:
    asm = BeatAssembler(resync_tol_s=3.0)
    m = encode_measurement(60, [1024, 1024])
    from devices.heart_rate import parse_measurement

    f1 = HrFrame(2.0, parse_measurement(m), m)
    b1 = asm.push(f1)
    assert [b.t_s for b in b1] == [1.0, 2.0]
    f2 = HrFrame(4.1, parse_measurement(m), m)
    assert [b.t_s for b in asm.push(f2)] == [3.0, 4.0]
    # Ten seconds of missing notifications: cumulative time lags arrival → new segment.
    f3 = HrFrame(15.0, parse_measurement(m), m)
    b3 = asm.push(f3)
    assert [b.t_s for b in b3] == [14.0, 15.0]
    assert {b.segment for b in b3} == {1}
    assert asm.resyncs == 1


def test_rr_without_contact_is_dropped_and_breaks_the_segment() -> None:
    from devices.heart_rate import parse_measurement

    asm = BeatAssembler()
    good = encode_measurement(60, [1024])
    bad = encode_measurement(60, [1024], contact=False)
    assert len(asm.push(HrFrame(1.0, parse_measurement(good), good))) == 1
    assert asm.push(HrFrame(2.0, parse_measurement(bad), bad)) == []
    b = asm.push(HrFrame(3.0, parse_measurement(good), good))
    assert b[0].segment == 1
    assert asm.dropped_no_contact == 1


def test_contact_loss_without_rr_breaks_the_segment() -> None:
    """The common case (ble.md §5): contact lost → frames with no RR at all. The beats after
    it must start a new segment anchored to arrival, not continue the cumulative time across
    the hole (a 2 s loss is within the 3 s drift tolerance, so only the contact flag tells)."""
    from devices.heart_rate import parse_measurement

    asm = BeatAssembler()
    good = encode_measurement(60, [1024])
    lost = encode_measurement(0, [], contact=False)
    assert [b.t_s for b in asm.push(HrFrame(1.0, parse_measurement(good), good))] == [1.0]
    assert [b.t_s for b in asm.push(HrFrame(2.0, parse_measurement(good), good))] == [2.0]
    assert asm.push(HrFrame(3.0, parse_measurement(lost), lost)) == []
    assert asm.push(HrFrame(4.0, parse_measurement(lost), lost)) == []
    after = asm.push(HrFrame(5.0, parse_measurement(good), good))
    assert [(b.t_s, b.segment) for b in after] == [(5.0, 1)]
    assert asm.dropped_no_contact == 0  # no RR was carried, so none was dropped


def test_malformed_rr_part_keeps_the_hr_counts_it_and_breaks_the_segment() -> None:
    from devices.stream import FrameDecoder

    dec = FrameDecoder()
    good = encode_measurement(60, [1024])
    items = [
        dec.decode(1.0, good),
        dec.decode(2.0, bytes.fromhex("16482c")),  # HR 72, half an RR interval
        dec.decode(3.0, good),
        dec.decode(4.0, b""),  # nothing to salvage: a rejected packet
    ]
    assert isinstance(items[1], HrFrame) and items[1].measurement.hr_bpm == 72
    assert items[1].rr_rejected is not None and "odd RR payload" in items[1].rr_rejected
    assert isinstance(items[3], RejectedPacket)
    s = dec.summary()
    assert (s.frames, s.beats, s.rejected, s.rr_rejected) == (3, 2, 1, 1)
    # the beat(s) in the malformed part are missing: the next interval opens a new segment
    assert [(b.t_s, b.segment) for b in beats_from_items(items)] == [(1.0, 0), (3.0, 1)]
