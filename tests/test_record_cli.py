"""``biofeedback record --replay`` and ``demo`` through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from biofeedback.cli import main
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter, read_capture
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo

from .conftest import REPO


def _small_capture(path: Path) -> Path:
    header = CaptureHeader(
        DeviceInfo(name="Test", address="AA"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="test"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        for i in range(5):
            w.write(CaptureEvent(i + 1.0, "notify", "2a37", encode_measurement(60, [1024])))
        w.write(CaptureEvent(5.5, "notify", "2a37", b""))
        w.write(CaptureEvent(6.0, "disconnect", detail="link loss"))
        w.write(CaptureEvent(9.0, "connect"))
        w.write(CaptureEvent(10.0, "notify", "2a37", encode_measurement(61, [1000, 1010])))
    return path


def test_replay_prints_frames_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = _small_capture(tmp_path / "c.jsonl")
    assert main(["record", "--replay", str(cap), "--speed", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum("HR  60 bpm" in line for line in out) == 5
    assert any("rejected packet" in line and "empty packet" in line for line in out)
    assert any("link disconnected link loss" in line for line in out)
    assert out[-1].startswith("summary: 6 frames, 7 beats, 1 rejected packets, 1 gaps")


def test_capture_tee_reproduces_the_raw_traffic(tmp_path: Path) -> None:
    cap = _small_capture(tmp_path / "c.jsonl")
    out = tmp_path / "again.jsonl"
    assert (
        main(["record", "--replay", str(cap), "--speed", "0", "--quiet", "--capture", str(out)])
        == 0
    )
    a, b = read_capture(cap), read_capture(out)
    assert b.events == a.events
    assert b.header.origin.kind == "synthetic"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such capture file"),
        ("garbage\n", "not valid JSON"),
        ('{"format": "biofeedback-capture", "version": 1}\n', "device.name"),
    ],
)
def test_bad_capture_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    p = tmp_path / "bad.jsonl"
    if content is not None:
        p.write_text(content)
    r = subprocess.run(
        [sys.executable, "-m", "biofeedback", "record", "--replay", str(p), "--speed", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(p) in err[0]
    assert "Traceback" not in r.stderr


def test_capture_to_missing_directory_is_exit_2(tmp_path: Path) -> None:
    cap = _small_capture(tmp_path / "c.jsonl")
    rc = main(["record", "--replay", str(cap), "--capture", str(tmp_path / "no" / "x.jsonl")])
    assert rc == 2


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ/D-Bus path is Linux-only")
def test_record_device_without_bluetooth_is_one_line_exit_2(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    r = subprocess.run(
        [sys.executable, "-m", "biofeedback", "record", "--device", "Polar H10", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "D-Bus" in err[0]
    assert "Traceback" not in r.stderr
