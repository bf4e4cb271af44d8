"""A bleak backend fed from a capture: a virtual strap for ``BleakClient``/``BleakScanner``.

Plugged in through bleak's ``backend=`` seam, so the code under test is the real bleak front
end plus our own :class:`devices.ble.BleHeartRateSource` and supervisor::

    peer = ReplayPeer("recordings/resting-clean.jsonl", clock=clock)
    src = BleHeartRateSource(
        peer.name, clock=clock,
        backend=ReplayBleakClient, scanner_backend=ReplayBleakScanner,
        scanner_kwargs={"peers": [peer]},
    )

The strap (:class:`ReplayPeer`) travels to the client inside ``BLEDevice.details``, as a real
backend's OS handle would: there is no global registry. The peer plays the capture's events
on the injected clock once a client subscribes to 0x2A37 (frames before the subscription are
never sent, so none is silently lost). At a capture ``disconnect`` it drops the link (the
client's disconnected callback fires) and pauses; the next connection resumes with the event
after the disconnect, keeping the relative timing of what follows. When the capture is used
up the strap goes silent and stops advertising, like one taken off and switched off.

Relies on bleak's backend API (``BaseBleakClient``, ``BaseBleakScanner``, the GATT
collection constructors), which bleak documents as unstable: bleak is pinned ``<4`` and
``tests/devices/test_replay_backend.py`` has a canary on the parts used here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from devices.capture import Capture, read_capture
from devices.clock import Clock, SystemClock
from devices.records import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    BODY_SENSOR_LOCATION_UUID,
    BODY_SENSOR_LOCATIONS,
    DEVICE_INFORMATION_SERVICE_UUID,
    FIRMWARE_REVISION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    full_uuid,
)

log = logging.getLogger(__name__)

__all__ = ["ReplayBleakClient", "ReplayBleakScanner", "ReplayPeer", "build_strap_services"]

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
_ATT_MTU = 23  # the BLE default; enough for a Heart Rate Measurement


class ReplayPeer:
    """A virtual strap that plays a capture to whichever replay client is connected.

    Attributes
    ----------
    sent
        Every 0x2A37 payload delivered to a subscriber, in order (a test oracle).
    connections
        How many times a client connected.
    """

    def __init__(
        self,
        capture: Capture | str | Path,
        *,
        clock: Clock | None = None,
        rssi_dbm: int = -60,
    ) -> None:
        self.capture = capture if isinstance(capture, Capture) else read_capture(capture)
        dev = self.capture.header.device
        self.name = dev.name
        self.address = dev.address or "RE:PL:AY:00:00:01"
        self.rssi_dbm = rssi_dbm
        self.battery_pct = dev.battery_pct
        self._clock: Clock = clock or SystemClock()
        self._events = self.capture.events
        self._cursor = 0
        self._client: ReplayBleakClient | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent: list[bytes] = []
        self.connections = 0

    # -- state ------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """The capture is used up (the strap is off)."""
        return self._cursor >= len(self._events)

    @property
    def advertising(self) -> bool:
        """Visible to a scan: not connected and not switched off."""
        return self._client is None and not self.exhausted

    def read_values(self) -> dict[str, bytes]:
        """Readable characteristic values by full UUID (what the header knows)."""
        dev = self.capture.header.device
        out: dict[str, bytes] = {}
        if dev.body_location is not None:
            codes = {v: k for k, v in BODY_SENSOR_LOCATIONS.items()}
            out[BODY_SENSOR_LOCATION_UUID] = bytes([codes.get(dev.body_location, 0)])
        if self.battery_pct is not None:
            out[BATTERY_LEVEL_UUID] = bytes([self.battery_pct])
        for uuid, value in (
            (MANUFACTURER_NAME_UUID, dev.manufacturer),
            (MODEL_NUMBER_UUID, dev.model),
            (SERIAL_NUMBER_UUID, dev.serial),
            (FIRMWARE_REVISION_UUID, dev.firmware),
        ):
            if value is not None:
                out[uuid] = value.encode("utf-8")
        return out

    # -- link -------------------------------------------------------------------------------

    def attach(self, client: ReplayBleakClient) -> None:
        if self.exhausted:
            raise BleakError(f"{self.name}: not reachable (capture ended, strap off)")
        if self._client is not None:
            raise BleakError(f"{self.name}: already connected to another central")
        self._client = client
        self.connections += 1

    def detach(self, client: ReplayBleakClient) -> None:
        """The central disconnected: pause playback where it is."""
        if self._client is client:
            self._client = None
            self._stop_task()

    def subscribed(self, client: ReplayBleakClient) -> None:
        """The central enabled 0x2A37 notifications: start (or resume) playback."""
        if self._client is client and self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._play(client), name=f"replay-peer {self.name}")

    def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _play(self, client: ReplayBleakClient) -> None:
        clock = self._clock
        # Re-anchor so the next event happens now and the rest keep their spacing.
        anchor = clock.monotonic() - self._events[self._cursor].t_s if not self.exhausted else 0.0
        try:
            while not self.exhausted and self._client is client:
                ev = self._events[self._cursor]
                delay = anchor + ev.t_s - clock.monotonic()
                if delay > 0:
                    await clock.sleep(delay)
                if self._client is not client:
                    return
                self._cursor += 1
                if ev.kind == "notify":
                    uuid = full_uuid(ev.char)
                    if client.deliver(uuid, ev.data) and uuid == HEART_RATE_MEASUREMENT_UUID:
                        self.sent.append(ev.data)
                elif ev.kind == "battery" and ev.battery_pct is not None:
                    self.battery_pct = ev.battery_pct
                    client.deliver(BATTERY_LEVEL_UUID, bytes([ev.battery_pct]))
                elif ev.kind == "disconnect":
                    self._client = None
                    self._task = None
                    client.peer_dropped(ev.detail or "link lost")
                    return
            # Capture used up: the strap stays connected but silent (then is "switched off").
        finally:
            if self._task is asyncio.current_task():
                self._task = None


def build_strap_services(peer: ReplayPeer) -> BleakGATTServiceCollection:
    """The fixed GATT table of a heart-rate strap: HRS (2A37 notify + CCCD, 2A38 read), BAS
    (2A19 read/notify) and DIS (2A29/2A24/2A25/2A26) for the values the capture knows.

    Handles follow a typical strap layout (services at 0x000A, 0x0010, 0x0014).
    """
    values = peer.read_values()
    coll = BleakGATTServiceCollection()

    def mtu_payload() -> int:
        return _ATT_MTU - 3

    def service(handle: int, uuid: str) -> BleakGATTService:
        svc = BleakGATTService(None, handle, uuid)
        coll.add_service(svc)
        return svc

    def char(svc: BleakGATTService, handle: int, uuid: str, props: list[Any]) -> None:
        c = BleakGATTCharacteristic(None, handle, uuid, props, mtu_payload, svc)
        coll.add_characteristic(c)
        if "notify" in props:
            coll.add_descriptor(BleakGATTDescriptor(None, handle + 1, CCCD_UUID, c))

    hrs = service(0x000A, HEART_RATE_SERVICE_UUID)
    char(hrs, 0x000B, HEART_RATE_MEASUREMENT_UUID, ["notify"])
    if BODY_SENSOR_LOCATION_UUID in values:
        char(hrs, 0x000E, BODY_SENSOR_LOCATION_UUID, ["read"])
    bas = service(0x0010, BATTERY_SERVICE_UUID)
    if BATTERY_LEVEL_UUID in values:
        char(bas, 0x0011, BATTERY_LEVEL_UUID, ["read", "notify"])
    dis = service(0x0014, DEVICE_INFORMATION_SERVICE_UUID)
    handle = 0x0015
    for uuid in (MANUFACTURER_NAME_UUID, MODEL_NUMBER_UUID, SERIAL_NUMBER_UUID):
        if uuid in values:
            char(dis, handle, uuid, ["read"])
        handle += 2
    if FIRMWARE_REVISION_UUID in values:
        char(dis, handle, FIRMWARE_REVISION_UUID, ["read"])
    return coll


class ReplayBleakClient(BaseBleakClient):
    """``BleakClient`` backend talking to the :class:`ReplayPeer` in ``BLEDevice.details``."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        if not isinstance(details, ReplayPeer):
            raise BleakError(
                "ReplayBleakClient needs the BLEDevice found by ReplayBleakScanner "
                "(its details must be a ReplayPeer)"
            )
        self._peer: ReplayPeer = details
        self._connected = False
        self._callbacks: dict[str, NotifyCallback] = {}

    @property
    def name(self) -> str:
        return self._peer.name

    @property
    def mtu_size(self) -> int:
        return _ATT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connected:
            raise BleakError("Client is already connected")
        self._peer.attach(self)
        self._connected = True
        self.services = build_strap_services(self._peer)

    async def disconnect(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self._callbacks.clear()
        self._peer.detach(self)
        self.services = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None  # HRS needs no bonding

    async def unpair(self) -> None:
        return None

    def _require(self) -> None:
        if not self._connected:
            raise BleakError("Not connected")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        value = self._peer.read_values().get(characteristic.uuid)
        if value is None or "read" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} is not readable")
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        on = descriptor.characteristic_uuid in self._callbacks
        return bytearray(b"\x01\x00" if on else b"\x00\x00")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        self._require()
        raise BleakError(f"characteristic {characteristic.uuid} is not writable on a replay")

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        self._require()
        raise BleakError("write the CCCD through start_notify/stop_notify")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require()
        if "notify" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} does not notify")
        self._callbacks[characteristic.uuid] = callback
        if characteristic.uuid == HEART_RATE_MEASUREMENT_UUID:
            self._peer.subscribed(self)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require()
        self._callbacks.pop(characteristic.uuid, None)

    # -- called by the peer -----------------------------------------------------------------

    def deliver(self, uuid: str, data: bytes) -> bool:
        """Hand a notification to the subscriber; False if nobody is subscribed."""
        cb = self._callbacks.get(uuid)
        if cb is None or not self._connected:
            return False
        cb(bytearray(data))
        return True

    def peer_dropped(self, reason: str) -> None:
        """The strap dropped the link (capture ``disconnect``)."""
        log.debug("replay peer %s dropped the link: %s", self._peer.name, reason)
        self._connected = False
        self._callbacks.clear()
        self.services = None
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)


class ReplayBleakScanner(BaseBleakScanner):
    """``BleakScanner`` backend: every advertising :class:`ReplayPeer` in ``peers`` is "seen"
    once per scan, advertising service 0x180D, as soon as the scan starts."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        peers: Iterable[ReplayPeer] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._peers = list(peers)
        self._handle: asyncio.Handle | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._handle = asyncio.get_running_loop().call_soon(self._advertise)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _advertise(self) -> None:
        self._handle = None
        for peer in self._peers:
            if not peer.advertising:
                continue
            adv = AdvertisementData(
                local_name=peer.name,
                manufacturer_data={},
                service_data={},
                service_uuids=[HEART_RATE_SERVICE_UUID],
                tx_power=None,
                rssi=peer.rssi_dbm,
                platform_data=(),
            )
            if not self.is_allowed_uuid(adv.service_uuids):
                continue
            device = self.create_or_update_device(peer.address, peer.address, peer.name, peer, adv)
            self.call_detection_callbacks(device, adv)
