"""gzip for the dashboard's responses (plotly.min.js is 4.7 MB, ~1.4 MB gzipped).

Dash's own ``compress=True`` needs the flask-compress package; this is the part of it we
need, with a cache: fingerprinted component bundles and static assets with an ETag are
compressed once per process, callback responses (small JSON) on the fly.
"""

from __future__ import annotations

import gzip
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask, Response

#: Bodies smaller than this are sent as they are (gzip would not pay).
MIN_BYTES = 1024
COMPRESSIBLE = (
    "text/html",
    "text/css",
    "text/plain",
    "application/javascript",
    "text/javascript",
    "application/json",
    "image/svg+xml",
)


def enable_gzip(server: Flask, level: int = 6) -> None:
    """Compress eligible responses of ``server`` for clients that accept gzip."""
    from flask import request

    cache: dict[tuple[str, str], bytes] = {}
    lock = threading.Lock()

    @server.after_request
    def _gzip(resp: Response) -> Response:
        if (
            resp.status_code != 200
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or "Content-Encoding" in resp.headers
            or resp.mimetype not in COMPRESSIBLE
        ):
            return resp
        resp.direct_passthrough = False
        body = resp.get_data()
        if len(body) < MIN_BYTES:
            return resp
        etag = resp.headers.get("ETag", "")
        fixed = request.path.startswith("/_dash-component-suites/") or bool(etag)
        key = (request.path, etag)
        with lock:
            gz = cache.get(key) if fixed else None
        if gz is None:
            gz = gzip.compress(body, compresslevel=level)
            if fixed:
                with lock:
                    cache[key] = gz
        resp.set_data(gz)
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Content-Length"] = str(len(gz))
        resp.vary.add("Accept-Encoding")
        return resp
