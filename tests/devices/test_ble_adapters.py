"""Adapters, RSSI 127, ambiguous names and straps already connected, on the fake BlueZ
through bleak's real BlueZ backend (issue: two adapters made the default adapter depend on
Python's hash order; RSSI 127 sorted as the strongest; a bonded strap was never found)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import pytest

from devices.ble import BleHeartRateSource, scan_straps
from devices.bluez import list_adapters
from devices.records import LinkState
from devices.supervisor import LinkUnavailableError, SupervisorConfig
from tests.support.bluez_harness import CAPTURE, REPO, Consumer, MakeBluez, count, n_frames
from tests.support.fake_bluez import DbusDaemon, VirtualStrap

pytestmark = [pytest.mark.fake_bluez, pytest.mark.skipif(sys.platform != "linux", reason="BlueZ")]

FAST = SupervisorConfig(backoff_initial_s=0.05, backoff_max_s=0.2, deadline_s=5.0, silence_s=2.0)
BOTH = (("hci0", True), ("hci1", True))


async def _cli(dbus_daemon: DbusDaemon, *args: str, seed: str = "0") -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DBUS_SYSTEM_BUS_ADDRESS": dbus_daemon.address,
        "PYTHONPATH": str(REPO),
        "PYTHONHASHSEED": seed,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "biofeedback", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_adapters_are_listed_in_number_order(make_bluez: MakeBluez) -> None:
    await make_bluez(adapters=(("hci10", True), ("hci2", False), ("hci1", True)))
    assert [(a.name, a.powered) for a in await list_adapters()] == [
        ("hci1", True), ("hci2", False), ("hci10", True),
    ]  # fmt: skip


@pytest.mark.parametrize("seed", ["0", "1", "2", "3"])
async def test_default_adapter_does_not_depend_on_the_hash_seed(
    make_bluez: MakeBluez, dbus_daemon: DbusDaemon, seed: str
) -> None:
    """Strap on hci0 of two powered adapters: bleak alone picks from a set (hash order)."""
    fake = await make_bluez(adapters=BOTH)
    rc, out, err = await _cli(dbus_daemon, "scan", "--timeout", "0.3", "--json", seed=seed)
    assert rc == 0, err
    assert [r["address"] for r in json.loads(out)] == [fake.strap.address]  # type: ignore[union-attr]


async def test_adapter_option_scans_and_connects_with_that_adapter(make_bluez: MakeBluez) -> None:
    fake = await make_bluez(strap=None, adapters=BOTH)
    strap = VirtualStrap(CAPTURE)
    fake.add_strap(strap, adapter="hci1")
    assert await scan_straps(0.2) == []  # the default, hci0, does not see it
    assert [r.address for r in await scan_straps(0.2, adapter="hci1")] == [strap.address]
    c = Consumer(BleHeartRateSource(strap.name, config=FAST, adapter="hci1"))
    await c.until(count(LinkState.CONNECTED))
    await strap.play(3)
    await c.until(n_frames(3))
    await c.finish()
    assert c.frames() == strap.sent


async def test_default_adapter_skips_a_powered_off_one(make_bluez: MakeBluez) -> None:
    fake = await make_bluez(strap=None, adapters=(("hci0", False), ("hci1", True)))
    strap = VirtualStrap(CAPTURE)
    fake.add_strap(strap, adapter="hci1")
    assert [r.address for r in await scan_straps(0.2)] == [strap.address]


async def test_unknown_adapter_is_a_one_line_error(
    make_bluez: MakeBluez, dbus_daemon: DbusDaemon
) -> None:
    await make_bluez(adapters=BOTH)
    with pytest.raises(LinkUnavailableError, match=r"no such adapter \(found: hci0, hci1\)"):
        await scan_straps(0.1, adapter="hci7")
    rc, out, err = await _cli(dbus_daemon, "record", "--device", "Polar", "--adapter", "hci7")
    assert rc == 2 and "Traceback" not in out + err
    assert err.strip().splitlines() == [
        "biofeedback record: error: --adapter hci7: no such adapter (found: hci0, hci1)"
    ]


@pytest.mark.parametrize(
    ("adapters", "message"),
    [
        ((), "no Bluetooth adapter found (is one plugged in and not blocked by rfkill?)"),
        (
            (("hci0", False),),
            "the Bluetooth adapter is powered off: turn Bluetooth on "
            "(e.g. `bluetoothctl power on`)",
        ),
    ],
)
async def test_no_usable_adapter_messages(
    make_bluez: MakeBluez,
    dbus_daemon: DbusDaemon,
    adapters: tuple[tuple[str, bool], ...],
    message: str,
) -> None:
    await make_bluez(adapters=adapters)
    for cmd in (["scan", "--timeout", "0.2"], ["record", "--device", "Polar H10", "--quiet"]):
        rc, _, err = await _cli(dbus_daemon, *cmd)
        assert rc == 2, err
        assert err.strip().splitlines() == [f"biofeedback {cmd[0]}: error: {message}"]


async def test_rssi_127_is_unknown_and_sorts_last(
    make_bluez: MakeBluez, dbus_daemon: DbusDaemon
) -> None:
    fake = await make_bluez(strap=None)
    quiet = VirtualStrap(CAPTURE, address="A0:9E:1A:00:00:01", name="Polar H10 00000001")
    weak = VirtualStrap(CAPTURE, address="A0:9E:1A:00:00:02", name="Polar H10 00000002")
    fake.add_strap(quiet, rssi=127)  # HCI "RSSI not available"
    fake.add_strap(weak, rssi=-90)
    found = await scan_straps(0.2)
    assert [(r.address, r.rssi_dbm) for r in found] == [(weak.address, -90), (quiet.address, None)]
    rc, out, err = await _cli(dbus_daemon, "scan", "--timeout", "0.3")
    assert rc == 0, err
    assert out.splitlines()[2].split()[-1] == "?"  # not "127"
    # what a connection stores about the strap
    c = Consumer(BleHeartRateSource(quiet.address, config=FAST))
    await c.until(count(LinkState.CONNECTED))
    await c.finish()
    assert c.source.info.rssi_dbm is None


async def test_ambiguous_name_takes_the_strongest_and_warns(
    make_bluez: MakeBluez, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_bluez(strap=None)
    far = VirtualStrap(CAPTURE, address="A0:9E:1A:00:00:0A", name="Polar H10 0000000A")
    near = VirtualStrap(CAPTURE, address="A0:9E:1A:00:00:0B", name="Polar H10 0000000B")
    fake.add_strap(far, rssi=-85)
    fake.add_strap(near, rssi=-48)
    caplog.set_level(logging.WARNING, logger="devices.scanning")
    c = Consumer(BleHeartRateSource("polar h10", config=FAST, settle_s=0.3))
    await c.until(count(LinkState.CONNECTED))
    await c.finish()
    assert c.source.info.address == near.address
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2 straps match 'polar h10'" in warnings[0]
    assert far.address in warnings[0] and near.address in warnings[0]


async def test_a_strap_already_connected_to_the_os_is_found_and_streams(
    make_bluez: MakeBluez, dbus_daemon: DbusDaemon
) -> None:
    fake = await make_bluez(strap=None)
    strap = VirtualStrap(CAPTURE)
    dev = fake.add_strap(strap, connected=True)  # bonded and auto-connected: no advertising
    found = await scan_straps(0.2)
    assert [(r.address, r.connected, r.rssi_dbm) for r in found] == [(strap.address, True, None)]
    rc, out, err = await _cli(dbus_daemon, "scan", "--timeout", "0.2")
    assert rc == 0, err
    assert out.splitlines()[1].endswith("?  connected to this computer")
    c = Consumer(BleHeartRateSource(strap.name, config=FAST))
    await c.until(count(LinkState.CONNECTED))
    await strap.play(3)
    await c.until(n_frames(3))
    await c.finish()
    assert c.frames() == strap.sent
    assert dev.connect_calls == 0  # bleak reused the OS connection
