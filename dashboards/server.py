"""Serving the dashboard: a werkzeug server in a thread, the store reader and live worker.

Used by ``biofeedback dashboard`` and ``biofeedback demo`` (the CLI only parses and prints).

DNS rebinding: a web page on an attacker's domain can point that domain at 127.0.0.1 and
read the dashboard from the victim's browser, since the browser then sees one origin. Its
requests carry the attacker's name in ``Host``, so :class:`HostGuard` answers 403 to any
request whose ``Host`` is not one this server is known by: an IP literal (rebinding needs a
name), ``localhost``, the ``--host`` value itself and, when bound beyond loopback, this
machine's host names; the port, when given, must be the server's.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from biofeedback.errors import UserError


def network_warning(host: str) -> str | None:
    """A warning when ``host`` is reachable from other machines (not loopback)."""
    if host in ("localhost",):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"warning: binding {host}: your heart-rate data become reachable from the network, "
        "without a password. Use 127.0.0.1 unless you trust every machine on it."
    )


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


def allowed_host_names(host: str) -> frozenset[str]:
    """The names (not IP literals, always allowed) a server bound to ``host`` answers to."""
    names = {"localhost", host.lower()}
    if not _is_loopback(host):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(n for n in names if n)


class HostGuard:
    """WSGI middleware: 403 unless the ``Host`` header names this server (see module doc)."""

    def __init__(self, app: Any, names: Iterable[str], port: int) -> None:
        self.app = app
        self.names = frozenset(n.lower() for n in names)
        self.port = port

    def allows(self, host_header: str) -> bool:
        """Whether a request with this ``Host`` header value is served."""
        h = host_header.strip().lower()
        if h.startswith("["):  # [v6]:port
            name, _, rest = h[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
            if rest and not rest.startswith(":"):
                return False
        else:
            name, _, port = h.partition(":")
        if port and port != str(self.port):
            return False
        name = name.rstrip(".")
        return bool(name) and (_is_ip(name) or name in self.names)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        host = environ.get("HTTP_HOST", "")
        if self.allows(host):
            return self.app(environ, start_response)
        body = (
            f"403: this dashboard does not answer to Host {host[:100]!r} (protection against "
            f"DNS rebinding); open http://127.0.0.1:{self.port}/\n"
        ).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, or a one-line :class:`UserError` naming the
    option to change (busy port, unknown host name, address not on this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as werkzeug chooses
    try:
        addr = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except socket.gaierror as exc:
        raise UserError(
            f"--host {host}: cannot resolve it ({exc.strerror}); use an address such as 127.0.0.1"
        ) from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"--port {port}: {host}:{port} is in use by another program; choose another "
                "with --port N (--port 0 takes any free port)"
            ) from None
        raise UserError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror}); try "
            "--host 127.0.0.1 or another --port"
        ) from None
    return sock


class Server:
    """A werkzeug server for a WSGI app in a thread, behind :class:`HostGuard`; `stop` shuts
    it down cleanly."""

    def __init__(self, wsgi_app: Any, host: str, port: int) -> None:
        from werkzeug.serving import make_server

        # werkzeug logs every request at INFO; the live page polls every second, which would
        # flood the terminal. Requests are shown with -v (the root level is then INFO).
        wlog = logging.getLogger("werkzeug")
        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            wlog.setLevel(logging.WARNING)
        self.guard = HostGuard(wsgi_app, allowed_host_names(host), port)
        # We bind the socket ourselves: werkzeug prints its own two lines and exits 1 when
        # binding fails; a bound socket handed over by fd gives one UserError line instead.
        sock = listen_socket(host, port)
        try:
            self._srv = make_server(host, port, self.guard, threaded=True, fd=sock.fileno())
        finally:
            sock.close()  # werkzeug works on its own duplicate of the descriptor
        self.host = host
        self.port: int = self._srv.socket.getsockname()[1]
        self.guard.port = self.port  # --port 0: the port the system chose
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._thread.join(5.0)
        self._srv.server_close()


def serve_until_interrupted(
    server: Server,
    *,
    on_tick: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Block until Ctrl-C (or ``stop`` is set), calling ``on_tick`` about once a second."""
    ev = stop or threading.Event()
    try:
        while not ev.wait(1.0):
            if on_tick is not None:
                on_tick()
    except KeyboardInterrupt:
        pass


def open_dashboard(
    db: str | Path,
    *,
    live_recordings: dict[str, Path] | None = None,
    warm: bool = True,
    adapter: str | None = None,
) -> tuple[Any, Any]:
    """Store reader + live worker + Dash app for ``db`` (created if missing).

    ``adapter`` (``"hci1"``) is the Bluetooth adapter the Live page scans and connects with.
    """
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader, Store

    Store(db).close()  # create / upgrade / recover interrupted sessions first
    reader = SessionReader(db)
    strap: dict[str, Any] = {}
    if adapter is not None:
        import functools

        from devices import ble  # bleak itself is imported only when a strap is used

        strap["strap_opener"] = functools.partial(ble.open_strap_source, adapter=adapter)
        strap["scanner"] = functools.partial(ble.scan_straps, adapter=adapter)
    worker = LiveWorker(db, recordings=live_recordings or {}, **strap)
    from dashboards import create_app

    app = create_app(reader, worker, warm=warm)
    return app, worker
