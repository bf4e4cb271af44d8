"""A fake BlueZ (``org.bluez``) on a private system bus, for bleak's real Linux backend.

Not a test module: ``tests/devices/test_ble_fake_bluez.py`` uses it. The pieces:

* :class:`DbusDaemon` starts ``dbus-daemon`` with a ``<type>system</type>`` config, a unix
  socket in a temporary folder and an allow-all policy. Tests point bleak at it by setting
  ``DBUS_SYSTEM_BUS_ADDRESS`` (with pytest's ``monkeypatch.setenv``) before bleak first
  talks to the bus.
* :class:`FakeBluez` serves, with dbus-fast in the test's own event loop, an ``Adapter1``
  (``Roles`` includes ``"central"``: bleak's adapter lookup needs it), a heart-rate strap
  ``Device1`` with ``GattService1``/``GattCharacteristic1`` objects for HRS (2A37 notify,
  2A38 read), BAS (2A19 read/notify) and DIS (2A29/2A24/2A25/2A26), plus an optional
  non-heart-rate device that a 0x180D scan must not report.
* :class:`VirtualStrap` feeds 2A37 notifications from a capture file's ``notify`` events.

Fidelity notes (what bleak's BlueZ backend actually depends on): ``Connect`` emits
``Connected: true`` then ``ServicesResolved: true``; a link loss emits ``Connected: false``
then ``ServicesResolved: false`` and ends notify sessions (``Notifying: false``); a value
is only sent as ``PropertiesChanged(Value)`` while a client has called ``StartNotify``, so a
frame sent before subscribing is lost, as on a real stack; the device advertises (an
``RSSI`` change) only while the adapter is discovering and the link is down. Handles come
from the hex digits of the object paths, as bleak reads them.

Teardown matters: :meth:`FakeBluez.close` disconnects the service bus and waits, otherwise
the stale connection keeps owning ``org.bluez`` and the next test's event loop hangs.
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import BusType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.service import ServiceInterface, dbus_property, method

from devices.capture import read_capture

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

ADAPTER_PATH = "/org/bluez/hci0"
DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]


def full(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


class DbusUnavailable(RuntimeError):
    """dbus-daemon is not installed or would not start (the test skips with this reason)."""


class DbusDaemon:
    """A private ``dbus-daemon`` acting as the system bus."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("dbus-daemon")
        if exe is None:
            raise DbusUnavailable("dbus-daemon not on PATH (Debian/Ubuntu: apt install dbus)")
        tmp.mkdir(parents=True, exist_ok=True)
        sock = tmp / "system_bus_socket"
        cfg = tmp / "system.conf"
        cfg.write_text(CONFIG.format(sock=sock), encoding="utf-8")
        self.address = f"unix:path={sock}"
        self._proc = subprocess.Popen(
            [exe, "--nofork", "--nopidfile", f"--config-file={cfg}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5.0
        while not sock.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = self._stop()
                raise DbusUnavailable(f"dbus-daemon did not start: {err.strip()[:200]}")
            time.sleep(0.01)

    def _stop(self) -> str:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        assert self._proc.stderr is not None
        err = self._proc.stderr.read().decode(errors="replace")
        self._proc.stderr.close()
        return err

    def close(self) -> None:
        self._stop()


# -- org.bluez objects -------------------------------------------------------------------------


class Adapter(ServiceInterface):
    def __init__(self, bluez: "FakeBluez") -> None:
        super().__init__("org.bluez.Adapter1")
        self._bluez = bluez
        self.discovering = False

    @method()
    def StartDiscovery(self) -> None:
        self.discovering = True
        self.emit_properties_changed({"Discovering": True})
        self._bluez.discovery_changed()

    @method()
    def StopDiscovery(self) -> None:
        self.discovering = False
        self.emit_properties_changed({"Discovering": False})

    @method()
    def SetDiscoveryFilter(self, f: DBusDict) -> None:
        self._bluez.discovery_filters.append(f)

    @method()
    def RemoveDevice(self, p: DBusObjectPath) -> None:
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return "00:11:22:33:44:55"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self.discovering


class Device(ServiceInterface):
    def __init__(self, address: str, name: str, uuids: list[str], rssi: int) -> None:
        super().__init__("org.bluez.Device1")
        # not ``self.name``: ServiceInterface keeps the D-Bus interface name there
        self.address, self.dev_name, self.uuids, self.rssi = address, name, uuids, rssi
        self.connected = False
        self.services_resolved = False
        self.chars: list[GattChar] = []
        self.connect_calls = 0
        self.connect_delay_s = 0.005

    @method()
    async def Connect(self) -> None:
        self.connect_calls += 1
        if self.connected:
            return
        await asyncio.sleep(self.connect_delay_s)  # link-layer setup
        self.connected = True
        self.emit_properties_changed({"Connected": True})
        await asyncio.sleep(0.005)  # GATT discovery
        self.services_resolved = True
        self.emit_properties_changed({"ServicesResolved": True})

    @method()
    def Disconnect(self) -> None:
        self.link_down()

    def link_down(self) -> None:
        """What BlueZ emits when the link goes: Connected false, then ServicesResolved false."""
        if not self.connected:
            return
        for c in self.chars:
            c.end_notify()
        self.connected = False
        self.emit_properties_changed({"Connected": False})
        self.services_resolved = False
        self.emit_properties_changed({"ServicesResolved": False})

    def advertise(self) -> None:
        self.emit_properties_changed({"RSSI": self.rssi})

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.dev_name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return self.dev_name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return self.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return self.uuids

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturerData:
        return {0x006B: Variant("ay", b"\x10\x00")}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        return {}


class GattService(ServiceInterface):
    def __init__(self, uuid: str, device_path: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.uuid, self.device_path = uuid, device_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self.device_path


class GattChar(ServiceInterface):
    def __init__(self, uuid: str, service_path: str, flags: list[str], value: bytes = b"") -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.uuid, self.service_path, self.flags, self.value = uuid, service_path, flags, value
        self.notifying = False
        self.reads = 0

    @method()
    def ReadValue(self, opts: DBusDict) -> DBusBytes:
        self.reads += 1
        return self.value

    @method()
    def WriteValue(self, v: DBusBytes, opts: DBusDict) -> None:
        self.value = v

    @method()
    def StartNotify(self) -> None:
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})

    @method()
    def StopNotify(self) -> None:
        self.end_notify()

    def end_notify(self) -> None:
        if self.notifying:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})

    def notify(self, data: bytes) -> bool:
        """Send a value; like BlueZ, only while a client has called StartNotify."""
        if not self.notifying:
            return False
        self.value = data
        self.emit_properties_changed({"Value": data})
        return True

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self.service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying


# -- the strap ---------------------------------------------------------------------------------


class VirtualStrap:
    """A capture's 2A37 payloads, sent one by one through the fake's HRM characteristic."""

    def __init__(self, capture_path: Path) -> None:
        cap = read_capture(capture_path)
        dev = cap.header.device
        self.name = dev.name
        self.address = "A0:9E:1A:5A:1B:2C"
        self.model = dev.model or "H10"
        self.manufacturer = dev.manufacturer or "Polar Electro Oy"
        self.firmware = dev.firmware or "3.1.1"
        self.serial = "C7A1B2C3"
        self.battery_pct = dev.battery_pct if dev.battery_pct is not None else 90
        self.frames = [e.data for e in cap.events if e.kind == "notify" and e.char == "2a37"]
        self._next = 0
        self.sent: list[bytes] = []  # delivered to a subscribed client
        self.dropped: list[bytes] = []  # sent while nobody was subscribed: lost, as on air
        self.hrm: GattChar | None = None

    def send_next(self) -> bool:
        """Send the next capture frame; True if a subscriber got it."""
        assert self.hrm is not None
        data = self.frames[self._next % len(self.frames)]
        self._next += 1
        ok = self.hrm.notify(data)
        (self.sent if ok else self.dropped).append(data)
        return ok

    async def play(self, n: int, interval_s: float = 0.01) -> None:
        for _ in range(n):
            self.send_next()
            await asyncio.sleep(interval_s)


class FakeBluez:
    """``org.bluez`` served on ``bus_address`` with one strap (and optionally a mouse)."""

    def __init__(self, bus_address: str, strap: VirtualStrap, *, with_other_device: bool = True):
        self.bus_address = bus_address
        self.strap = strap
        self.with_other_device = with_other_device
        self.discovery_filters: list[dict[str, Any]] = []
        self._bus: MessageBus | None = None
        self._adv_task: asyncio.Task[None] | None = None
        self.adapter = Adapter(self)
        self.devices: list[Device] = []
        self.device: Device | None = None

    async def start(self) -> "FakeBluez":
        bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        self._bus = bus
        await bus.request_name("org.bluez")
        bus.export(ADAPTER_PATH, self.adapter)
        s = self.strap
        dp = f"{ADAPTER_PATH}/dev_{s.address.replace(':', '_')}"
        dev = Device(s.address, s.name, [full(0x180D), full(0x180F), full(0x180A)], -58)
        bus.export(dp, dev)
        self.device = dev
        self.devices.append(dev)

        def svc(handle: int, uuid: int) -> str:
            path = f"{dp}/service{handle:04x}"
            bus.export(path, GattService(full(uuid), dp))
            return path

        def char(svc_path: str, handle: int, uuid: int, flags: list[str], value: bytes) -> GattChar:
            c = GattChar(full(uuid), svc_path, flags, value)
            bus.export(f"{svc_path}/char{handle:04x}", c)
            dev.chars.append(c)
            return c

        hrs = svc(0x000A, 0x180D)
        s.hrm = char(hrs, 0x000B, 0x2A37, ["notify"], b"")
        char(hrs, 0x000E, 0x2A38, ["read"], b"\x01")  # chest
        bas = svc(0x0010, 0x180F)
        char(bas, 0x0011, 0x2A19, ["read", "notify"], bytes([s.battery_pct]))
        dis = svc(0x0014, 0x180A)
        char(dis, 0x0015, 0x2A29, ["read"], s.manufacturer.encode())
        char(dis, 0x0017, 0x2A24, ["read"], s.model.encode())
        char(dis, 0x0019, 0x2A25, ["read"], s.serial.encode())
        char(dis, 0x001B, 0x2A26, ["read"], s.firmware.encode())
        if self.with_other_device:
            # A BLE mouse (HID 0x1812) nearby: a 0x180D-filtered scan must not report it.
            mp = f"{ADAPTER_PATH}/dev_C0_FF_EE_00_00_01"
            mouse = Device("C0:FF:EE:00:00:01", "BT Mouse", [full(0x1812)], -40)
            bus.export(mp, mouse)
            self.devices.append(mouse)
        self._adv_task = asyncio.get_running_loop().create_task(self._advertise_loop())
        return self

    def discovery_changed(self) -> None:
        self._advertise_once()

    def _advertise_once(self) -> None:
        if not self.adapter.discovering:
            return
        for d in self.devices:
            if not d.connected:  # a connected strap stops advertising
                d.advertise()

    async def _advertise_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self._advertise_once()

    def drop_link(self) -> None:
        """Force a link loss (strap out of range): BlueZ's signal order, no method call."""
        assert self.device is not None
        self.device.link_down()

    async def close(self) -> None:
        if self._adv_task is not None:
            self._adv_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adv_task
        if self._bus is not None:
            self._bus.disconnect()
            await self._bus.wait_for_disconnect()
            self._bus = None


def dbus_env_ok() -> str | None:
    """Why the fake cannot run here, or None."""
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon not on PATH (Debian/Ubuntu: apt install dbus)"
    if not hasattr(os, "getuid"):
        return "needs a POSIX system"
    return None
