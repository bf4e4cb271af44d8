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
from tests.conftest import REPO


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
        w.write(CaptureEvent(5.7, "notify", "2a37", bytes.fromhex("16482c")))  # odd RR
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
    # the frame with a malformed RR part keeps its heart rate
    assert any("HR  72 bpm  RR ms (malformed, dropped)" in line for line in out)
    # One plural rule for every count, and the gap named as what it is (a link gap).
    assert out[-1] == (
        "summary: 7 frames, 7 beats, 1 rejected packet, 1 link gap, 0 no-contact frames, "
        "1 malformed RR part, 0 resyncs, 10.0 s"
    )


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "Polar H10", "--deadline", "0"], "--deadline"),
        (["--device", "Polar H10", "--deadline", "nan"], "--deadline"),
        (["--replay", "CAP", "--speed", "nan"], "--speed"),
        (["--replay", "CAP", "--speed", "inf"], "--speed"),
        (["--replay", "CAP", "--speed", "nan", "--no-store", "--protocol", "free"], "--speed"),
    ],
)
def test_bad_numbers_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    cap = str(_small_capture(tmp_path / "c.jsonl"))
    argv = ["record", *(cap if a == "CAP" else a for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_capture_onto_a_directory_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = _small_capture(tmp_path / "c.jsonl")
    target = tmp_path / "somedir"
    target.mkdir()
    assert main(["record", "--replay", str(cap), "--speed", "0", "--capture", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0]


async def test_strap_capture_header_has_the_device_info_read_after_connecting(
    tmp_path: Path,
) -> None:
    """A strap's model, firmware, body location and battery are only known once connected;
    the capture header must carry them (not the bare name typed on the command line)."""
    import io

    from biofeedback.cli.record import stream_to_terminal
    from devices.clock import VirtualClock
    from tests.support.replay_strap import replay_strap_source

    path = REPO / "recordings" / "resting-clean.jsonl"
    if not path.is_file():
        pytest.skip("bundled recording not generated yet")
    clock = VirtualClock()
    src = replay_strap_source(path, clock)
    out = tmp_path / "strap.jsonl"
    await stream_to_terminal(src, out=io.StringIO(), quiet=True, capture_path=out)
    want = read_capture(path).header.device
    got = read_capture(out).header.device
    assert want.model is not None and want.firmware is not None
    assert (got.name, got.model, got.firmware, got.body_location, got.battery_pct) == (
        want.name,
        want.model,
        want.firmware,
        want.body_location,
        want.battery_pct,
    )


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


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ/D-Bus path is Linux-only")
def test_guided_record_without_bluetooth_leaves_no_empty_session(tmp_path: Path) -> None:
    import os

    from biofeedback.sessions.store import SessionReader

    db = tmp_path / "s.db"
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    r = subprocess.run(
        [sys.executable, "-m", "biofeedback", "record", "--device", "Polar H10", "--quiet",
         "--protocol", "free", "--db", str(db)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    with SessionReader(db) as reader:
        assert reader.list_sessions() == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_on_a_replay_prints_the_summary(tmp_path: Path) -> None:
    import signal
    import time

    cap = _small_capture(tmp_path / "c.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-m", "biofeedback", "record", "--replay", str(cap), "--speed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while "HR  60 bpm" not in proc.stdout.readline():  # streaming: frame 1 came at t=1 s
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith("summary: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("guided", [False, True])
def test_capture_never_overwrites_an_existing_capture_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], guided: bool
) -> None:
    cap = _small_capture(tmp_path / "c.jsonl")
    out = tmp_path / "precious.jsonl"
    out.write_bytes(b"raw traffic worth more than any report\n")
    argv = ["record", "--replay", str(cap), "--speed", "0", "--quiet", "--capture", str(out)]
    if guided:
        argv += ["--protocol", "free", "--db", str(tmp_path / "s.db")]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"biofeedback record: error: {out}: already exists (use --force to overwrite)"
    assert out.read_bytes() == b"raw traffic worth more than any report\n"
    assert not (tmp_path / "s.db").exists()  # refused before anything was recorded
    assert main([*argv, "--force"]) == 0
    assert len(read_capture(out).events) == len(read_capture(cap).events)
