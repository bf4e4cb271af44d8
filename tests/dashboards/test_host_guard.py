"""DNS rebinding: the dashboard's server answers only to Host names it is known by."""

from __future__ import annotations

import http.client
from typing import Any

import pytest

from dashboards.server import HostGuard, Server, allowed_host_names


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def _get(port: int, host_header: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.putrequest("GET", "/", skip_host=True)
        c.putheader("Host", host_header)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_served_for_its_own_names_refused_for_a_rebound_domain() -> None:
    srv = Server(_hello, "127.0.0.1", 0).start()
    try:
        p = srv.port
        for ok in (f"127.0.0.1:{p}", f"localhost:{p}", f"LOCALHOST:{p}", "127.0.0.1"):
            assert _get(p, ok) == (200, b"hello"), ok
        for bad in (f"attacker.example:{p}", "attacker.example", f"127.0.0.1:{p + 1}", ""):
            status, body = _get(p, bad)
            assert status == 403, bad
            assert b"DNS rebinding" in body and b"hello" not in body
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("127.0.0.1:8050", True),
        ("[::1]:8050", True),
        ("192.168.1.20:8050", True),  # an IP literal: no name to rebind
        ("localhost.:8050", True),
        ("localhost:8051", False),
        ("evil.example:8050", False),
        ("localhost.evil.example:8050", False),
        ("[::1]x", False),
        ("", False),
    ],
)
def test_host_header_rules(header: str, ok: bool) -> None:
    guard = HostGuard(_hello, allowed_host_names("127.0.0.1"), 8050)
    assert guard.allows(header) is ok


def test_a_network_binding_also_answers_to_the_machine_name() -> None:
    import socket

    names = allowed_host_names("0.0.0.0")
    assert socket.gethostname().lower() in names
    assert "evil.example" not in names
    assert socket.gethostname().lower() not in allowed_host_names("127.0.0.1")
