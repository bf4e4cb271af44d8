"""``dashboard``/``demo``: a busy port or a bad --host is one line naming the option, exit 2;
the network warning is given exactly for addresses reachable from other machines."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dashboards.server import network_warning

from ..conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "biofeedback", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", ["dashboard", "demo"])
def test_busy_port_and_unknown_host_are_one_line_exit_2(command: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["--port", str(port)], "another with --port N"),
            (["--host", "no-such-host.invalid", "--port", "0"], "such as 127.0.0.1"),
        ]
        for extra, message in cases:
            r = _run(command, "--db", str(tmp_path / "d.db"), *extra)
            assert r.returncode == 2, r.stderr
            lines = r.stderr.strip().splitlines()
            assert lines == [lines[0]] and lines[0].startswith(f"biofeedback {command}: error: ")
            assert f"--{extra[0][2:]} {extra[1]}: " in lines[0] and message in lines[0]
            assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    ("host", "warns"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),  # all of 127.0.0.0/8 is loopback: unreachable from elsewhere
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("my-laptop.local", True),  # a name may resolve to any interface
    ],
)
def test_network_warning_exactly_beyond_loopback(host: str, warns: bool) -> None:
    w = network_warning(host)
    assert (w is not None) is warns
    if w:
        assert "reachable from the network" in w
