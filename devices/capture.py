"""Capture files: raw strap traffic as JSON Lines (format ``biofeedback-capture`` v1).

Line 1 is a header object::

    {"format": "biofeedback-capture", "version": 1,
     "device": {"name": ..., "address": ..., "model": ..., "manufacturer": ...,
                "firmware": ..., "body_location": ..., "battery_pct": ...},
     "started_at": "2026-11-24T09:00:00+00:00",
     "origin": {"kind": "strap" | "synthetic", "generator": ..., "seed": ..., "notes": ...}}

Every following line is one event with ``t_s``, seconds since the capture started on a
monotonic clock, non-decreasing:

* ``{"t_s": 1.02, "kind": "notify", "char": "2a37", "hex": "1648 2c03"}``: raw notification
  bytes (spaces allowed in ``hex``), never decoded in the file;
* ``{"t_s": 0.0, "kind": "connect"}`` and ``{"t_s": 61.5, "kind": "disconnect",
  "reason": "link loss"}``;
* ``{"t_s": 0.4, "kind": "battery", "pct": 87}``.

Unknown event kinds are skipped (forward compatibility); a malformed line is a
:class:`CaptureError` naming the file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from devices.records import DeviceInfo

FORMAT_NAME = "biofeedback-capture"
FORMAT_VERSION = 1

EventKind = Literal["notify", "connect", "disconnect", "battery"]
_KINDS: frozenset[str] = frozenset({"notify", "connect", "disconnect", "battery"})


class CaptureError(ValueError):
    """A capture file cannot be read (or created); ``str()`` is a one-line message naming
    the file (and line)."""


@dataclass(frozen=True, slots=True)
class CaptureOrigin:
    """How a capture was made: a real strap, or synthesised (and from what)."""

    kind: Literal["strap", "synthetic"]
    generator: str | None = None
    seed: int | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    """The first line of a capture."""

    device: DeviceInfo
    started_at: str
    origin: CaptureOrigin
    version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """One event line. ``data`` holds notification bytes; ``detail`` a reason or battery %."""

    t_s: float
    kind: EventKind
    char: str = ""
    data: bytes = b""
    detail: str = ""
    battery_pct: int | None = None


def _header_to_json(h: CaptureHeader) -> dict[str, Any]:
    dev = {k: v for k, v in asdict(h.device).items() if v is not None}
    origin = {k: v for k, v in asdict(h.origin).items() if v is not None}
    return {
        "format": FORMAT_NAME,
        "version": h.version,
        "device": dev,
        "started_at": h.started_at,
        "origin": origin,
        **h.extra,
    }


def event_to_json(ev: CaptureEvent) -> dict[str, Any]:
    """Serialise one event to its JSON object (``t_s`` rounded to µs)."""
    out: dict[str, Any] = {"t_s": round(ev.t_s, 6), "kind": ev.kind}
    if ev.kind == "notify":
        out["char"] = ev.char
        out["hex"] = ev.data.hex()
    elif ev.kind == "disconnect" and ev.detail:
        out["reason"] = ev.detail
    elif ev.kind == "battery":
        out["pct"] = ev.battery_pct
    return out


class CaptureWriter:
    """Append-only capture writer; each line is flushed so a crash keeps what came before."""

    def __init__(self, path: str | Path, header: CaptureHeader) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[str] = self.path.open("w", encoding="utf-8")
        except IsADirectoryError:
            raise CaptureError(f"{self.path}: is a directory, expected a .jsonl file") from None
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write capture ({exc.strerror})") from None
        self._write(_header_to_json(header))

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._fh.flush()

    def write(self, ev: CaptureEvent) -> None:
        """Append one event."""
        self._write(event_to_json(ev))

    def close(self) -> None:
        """Flush and close the file."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _str_or_none(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    return None if v is None else str(v)


def _parse_header(obj: Any, where: str) -> CaptureHeader:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise CaptureError(f"{where}: not a capture header (expected format {FORMAT_NAME!r})")
    version = obj.get("version")
    if not isinstance(version, int) or version < 1:
        raise CaptureError(f"{where}: header field 'version' must be a positive integer")
    if version > FORMAT_VERSION:
        raise CaptureError(
            f"{where}: capture version {version} is newer than this program reads "
            f"({FORMAT_VERSION}); upgrade biofeedback"
        )
    dev = obj.get("device")
    if not isinstance(dev, dict) or not isinstance(dev.get("name"), str):
        raise CaptureError(f"{where}: header field 'device.name' missing")
    battery = dev.get("battery_pct")
    rssi = dev.get("rssi_dbm")
    device = DeviceInfo(
        name=str(dev["name"]),
        address=str(dev.get("address", "")),
        model=_str_or_none(dev, "model"),
        manufacturer=_str_or_none(dev, "manufacturer"),
        firmware=_str_or_none(dev, "firmware"),
        serial=_str_or_none(dev, "serial"),
        body_location=_str_or_none(dev, "body_location"),
        battery_pct=int(battery) if isinstance(battery, int) else None,
        rssi_dbm=int(rssi) if isinstance(rssi, int) else None,
    )
    org = obj.get("origin") or {}
    if not isinstance(org, dict) or org.get("kind") not in ("strap", "synthetic"):
        raise CaptureError(f"{where}: header field 'origin.kind' must be 'strap' or 'synthetic'")
    seed = org.get("seed")
    origin = CaptureOrigin(
        kind=org["kind"],
        generator=_str_or_none(org, "generator"),
        seed=int(seed) if isinstance(seed, int) else None,
        notes=_str_or_none(org, "notes"),
    )
    known = {"format", "version", "device", "started_at", "origin"}
    return CaptureHeader(
        device=device,
        started_at=str(obj.get("started_at", "")),
        origin=origin,
        version=version,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def _parse_event(obj: Any, where: str, last_t: float) -> CaptureEvent | None:
    if not isinstance(obj, dict):
        raise CaptureError(f"{where}: expected a JSON object")
    t = obj.get("t_s")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        # json.loads accepts NaN/Infinity: a NaN would disable the ordering check below.
        raise CaptureError(f"{where}: field 't_s' must be a finite number of seconds")
    t_s = float(t)
    if t_s < last_t:
        raise CaptureError(f"{where}: 't_s' {t_s} goes back in time (previous {last_t})")
    kind = obj.get("kind")
    if kind not in _KINDS:
        return None
    if kind == "notify":
        hx = obj.get("hex")
        if not isinstance(hx, str):
            raise CaptureError(f"{where}: notify event needs a 'hex' string")
        try:
            data = bytes.fromhex(hx)
        except ValueError:
            raise CaptureError(f"{where}: field 'hex' is not hexadecimal: {hx[:40]!r}") from None
        return CaptureEvent(t_s, "notify", char=str(obj.get("char", "2a37")).lower(), data=data)
    if kind == "battery":
        pct = obj.get("pct")
        if not isinstance(pct, int) or not 0 <= pct <= 100:
            raise CaptureError(f"{where}: battery event needs 'pct' 0..100")
        return CaptureEvent(t_s, "battery", battery_pct=pct)
    if kind == "disconnect":
        return CaptureEvent(t_s, "disconnect", detail=str(obj.get("reason", "")))
    return CaptureEvent(t_s, "connect")


class Capture:
    """A parsed capture: header plus events, fully validated when constructed."""

    def __init__(
        self,
        path: Path,
        header: CaptureHeader,
        events: list[CaptureEvent],
        truncated_line: int | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self.events = events
        #: Line number of a cut-short last line that was left out, if any.
        self.truncated_line = truncated_line

    @property
    def duration_s(self) -> float:
        """Offset of the last event, seconds."""
        return self.events[-1].t_s if self.events else 0.0


def iter_capture_lines(path: Path, truncated: list[int] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_json)`` for non-blank lines; errors name file and line.

    A UTF-8 BOM is skipped. With ``truncated`` given, a last line that is cut short (no
    line end and not valid JSON: a full disk or a killed writer) ends the file and its line
    number is appended to ``truncated``, as RR text keeps what comes before a cut last line.
    """
    try:
        fh = path.open("r", encoding="utf-8-sig")
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such capture file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, expected a .jsonl capture") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read capture ({exc.strerror})") from None
    with fh:
        try:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except RecursionError:
                    raise CaptureError(f"{path}:{n}: JSON nested too deeply") from None
                except json.JSONDecodeError as exc:
                    if truncated is not None and n > 1 and not line.endswith("\n"):
                        truncated.append(n)
                        return
                    raise CaptureError(
                        f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})"
                    ) from None
                yield n, obj
        except UnicodeDecodeError:
            raise CaptureError(f"{path}: not a text capture (invalid UTF-8)") from None
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read capture ({exc.strerror})") from None


def read_capture(path: str | Path) -> Capture:
    """Read and validate a whole capture file.

    Raises
    ------
    CaptureError
        Missing/unreadable file, bad header, malformed or out-of-order event line.
    """
    p = Path(path)
    header: CaptureHeader | None = None
    events: list[CaptureEvent] = []
    last_t = 0.0
    truncated: list[int] = []
    for n, obj in iter_capture_lines(p, truncated):
        where = f"{p}:{n}"
        if header is None:
            header = _parse_header(obj, where)
            continue
        ev = _parse_event(obj, where, last_t)
        if ev is not None:
            events.append(ev)
            last_t = ev.t_s
    if header is None:
        raise CaptureError(f"{p}: empty file, expected a capture header on line 1")
    return Capture(p, header, events, truncated[0] if truncated else None)


def looks_like_capture(path: str | Path) -> bool:
    """Cheap sniff: does the first non-blank line carry the capture format name?"""
    try:
        with Path(path).open("r", encoding="utf-8-sig") as fh:
            for line in fh:
                if line.strip():
                    return FORMAT_NAME in line[:200]
    except (OSError, UnicodeDecodeError):
        return False
    return False
