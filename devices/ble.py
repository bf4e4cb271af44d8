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
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from devices.ble_errors import bluetooth_unavailable_reason, connect_failure, quiet_dead_bus_writes
from devices.bluez import connect_past_the_race
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
    PeerGoneError,
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
        race_retries: int = 4,
        race_repair: bool = True,
    ) -> None:
        self.target = target
        self.last_address: str | None = None
        self.race_retries = 0  # immediate retries of the discovery race so far (a statistic)
        self.race_repairs = 0  # connects where BlueZ's missing Connected signal was supplied
        self._race_repair = race_repair
        self._race_retries = race_retries
        self._current: object | None = None
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
        for retry in range(self._race_retries + 1):
            try:
                session = await self._open_once(peer, on_notify, on_lost, timeout_s)
            except Exception as exc:
                kind = connect_failure(exc)
                if kind == "gone":
                    raise PeerGoneError(f"{peer.address} vanished from the OS: {exc}") from exc
                if kind != "race" or retry == self._race_retries:
                    raise
                # BlueZ answered Connect before (or without) "Connected: true" and bleak read
                # the stale False: a fresh attempt right away usually wins the race.
                self.race_retries += 1
                log.info("connect race on %s (%s); retrying at once", peer.address, exc)
                continue
            self.last_address = peer.address
            return session
        raise AssertionError("unreachable")

    async def _open_once(
        self,
        peer: ScanResult,
        on_notify: Callable[[bytes], None],
        on_lost: Callable[[], None],
        timeout_s: float,
    ) -> _BleakSession:
        from bleak import BleakClient

        token = object()
        self._current = token  # a failed earlier try's late callbacks must not reach us
        up = False  # bleak also reports the link-down of a connect that failed: not a loss

        def disconnected(_client: Any) -> None:
            if up and self._current is token:
                on_lost()  # only sets the supervisor's event; never reconnect from here

        def notified(_ch: Any, data: bytearray) -> None:
            if self._current is token:
                on_notify(bytes(data))

        client = BleakClient(
            peer.device,
            disconnected_callback=disconnected,
            timeout=timeout_s,
            backend=self._backend,
            **self._client_kwargs,
        )
        try:
            if self._race_repair and self._backend is None and sys.platform == "linux":
                path = (getattr(peer.device, "details", None) or {}).get("path")
                if path and await connect_past_the_race(path):
                    self.race_repairs += 1
                    log.info("repaired BlueZ's missing Connected signal for %s", peer.address)
            await client.connect()
            up = True
            # Subscribe first: frames sent before the CCCD write are lost on a real stack.
            await client.start_notify(HEART_RATE_MEASUREMENT_UUID, notified)
            info = await self._read_info(client, peer)
        except BaseException:
            # A connect() that raised has already cancelled the link and closed its bus; a
            # second disconnect would only write to that dead bus.
            if up:
                try:
                    await asyncio.shield(client.disconnect())
                except Exception as exc:
                    log.debug("disconnect after a failed open: %r", exc)
            raise
        return _BleakSession(client, info)

    async def _read_info(self, client: Any, peer: ScanResult) -> DeviceInfo:
        info = DeviceInfo(name=peer.name or client.name or "", address=peer.address)
        info = replace(info, rssi_dbm=peer.rssi_dbm)
        services = client.services
        wanted = [(u, a) for u, a in _INFO_READS if services.get_characteristic(u) is not None]
        # All at once: each read is a D-Bus round trip plus an ATT one, and the first frame
        # is only passed on once they are done (6 in a row took seconds under a slow stack).
        values = await asyncio.gather(*(self._read_one(client, peer, u, a) for u, a in wanted))
        fields: dict[str, Any] = {
            attr: v for (_, attr), v in zip(wanted, values, strict=True) if v is not None
        }
        return replace(info, **fields)

    async def _read_one(self, client: Any, peer: ScanResult, uuid: str, attr: str) -> object:
        """One optional read, decoded; ``None`` if refused, timed out or malformed."""
        try:
            ok, data = await clock_timeout(
                self._clock, client.read_gatt_char(uuid), self._read_timeout_s
            )
        except Exception as exc:  # optional reads: a strap may refuse one
            log.info("reading %s from %s failed: %r", attr, peer.address, exc)
            return None
        if not ok or data is None:
            log.info("reading %s from %s timed out", attr, peer.address)
            return None
        try:
            if attr == "body_location":
                return parse_body_sensor_location(data)
            if attr == "battery_pct":
                return parse_battery_level(data)
            return _text(data)
        except MalformedPacketError as exc:
            log.info("ignoring %s from %s: %s", attr, peer.address, exc)
            return None

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
        After a *name prefix* match, how long to keep listening for other straps matching it
        (the strongest wins and a warning names them all).
    race_retries
        How many times a connect lost to BlueZ's discovery race ("failed to discover
        services, device disconnected") is retried at once, before the supervisor's backoff.
    race_repair
        Linux, platform backend: connect through BlueZ first and supply the ``Connected``
        signal BlueZ leaves out in that race (`devices.bluez.connect_past_the_race`).
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
        race_retries: int = 4,
        race_repair: bool = True,
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
            race_retries=race_retries,
            race_repair=race_repair,
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
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(quiet_dead_bus_writes(previous))
        try:
            async for item in run:
                if isinstance(item, Notification):
                    yield self._decoder.decode(item.t_s, item.data)
                elif isinstance(item, LinkEvent):
                    yield self._decoder.link(item)
        finally:
            await run.aclose()
            loop.set_exception_handler(previous)


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
    ``adapter``, ``settle_s``, ``race_retries`` and ``race_repair``.
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
