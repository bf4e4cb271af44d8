"""A fake BlueZ (``org.bluez``) on a private system bus, for bleak's real Linux backend.

Not a test module: the fake-BlueZ tests (`tests/devices/test_ble_*.py`) use it. The pieces:

* :class:`DbusDaemon` starts ``dbus-daemon`` with a ``<type>system</type>`` config, a unix
  socket in a temporary folder and an allow-all policy. Tests point bleak at it by setting
  ``DBUS_SYSTEM_BUS_ADDRESS`` (with pytest's ``monkeypatch.setenv``) before bleak first
  talks to the bus.
* :class:`FakeBluez` serves, with dbus-fast in the test's own event loop, one or more
  ``Adapter1`` objects (``Roles`` includes ``"central"``: bleak's adapter lookup needs it) and
  heart-rate straps (:meth:`FakeBluez.add_strap`): ``Device1`` with ``GattService1``/
  ``GattCharacteristic1`` objects for HRS (2A37 notify, 2A38 read), BAS (2A19 read/notify)
  and DIS (2A29/2A24/2A25/2A26), plus an optional non-heart-rate device that a 0x180D scan
  must not report.
* :class:`VirtualStrap` feeds 2A37 notifications from a capture file's ``notify`` events.

Fidelity (what real bluetoothd 5.66 did under the real-BlueZ tier, and what bleak's BlueZ
backend depends on):

* ``Connect`` replies once the link is up (``connect_delay_s``), normally after
  ``Connected: true``; GATT discovery finishes later (``resolve_delay_s``): the service
  objects appear one by one (``InterfacesAdded`` per object), then ``ServicesResolved: true``.
* The connect race: with ``Device.drop_connected_signal`` > 0 the next attempts never emit
  ``Connected: true`` (bluetoothd logged "already connected") although the property reads
  true, so bleak's cache says ``Connected: false`` and it gives up with "failed to discover
  services, device disconnected".
* A link loss emits ``ServicesResolved: false`` before ``Connected: false`` and ends notify
  sessions (``Notifying: false``); ``remove_after_s`` later the device and its GATT tree are
  removed (``InterfacesRemoved`` per object) and come back (without GATT objects) at the
  next advertisement.
* ``Device.faults.add(method, error, text)`` makes the next call of a method reply with an
  ``org.bluez.Error.*``; ``le-connection-abort-by-local`` is preceded by a
  ``Connected: true`` → ``false`` blip, as BlueZ sends (bleak waits for it before retrying).
* A value is only sent as ``PropertiesChanged(Value)`` while a client has called
  ``StartNotify``, so a frame sent before subscribing is lost; a device advertises (an
  ``RSSI`` change; 127 = "not available" can be set) only while its adapter is discovering
  and the link is down; a strap added with ``connected=True`` is connected at OS level and
  never advertises. Handles come from the hex digits of the object paths, as bleak reads them.

Teardown matters: :meth:`FakeBluez.close` ends pending calls, disconnects the service bus
and waits, otherwise the stale connection keeps owning ``org.bluez`` and the next test's
event loop hangs.
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import BusType, DBusError, PropertyAccess, Variant
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


class Faults:
    """Scripted ``org.bluez.Error.*`` replies, per method name, consumed in order."""

    def __init__(self) -> None:
        self._queue: dict[str, deque[tuple[str, str]]] = {}

    def add(self, method: str, error: str, text: str) -> None:
        self._queue.setdefault(method, deque()).append((error, text))

    def next(self, method: str) -> tuple[str, str] | None:
        q = self._queue.get(method)
        return q.popleft() if q else None

    def raise_next(self, method: str) -> None:
        hit = self.next(method)
        if hit is not None:
            raise DBusError(*hit)


class Adapter(ServiceInterface):
    def __init__(self, bluez: "FakeBluez", name: str, address: str, powered: bool) -> None:
        super().__init__("org.bluez.Adapter1")
        self._bluez = bluez
        self.adapter_name, self.address, self.powered = name, address, powered
        self.path = f"/org/bluez/{name}"
        self.discovering = False
        self.session = 0  # discovery sessions so far
        self.faults = Faults()

    @method()
    def StartDiscovery(self) -> None:
        self.faults.raise_next("StartDiscovery")
        if not self.powered:
            raise DBusError("org.bluez.Error.NotReady", "Resource Not Ready")
        self.discovering = True
        self.session += 1
        for d in self._bluez.devices:
            if d.adapter is self and d.miss_sessions > 0:
                d.miss_sessions -= 1
                d.missed_session = self.session
        self.emit_properties_changed({"Discovering": True})
        self._bluez.advertise_once()

    @method()
    def StopDiscovery(self) -> None:
        self.discovering = False
        self.emit_properties_changed({"Discovering": False})

    @method()
    def SetDiscoveryFilter(self, f: DBusDict) -> None:
        self._bluez.discovery_filters.append(f)

    @method()
    def RemoveDevice(self, p: DBusObjectPath) -> None:
        for d in self._bluez.devices:
            if d.path == p:
                d.link_down()
                self._bluez.remove(d)

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return self.powered

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self.discovering


class Device(ServiceInterface):
    """``Device1``; timing and faults are plain attributes a test may change."""

    def __init__(
        self,
        bluez: "FakeBluez",
        adapter: Adapter,
        address: str,
        name: str,
        uuids: list[str],
        rssi: int,
    ) -> None:
        super().__init__("org.bluez.Device1")
        self._bluez = bluez
        self.adapter = adapter
        # not ``self.name``: ServiceInterface keeps the D-Bus interface name there
        self.address, self.dev_name, self.uuids, self.rssi = address, name, uuids, rssi
        self.path = f"{adapter.path}/dev_{address.replace(':', '_')}"
        self.connected = False
        self.services_resolved = False
        self.exported = False
        self.gatt: list[tuple[str, ServiceInterface]] = []  # built by FakeBluez.add_strap
        self.gatt_exported = False
        self.chars: list[GattChar] = []
        self.connect_calls = 0
        self.connect_delay_s = 0.005  # link-layer setup, before the Connect reply
        self.resolve_delay_s = 0.005  # GATT discovery, after the reply
        self.drop_connected_signal = 0  # next N connects never emit Connected: true
        self.remove_after_s: float | None = None  # BlueZ drops a disconnected device
        self.vanish_on_connect = 0  # next N connects find the object already removed
        self.miss_sessions = 0  # next N discovery sessions never see it (its one report lost)
        self.missed_session = -1
        self.removals = 0
        self.faults = Faults()
        self._removal: asyncio.TimerHandle | None = None

    @method()
    async def Connect(self) -> None:
        self.connect_calls += 1
        fault = self.faults.next("Connect")
        if fault is not None:
            if fault[1] == "le-connection-abort-by-local":
                self._set(Connected=True)
                self._set(Connected=False)
            raise DBusError(*fault)
        if self.vanish_on_connect > 0:
            # removed between the scan that found it and this call (BlueZ's cache expiry)
            self.vanish_on_connect -= 1
            self._bluez.remove(self)
            raise DBusError("org.freedesktop.DBus.Error.UnknownObject", f"no object {self.path}")
        if self.connected:
            return
        self._cancel_removal()
        await self._bluez.pause(self.connect_delay_s)
        if self.drop_connected_signal > 0:
            # the race: the link is up and Properties.Get says so, but the signal never comes
            self.drop_connected_signal -= 1
            self.connected = True
        else:
            self._set(Connected=True)
        self._bluez.spawn(self._resolve())

    async def _resolve(self) -> None:
        await self._bluez.pause(self.resolve_delay_s)
        if not self.gatt_exported:
            for path, obj in self.gatt:  # one InterfacesAdded per object, as BlueZ sends
                self._bluez.bus.export(path, obj)
            self.gatt_exported = True
        self._set(ServicesResolved=True)

    @method()
    def Disconnect(self) -> None:
        self.faults.raise_next("Disconnect")
        self.link_down()

    def _set(self, **props: bool) -> None:
        for k, v in props.items():
            if k == "Connected":
                self.connected = v
            else:
                self.services_resolved = v
        self.emit_properties_changed(props)

    def link_down(self) -> None:
        """BlueZ's order on a link loss: ServicesResolved false, then Connected false."""
        for c in self.chars:
            c.end_notify()
        if self.services_resolved:
            self._set(ServicesResolved=False)
        if self.connected:
            self._set(Connected=False)
        if self.remove_after_s is not None and self.exported:
            loop = asyncio.get_running_loop()
            self._removal = loop.call_later(self.remove_after_s, self._bluez.remove, self)

    def _cancel_removal(self) -> None:
        if self._removal is not None:
            self._removal.cancel()
            self._removal = None

    def advertise(self) -> None:
        if not self.exported:
            self._bluez.export_device(self)  # a removed device is found again
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
        return self.adapter.path

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
        self.faults = Faults()

    @method()
    def ReadValue(self, opts: DBusDict) -> DBusBytes:
        self.faults.raise_next("ReadValue")
        self.reads += 1
        return self.value

    @method()
    def WriteValue(self, v: DBusBytes, opts: DBusDict) -> None:
        self.value = v

    @method()
    def StartNotify(self) -> None:
        self.faults.raise_next("StartNotify")
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

    def __init__(
        self, capture_path: Path, *, address: str = "A0:9E:1A:5A:1B:2C", name: str | None = None
    ) -> None:
        cap = read_capture(capture_path)
        dev = cap.header.device
        self.name = dev.name
        self.address = address
        if name is not None:
            self.name = name
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
    """``org.bluez`` served on ``bus_address``: adapters, one strap (more with `add_strap`)
    and optionally a mouse.

    ``adapters`` are ``(name, powered)`` pairs; the straps and the mouse sit on the first.
    ``strap=None`` serves no strap at all.
    """

    def __init__(
        self,
        bus_address: str,
        strap: "VirtualStrap | None",
        *,
        with_other_device: bool = True,
        adapters: tuple[tuple[str, bool], ...] = (("hci0", True),),
    ):
        self.bus_address = bus_address
        self.strap = strap
        self.with_other_device = with_other_device
        self.discovery_filters: list[dict[str, Any]] = []
        self._bus: MessageBus | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self.adapters = [
            Adapter(self, name, f"00:11:22:33:44:{i:02X}", powered)
            for i, (name, powered) in enumerate(adapters)
        ]
        self.devices: list[Device] = []
        self.device: Device | None = None

    @property
    def bus(self) -> MessageBus:
        assert self._bus is not None
        return self._bus

    async def start(self) -> "FakeBluez":
        bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        self._bus = bus
        await bus.request_name("org.bluez")
        for a in self.adapters:
            bus.export(a.path, a)
        if self.strap is not None and self.adapters:
            self.device = self.add_strap(self.strap)
        if self.with_other_device and self.adapters:
            # A BLE mouse (HID 0x1812) nearby: a 0x180D-filtered scan must not report it.
            mouse = Device(
                self, self.adapters[0], "C0:FF:EE:00:00:01", "BT Mouse", [full(0x1812)], -40
            )
            self.export_device(mouse)
            self.devices.append(mouse)
        self.spawn(self._advertise_loop())
        return self

    def add_strap(
        self,
        strap: "VirtualStrap",
        *,
        adapter: str | None = None,
        rssi: int = -58,
        connected: bool = False,
    ) -> Device:
        """Serve ``strap`` on ``adapter`` (default the first). ``connected``: the strap is
        already connected to the OS (GATT resolved, not advertising)."""
        a = next(x for x in self.adapters if adapter in (None, x.adapter_name))
        uuids = [full(0x180D), full(0x180F), full(0x180A)]
        dev = Device(self, a, strap.address, strap.name, uuids, rssi)
        dp = dev.path

        def svc(handle: int, uuid: int) -> str:
            path = f"{dp}/service{handle:04x}"
            dev.gatt.append((path, GattService(full(uuid), dp)))
            return path

        def char(svc_path: str, handle: int, uuid: int, flags: list[str], value: bytes) -> GattChar:
            c = GattChar(full(uuid), svc_path, flags, value)
            dev.gatt.append((f"{svc_path}/char{handle:04x}", c))
            dev.chars.append(c)
            return c

        hrs = svc(0x000A, 0x180D)
        strap.hrm = char(hrs, 0x000B, 0x2A37, ["notify"], b"")
        char(hrs, 0x000E, 0x2A38, ["read"], b"\x01")  # chest
        bas = svc(0x0010, 0x180F)
        char(bas, 0x0011, 0x2A19, ["read", "notify"], bytes([strap.battery_pct]))
        dis = svc(0x0014, 0x180A)
        char(dis, 0x0015, 0x2A29, ["read"], strap.manufacturer.encode())
        char(dis, 0x0017, 0x2A24, ["read"], strap.model.encode())
        char(dis, 0x0019, 0x2A25, ["read"], strap.serial.encode())
        char(dis, 0x001B, 0x2A26, ["read"], strap.firmware.encode())
        if connected:
            dev.connected = dev.services_resolved = True
        self.export_device(dev)
        if connected:
            for path, obj in dev.gatt:
                self.bus.export(path, obj)
            dev.gatt_exported = True
        self.devices.append(dev)
        return dev

    def export_device(self, dev: Device) -> None:
        self.bus.export(dev.path, dev)
        dev.exported = True

    def remove(self, dev: Device) -> None:
        """What BlueZ does to a device gone for a while: the GATT tree, then the device,
        each with its own InterfacesRemoved."""
        dev._cancel_removal()
        if not dev.exported or dev.connected:
            return
        if dev.gatt_exported:
            for path, _ in reversed(dev.gatt):
                self.bus.unexport(path)
            dev.gatt_exported = False
        self.bus.unexport(dev.path)
        dev.exported = False
        dev.removals += 1

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def pause(self, seconds: float) -> None:
        """A delay inside a method call that ends early (with an error reply) on close."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        if self._closing.is_set():
            raise DBusError("org.bluez.Error.Failed", "bluetoothd is shutting down")

    def advertise_once(self) -> None:
        for d in self.devices:
            # only devices on a discovering adapter, and a connected strap stops advertising
            seen = d.missed_session != d.adapter.session
            if d.adapter.discovering and not d.connected and seen:
                d.advertise()

    async def _advertise_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.advertise_once()

    def drop_link(self, dev: Device | None = None) -> None:
        """Force a link loss (strap out of range): BlueZ's signal order, no method call."""
        d = dev or self.device
        assert d is not None
        d.link_down()

    async def close(self) -> None:
        self._closing.set()
        for _ in range(3):  # let pending method calls send their (error) replies
            await asyncio.sleep(0.01)
        for d in self.devices:
            d._cancel_removal()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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
