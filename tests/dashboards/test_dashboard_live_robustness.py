"""Live page + LiveWorker under trouble: strap scan, lost link, Stop mid-reconnect, a locked
store, two Start presses at once. No Bluetooth needed: the scanner and the strap are injected
(a plain scan function, and a `HeartRateSource` fed from encoded 0x2A37 packets)."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dash")

from dash import no_update

from biofeedback.errors import UserError
from biofeedback.sessions.bundled import bundled_recording
from biofeedback.sessions.live import LiveWorker
from biofeedback.sessions.protocols import load_protocol
from biofeedback.sessions.store import SessionReader, Store
from dashboards.app import render_page
from dashboards.data import DashboardData
from dashboards.pages import live as live_page
from devices.ble import ScanResult
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo, LinkEvent, LinkState, StreamItem
from devices.stream import FrameDecoder, StreamSummary

from .test_dashboard_callbacks import ids_in, text_in

PROTOCOL = "self-compassion-break"


def wait_for(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


class GappyStrap:
    """A strap that sends ``before`` one-beat-a-second frames, loses the link, and sends
    ``after`` more once ``reconnect`` is set (the worker's loop thread polls it)."""

    def __init__(self, before: int = 40, after: int = 30) -> None:
        self.before, self.after = before, after
        self.reconnect = threading.Event()
        self.waiting = threading.Event()  # set while the link is down
        self._dec = FrameDecoder()

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(name="Fake H10", address="AA:BB:CC:DD:EE:FF")

    def summary(self) -> StreamSummary:
        return self._dec.summary()

    async def stream(self) -> AsyncIterator[StreamItem]:
        yield self._dec.link(LinkEvent(0.0, LinkState.CONNECTED))
        t = 0.0
        for _ in range(self.before):
            t += 1.0
            yield self._dec.decode(t, encode_measurement(60, [1024]))
            await asyncio.sleep(0.005)
        yield self._dec.link(LinkEvent(t + 0.5, LinkState.DISCONNECTED, "link loss"))
        yield self._dec.link(LinkEvent(t + 0.6, LinkState.RECONNECTING, "attempt 1"))
        self.waiting.set()
        while not self.reconnect.is_set():
            await asyncio.sleep(0.02)
        t += 10.0
        yield self._dec.link(LinkEvent(t, LinkState.CONNECTED))
        for _ in range(self.after):
            t += 1.0
            yield self._dec.decode(t, encode_measurement(60, [1024]))
            await asyncio.sleep(0.005)
        while True:  # a strap never ends by itself
            await asyncio.sleep(0.05)


# -- strap discovery ----------------------------------------------------------------------


def test_scan_fills_the_dropdown_and_start_uses_the_picked_strap(tmp_path: Path) -> None:
    straps = [
        ScanResult("Polar H10 A1B2C3D4", "AA:BB:CC:DD:EE:FF", -58),
        ScanResult("", "11:22:33:44:55:66", None),
    ]
    asked: list[float] = []
    opened: list[str] = []
    strap = GappyStrap(before=5)

    def scanner(timeout_s: float) -> list[ScanResult]:
        asked.append(timeout_s)
        return straps

    def opener(target: str) -> GappyStrap:
        opened.append(target)
        return strap

    w = LiveWorker(
        tmp_path / "s.db",
        recordings={"scb": bundled_recording()},
        scanner=scanner,
        strap_opener=opener,
    )
    try:
        msg, poll_disabled = live_page.scan_click(w)
        assert "live-scanning" in ids_in(msg) and poll_disabled is False
        wait_for(lambda: not w.scan_state().running)
        assert 0 < asked[0] <= 5.0  # the page never waits longer than 5 s for a scan
        options, value, msg, poll_disabled = live_page.scan_poll(w, "replay:scb")
        assert poll_disabled is True
        assert "live-scan-found" in ids_in(msg) and "2 straps" in text_in(msg)
        by_value = {o["value"]: o["label"] for o in options}
        assert "replay:scb" in by_value  # the demo recording stays available
        assert "Polar H10 A1B2C3D4" in by_value["strap:AA:BB:CC:DD:EE:FF"]
        assert "-58 dBm" in by_value["strap:AA:BB:CC:DD:EE:FF"]
        assert "unnamed" in by_value["strap:11:22:33:44:55:66"]
        assert value == "strap:AA:BB:CC:DD:EE:FF"  # the strongest strap is preselected
        # a reloaded (or second) tab offers the scanned straps too
        page = render_page(DashboardData(_reader(tmp_path / "s.db")), w, "/live", "")
        assert "strap:AA:BB:CC:DD:EE:FF" in repr(page)
        started = live_page.start(w, value, "", 1, PROTOCOL)
        assert "live-started" in ids_in(started), text_in(started)
        assert opened == ["AA:BB:CC:DD:EE:FF"]
    finally:
        w.close()


def _reader(db: Path) -> SessionReader:
    Store(db).close()
    return SessionReader(db)


def test_scan_without_bluetooth_says_so_in_one_line(tmp_path: Path) -> None:
    def no_dbus(timeout_s: float) -> list[ScanResult]:
        # what dbus-fast raises when the system bus socket is missing (no BlueZ / D-Bus)
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    w = LiveWorker(tmp_path / "s.db", recordings={"scb": bundled_recording()}, scanner=no_dbus)
    try:
        live_page.scan_click(w)
        wait_for(lambda: not w.scan_state().running)
        options, value, msg, poll_disabled = live_page.scan_poll(w, "replay:scb")
        text = text_in(msg)
        assert "live-scan-error" in ids_in(msg) and poll_disabled is True
        assert "D-Bus" in text and "\n" not in text
        assert value is no_update
        assert [o["value"] for o in options] == ["replay:scb"]
    finally:
        w.close()


def test_scan_poll_waits_while_the_scan_runs(tmp_path: Path) -> None:
    release = threading.Event()

    async def slow_scan(timeout_s: float) -> list[ScanResult]:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return []

    w = LiveWorker(tmp_path / "s.db", scanner=slow_scan)
    try:
        first = w.scan()
        assert w.scan() == first  # a second click joins the running scan
        assert live_page.scan_poll(w, None) == (no_update, no_update, no_update, False)
        release.set()
        wait_for(lambda: not w.scan_state().running)
        _options, _value, msg, poll_disabled = live_page.scan_poll(w, None)
        assert "live-scan-none" in ids_in(msg) and poll_disabled is True
    finally:
        w.close()


# -- a strap that vanishes ----------------------------------------------------------------


def test_lost_strap_shows_reconnecting_keeps_the_recording_then_resumes(tmp_path: Path) -> None:
    strap = GappyStrap(before=40, after=30)
    db = tmp_path / "gap.db"
    w = LiveWorker(db, strap_opener=lambda _t: strap)
    try:
        w.start("strap:Fake", PROTOCOL)
        assert strap.waiting.wait(10)
        wait_for(lambda: w.state().link == "reconnecting")
        down = live_page.live_tick(w, None)
        assert "link lost — reconnecting…" in text_in(down["live-quality.children"])
        assert down["live-stop.disabled"] is False  # still recording
        n_before = w.state().beats
        assert n_before >= 35
        strap.reconnect.set()
        wait_for(lambda: w.state().beats >= n_before + 25)
        up = live_page.live_tick(w, down["live-cursor.data"])
        assert "link: connected" in text_in(up["live-quality.children"])
        res = w.stop(10)
        assert res is not None
        r = SessionReader(db)
        try:
            beats = r.beats(res.session_id)
            assert len(beats) >= n_before + 25  # beats on both sides of the gap were kept
            states = list(r.link_events(res.session_id)["state"])
            assert "disconnected" in states
        finally:
            r.close()
    finally:
        w.close()


def test_stop_while_reconnecting_saves_what_was_recorded(tmp_path: Path) -> None:
    strap = GappyStrap(before=20)
    db = tmp_path / "stop.db"
    w = LiveWorker(db, strap_opener=lambda _t: strap)
    try:
        w.start("strap:Fake", PROTOCOL)
        assert strap.waiting.wait(10)
        t0 = time.monotonic()
        res = w.stop(10)
        assert res is not None, "Stop did not end a reconnecting recording"
        assert time.monotonic() - t0 < 5
        assert res.n_beats >= 15
        after = live_page.live_tick(w, None)
        assert after["live-start.disabled"] is False
        assert "live-compare-link" in ids_in(after["live-after.children"])
    finally:
        strap.reconnect.set()
        w.close()


# -- concurrency and a locked store -------------------------------------------------------


def test_two_simultaneous_starts_give_one_recording(tmp_path: Path) -> None:
    arrived: list[str] = []
    second = threading.Event()

    def loader(name: str) -> Any:
        # The first caller waits (bounded) for a second one to get this far too.
        arrived.append(name)
        if len(arrived) >= 2:
            second.set()
        else:
            second.wait(1.0)
        return load_protocol(name)

    w = LiveWorker(
        tmp_path / "two.db", recordings={"scb": bundled_recording()}, protocol_loader=loader
    )
    outcomes: list[str] = []

    def press() -> None:
        try:
            w.start("replay:scb", PROTOCOL, speed=0)
            outcomes.append("started")
        except UserError as exc:
            outcomes.append(str(exc))

    try:
        tabs = [threading.Thread(target=press) for _ in range(2)]
        for t in tabs:
            t.start()
        for t in tabs:
            t.join(10)
        assert sorted(outcomes)[1] == "started" and outcomes.count("started") == 1, outcomes
        assert "already running" in sorted(outcomes)[0]
        res = w.stop(15)
        assert res is not None
        assert not w.running  # nothing left behind that the page could not stop
    finally:
        w.close()


def test_store_locked_by_another_writer_is_a_friendly_message(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    Store(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing and not letting go
    w = LiveWorker(db, recordings={"scb": bundled_recording()})
    try:
        w.start("replay:scb", PROTOCOL, speed=0)
        wait_for(lambda: not w.running, 20)
        tick = live_page.live_tick(w, None)
        text = text_in(tick["live-after.children"])
        assert "locked by another program" in text, text
        assert tick["live-start.disabled"] is False  # can start again once it is released
        other.execute("ROLLBACK")
        msg = live_page.start(w, "replay:scb", None, 0, PROTOCOL)
        assert "live-started" in ids_in(msg), text_in(msg)
        wait_for(lambda: w.state().beats > 0, 15)
        res = w.stop(15)
        assert res is not None and res.n_beats > 0
    finally:
        other.close()
        w.close()


def test_stop_right_after_start_stops_the_recording(tmp_path: Path) -> None:
    # Stop pressed before the recording task has even opened the store must still stop it
    # (it used to be ignored: the strap, which never ends, kept recording).
    strap = GappyStrap(before=1000)
    w = LiveWorker(tmp_path / "quick.db", strap_opener=lambda _t: strap)
    try:
        w.start("strap:Fake", PROTOCOL)
        t0 = time.monotonic()
        res = w.stop(5)
        # ignored, the fake strap would run the 12-min protocol to its end in ~4 s
        assert res is not None and str(res.status) == "stopped_early", res
        assert time.monotonic() - t0 < 3
        assert not w.running
    finally:
        strap.reconnect.set()
        w.close()


def test_close_during_a_recording_saves_it(tmp_path: Path) -> None:
    # The server shutting down (Ctrl-C) while a strap records: the session is finished,
    # not left "recording" for the next start to mark interrupted.
    strap = GappyStrap(before=1000)
    db = tmp_path / "close.db"
    w = LiveWorker(db, strap_opener=lambda _t: strap)
    w.start("strap:Fake", PROTOCOL)
    wait_for(lambda: w.state().beats > 5)
    w.close()
    r = SessionReader(db)
    try:
        (info,) = r.list_sessions()
        assert str(info.status) != "recording"
        assert info.n_beats > 5
    finally:
        r.close()
