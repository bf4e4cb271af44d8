"""Pure codec for the Polar Measurement Data (PMD) service: control point and ECG frames.

Polar H10 streams raw ECG through a vendor service (ble.md §5.4, after bleakheart 0.2.0's
``_core.py`` and the Polar BLE SDK documentation):

* control point ``FB005C81-02E7-F387-1CAD-8ACD2D8DF0C8`` (write; responses by notification):
  request ``[op, measurement_type, (setting_id, 0x01, uint16 LE value)...]`` with op 0x01
  get settings, 0x02 start, 0x03 stop; response ``[0xF0, op, measurement_type, error, ...]``;
* data ``FB005C82-02E7-F387-1CAD-8ACD2D8DF0C8`` (notify): ``[measurement_type, uint64 LE
  sensor time in ns of the LAST sample, frame_type, samples...]``; ECG (type 0, frame type 0)
  samples are 3-byte signed little-endian microvolts.

This module imports nothing from bleak (it is used, and fuzzed, anywhere). Streaming PMD
alongside 0x2A37 is not wired into the strap source yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "PMD_CONTROL_UUID",
    "PMD_DATA_UUID",
    "ControlResponse",
    "EcgFrame",
    "MalformedPmdError",
    "Measurement",
    "Op",
    "Setting",
    "decode_control_response",
    "decode_ecg_frame",
    "ecg_start_request",
    "encode_control_request",
    "encode_ecg_frame",
]

PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
_RESPONSE = 0xF0
_HEADER = 10  # type (1) + timestamp (8) + frame type (1)


class Op(IntEnum):
    GET_SETTINGS = 0x01
    START = 0x02
    STOP = 0x03


class Measurement(IntEnum):
    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SDK = 9


class Setting(IntEnum):
    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    CHANNELS = 4


#: Response error codes named in ble.md §5.4 (0 = success).
ERRORS: dict[int, str] = {0: "success", 10: "invalid MTU", 13: "device in charger"}


class MalformedPmdError(ValueError):
    """A PMD control response or data frame cannot be decoded; the message says why."""


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """A control-point response: which request it answers and whether it worked."""

    op: int
    measurement: int
    error: int
    payload: bytes

    @property
    def ok(self) -> bool:
        return self.error == 0

    @property
    def error_text(self) -> str:
        return ERRORS.get(self.error, f"error {self.error}")


@dataclass(frozen=True, slots=True)
class EcgFrame:
    """One ECG data notification.

    Attributes
    ----------
    sensor_time_ns
        Strap clock of the *last* sample, ns (epoch 2000-01-01; resets after power loss).
    samples_uv
        ECG samples in microvolts, oldest first (about 73 per frame at 130 Hz).
    """

    sensor_time_ns: int
    samples_uv: tuple[int, ...]


def encode_control_request(
    op: Op, measurement: Measurement, settings: Mapping[Setting, int] | None = None
) -> bytes:
    """``[op, type, (setting, 0x01, uint16 LE)...]``; settings only for GET/START."""
    out = bytearray([int(op), int(measurement)])
    for setting, value in (settings or {}).items():
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"setting {setting.name}: {value} does not fit uint16")
        out += bytes([int(setting), 0x01]) + value.to_bytes(2, "little")
    return bytes(out)


def ecg_start_request(sample_rate_hz: int = 130, resolution_bits: int = 14) -> bytes:
    """START ECG at the H10's only settings (130 Hz, 14 bit)."""
    return encode_control_request(
        Op.START,
        Measurement.ECG,
        {Setting.SAMPLE_RATE: sample_rate_hz, Setting.RESOLUTION: resolution_bits},
    )


def decode_control_response(data: bytes | bytearray) -> ControlResponse:
    """Decode a control-point notification ``[0xF0, op, type, error, ...]``."""
    buf = bytes(data)
    if len(buf) < 4:
        raise MalformedPmdError(f"control response of {len(buf)} bytes, expected at least 4")
    if buf[0] != _RESPONSE:
        raise MalformedPmdError(f"control response starts with 0x{buf[0]:02x}, expected 0xf0")
    return ControlResponse(op=buf[1], measurement=buf[2], error=buf[3], payload=buf[4:])


def decode_ecg_frame(data: bytes | bytearray) -> EcgFrame:
    """Decode a PMD data notification carrying ECG (type 0, frame type 0)."""
    buf = bytes(data)
    if len(buf) < _HEADER:
        raise MalformedPmdError(f"data frame of {len(buf)} bytes, shorter than its 10-byte header")
    if buf[0] != Measurement.ECG:
        raise MalformedPmdError(f"measurement type {buf[0]}, expected 0 (ECG)")
    if buf[9] != 0:
        raise MalformedPmdError(f"ECG frame type {buf[9]}, only 0 (3-byte µV samples) is known")
    body = buf[_HEADER:]
    if len(body) % 3:
        raise MalformedPmdError(f"ECG payload of {len(body)} bytes is not whole 3-byte samples")
    samples = tuple(
        int.from_bytes(body[i : i + 3], "little", signed=True) for i in range(0, len(body), 3)
    )
    return EcgFrame(int.from_bytes(buf[1:9], "little"), samples)


def encode_ecg_frame(sensor_time_ns: int, samples_uv: Sequence[int]) -> bytes:
    """The strap's side of `decode_ecg_frame` (for fakes and replays)."""
    if not 0 <= sensor_time_ns < 1 << 64:
        raise ValueError(f"sensor_time_ns out of range: {sensor_time_ns}")
    out = bytearray([Measurement.ECG]) + sensor_time_ns.to_bytes(8, "little") + b"\x00"
    for s in samples_uv:
        if not -(1 << 23) <= s < 1 << 23:
            raise ValueError(f"ECG sample {s} µV does not fit 3 signed bytes")
        out += int(s).to_bytes(3, "little", signed=True)
    return bytes(out)
