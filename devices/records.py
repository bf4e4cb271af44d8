"""Record types shared by the device layer and its consumers.

These frozen dataclasses are the contract at the ``devices`` → ``biofeedback`` boundary.
Times are in seconds (``t_s``) on the source's monotonic clock, counted from the start of the
stream; RR intervals are raw BLE ticks of 1/1024 s (``rr_1024``) so nothing is rounded at the
edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION_UUID = "00002a38-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

#: Body Sensor Location 0x2A38 values (Bluetooth SIG HRS 1.0, §3.2).
BODY_SENSOR_LOCATIONS: dict[int, str] = {
    0: "other",
    1: "chest",
    2: "wrist",
    3: "finger",
    4: "hand",
    5: "ear lobe",
    6: "foot",
}


def short_uuid(uuid: str) -> str:
    """Return the 16-bit form (``"2a37"``) of a SIG base UUID, or the UUID lower-cased."""
    u = uuid.lower()
    if len(u) == 36 and u.startswith("0000") and u.endswith("-0000-1000-8000-00805f9b34fb"):
        return u[4:8]
    return u


def full_uuid(uuid: str) -> str:
    """Expand a 16-bit UUID (``"2a37"``) to the 128-bit SIG base form."""
    u = uuid.lower()
    if len(u) == 4:
        return f"0000{u}-0000-1000-8000-00805f9b34fb"
    return u


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded Heart Rate Measurement (0x2A37) notification.

    Attributes
    ----------
    hr_bpm
        Heart rate the strap reports, beats per minute.
    rr_1024
        RR intervals in 1/1024 s ticks, oldest first (0..n per notification).
    contact
        Sensor contact: ``True``/``False`` when the strap supports it, ``None`` when not.
    energy_kj
        Energy expended in kJ when present, else ``None``.
    """

    hr_bpm: int
    rr_1024: tuple[int, ...]
    contact: bool | None
    energy_kj: int | None

    @property
    def rr_ms(self) -> tuple[float, ...]:
        """RR intervals converted to float milliseconds (exact: ticks × 1000 / 1024)."""
        return tuple(t * 1000.0 / 1024.0 for t in self.rr_1024)


@dataclass(frozen=True, slots=True)
class HrFrame:
    """A decoded notification with its arrival time on the stream clock.

    ``rr_rejected`` is the decoder's reason when the RR part was malformed and dropped (the
    heart rate is still good); beats are missing there, so consumers break the beat segment.
    """

    t_s: float
    measurement: HeartRateMeasurement
    raw: bytes
    rr_rejected: str | None = None


@dataclass(frozen=True, slots=True)
class RejectedPacket:
    """A notification the decoder refused, kept so it can be counted and stored."""

    t_s: float
    raw: bytes
    reason: str

    @property
    def shown(self) -> str:
        """The packet for people: ``0x`` + hex (so it cannot read as a number or an id), or
        ``(empty)``."""
        return packet_text(self.raw)


def packet_text(raw: bytes) -> str:
    """Packet bytes for a log or terminal line: ``0x1640ffff``, or ``(empty)``."""
    return "0x" + raw.hex() if raw else "(empty)"


class LinkState(StrEnum):
    """What happened to the link. Every gap in the data has a ``DISCONNECTED`` before it."""

    SCANNING = "scanning"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    GAVE_UP = "gave_up"
    BATTERY = "battery"
    END = "end"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A change of link state, with a human-readable detail (reason, attempt, battery %)."""

    t_s: float
    state: LinkState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What is known about the strap; every field but ``name``/``address`` is optional."""

    name: str
    address: str
    model: str | None = None
    manufacturer: str | None = None
    firmware: str | None = None
    serial: str | None = None
    body_location: str | None = None
    battery_pct: int | None = None
    rssi_dbm: int | None = None


StreamItem = HrFrame | LinkEvent | RejectedPacket
