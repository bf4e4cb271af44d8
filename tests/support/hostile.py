"""Hostile text for the injection tests: payloads and a store whose every text field holds them."""

from __future__ import annotations

import math
import random
from pathlib import Path

from biofeedback.cli import main
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo

#: One payload per vector; each would open a dialog (alert) if it became markup or script.
PAYLOADS = (
    "<script>alert('script-tag')</script>",
    "<img src=x onerror=alert('img-onerror')>",
    "</script><script>alert('script-close')</script>",
    "<a href=\"javascript:alert('js-link')\">click</a>",
    "\"><svg onload=alert('attr-break')>",
    "'><iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<b onmouseover=alert('hover')>bold</b><br>",
)
BENIGN = tuple(f"phase {i}" for i in range(len(PAYLOADS)))


def _capture(path: Path, names: tuple[str, ...], device: str) -> Path:
    """A seeded 0.25 Hz RSA-like RR series, one phase of 100 s per name in the header."""
    rng = random.Random(15)
    kinds = ["baseline"] + ["practice"] * (len(names) - 2) + ["recovery"]
    phases = [
        {"name": n, "kind": k, "start_s": 100.0 * i, "duration_s": 100.0}
        for i, (n, k) in enumerate(zip(names, kinds, strict=True))
    ]
    header = CaptureHeader(
        DeviceInfo(name=device, address="00:11", model=device),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests", notes=PAYLOADS[0]),
        extra={"protocol": "hostile", "phases": phases},
    )
    end_s = 100.0 * len(names)
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        t = 0.0
        while t < end_s:
            rr = 900.0 + 60.0 * math.sin(2 * math.pi * 0.25 * t) + rng.gauss(0.0, 15.0)
            t += rr / 1000.0
            ticks = round(rr * 1.024)
            w.write(CaptureEvent(t, "notify", "2a37", encode_measurement(66, [ticks])))
    return path


def hostile_store(
    tmp: Path, names: tuple[str, ...], text: str | None, device: str | None = None
) -> Path:
    """Two imported sessions; titles, tags and notes are ``text`` (or plain words), the
    device name ``device`` (default: ``text``)."""
    db = tmp / "s.db"
    for i in (1, 2):
        cap = _capture(tmp / f"c{i}.jsonl", names, device or text or "Polar H10")
        title = text or f"session {i}"
        tags = ["--tag", text or "plain", "--tag", "=1+2"]
        assert main(["import", str(cap), "--db", str(db), "--title", title, *tags]) == 0
        assert main(["session", "note", str(i), text or "a note", "--db", str(db)]) == 0
    return db
