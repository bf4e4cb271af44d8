"""The one recording service: source names, speeds, and no empty session when Bluetooth is
missing (``record``, ``import``, ``demo`` and the live worker all use it)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from biofeedback.errors import UserError
from biofeedback.sessions.protocols import load_protocol
from biofeedback.sessions.recorder import LiveEvent, LiveUpdate
from biofeedback.sessions.service import (
    Recording,
    SourceSpec,
    check_speed,
    open_source,
    parse_source,
)
from biofeedback.sessions.store import NewSession, SessionReader, Store
from devices.clock import VirtualClock
from devices.records import DeviceInfo, StreamItem
from devices.stream import FrameDecoder, StreamSummary
from devices.supervisor import LinkUnavailableError
from tests.conftest import RECORDINGS

BUNDLED = RECORDINGS / "self-compassion-break.jsonl"


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("replay:/tmp/x.jsonl", "replay", "/tmp/x.jsonl"),
        ("replay: demo ", "replay", "demo"),
        ("strap:Polar H10 A1B2", "strap", "Polar H10 A1B2"),
        ("STRAP:AA:BB:CC:DD:EE:FF", "strap", "AA:BB:CC:DD:EE:FF"),
        # a bare address has colons but no known prefix: it is a strap
        ("AA:BB:CC:DD:EE:FF", "strap", "AA:BB:CC:DD:EE:FF"),
        ("Polar H10", "strap", "Polar H10"),
    ],
)
def test_parse_source_reads_every_form(text: str, kind: str, target: str) -> None:
    assert parse_source(text) == SourceSpec(kind, target)


@pytest.mark.parametrize("text", ["", "   ", "replay:", "strap:  "])
def test_parse_source_refuses_empty_names_in_one_line(text: str) -> None:
    with pytest.raises(UserError) as err:
        parse_source(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [-3.0, math.nan, math.inf, -math.inf])
def test_check_speed_refuses_with_the_value_and_the_rule(bad: float) -> None:
    with pytest.raises(UserError, match=r"speed: expected a finite number >= 0.*got"):
        check_speed(bad)


def test_check_speed_accepts_zero_and_fast() -> None:
    assert check_speed(0.0) == 0.0 and check_speed(20.0) == 20.0


def test_open_source_finds_known_recordings_and_refuses_unknown_ones() -> None:
    opened = open_source(parse_source("replay:scb"), speed=10, recordings={"scb": BUNDLED})
    assert opened.kind == "replay"
    assert opened.label == "recording self-compassion-break.jsonl at 10×"
    assert opened.origin.notes == "re-recorded from replay of self-compassion-break.jsonl"
    with pytest.raises(UserError, match="unknown recording 'nope'"):
        open_source(parse_source("replay:nope"), recordings={"scb": BUNDLED})
    with pytest.raises(UserError, match=r"speed: .*got -3"):
        open_source(parse_source("replay:scb"), speed=-3, recordings={"scb": BUNDLED})


def test_open_source_strap_uses_the_injected_opener() -> None:
    opened_with: list[str] = []

    def opener(target: str) -> NoBluetooth:
        opened_with.append(target)
        return NoBluetooth()

    opened = open_source(parse_source("AA:BB:CC:DD:EE:FF"), strap_opener=opener)
    assert opened_with == ["AA:BB:CC:DD:EE:FF"]
    assert opened.kind == "strap" and opened.label == "strap AA:BB:CC:DD:EE:FF"


class NoBluetooth:
    """A strap source on a machine without D-Bus: the stream fails before any frame."""

    def __init__(self) -> None:
        self._dec = FrameDecoder()

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(name="", address="")

    def summary(self) -> StreamSummary:
        return self._dec.summary()

    async def stream(self) -> AsyncIterator[StreamItem]:
        await asyncio.sleep(0)
        raise LinkUnavailableError("cannot reach D-Bus (is BlueZ running?)")
        yield  # pragma: no cover  (makes this an async generator)


def test_recording_without_bluetooth_leaves_no_empty_session(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    clock = VirtualClock()
    with Store(db, clock=clock) as store:
        rec = Recording(
            store,
            NewSession(source="strap", protocol="free"),
            NoBluetooth(),
            clock,
            load_protocol("free"),
        )
        with pytest.raises(LinkUnavailableError):
            asyncio.run(rec.run())
    with SessionReader(db) as reader:
        assert reader.list_sessions() == []


def test_recording_observer_gets_one_live_snapshot_per_beat(tmp_path: Path) -> None:
    from devices.replay import CaptureReplaySource

    updates: list[LiveUpdate] = []
    clock = VirtualClock()
    with Store(tmp_path / "s.db", clock=clock) as store:
        rec = Recording(
            store,
            NewSession(source="replay", protocol="free"),
            CaptureReplaySource(BUNDLED, clock=clock),
            clock,
            load_protocol("free"),
            observer=updates.append,
        )
        result = asyncio.run(rec.run())
    frames = [u for u in updates if u.event is LiveEvent.FRAME]
    assert sum(len(u.beats) for u in frames) == result.n_beats > 500
    for u in frames:
        assert len(u.beat_live) == len(u.beats)
        assert [s.t_s for s in u.beat_live] == [b.t_s for b in u.beats]
    assert frames[-1].live is frames[-1].beat_live[-1] or not frames[-1].beats
