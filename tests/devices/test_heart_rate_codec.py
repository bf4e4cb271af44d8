"""Heart Rate Measurement (0x2A37) decoder: spec table, every flag combination, fuzzing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.heart_rate import (
    MalformedPacketError,
    MalformedRRError,
    encode_measurement,
    parse_battery_level,
    parse_body_sensor_location,
    parse_measurement,
)
from devices.records import HeartRateMeasurement

# source: ../shared/notes/ble.md §4 worked examples (vectors checked against the SIG
# characteristic XML org.bluetooth.characteristic.heart_rate_measurement).
SPEC_VECTORS = [
    ("16482c03", HeartRateMeasurement(72, (812,), True, None)),
    ("1649200328 03", HeartRateMeasurement(73, (800, 808), True, None)),
    ("064a", HeartRateMeasurement(74, (), True, None)),
    ("104b0004", HeartRateMeasurement(75, (1024,), None, None)),
    ("164d1603", HeartRateMeasurement(77, (790,), True, None)),  # Polar H7 capture
    # Garmin HRM-Dual bogus trailing RR: decoded as sent; plausibility is judged downstream.
    ("10382d043500", HeartRateMeasurement(56, (1069, 53), None, None)),
    ("0448", HeartRateMeasurement(72, (), False, None)),  # contact supported, not detected
    ("0048", HeartRateMeasurement(72, (), None, None)),
    ("0248", HeartRateMeasurement(72, (), None, None)),  # bit1 without bit2: unsupported
    ("012c01", HeartRateMeasurement(300, (), None, None)),  # uint16 HR
    ("0848e803", HeartRateMeasurement(72, (), None, 1000)),  # energy expended
    ("1f2c01ffff0004", HeartRateMeasurement(300, (1024,), True, 65535)),  # all fields
    ("e048", HeartRateMeasurement(72, (), None, None)),  # reserved bits ignored
]


@pytest.mark.parametrize(("hexstr", "expected"), SPEC_VECTORS)
def test_spec_vectors(hexstr: str, expected: HeartRateMeasurement) -> None:
    assert parse_measurement(bytes.fromhex(hexstr)) == expected


def test_rr_ms_is_exact_tick_conversion() -> None:
    m = parse_measurement(bytes.fromhex("16482c03"))
    assert m.rr_ms == (812 * 1000 / 1024,)


@pytest.mark.parametrize(("flags", "n_rr"), list(itertools.product(range(32), range(4))))
def test_every_flag_combination(flags: int, n_rr: int) -> None:
    wide = bool(flags & 0x01)
    hr = 0x1234 if wide else 0x5A
    payload = bytearray([flags])
    payload += hr.to_bytes(2 if wide else 1, "little")
    if flags & 0x08:
        payload += (4321).to_bytes(2, "little")
    rr = tuple(700 + 13 * i for i in range(n_rr))
    if flags & 0x10:
        for r in rr:
            payload += r.to_bytes(2, "little")
    if flags & 0x10 and n_rr == 0:
        with pytest.raises(MalformedPacketError, match="RR flag set"):
            parse_measurement(bytes(payload))
        return
    m = parse_measurement(bytes(payload))
    assert m.hr_bpm == hr
    assert m.energy_kj == (4321 if flags & 0x08 else None)
    assert m.rr_1024 == (rr if flags & 0x10 else ())
    contact_bits = (flags >> 1) & 0x03
    assert m.contact == {0: None, 1: None, 2: False, 3: True}[contact_bits]


@pytest.mark.parametrize(
    ("hexstr", "message"),
    [
        ("", "empty packet"),
        ("16", "truncated heart rate"),
        ("01", "truncated heart rate"),
        ("0148", "truncated heart rate"),
        ("0848", "truncated energy"),
        ("084801", "truncated energy"),
        ("16482c", "odd RR payload"),
        ("16482c0301", "odd RR payload"),
        ("1648", "RR flag set"),
        ("064a2c03", "trailing byte"),
    ],
)
def test_malformed_packets_raise_one_documented_error(hexstr: str, message: str) -> None:
    with pytest.raises(MalformedPacketError, match=message):
        parse_measurement(bytes.fromhex(hexstr))


@pytest.mark.parametrize(
    ("hexstr", "salvaged"),
    [
        ("16482c", HeartRateMeasurement(72, (), True, None)),  # half an RR interval
        ("1648", HeartRateMeasurement(72, (), True, None)),  # RR flag, no RR bytes
        ("19e8032c0100", HeartRateMeasurement(1000, (), None, 300)),  # uint16 HR + energy
    ],
)
def test_a_malformed_rr_part_keeps_the_heart_rate(
    hexstr: str, salvaged: HeartRateMeasurement
) -> None:
    with pytest.raises(MalformedRRError) as info:
        parse_measurement(bytes.fromhex(hexstr))
    assert info.value.salvaged == salvaged


@pytest.mark.parametrize("hexstr", ["", "0148", "0848", "064a2c03"])
def test_faults_before_the_rr_part_salvage_nothing(hexstr: str) -> None:
    with pytest.raises(MalformedPacketError) as info:
        parse_measurement(bytes.fromhex(hexstr))
    assert not isinstance(info.value, MalformedRRError)


@given(st.binary(max_size=40))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        m = parse_measurement(data)
    except MalformedPacketError:
        return
    assert 0 <= m.hr_bpm <= 0xFFFF
    assert all(0 <= r <= 0xFFFF for r in m.rr_1024)


@given(
    hr=st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
    contact=st.sampled_from([None, True, False]),
    energy=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    force_wide=st.booleans(),
)
def test_encode_decode_round_trip(
    hr: int, rr: list[int], contact: bool | None, energy: int | None, force_wide: bool
) -> None:
    wide = force_wide or hr > 0xFF
    data = encode_measurement(hr, rr, contact=contact, energy_kj=energy, uint16=wide)
    assert parse_measurement(data) == HeartRateMeasurement(hr, tuple(rr), contact, energy)


def test_body_sensor_location_and_battery() -> None:
    assert parse_body_sensor_location(b"\x01") == "chest"
    assert parse_body_sensor_location(b"\x09") == "reserved (9)"
    assert parse_battery_level(b"\x57") == 87
    with pytest.raises(MalformedPacketError):
        parse_battery_level(b"\xc8")
    with pytest.raises(MalformedPacketError):
        parse_body_sensor_location(b"")
