"""Reading bleak's exceptions: what the user must fix, what to retry at once, what to hush.

bleak is imported lazily (inside the functions), like everywhere in :mod:`devices`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from typing import Any

from devices.supervisor import LinkUnavailableError

log = logging.getLogger(__name__)

__all__ = ["bluetooth_unavailable_reason", "connect_failure", "quiet_dead_bus_writes"]

#: bleak's ``BleakBluetoothNotAvailableReason`` names → what the user should do.
_NOT_AVAILABLE: dict[str, str] = {
    "NO_BLUETOOTH": "no Bluetooth adapter found (is one plugged in and not blocked by rfkill?)",
    "NO_BLE_CENTRAL_ROLE": "the Bluetooth adapter cannot act as a BLE central (classic-only?)",
    "POWERED_OFF": "the Bluetooth adapter is powered off: turn Bluetooth on "
    "(e.g. `bluetoothctl power on`)",
    "DENIED_BY_USER": "permission to use Bluetooth was denied: {msg}",
    "DENIED_BY_SYSTEM": "permission to use Bluetooth was denied: {msg}",
    "DENIED_BY_UNKNOWN": "permission to use Bluetooth was denied: {msg}",
}


def bluetooth_unavailable_reason(exc: BaseException) -> str | None:
    """One line explaining why Bluetooth cannot be used at all, or ``None`` if ``exc`` is
    an ordinary (retryable) link error.

    Covers: no Bluetooth adapter / no LE central role / adapter powered off / permission
    denied (bleak's ``BleakBluetoothNotAvailableError``), BlueZ not running on the system bus,
    the system D-Bus itself unreachable, and bleak's "BlueZ too old".
    """
    if isinstance(exc, LinkUnavailableError):  # ours, already worded (an unknown --adapter)
        return str(exc)
    try:
        from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
    except ImportError:  # bleak missing or its platform backend cannot load
        return f"Bluetooth support is not available: {exc}"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        msg = str(exc.args[0]) if exc.args else "unknown reason"  # str(exc) is the args tuple
        return _NOT_AVAILABLE.get(exc.reason.name, "Bluetooth is not available: {msg}").format(
            msg=msg.rstrip(".")
        )
    if isinstance(exc, BleakDBusError):
        name = exc.dbus_error
        if name in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            return (
                "BlueZ (org.bluez) is not running on the system D-Bus: install and start "
                "bluetoothd (e.g. `systemctl start bluetooth`)"
            )
        if name == "org.freedesktop.DBus.Error.AccessDenied":
            return f"access to BlueZ denied by D-Bus policy: {exc}"
        return None
    if isinstance(exc, BleakError) and "requires BlueZ" in str(exc):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in (
        errno.ENOENT,
        errno.ECONNREFUSED,
        errno.EACCES,
        errno.EPERM,
    ):
        where = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket")
        return (
            f"cannot reach the system D-Bus at {where} ({exc.strerror}); Bluetooth on Linux "
            "needs D-Bus and BlueZ running"
        )
    return None


_Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def quiet_dead_bus_writes(previous: _Handler | None) -> _Handler:
    """A loop exception handler that logs at DEBUG, instead of printing a traceback, the
    "Future exception was never retrieved" of a write to a D-Bus connection bleak already
    closed (a connect that failed or was cancelled tears its bus down while a Disconnect is
    still queued); everything else goes to ``previous`` (or asyncio's default)."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, BrokenPipeError | ConnectionResetError)
            or (isinstance(exc, OSError) and exc.errno == errno.EBADF)
        ) and "never retrieved" in str(context.get("message", "")):
            log.debug("write to a closed D-Bus connection dropped: %r", exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle


def connect_failure(exc: BaseException) -> str:
    """``"race"`` (BlueZ's connect/discovery race), ``"gone"`` (the device object was
    removed) or ``""`` (anything else), from bleak's exception types and wording."""
    try:
        from bleak.exc import BleakDeviceNotFoundError, BleakError
    except ImportError:
        return ""
    if isinstance(exc, BleakDeviceNotFoundError):
        return "gone"
    if isinstance(exc, BleakError):
        text = str(exc)
        if "failed to discover services, device disconnected" in text:
            return "race"
        if text.startswith("device '") and text.endswith("' not found"):
            return "gone"
    return ""
