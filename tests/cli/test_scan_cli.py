"""``biofeedback scan`` without Bluetooth: one clear line on stderr and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform != "linux", reason="D-Bus/BlueZ is the Linux stack")
def test_scan_without_dbus_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "system_bus_socket"
    env = {
        **os.environ,
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={missing}",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "biofeedback", "scan", "--timeout", "0.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("biofeedback scan: error: cannot reach the system D-Bus")
    assert str(missing) in lines[0]
    assert "Traceback" not in proc.stderr


def test_scan_rejects_a_nonpositive_timeout() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "biofeedback", "scan", "--timeout", "0"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "biofeedback scan: error: --timeout: expected a number of seconds > 0, got 0.0"
    ]


def test_unavailable_reasons_are_worded_for_users() -> None:
    import errno

    from bleak.exc import (
        BleakBluetoothNotAvailableError,
        BleakBluetoothNotAvailableReason,
        BleakDBusError,
        BleakError,
    )

    from devices.ble import bluetooth_unavailable_reason as why

    no_adapter = BleakBluetoothNotAvailableError(
        "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
    )
    assert why(no_adapter) == (
        "no Bluetooth adapter found (is one plugged in and not blocked by rfkill?)"
    )
    off = BleakBluetoothNotAvailableError(
        "No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
        BleakBluetoothNotAvailableReason.POWERED_OFF,
    )
    assert why(off) == (
        "the Bluetooth adapter is powered off: turn Bluetooth on (e.g. `bluetoothctl power on`)"
    )
    odd = BleakBluetoothNotAvailableError("Radio asleep.", BleakBluetoothNotAvailableReason.UNKNOWN)
    assert why(odd) == "Bluetooth is not available: Radio asleep"
    no_bluez = BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["no org.bluez"])
    assert "BlueZ (org.bluez) is not running" in (why(no_bluez) or "")
    assert "D-Bus" in (why(FileNotFoundError(errno.ENOENT, "No such file or directory")) or "")
    # ordinary link trouble is retryable, not "Bluetooth unavailable"
    assert why(BleakError("Not connected")) is None
    assert why(BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"])) is None
    assert why(TimeoutError()) is None
