"""Polar PMD codec: control requests/responses and ECG frames, vectors, errors, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.pmd import (
    MalformedPmdError,
    Measurement,
    Op,
    decode_control_response,
    decode_ecg_frame,
    ecg_start_request,
    encode_control_request,
    encode_ecg_frame,
)


def test_ecg_start_request_is_the_h10_vector() -> None:
    # source: ble.md §5.4 (bleakheart 0.2.0): START, ECG, sample rate 130, resolution 14
    assert ecg_start_request().hex() == "02000001820001010e00"
    assert encode_control_request(Op.STOP, Measurement.ECG) == b"\x03\x00"
    assert encode_control_request(Op.GET_SETTINGS, Measurement.ACC) == b"\x01\x02"


def test_control_responses() -> None:
    ok = decode_control_response(bytes.fromhex("f0020000"))
    assert (ok.op, ok.measurement, ok.ok, ok.error_text) == (
        Op.START,
        Measurement.ECG,
        True,
        "success",
    )
    mtu = decode_control_response(bytes.fromhex("f002000a00"))
    assert (mtu.ok, mtu.error_text, mtu.payload) == (False, "invalid MTU", b"\x00")
    assert decode_control_response(bytes.fromhex("f002000d")).error_text == "device in charger"


def test_ecg_frame_vector() -> None:
    # type 0, time 1 ns... little-endian, frame type 0, samples -1, 0, 8388607 µV
    raw = bytes.fromhex("00" + "0100000000000000" + "00" + "ffffff" + "000000" + "ffff7f")
    f = decode_ecg_frame(raw)
    assert (f.sensor_time_ns, f.samples_uv) == (1, (-1, 0, 8388607))


@pytest.mark.parametrize(
    ("hexstr", "message"),
    [
        ("", "shorter than its 10-byte header"),
        ("02" + "00" * 9, "expected 0 \\(ECG\\)"),
        ("00" + "00" * 8 + "01", "frame type 1"),
        ("00" + "00" * 9 + "ffff", "not whole 3-byte samples"),
    ],
)
def test_malformed_ecg_frames(hexstr: str, message: str) -> None:
    with pytest.raises(MalformedPmdError, match=message):
        decode_ecg_frame(bytes.fromhex(hexstr))


@pytest.mark.parametrize("hexstr", ["", "f002", "0102000000"])
def test_malformed_control_responses(hexstr: str) -> None:
    with pytest.raises(MalformedPmdError):
        decode_control_response(bytes.fromhex(hexstr))


@given(
    t=st.integers(0, (1 << 64) - 1),
    samples=st.lists(st.integers(-(1 << 23), (1 << 23) - 1), max_size=80),
)
def test_ecg_round_trip(t: int, samples: list[int]) -> None:
    f = decode_ecg_frame(encode_ecg_frame(t, samples))
    assert (f.sensor_time_ns, f.samples_uv) == (t, tuple(samples))


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    for decode in (decode_ecg_frame, decode_control_response):
        with contextlib.suppress(MalformedPmdError):
            decode(data)


def test_encoders_refuse_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="3 signed bytes"):
        encode_ecg_frame(0, [1 << 23])
    with pytest.raises(ValueError, match="uint16"):
        from devices.pmd import Setting

        encode_control_request(Op.START, Measurement.ECG, {Setting.SAMPLE_RATE: 70000})
