"""RR file readers: formats, units, segments, and the fatal-vs-flagged line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biofeedback.errors import UserError
from biofeedback.files import RRFileError, read_rr
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo
from tests.conftest import reference_dir


def test_one_value_per_line_with_comments(tmp_path: Path) -> None:
    p = tmp_path / "rr.txt"
    p.write_text("# exported\n800\n\n812.5\n790\n")
    s = read_rr(p)
    np.testing.assert_allclose(s.rr_ms, [800.0, 812.5, 790.0])
    np.testing.assert_allclose(s.t_s, [0.8, 1.6125, 2.4025])
    assert s.format == "text" and s.segment.tolist() == [0, 0, 0]


def test_seconds_are_converted(tmp_path: Path) -> None:
    p = tmp_path / "rr_s.txt"
    p.write_text("0.800\n0.812\n")
    np.testing.assert_allclose(read_rr(p).rr_ms, [800.0, 812.0])


@pytest.mark.parametrize(
    "text",
    [
        "time,rr\n0.8,800\n1.6,810\n",
        "rr_ms;other\n800;1\n810;2\n",
        "t_s\tRR (ms)\n0.8\t800\n1.6\t810\n",
        "0.8,800\n1.6,810\n",
        ",rr\n0,800.0\n1,810.0\n",
    ],
)
def test_csv_layouts(tmp_path: Path, text: str) -> None:
    p = tmp_path / "rr.csv"
    p.write_text(text)
    s = read_rr(p)
    np.testing.assert_allclose(s.rr_ms, [800.0, 810.0])
    assert s.format == "csv"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        # decimal commas (European locales) must never be truncated or read as a column
        (b"rr\r\n812,5\r\n790,25\r\n801,0\r\n", "csv"),
        (b"\xef\xbb\xbfRR (ms);time\r\n812,5;0,8\r\n790,25;1,6\r\n801,0;2,4\r\n", "csv"),
        (b"time\trr\n0,8\t812,5\n1,6\t790,25\n2,4\t801,0\n", "csv"),
        (b"812,5\n790,25\n801,0\n", "text"),
        (b"0,8;812,5\r\n1,6;790,25\r\n2,4;801,0\r\n", "csv"),
    ],
)
def test_decimal_commas_bom_and_crlf(tmp_path: Path, data: bytes, fmt: str) -> None:
    p = tmp_path / "rr.csv"
    p.write_bytes(data)
    s = read_rr(p)
    np.testing.assert_allclose(s.rr_ms, [812.5, 790.25, 801.0])
    assert s.format == fmt


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no RR values"),
        ("# only a comment\n\n", "no RR values"),
        ("800\nabc\n", ":2: not a number"),
        ("800\n-5\n", ":2: RR -5 ms is not a positive"),
        ("800\n0\n", ":2: RR 0 ms is not a positive"),
        ("800\n90000\n", ":2: RR 90000 ms is absurd"),
        ("heart,beat\n1,2\n", "unknown format"),
        ("5\n6\n7\n", "not RR intervals"),
        ('{"a": 1}\n', "unknown format"),
    ],
)
def test_fatal_input_names_file_line_and_problem(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(RRFileError) as ei:
        read_rr(p)
    msg = str(ei.value)
    assert str(p) in msg and fragment in msg and "\n" not in msg
    assert isinstance(ei.value, UserError)


def test_unreadable_and_binary(tmp_path: Path) -> None:
    with pytest.raises(RRFileError, match="no such file"):
        read_rr(tmp_path / "missing.txt")
    with pytest.raises(RRFileError, match="is a directory"):
        read_rr(tmp_path)
    b = tmp_path / "x.bin"
    b.write_bytes(b"\x00\x01\x02rr")
    with pytest.raises(RRFileError, match="binary"):
        read_rr(b)


def test_implausible_values_inside_good_file_are_kept(tmp_path: Path) -> None:
    p = tmp_path / "rr.txt"
    p.write_text("800\n810\n4500\n805\n150\n800\n")
    s = read_rr(p)
    assert s.n_beats == 6 and s.rr_ms[2] == 4500.0  # flagged later by the analysis


def _capture(path: Path) -> None:
    hdr = CaptureHeader(
        device=DeviceInfo(name="Sim", address="00:00"),
        started_at="2026-11-24T09:00:00+00:00",
        origin=CaptureOrigin(kind="synthetic", generator="test"),
    )
    with CaptureWriter(path, hdr) as w:
        w.write(CaptureEvent(0.0, "connect"))
        t = 0.0
        for _ in range(5):
            t += 1.0
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(60, [1024])))
        w.write(CaptureEvent(t + 0.5, "disconnect", detail="link loss"))
        t += 20.0
        for _ in range(3):
            t += 1.0
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(60, [1000, 1048])))


def test_capture_goes_through_decoder_and_keeps_segments(tmp_path: Path) -> None:
    p = tmp_path / "cap.jsonl"
    _capture(p)
    s = read_rr(p)
    assert s.format == "capture"
    assert s.n_beats == 5 + 6
    assert s.rr_ms[0] == pytest.approx(1000.0)
    assert s.rr_ms[5] == pytest.approx(1000 * 1000 / 1024)
    assert s.segment[:5].tolist() == [0] * 5
    assert len(set(s.segment[5:].tolist())) == 1 and s.segment[5] != s.segment[4]


def test_real_reference_files_read() -> None:
    # source: shared/reference README: 798 Polar RR values; 245 systole RR; 80441 24-h RR
    s = read_rr(reference_dir("polar_h10_detectpvc") / "polar_h10_rr.csv")
    assert s.n_beats == 798
    s = read_rr(reference_dir("systole_rr_kubios22") / "rr.txt")
    assert s.n_beats == 245 and s.rr_ms[2] == pytest.approx(985.3333333333333)
    s = read_rr(reference_dir("healthy_24h_irurzun") / "000_rr_ms.txt")
    assert s.n_beats == 80441
