"""Pure codec for the Bluetooth SIG Heart Rate Measurement characteristic (0x2A37).

Layout (HRS 1.0 §3.1.1; GATT characteristic XML ``heart_rate_measurement``):

====================  ===========================================================
byte 0 (flags)        bit0 HR format (0 = uint8, 1 = uint16 LE);
                      bits1-2 sensor contact (0/1 unsupported, 2 no contact,
                      3 contact); bit3 energy expended present; bit4 RR present;
                      bits5-7 reserved, ignored
HR                    uint8 or uint16 LE, bpm
energy expended       uint16 LE, kJ (only when bit3)
RR intervals          n x uint16 LE in 1/1024 s, oldest first (only when bit4)
====================  ===========================================================

This module imports nothing from bleak so it can be used (and fuzzed) anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from devices.records import BODY_SENSOR_LOCATIONS, HeartRateMeasurement

__all__ = [
    "MalformedPacketError",
    "MalformedRRError",
    "encode_measurement",
    "parse_battery_level",
    "parse_body_sensor_location",
    "parse_measurement",
]

_HR_UINT16 = 0x01
_CONTACT_SUPPORTED = 0x04
_CONTACT_DETECTED = 0x02
_ENERGY_PRESENT = 0x08
_RR_PRESENT = 0x10


class MalformedPacketError(ValueError):
    """A notification cannot be decoded; the message says which part is wrong."""


class MalformedRRError(MalformedPacketError):
    """Only the RR part is malformed: flags, heart rate and energy decoded fine.

    ``salvaged`` is the measurement with the heart rate kept and no RR intervals (which of
    the pairs is wrong cannot be told, so none is trusted).
    """

    def __init__(self, message: str, salvaged: HeartRateMeasurement) -> None:
        super().__init__(message)
        self.salvaged = salvaged


def parse_measurement(data: bytes | bytearray | memoryview) -> HeartRateMeasurement:
    """Decode one Heart Rate Measurement notification.

    Parameters
    ----------
    data
        The raw characteristic value as delivered by the notification.

    Returns
    -------
    HeartRateMeasurement
        HR in bpm, RR in raw 1/1024 s ticks (oldest first), contact and energy.

    Raises
    ------
    MalformedPacketError
        Empty packet, heart rate or energy field truncated, or bytes after the heart rate
        with no RR flag.
    MalformedRRError
        RR flag set with no RR bytes, or an odd number of RR bytes (a half interval); the
        error carries the heart rate (``salvaged``).
    """
    buf = bytes(data)
    if not buf:
        raise MalformedPacketError("empty packet: expected at least flags and heart rate")
    flags = buf[0]
    pos = 1
    if flags & _HR_UINT16:
        if len(buf) < pos + 2:
            raise MalformedPacketError(
                f"truncated heart rate: flags 0x{flags:02x} announce uint16, "
                f"packet has {len(buf)} bytes"
            )
        hr = int.from_bytes(buf[pos : pos + 2], "little")
        pos += 2
    else:
        if len(buf) < pos + 1:
            raise MalformedPacketError(
                f"truncated heart rate: flags 0x{flags:02x}, packet has {len(buf)} byte"
            )
        hr = buf[pos]
        pos += 1

    contact: bool | None = None
    if flags & _CONTACT_SUPPORTED:
        contact = bool(flags & _CONTACT_DETECTED)

    energy: int | None = None
    if flags & _ENERGY_PRESENT:
        if len(buf) < pos + 2:
            raise MalformedPacketError(
                f"truncated energy expended: flags 0x{flags:02x} announce it, "
                f"{len(buf) - pos} byte(s) left"
            )
        energy = int.from_bytes(buf[pos : pos + 2], "little")
        pos += 2

    rest = buf[pos:]
    rr: tuple[int, ...] = ()
    if flags & _RR_PRESENT:
        salvaged = HeartRateMeasurement(hr_bpm=hr, rr_1024=(), contact=contact, energy_kj=energy)
        if not rest:
            raise MalformedRRError(
                f"RR flag set in 0x{flags:02x} but no RR bytes follow the heart rate", salvaged
            )
        if len(rest) % 2:
            raise MalformedRRError(
                f"odd RR payload: {len(rest)} bytes after the heart rate, expected pairs",
                salvaged,
            )
        rr = tuple(int.from_bytes(rest[i : i + 2], "little") for i in range(0, len(rest), 2))
    elif rest:
        raise MalformedPacketError(
            f"{len(rest)} trailing byte(s) but flags 0x{flags:02x} announce no RR intervals"
        )
    return HeartRateMeasurement(hr_bpm=hr, rr_1024=rr, contact=contact, energy_kj=energy)


def encode_measurement(
    hr_bpm: int,
    rr_1024: Sequence[int] = (),
    *,
    contact: bool | None = True,
    energy_kj: int | None = None,
    uint16: bool | None = None,
    rr_flag: bool | None = None,
) -> bytes:
    """Encode a Heart Rate Measurement value (the strap's side), inverse of `parse_measurement`.

    ``uint16`` defaults to ``hr_bpm > 255``; ``rr_flag`` defaults to ``bool(rr_1024)``.
    """
    if not 0 <= hr_bpm <= 0xFFFF:
        raise ValueError(f"hr_bpm out of range: {hr_bpm}")
    wide = hr_bpm > 0xFF if uint16 is None else uint16
    if not wide and hr_bpm > 0xFF:
        raise ValueError(f"hr_bpm {hr_bpm} needs the uint16 format")
    has_rr = bool(rr_1024) if rr_flag is None else rr_flag
    flags = 0
    if wide:
        flags |= _HR_UINT16
    if contact is not None:
        flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if contact else 0)
    if energy_kj is not None:
        flags |= _ENERGY_PRESENT
    if has_rr:
        flags |= _RR_PRESENT
    out = bytearray([flags])
    out += hr_bpm.to_bytes(2 if wide else 1, "little")
    if energy_kj is not None:
        out += energy_kj.to_bytes(2, "little")
    for tick in rr_1024:
        out += int(tick).to_bytes(2, "little")
    return bytes(out)


def parse_body_sensor_location(data: bytes | bytearray) -> str:
    """Decode Body Sensor Location (0x2A38) to a word (``"chest"``); unknown codes are kept."""
    if len(data) < 1:
        raise MalformedPacketError("empty body sensor location value")
    return BODY_SENSOR_LOCATIONS.get(data[0], f"reserved ({data[0]})")


def parse_battery_level(data: bytes | bytearray) -> int:
    """Decode Battery Level (0x2A19), percent 0..100."""
    if len(data) < 1:
        raise MalformedPacketError("empty battery level value")
    if data[0] > 100:
        raise MalformedPacketError(f"battery level {data[0]} % is above 100")
    return int(data[0])
