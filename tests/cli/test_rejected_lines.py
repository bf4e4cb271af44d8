"""Rejected packets on the terminal: hex reads as hex, an empty packet says so, and with
``record --replay`` each is printed once (not on stdout and again as a log warning)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo

from ..conftest import REPO


def _capture(path: Path) -> Path:
    header = CaptureHeader(
        DeviceInfo(name="Test", address="AA"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="test"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        for i in range(1, 6):
            w.write(CaptureEvent(float(i), "notify", "2a37", encode_measurement(60, [1024])))
        w.write(CaptureEvent(6.0, "notify", "2a37", b""))
        w.write(CaptureEvent(6.5, "notify", "2a37", bytes.fromhex("62363035")))
        w.write(CaptureEvent(7.0, "notify", "2a37", encode_measurement(60, [1024])))
    return path


def _record(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "biofeedback", "record", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("stored", [False, True])
def test_each_rejected_packet_printed_once_as_hex(tmp_path: Path, stored: bool) -> None:
    cap = _capture(tmp_path / "c.jsonl")
    db = ["--db", str(tmp_path / "s.db"), "--protocol", "free"] if stored else []
    r = _record("--replay", str(cap), "--speed", "0", *db)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "rejected packet " in ln]
    assert len(lines) == 2, lines
    assert "rejected packet (empty): empty packet" in lines[0]
    assert "rejected packet 0x62363035: " in lines[1]
    assert "rejected packet" not in r.stderr


def test_quiet_keeps_one_warning_per_kind(tmp_path: Path) -> None:
    cap = _capture(tmp_path / "c.jsonl")
    r = _record("--replay", str(cap), "--speed", "0", "--quiet")
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.splitlines() if "rejected packet" in ln]
    assert [w.split(" at t=")[0] for w in warned] == [
        "WARNING devices.stream: rejected packet (empty)",
        "WARNING devices.stream: rejected packet 0x62363035",
    ]
