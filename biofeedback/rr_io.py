"""Read RR series from files: plain text, CSV, Kubios exports and strap captures.

All readers return a frozen :class:`RRSeries` with float ms, beat times and segment ids.

Formats (detected from the content, not the extension):

* **capture** (``biofeedback-capture`` JSONL): decoded with the same
  :class:`devices.stream.FrameDecoder` + :class:`biofeedback.beats.BeatAssembler` as a live
  strap, so beats carry the assembler's segments (gaps, contact loss, resyncs);
* **Kubios results/RR text** (a file whose first line contains "Kubios"): the "RR Data"
  columns ``Time (s), RR interval (s)`` of a Kubios HRV report export;
* **CSV** with a header naming an RR column (``rr``, ``rr_ms``, ``rri``, ``ibi``, ``nn``,
  ``rr_interval``, ``RR (ms)``, ...; the separator is ``;``, tab or ``,``, chosen once from
  the first line in that order), optionally with a time column which is ignored for the
  beat times (see below);
* **headerless** one value per line, or two numeric columns ``time,rr``;
  blank lines and lines starting with ``#`` are skipped.

Decimal commas (``812,5``) are read when ``,`` is not the column separator (``;``- or
tab-separated files, one-column files), and in headerless ``digits,digits`` lines whose first
part is not increasing (so not a time column). A UTF-8 BOM and CRLF line ends are accepted.

Units: values are ms; a file whose median RR is below 10 is taken to be in seconds (no RR is
10 ms) and converted. Beat times are the cumulative RR (Kubios convention); strap timestamps
(e.g. Polar ``time_ns``) are arrival times of notifications carrying several RR each, so
they are not beat times.

**Fatal vs flagged** (the line between bad input and artefacts): the file is rejected with
a one-line :class:`RRFileError` naming the file, line and problem when it cannot be read,
has no RR values, has a non-numeric data line, or has an RR ≤ 0 ms, non-finite, or
> 60 000 ms (no heart is that slow: a unit or column mistake); it is also rejected when
more than half of the values lie outside 200-3000 ms (wrong unit or column). Values in
(0, 200) or (3000, 60000] ms inside an otherwise good file are kept and flagged by the
analysis as ``out_of_range`` artefacts. A capture holds what a strap sent (16-bit ticks, so
0-64 s, never a unit mistake): every beat is kept, 0 and 65535 ticks included, for the
analysis to flag, like a live recording does.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biofeedback.beats import RR_MAX_MS, RR_MIN_MS
from biofeedback.errors import UserError
from biofeedback.hrv._types import FloatArray, IntArray

FATAL_MAX_MS = 60_000.0
PLAUSIBLE_MS = (RR_MIN_MS, RR_MAX_MS)
_RR_NAMES = ("rr", "rr_ms", "rri", "rr_interval", "rr_intervals", "ibi", "ibi_ms", "nn",
             "nn_ms", "rr (ms)", "rr interval (ms)", "rr_interval_ms", "interval", "rri_ms",
             "rr (s)", "rr interval (s)")  # fmt: skip


class RRFileError(UserError):
    """An RR file cannot be used; ``str()`` names the file, line and problem."""


@dataclass(frozen=True, slots=True)
class RRSeries:
    """RR intervals with beat times and segments.

    Attributes
    ----------
    rr_ms
        Interval lengths, ms (float64).
    t_s
        Time of the beat ending each interval, s from the start of the recording.
    segment
        Contiguous-run id per interval; successive differences never cross a change.
    source
        File name (or other description).
    format
        Detected format: ``text``, ``csv``, ``kubios`` or ``capture``.
    """

    rr_ms: FloatArray
    t_s: FloatArray
    segment: IntArray
    source: str
    format: str = "text"

    @property
    def n_beats(self) -> int:
        return int(self.rr_ms.size)

    @classmethod
    def from_rr(
        cls, rr_ms: FloatArray | list[float], source: str = "", fmt: str = "text"
    ) -> RRSeries:
        """Series from RR alone: times are the cumulative sum, one segment."""
        rr = np.asarray(rr_ms, dtype=np.float64)
        return cls(rr, np.cumsum(rr) / 1000.0, np.zeros(rr.size, dtype=np.int64), source, fmt)


def _check_values(path: Path, rr: list[float], lines: list[int], unit: str = "line") -> FloatArray:
    if not rr:
        raise RRFileError(f"{path}: no RR values found (empty file?)")
    arr = np.asarray(rr, dtype=np.float64)
    if np.median(arr) < 10.0:  # seconds
        arr = arr * 1000.0
    for v, ln in zip(arr.tolist(), lines, strict=True):
        where = f"{path}:{ln}" if unit == "line" else f"{path}: {unit} {ln}"
        if not math.isfinite(v) or v <= 0:
            raise RRFileError(f"{where}: RR {v:g} ms is not a positive number")
        if v > FATAL_MAX_MS:
            raise RRFileError(f"{where}: RR {v:g} ms is absurd (> {FATAL_MAX_MS:.0f} ms)")
    bad = (arr < PLAUSIBLE_MS[0]) | (arr > PLAUSIBLE_MS[1])
    if bad.mean() > 0.5:
        raise RRFileError(
            f"{path}: {int(bad.sum())} of {arr.size} values are outside "
            f"{PLAUSIBLE_MS[0]:.0f}-{PLAUSIBLE_MS[1]:.0f} ms; not RR intervals in ms or s?"
        )
    return arr


def _num(tok: str, decimal_comma: bool = False) -> float | None:
    try:
        v = float(tok.replace(",", ".") if decimal_comma else tok)
    except ValueError:
        return None
    return v


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RRFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RRFileError(f"{path}: is a directory, expected an RR file") from None
    except OSError as exc:
        raise RRFileError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\x00" in data[:4096]:
        raise RRFileError(f"{path}: unknown format (binary file), expected RR text/CSV/capture")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
            raise RRFileError(f"{path}: unknown format (not text)") from None


def _read_kubios(path: Path, text: str) -> RRSeries:
    rr: list[float] = []
    lines: list[int] = []
    in_data = False
    for n, line in enumerate(text.splitlines(), start=1):
        if "RR INTERVAL DATA" in line.upper():
            in_data = True
            continue
        if not in_data:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            t, v = _num(parts[1]), _num(parts[2])
            if t is not None and v is not None:
                rr.append(v)
                lines.append(n)
    if not rr:
        raise RRFileError(f"{path}: Kubios file without an 'RR Interval Data' table")
    arr = _check_values(path, rr, lines)
    return RRSeries.from_rr(arr, str(path), "kubios")


def _delimiter(line: str) -> str | None:
    """The file's column separator, from its first line: ``;`` or tab before ``,`` (a file
    separated by ``;`` or tabs may use ``,`` as its decimal mark); ``None``: blanks or one
    column."""
    for sep in (";", "\t", ","):
        if sep in line:
            return sep
    return None


def _split(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    return [p.strip().strip('"') for p in line.split(sep)]


def _is_decimal_comma_column(lines: list[tuple[int, str]]) -> bool:
    """Headerless ``812,5`` lines: one RR with a decimal comma, not ``time,rr``.

    Every line is ``digits,digits`` with no ``.`` anywhere, and the first part is not
    increasing (a time column would be).
    """
    firsts: list[float] = []
    for _, ln in lines:
        parts = ln.split(",")
        if len(parts) != 2 or "." in ln or not all(p.strip().isdigit() for p in parts):
            return False
        firsts.append(float(parts[0]))
    return len(firsts) > 1 and not all(b > a for a, b in itertools.pairwise(firsts))


def _read_delimited(path: Path, text: str) -> RRSeries:
    data_lines = [
        (n, ln.strip())
        for n, ln in enumerate(io.StringIO(text), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not data_lines:
        raise RRFileError(f"{path}: no RR values found (empty file?)")
    n0, first = data_lines[0]
    sep = _delimiter(first)
    # "," is a decimal mark unless it separates the columns (see _delimiter)
    decimal_comma = sep != ","
    if sep == "," and _is_decimal_comma_column(data_lines):
        sep, decimal_comma = None, True
    head = _split(first, sep)
    col = None
    fmt = "text"
    if any(_num(h, decimal_comma) is None for h in head if h != ""):
        names = [h.lower() for h in head]
        for i, h in enumerate(names):
            if h in _RR_NAMES:
                col = i
                break
        if col is None:
            raise RRFileError(
                f"{path}:{n0}: unknown format: header {first[:60]!r} has no RR column "
                "(expected one of rr, rr_ms, rri, ibi, nn, ...)"
            )
        data_lines = data_lines[1:]
        fmt = "csv"
        seconds = "(s)" in names[col]
    else:
        ncols = len(head)
        # headerless: one value per line, or time,rr (RR is the last column)
        col = 0 if ncols == 1 else ncols - 1
        fmt = "text" if ncols == 1 else "csv"
        seconds = False
    rr: list[float] = []
    lines: list[int] = []
    for n, ln in data_lines:
        parts = _split(ln, sep) if fmt == "csv" else [ln]
        if col >= len(parts) or parts[col] == "":
            raise RRFileError(f"{path}:{n}: missing RR value in column {col + 1}")
        v = _num(parts[col], decimal_comma)
        if v is None:
            raise RRFileError(f"{path}:{n}: not a number: {parts[col][:40]!r}")
        rr.append(v * 1000.0 if seconds else v)
        lines.append(n)
    arr = _check_values(path, rr, lines)
    return RRSeries.from_rr(arr, str(path), fmt)


def read_capture_rr(path: str | Path) -> RRSeries:
    """Beats of a capture file through the live decode path (segments included)."""
    from biofeedback.beats import BeatAssembler
    from devices.capture import CaptureError, read_capture
    from devices.records import LinkEvent, LinkState, short_uuid
    from devices.stream import FrameDecoder

    p = Path(path)
    try:
        cap = read_capture(p)
    except CaptureError as exc:
        raise RRFileError(str(exc)) from None
    dec = FrameDecoder()
    asm = BeatAssembler()
    rr: list[float] = []
    ts: list[float] = []
    seg: list[int] = []
    for ev in cap.events:
        if ev.kind == "notify" and short_uuid(ev.char) == "2a37":
            beats = asm.feed(dec.decode(ev.t_s, ev.data))
        elif ev.kind == "disconnect":
            beats = asm.feed(dec.link(LinkEvent(ev.t_s, LinkState.DISCONNECTED, ev.detail)))
        else:
            continue
        for b in beats:
            rr.append(b.rr_ms)
            ts.append(b.t_s)
            seg.append(b.segment)
    if not rr:
        raise RRFileError(f"{p}: capture contains no RR intervals")
    # Raw strap values, kept as sent (see the module docstring): no fatal check here.
    arr = np.asarray(rr, dtype=np.float64)
    return RRSeries(
        arr, np.asarray(ts, dtype=np.float64), np.asarray(seg, dtype=np.int64), str(p), "capture"
    )


def read_rr(path: str | Path) -> RRSeries:
    """Read any supported RR file (format detected from the content).

    Raises
    ------
    RRFileError
        One-line message naming the file (and line) and the problem.
    """
    from devices.capture import looks_like_capture

    p = Path(path)
    if p.is_file() and looks_like_capture(p):
        return read_capture_rr(p)
    text = _read_text(p)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if "kubios" in first.lower() or "kubios hrv" in text[:400].lower():
        return _read_kubios(p, text)
    if first.lstrip().startswith("{"):
        raise RRFileError(f"{p}:1: unknown format (JSON that is not a biofeedback capture)")
    return _read_delimited(p, text)


__all__ = ["RRFileError", "RRSeries", "read_capture_rr", "read_rr"]
