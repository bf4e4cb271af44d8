"""BLE heart-rate straps through bleak: scanning, a supervised source, error wording.

bleak is imported lazily inside the functions that need it, so ``import devices.ble`` (and
``biofeedback --help``) stays cheap and works where bleak's platform backend cannot load.

Every bleak object is built with ``backend=`` passed through (``None`` = the platform
backend); that is how the replay backend (:mod:`devices.replay_backend`) and any custom
backend plug in. The fake-BlueZ tests need no seam at all: they use the real Linux backend
against a private D-Bus (``DBUS_SYSTEM_BUS_ADDRESS``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from devices.clock import Clock, SystemClock
from devices.heart_rate import MalformedPacketError, parse_battery_level, parse_body_sensor_location
from devices.records import (
    BATTERY_LEVEL_UUID,
    BODY_SENSOR_LOCATION_UUID,
    FIRMWARE_REVISION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    DeviceInfo,
    LinkEvent,
    StreamItem,
)
from devices.scanning import ScanResult, find_target, scan_straps
from devices.stream import FrameDecoder, StreamSummary
from devices.supervisor import (
    LinkUnavailableError,
    Notification,
    Supervisor,
    SupervisorConfig,
    clock_timeout,
)

log = logging.getLogger(__name__)

__all__ = [
    "BleHeartRateSource",
    "BluetoothUnavailableError",
    "ScanResult",
    "bluetooth_unavailable_reason",
    "open_strap_source",
    "scan_straps",
]

#: Raised out of :meth:`BleHeartRateSource.stream` (and by :func:`scan_straps` callers via
#: :func:`bluetooth_unavailable_reason`) when no adapter, BlueZ or D-Bus is usable.
BluetoothUnavailableError = LinkUnavailableError


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


# -- the bleak link driver ----------------------------------------------------------------

_INFO_READS: tuple[tuple[str, str], ...] = (
    (BODY_SENSOR_LOCATION_UUID, "body_location"),
    (BATTERY_LEVEL_UUID, "battery_pct"),
    (MANUFACTURER_NAME_UUID, "manufacturer"),
    (MODEL_NUMBER_UUID, "model"),
    (SERIAL_NUMBER_UUID, "serial"),
    (FIRMWARE_REVISION_UUID, "firmware"),
)


def _text(data: bytes) -> str | None:
    s = bytes(data).split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
    return s or None


class _BleakSession:
    """One connected ``BleakClient`` (never reused after it closes)."""

    def __init__(self, client: Any, info: DeviceInfo) -> None:
        self._client = client
        self._info = info

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def close(self) -> None:
        await self._client.disconnect()


class _BleakDriver:
    """Finds the target with ``BleakScanner`` and opens a fresh ``BleakClient`` per attempt."""

    def __init__(
        self,
        target: str,
        *,
        clock: Clock,
        backend: type | None,
        scanner_backend: type | None,
        scanner_kwargs: Mapping[str, Any],
        client_kwargs: Mapping[str, Any],
        read_timeout_s: float,
        adapter: str | None = None,
        settle_s: float = 1.0,
    ) -> None:
        self.target = target
        self.last_address: str | None = None
        self._adapter = adapter
        self._settle_s = settle_s
        self._clock = clock
        self._backend = backend
        self._scanner_backend = scanner_backend
        self._scanner_kwargs = dict(scanner_kwargs)
        self._client_kwargs = dict(client_kwargs)
        self._read_timeout_s = read_timeout_s

    async def find(self, timeout_s: float) -> ScanResult | None:
        peer = await find_target(
            self.target,
            timeout_s,
            clock=self._clock,
            adapter=self._adapter,
            # after the first connection, stay with that strap (no settle wait either)
            prefer_address=self.last_address,
            settle_s=self._settle_s,
            backend=self._scanner_backend,
            scanner_kwargs=self._scanner_kwargs,
        )
        return peer

    async def open(
        self,
        peer: ScanResult,
        *,
        on_notify: Callable[[bytes], None],
        on_lost: Callable[[], None],
        timeout_s: float,
    ) -> _BleakSession:
        from bleak import BleakClient

        def disconnected(_client: Any) -> None:
            on_lost()  # only sets the supervisor's event; never reconnect from here

        client = BleakClient(
            peer.device,
            disconnected_callback=disconnected,
            timeout=timeout_s,
            backend=self._backend,
            **self._client_kwargs,
        )
        try:
            await client.connect()
            # Subscribe first: frames sent before the CCCD write are lost on a real stack.
            await client.start_notify(
                HEART_RATE_MEASUREMENT_UUID, lambda _ch, data: on_notify(bytes(data))
            )
            info = await self._read_info(client, peer)
        except BaseException:
            try:
                await asyncio.shield(client.disconnect())
            except Exception as exc:
                log.debug("disconnect after a failed open: %r", exc)
            raise
        self.last_address = peer.address
        return _BleakSession(client, info)

    async def _read_info(self, client: Any, peer: ScanResult) -> DeviceInfo:
        info = DeviceInfo(name=peer.name or client.name or "", address=peer.address)
        info = replace(info, rssi_dbm=peer.rssi_dbm)
        services = client.services
        for uuid, attr in _INFO_READS:
            if services.get_characteristic(uuid) is None:
                continue
            try:
                ok, data = await clock_timeout(
                    self._clock, client.read_gatt_char(uuid), self._read_timeout_s
                )
            except Exception as exc:  # optional reads: a strap may refuse one
                log.info("reading %s from %s failed: %r", attr, peer.address, exc)
                continue
            if not ok or data is None:
                log.info("reading %s from %s timed out", attr, peer.address)
                continue
            value: object
            try:
                if attr == "body_location":
                    value = parse_body_sensor_location(data)
                elif attr == "battery_pct":
                    value = parse_battery_level(data)
                else:
                    value = _text(data)
            except MalformedPacketError as exc:
                log.info("ignoring %s from %s: %s", attr, peer.address, exc)
                continue
            fields: dict[str, Any] = {attr: value}
            info = replace(info, **fields)
        return info

    def fatal_reason(self, exc: BaseException) -> str | None:
        return bluetooth_unavailable_reason(exc)


class BleHeartRateSource:
    """A :class:`devices.stream.HeartRateSource` reading a BLE strap, supervised.

    Parameters
    ----------
    target
        Strap name (or name prefix) or address, as shown by ``biofeedback scan``.
    clock
        Stream clock: arrival times ``t_s = clock.monotonic() - start``, backoff, watchdog.
    backend, scanner_backend
        Passed to ``bleak.BleakClient`` / ``bleak.BleakScanner`` (``None`` = platform).
    scanner_kwargs, client_kwargs
        Extra keyword arguments bleak forwards to the backends.
    config
        Reconnect policy (:class:`devices.supervisor.SupervisorConfig`).
    read_timeout_s
        Per-read timeout for the optional Body Sensor Location, Battery and DIS reads.
    random
        Jitter source for the backoff.
    adapter
        BlueZ adapter (``"hci1"``); default the lowest-numbered powered one.
    settle_s
        After a *name* match, how long to keep listening for other straps of that name
        (the strongest wins and a warning names them all).
    """

    def __init__(
        self,
        target: str,
        *,
        clock: Clock | None = None,
        backend: type | None = None,
        scanner_backend: type | None = None,
        scanner_kwargs: Mapping[str, Any] | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        config: SupervisorConfig | None = None,
        read_timeout_s: float = 3.0,
        random: Callable[[], float] | None = None,
        adapter: str | None = None,
        settle_s: float = 1.0,
    ) -> None:
        if not target.strip():
            raise ValueError("target: expected a strap name or address")
        self.target = target
        self._clock: Clock = clock or SystemClock()
        self._driver = _BleakDriver(
            target,
            clock=self._clock,
            backend=backend,
            scanner_backend=scanner_backend,
            scanner_kwargs=scanner_kwargs or {},
            client_kwargs=client_kwargs or {},
            read_timeout_s=read_timeout_s,
            adapter=adapter,
            settle_s=settle_s,
        )
        kw: dict[str, Any] = {} if random is None else {"random": random}
        self.supervisor = Supervisor(
            self._driver, target, clock=self._clock, config=config or SupervisorConfig(), **kw
        )
        self._decoder = FrameDecoder()
        addr = target if ":" in target or len(target) == 36 else ""
        self._fallback = DeviceInfo(name=target if not addr else "", address=addr)

    @property
    def info(self) -> DeviceInfo:
        return self.supervisor.info or self._fallback

    def summary(self) -> StreamSummary:
        return self._decoder.summary()

    def stop(self) -> None:
        """End the stream (it yields ``END``) and disconnect."""
        self.supervisor.stop()

    async def stream(self) -> AsyncIterator[StreamItem]:
        run = self.supervisor.run()
        try:
            async for item in run:
                if isinstance(item, Notification):
                    yield self._decoder.decode(item.t_s, item.data)
                elif isinstance(item, LinkEvent):
                    yield self._decoder.link(item)
        finally:
            await run.aclose()


def open_strap_source(
    target: str,
    *,
    clock: Clock | None = None,
    backend: type | None = None,
    scanner_backend: type | None = None,
    **supervisor_opts: Any,
) -> BleHeartRateSource:
    """Build the supervised source for ``record --device NAME|ADDR``.

    ``supervisor_opts`` are :class:`devices.supervisor.SupervisorConfig` fields
    (``deadline_s``, ``silence_s``, ``backoff_initial_s``, ``backoff_max_s``, ...) plus the
    source's own ``scanner_kwargs``, ``client_kwargs``, ``read_timeout_s``, ``random``,
    ``adapter`` and ``settle_s``.
    """
    own = {
        k: supervisor_opts.pop(k)
        for k in (
            "scanner_kwargs",
            "client_kwargs",
            "read_timeout_s",
            "random",
            "adapter",
            "settle_s",
        )
        if k in supervisor_opts
    }
    config = SupervisorConfig(**supervisor_opts)
    return BleHeartRateSource(
        target, clock=clock, backend=backend, scanner_backend=scanner_backend, config=config, **own
    )
