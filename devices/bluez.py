"""BlueZ adapters (Linux): list them and choose one deterministically.

bleak's own default adapter is the first powered one in a Python ``set`` of object paths,
so with two adapters the choice depends on the hash seed. We list the adapters ourselves
(one ``GetManagedObjects`` call on ``org.bluez``) and pick the lowest-numbered powered
adapter with the LE central role, or the one named by ``--adapter``. dbus-fast and bleak's
BlueZ helpers are imported lazily: this module is only used on Linux.
"""

from __future__ import annotations

import contextlib
import re
import sys
from dataclasses import dataclass
from typing import Any

from devices.supervisor import LinkUnavailableError

__all__ = ["AdapterInfo", "choose_adapter", "list_adapters", "resolve_adapter"]

_ADAPTER_PATH = re.compile(r"^/org/bluez/(hci(\d+))$")


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """One ``org.bluez.Adapter1`` object."""

    name: str  # "hci0"
    address: str
    powered: bool
    central: bool  # "central" in Roles: can scan for and connect to a strap


def _index(name: str) -> int:
    m = re.fullmatch(r"hci(\d+)", name)
    return int(m.group(1)) if m else 1 << 30


def adapters_from_objects(objects: dict[str, dict[str, dict[str, Any]]]) -> list[AdapterInfo]:
    """Adapters in a ``GetManagedObjects`` reply (values already unpacked), hci0 first."""
    out: list[AdapterInfo] = []
    for path, ifaces in objects.items():
        m = _ADAPTER_PATH.match(path)
        props = ifaces.get("org.bluez.Adapter1")
        if m is None or props is None:
            continue
        out.append(
            AdapterInfo(
                name=m.group(1),
                address=str(props.get("Address", "")),
                powered=bool(props.get("Powered", False)),
                central="central" in props.get("Roles", ["central"]),
            )
        )
    return sorted(out, key=lambda a: _index(a.name))


async def list_adapters() -> list[AdapterInfo]:
    """The BlueZ adapters on the system bus, hci0 first.

    Errors of the bus itself (no D-Bus, BlueZ not running) propagate as bleak raises them
    (``OSError``, ``BleakDBusError``), so `devices.ble.bluetooth_unavailable_reason` words
    them the same way as bleak's own.
    """
    from bleak.backends.bluezdbus.utils import assert_reply, get_dbus_authenticator
    from dbus_fast import BusType, Message
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator()).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
        assert reply is not None
        assert_reply(reply)
        objects = {
            path: {iface: {k: v.value for k, v in props.items()} for iface, props in i.items()}
            for path, i in reply.body[0].items()
        }
    finally:
        bus.disconnect()
    return adapters_from_objects(objects)


def choose_adapter(adapters: list[AdapterInfo], requested: str | None) -> str | None:
    """The adapter to use: ``requested`` if it exists, else the first powered central one.

    Returns ``None`` when no adapter is usable, so bleak raises (and we word) its own
    "no adapter" / "powered off" error. An unknown ``requested`` name is a user error.
    """
    if requested is not None:
        names = [a.name for a in adapters]
        if requested not in names:
            have = ", ".join(names) if names else "none"
            raise LinkUnavailableError(f"--adapter {requested}: no such adapter (found: {have})")
        return requested
    for a in adapters:
        if a.powered and a.central:
            return a.name
    return None


async def resolve_adapter(requested: str | None) -> str | None:
    """`choose_adapter` over the live adapter list; ``None`` off Linux (one adapter there)."""
    if sys.platform != "linux":
        if requested is not None:
            raise LinkUnavailableError(
                f"--adapter {requested}: adapters can be chosen on Linux only"
            )
        return None
    return choose_adapter(await list_adapters(), requested)


async def connect_past_the_race(device_path: str) -> bool:
    """Connect ``device_path`` ourselves before bleak does, repairing BlueZ's connect race.

    bluetoothd 5.66 sometimes sets a device connected from the ATT socket before the
    kernel's "device connected" event arrives; it then logs "already connected" and never
    emits ``PropertiesChanged(Connected: true)``, although ``Properties.Get`` says true.
    bleak reads its cached ``Connected: false`` and fails the connect with "failed to discover
    services, device disconnected". Here we call ``Device1.Connect`` on a bus of our own and,
    if BlueZ says connected but bleak's cache does not, hand bleak's BlueZ manager the signal
    BlueZ left out; bleak's ``connect()`` then finds the device connected and only waits
    for the services. Returns True when a repair was needed. Any error (the Connect refused,
    bleak internals changed) leaves it to bleak's own connect, which reports it.
    """
    import asyncio

    from bleak.backends.bluezdbus.manager import get_global_bluez_manager
    from bleak.backends.bluezdbus.utils import get_dbus_authenticator
    from dbus_fast import BusType, Message, MessageType, Variant
    from dbus_fast.aio import MessageBus

    manager = await get_global_bluez_manager()
    if manager.is_connected(device_path):
        return False
    bus = await MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator()).connect()

    def device_call(member: str, **kw: Any) -> Message:
        return Message(destination="org.bluez", path=device_path, member=member, **kw)

    try:
        reply = await bus.call(device_call("Connect", interface="org.bluez.Device1"))
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            return False
        for _ in range(10):  # the signal may just be in flight: give it a moment
            if manager.is_connected(device_path):
                return False
            await asyncio.sleep(0.02)
        got = await bus.call(
            device_call(
                "Get",
                interface="org.freedesktop.DBus.Properties",
                signature="ss",
                body=["org.bluez.Device1", "Connected"],
            )
        )
        if got is None or got.message_type is not MessageType.METHOD_RETURN:
            return False
        if not got.body[0].value:
            return False
        signal = Message.new_signal(
            device_path,
            "org.freedesktop.DBus.Properties",
            "PropertiesChanged",
            "sa{sv}as",
            ["org.bluez.Device1", {"Connected": Variant("b", True)}, []],
        )
        manager._parse_msg(signal)  # bleak internals: guarded by the canary test
        return True
    except BaseException:
        # cancelled (Ctrl-C, timeout) mid-connect: do not leave the strap connected to nobody
        with contextlib.suppress(Exception):
            bus.send(device_call("Disconnect", interface="org.bluez.Device1"))
        raise
    finally:
        bus.disconnect()
