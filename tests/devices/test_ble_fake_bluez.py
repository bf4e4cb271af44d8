"""bleak's REAL Linux (BlueZ D-Bus) backend against a fake ``org.bluez`` on a private bus.

No ``backend=`` override anywhere: bleak talks D-Bus to `tests.support.fake_bluez`, which serves the
adapter, a heart-rate strap and its GATT table from this test's event loop. Covers scan by
service UUID, connect, notifications and decoding, Device Information / battery reads, a
forced link loss followed by our supervisor's automatic reconnect, the gap as link events,
no frame lost after the re-subscription, and the silence watchdog.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from devices.ble import BleHeartRateSource, scan_straps
from devices.records import HrFrame, LinkState
from devices.supervisor import SupervisorConfig
from tests.support.bluez_harness import REPO, Consumer, count, n_frames
from tests.support.fake_bluez import DbusDaemon, FakeBluez

pytestmark = [pytest.mark.fake_bluez, pytest.mark.skipif(sys.platform != "linux", reason="BlueZ")]

# Short supervisor settings so each scenario takes well under a second.
FAST = SupervisorConfig(
    backoff_initial_s=0.05, backoff_max_s=0.2, deadline_s=5.0, silence_s=2.0, scan_timeout_s=2.0
)


async def test_scan_finds_the_strap_by_service_uuid(bluez: FakeBluez) -> None:
    found = await scan_straps(0.2)
    strap = bluez.strap
    # the mouse (HID only) advertises too, louder, but is not a heart-rate strap
    assert [(r.name, r.address, r.rssi_dbm) for r in found] == [(strap.name, strap.address, -58)]
    assert found[0].device.details["path"].endswith("dev_A0_9E_1A_5A_1B_2C")
    uuids = [f.get("UUIDs") for f in bluez.discovery_filters if "UUIDs" in f]
    assert uuids and "0000180d-0000-1000-8000-00805f9b34fb" in uuids[0].value
    # every advertisement reported, not only changes: a known strap with steady data must be
    # found again (bleak's default, False, hid it when reconnecting under the real daemon)
    assert [f["DuplicateData"].value for f in bluez.discovery_filters if "UUIDs" in f] == [True]


async def test_stream_survives_link_loss_without_losing_frames(bluez: FakeBluez) -> None:
    strap = bluez.strap
    c = Consumer(BleHeartRateSource("Polar H10", config=FAST))
    await c.until(count(LinkState.CONNECTED))
    info = c.source.info
    assert (info.name, info.address) == (strap.name, strap.address)
    assert (info.model, info.manufacturer, info.serial, info.firmware) == (
        strap.model, strap.manufacturer, strap.serial, strap.firmware,
    )  # fmt: skip
    assert (info.body_location, info.battery_pct) == ("chest", strap.battery_pct)

    await strap.play(5)
    await c.until(n_frames(5))
    bluez.drop_link()  # out of range: ServicesResolved false, Connected false
    await c.until(count(LinkState.DISCONNECTED))
    strap.send_next()  # nobody subscribed: lost on air, must not show up
    await c.until(count(LinkState.CONNECTED, 2))
    await strap.play(8)
    await c.until(n_frames(13))
    await c.finish()

    assert c.frames() == strap.sent  # everything sent while subscribed, in order
    assert len(strap.sent) == 13 and len(strap.dropped) == 1
    assert bluez.device is not None and bluez.device.connect_calls == 2
    states = [e.state for e in c.links()]
    gap = states[states.index(LinkState.DISCONNECTED) :]
    assert gap[:5] == [
        LinkState.DISCONNECTED, LinkState.RECONNECTING, LinkState.SCANNING,
        LinkState.CONNECTING, LinkState.CONNECTED,
    ]  # fmt: skip
    assert c.links()[states.index(LinkState.DISCONNECTED)].detail == "link lost"
    assert states[-1] is LinkState.END
    assert c.source.summary().gaps == 1
    # decoded through the shared decoder: HR from the capture's bytes
    hr = [i.measurement.hr_bpm for i in c.items if isinstance(i, HrFrame)]
    assert hr == [f[1] if not f[0] & 1 else int.from_bytes(f[1:3], "little") for f in strap.sent]


async def test_silent_strap_trips_the_watchdog_and_reconnects(bluez: FakeBluez) -> None:
    strap = bluez.strap
    cfg = SupervisorConfig(backoff_initial_s=0.05, backoff_max_s=0.2, deadline_s=5.0, silence_s=0.3)
    c = Consumer(BleHeartRateSource(strap.address, config=cfg))
    await c.until(count(LinkState.CONNECTED))
    await strap.play(2)
    await c.until(count(LinkState.CONNECTED, 2))  # silent 0.3 s → disconnect → reconnect
    await strap.play(3)
    await c.until(n_frames(5))
    await c.finish()
    disc = [e for e in c.links() if e.state is LinkState.DISCONNECTED]
    assert disc and disc[0].detail == "no notification for 0.3 s"
    assert c.frames()[:5] == strap.sent[:5]
    assert bluez.device is not None and bluez.device.connect_calls >= 2


async def test_scan_cli_lists_the_strap(bluez: FakeBluez, dbus_daemon: DbusDaemon) -> None:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": dbus_daemon.address, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "biofeedback", "scan", "--timeout", "0.3", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    strap = bluez.strap
    assert json.loads(out) == [
        {"name": strap.name, "address": strap.address, "rssi_dbm": -58, "connected": False}
    ]


async def _record_then_sigint(
    dbus_daemon: DbusDaemon, after_s: float, *args: str
) -> tuple[int | None, str, str]:
    import signal

    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": dbus_daemon.address, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "biofeedback", "record", "--device", "Polar H10", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        # wait until the CLI is connecting (or streaming), then press Ctrl-C
        while b"link connecting" not in await proc.stdout.readline():
            pass
        await asyncio.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        rest, err = await proc.communicate()
    return proc.returncode, rest.decode(), err.decode()


async def test_ctrl_c_during_connect_prints_the_summary_and_no_traceback(
    bluez: FakeBluez, dbus_daemon: DbusDaemon
) -> None:
    assert bluez.device is not None
    bluez.device.connect_delay_s = 30.0  # the Connect call is still pending at Ctrl-C
    rc, out, err = await _record_then_sigint(dbus_daemon, 0.5)
    assert rc == 0, err
    assert out.splitlines()[-1].startswith("summary: 0 frames")
    assert "Traceback" not in err and "never retrieved" not in err


async def test_ctrl_c_while_streaming_prints_the_summary(
    bluez: FakeBluez, dbus_daemon: DbusDaemon, tmp_path: Path
) -> None:
    async def feed() -> None:
        while True:
            await asyncio.sleep(0.05)
            bluez.strap.send_next()

    task = asyncio.get_running_loop().create_task(feed())
    try:
        rc, out, err = await _record_then_sigint(
            dbus_daemon, 1.5, "--capture", str(tmp_path / "c.jsonl")
        )
    finally:
        task.cancel()
    assert rc == 0, err
    last = out.splitlines()[-1]
    assert last.startswith("summary: ") and not last.startswith("summary: 0 frames")
    assert "Traceback" not in err
    assert (tmp_path / "c.jsonl").stat().st_size > 0
