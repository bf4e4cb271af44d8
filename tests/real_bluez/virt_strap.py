"""A heart-rate strap served by the real bluetoothd on a virtual controller (guest only).

Registers, on ADAPTER, a GATT application (Heart Rate 2A37 notify + 2A38 read, Battery 2A19,
Device Information 2A29/2A24) through BlueZ's GattManager1 and an LE advertisement (service
0x180D, a local name) through LEAdvertisingManager1. While a central is subscribed it sends
the 2A37 payloads of a capture, one every INTERVAL seconds. Like a real strap it advertises
again after a central disconnects. Lines on stdin steer it: ``drop`` disconnects the central
from the strap's side (a forced link loss), ``quiet S`` stops advertising for S seconds (so
BlueZ on the central forgets the device). It prints ``READY``, ``SUBSCRIBED``, ``DROPPED``...

usage: virt_strap.py ADAPTER CAPTURE NAME [INTERVAL]
"""

import asyncio
import json
import sys
from typing import Annotated, Any

from dbus_fast import BusType, Message, MessageType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.service import ServiceInterface, dbus_property, method

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]
TASKS: set[asyncio.Task[None]] = set()


def spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    TASKS.add(task)
    task.add_done_callback(TASKS.discard)


APP = "/org/example/strap"
ADV = f"{APP}/adv0"


def say(text: str) -> None:
    print(text, flush=True)


def full(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


class Service(ServiceInterface):
    def __init__(self, uuid: int) -> None:
        super().__init__("org.bluez.GattService1")
        self.uuid = full(uuid)

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


class Char(ServiceInterface):
    def __init__(self, uuid: int, service: str, flags: list[str], value: bytes = b"") -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.uuid, self.service, self.flags, self.value = full(uuid), service, flags, value
        self.notifying = False
        self.subscribers: list[Any] = []

    @method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self.value

    @method()
    def StartNotify(self) -> None:
        self._notifying(True)

    @method()
    def StopNotify(self) -> None:
        self._notifying(False)

    def _notifying(self, on: bool) -> None:
        self.notifying = on
        self.emit_properties_changed({"Notifying": on})
        for cb in self.subscribers:
            cb(on)

    def send(self, data: bytes) -> None:
        self.value = data
        self.emit_properties_changed({"Value": data})

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self.service

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return self.flags

    # dbus-fast only puts properties it can read into PropertiesChanged: without Value and
    # Notifying here the change set is empty and bluetoothd notifies nothing.
    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying


class Advertisement(ServiceInterface):
    def __init__(self, name: str) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self.local_name = name

    @method()
    def Release(self) -> None:
        say("ADV_RELEASED")

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrList:
        return ["180d"]

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self.local_name

    # Polar's company ID with a payload, as a real H10 advertises
    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturerData:
        return {0x006B: Variant("ay", b"\x33\x1e\x33\x3c")}


class Strap:
    def __init__(self, bus: MessageBus, adapter: str, frames: list[bytes], interval_s: float):
        self.bus, self.adapter, self.frames, self.interval_s = (
            bus,
            f"/org/bluez/{adapter}",
            frames,
            interval_s,
        )
        self.sent = 0
        self._pump: asyncio.Task[None] | None = None
        self.advertising = False
        self.quiet = False

    async def call(
        self, path: str, iface: str, member: str, sig: str = "", body: Any = ()
    ) -> Message:
        reply = await self.bus.call(
            Message(
                destination="org.bluez",
                path=path,
                interface=iface,
                member=member,
                signature=sig,
                body=list(body),
            )
        )
        assert reply is not None
        return reply

    async def advertise(self, on: bool) -> None:
        iface = "org.bluez.LEAdvertisingManager1"
        if on and not self.advertising:
            r = await self.call(self.adapter, iface, "RegisterAdvertisement", "oa{sv}", [ADV, {}])
            self.advertising = r.message_type is MessageType.METHOD_RETURN
            say(f"ADV_ON {r.error_name or 'ok'}")
        elif not on:
            await self.call(self.adapter, iface, "UnregisterAdvertisement", "o", [ADV])
            self.advertising = False
            say("ADV_OFF")

    def on_subscribe(self, on: bool) -> None:
        if on and self._pump is None:
            say("SUBSCRIBED")
            self._pump = asyncio.get_running_loop().create_task(self.pump())
        elif not on and self._pump is not None:
            say("UNSUBSCRIBED")
            self._pump.cancel()
            self._pump = None

    async def pump(self) -> None:
        while True:
            self.hrm.send(self.frames[self.sent % len(self.frames)])
            self.sent += 1
            await asyncio.sleep(self.interval_s)

    async def centrals(self) -> list[str]:
        r = await self.call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        return [
            p
            for p, ifs in r.body[0].items()
            # not only Connected ones: the connect race can leave that property false
            if p.startswith(self.adapter + "/dev_") and "org.bluez.Device1" in ifs
        ]

    def on_signal(self, m: Message) -> None:
        # a central went away: advertise again (a real strap does), unless told to be quiet
        if (
            m.member == "PropertiesChanged"
            and m.path.startswith(self.adapter + "/dev_")
            and m.body[0] == "org.bluez.Device1"
            and "Connected" in m.body[1]
            and not m.body[1]["Connected"].value
        ):
            say("CENTRAL_GONE")
            self.advertising = False  # the controller stopped advertising at connect
            if not self.quiet:
                spawn(self.readvertise())

    async def readvertise(self) -> None:
        await self.call(
            self.adapter, "org.bluez.LEAdvertisingManager1", "UnregisterAdvertisement", "o", [ADV]
        )
        await self.advertise(True)

    async def command(self, line: str) -> None:
        words = line.split()
        if words[:1] == ["drop"]:
            for p in await self.centrals():
                r = await self.call(p, "org.bluez.Device1", "Disconnect")
                say(f"DROPPED {p} {r.error_name or 'ok'}")
        elif words[:1] == ["quiet"]:
            self.quiet = True
            await self.advertise(False)
            await asyncio.sleep(float(words[1]))
            self.quiet = False
            await self.advertise(True)


async def main() -> None:
    adapter, capture, name = sys.argv[1], sys.argv[2], sys.argv[3]
    interval_s = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
    frames = []
    with open(capture, encoding="utf-8") as fh:
        next(fh)  # header
        for line in fh:
            ev = json.loads(line)
            if ev.get("kind") == "notify" and ev.get("char", "2a37") == "2a37" and ev.get("hex"):
                frames.append(bytes.fromhex(ev["hex"]))
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    strap = Strap(bus, adapter, frames, interval_s)
    hrs, bas, dis = f"{APP}/service0", f"{APP}/service1", f"{APP}/service2"
    bus.export(hrs, Service(0x180D))
    strap.hrm = Char(0x2A37, hrs, ["notify"])
    strap.hrm.subscribers.append(strap.on_subscribe)
    bus.export(f"{hrs}/char0", strap.hrm)
    bus.export(f"{hrs}/char1", Char(0x2A38, hrs, ["read"], b"\x01"))
    bus.export(bas, Service(0x180F))
    bus.export(f"{bas}/char0", Char(0x2A19, bas, ["read", "notify"], bytes([87])))
    bus.export(dis, Service(0x180A))
    bus.export(f"{dis}/char0", Char(0x2A29, dis, ["read"], b"Polar Electro Oy (virtual)"))
    bus.export(f"{dis}/char1", Char(0x2A24, dis, ["read"], b"H10"))
    bus.export(ADV, Advertisement(name))
    await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=["type='signal',sender='org.bluez',member='PropertiesChanged'"],
        )
    )
    bus.add_message_handler(strap.on_signal)
    r = await strap.call(
        strap.adapter, "org.bluez.GattManager1", "RegisterApplication", "oa{sv}", [APP, {}]
    )
    say(f"APP {r.error_name or 'ok'}")
    await strap.advertise(True)
    say("READY")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        spawn(strap.command(line))
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main())
