"""The fake BlueZ itself behaves like bluetoothd 5.66 did under the real-BlueZ tier: signal
order, timing, object lifetimes and error replies, watched by a plain D-Bus client (no bleak
in between), and the bleak-visible consequences (the race, the le-connection-abort retry)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from tests.support.bluez_harness import MakeBluez
from tests.support.fake_bluez import DbusDaemon, FakeBluez

pytestmark = [pytest.mark.fake_bluez, pytest.mark.skipif(sys.platform != "linux", reason="BlueZ")]


class Watcher:
    """A D-Bus client that records org.bluez's signals as (t, member, path, detail)."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.t0 = time.monotonic()
        self.log: list[tuple[float, str, str, Any]] = []
        bus.add_message_handler(self._on)

    @classmethod
    async def start(cls, address: str) -> Watcher:
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        for rule in (
            "type='signal',sender='org.bluez',member='PropertiesChanged'",
            "type='signal',sender='org.bluez',member='InterfacesAdded'",
            "type='signal',sender='org.bluez',member='InterfacesRemoved'",
        ):
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
        return cls(bus)

    def _on(self, m: Message) -> None:
        if m.message_type is not MessageType.SIGNAL:
            return
        t = time.monotonic() - self.t0
        if m.member == "PropertiesChanged":
            for k, v in m.body[1].items():
                if k != "RSSI":
                    self.log.append((t, k, m.path, v.value))
        elif m.member in ("InterfacesAdded", "InterfacesRemoved"):
            self.log.append((t, m.member, m.body[0], None))

    def mark(self, what: str) -> None:
        self.log.append((time.monotonic() - self.t0, what, "", None))

    async def call(self, path: str, member: str) -> Message:
        reply = await self.bus.call(
            Message(
                destination="org.bluez", path=path, interface="org.bluez.Device1", member=member
            )
        )
        assert reply is not None
        return reply

    def names(self) -> list[str]:
        return [f"{k}={v}" if v is not None else k for _, k, _, v in self.log]

    async def close(self) -> None:
        self.bus.disconnect()
        await self.bus.wait_for_disconnect()


@pytest.fixture
async def watcher(dbus_daemon: DbusDaemon) -> Any:
    w = await Watcher.start(dbus_daemon.address)
    yield w
    await w.close()


async def test_connect_replies_before_services_resolve_with_real_looking_delays(
    bluez: FakeBluez, watcher: Watcher
) -> None:
    dev = bluez.device
    assert dev is not None
    dev.connect_delay_s, dev.resolve_delay_s = 0.05, 0.3  # LE link up, then GATT discovery
    t = time.monotonic()
    reply = await watcher.call(dev.path, "Connect")
    watcher.mark("reply")
    assert reply.message_type is MessageType.METHOD_RETURN
    assert time.monotonic() - t >= 0.05
    await asyncio.sleep(0.4)
    names = watcher.names()
    gatt = [n for n in names if n == "InterfacesAdded"]
    assert len(gatt) == len(dev.gatt) == 10  # one per object: 3 services, 7 characteristics
    i_reply, i_resolved = names.index("reply"), names.index("ServicesResolved=True")
    assert names.index("Connected=True") < i_reply < names.index("InterfacesAdded") < i_resolved
    t_reply = watcher.log[i_reply][0]
    assert watcher.log[i_resolved][0] - t_reply >= 0.25


async def test_the_race_leaves_connected_false(bluez: FakeBluez, watcher: Watcher) -> None:
    dev = bluez.device
    assert dev is not None
    dev.drop_connected_signal = 1
    await watcher.call(dev.path, "Connect")
    await asyncio.sleep(0.1)
    assert "Connected=True" not in watcher.names()
    assert "ServicesResolved=True" in watcher.names()  # GATT works, the property is stale
    assert dev.drop_connected_signal == 0  # only the next attempt is hit


async def test_link_loss_order_and_removal_after_disconnect(
    bluez: FakeBluez, watcher: Watcher
) -> None:
    dev = bluez.device
    assert dev is not None
    dev.remove_after_s = 0.1
    await watcher.call(dev.path, "Connect")
    await asyncio.sleep(0.05)
    watcher.log.clear()
    bluez.drop_link()
    await asyncio.sleep(0.2)
    names = watcher.names()
    assert names[:2] == ["ServicesResolved=False", "Connected=False"]  # BlueZ's order
    removed = [p for _, k, p, _ in watcher.log if k == "InterfacesRemoved"]
    assert len(removed) == len(dev.gatt) + 1 and removed[-1] == dev.path  # tree, then device
    assert dev.removals == 1
    # discovery brings it back as a new object, without its GATT tree (until connected)
    bluez.adapters[0].discovering = True
    bluez.advertise_once()
    await asyncio.sleep(0.05)
    assert [p for _, k, p, _ in watcher.log if k == "InterfacesAdded"] == [dev.path]


async def test_injected_errors_reply_as_bluez_does(bluez: FakeBluez, watcher: Watcher) -> None:
    dev = bluez.device
    assert dev is not None
    dev.faults.add("Connect", "org.bluez.Error.InProgress", "Operation already in progress")
    reply = await watcher.call(dev.path, "Connect")
    assert (reply.message_type, reply.error_name) == (
        MessageType.ERROR,
        "org.bluez.Error.InProgress",
    )
    dev.faults.add("Connect", "org.bluez.Error.Failed", "le-connection-abort-by-local")
    reply = await watcher.call(dev.path, "Connect")
    assert reply.error_name == "org.bluez.Error.Failed"
    assert reply.body == ["le-connection-abort-by-local"]
    # BlueZ really connected before aborting: the blip comes first (bleak waits for it)
    assert watcher.names()[-2:] == ["Connected=True", "Connected=False"]
    reply = await watcher.call(dev.path, "Connect")  # faults are consumed: this one works
    assert reply.message_type is MessageType.METHOD_RETURN


async def test_bleak_retries_le_connection_abort_by_local(make_bluez: MakeBluez) -> None:
    from bleak import BleakClient, BleakScanner

    fake = await make_bluez()
    dev = fake.device
    assert dev is not None
    for _ in range(2):
        dev.faults.add("Connect", "org.bluez.Error.Failed", "le-connection-abort-by-local")
    found = await BleakScanner.find_device_by_address(fake.strap.address, timeout=2.0)
    assert found is not None
    t = time.monotonic()
    async with BleakClient(found, timeout=5.0) as client:
        assert client.is_connected
    assert time.monotonic() - t < 2.0  # no 20 s hang: the signal order lets bleak retry
    assert dev.connect_calls == 3


async def test_two_adapters_each_have_their_devices(make_bluez: MakeBluez) -> None:
    from tests.support.bluez_harness import CAPTURE
    from tests.support.fake_bluez import VirtualStrap

    fake = await make_bluez(strap=None, adapters=(("hci0", True), ("hci1", True)))
    d1 = fake.add_strap(VirtualStrap(CAPTURE), adapter="hci1")
    assert d1.path.startswith("/org/bluez/hci1/dev_")
    assert [a.path for a in fake.adapters] == ["/org/bluez/hci0", "/org/bluez/hci1"]
