"""Plain RR text, CSV with an RR column, and Kubios RR exports.

* **Kubios results/RR text** (a file whose first line contains "Kubios"): the "RR Data"
  columns ``Time (s), RR interval (s)`` of a Kubios HRV report export;
* **CSV** with a header naming an RR column (``rr``, ``rr_ms``, ``rri``, ``ibi``, ``nn``,
  ``rr_interval``, ``RR (ms)``, ...; the separator is ``;``, tab or ``,``, chosen once from
  the first line in that order), optionally with a time column which is ignored for the
  beat times (strap timestamps are arrival times of notifications carrying several RR);
* **headerless** one value per line, or two numeric columns ``time,rr``;
  blank lines and lines starting with ``#`` are skipped.

Decimal commas (``812,5``) are read when ``,`` is not the column separator (``;``- or
tab-separated files, one-column files), and in headerless ``digits,digits`` lines whose first
part is not increasing (so not a time column). A UTF-8 BOM and CRLF line ends are accepted.
Units: values are ms; a file whose median RR is below 10 is taken to be in seconds (no RR is
10 ms) and converted. Values are checked by :func:`biofeedback.files.validate.check_rr`.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np

from biofeedback.files.model import ImportedRR, RRFileError, RRSeries
from biofeedback.files.validate import (
    MAX_TEXT_BYTES,
    check_count,
    check_rr,
    regular_file,
)
from biofeedback.hrv._types import FloatArray

_RR_NAMES = ("rr", "rr_ms", "rri", "rr_interval", "rr_intervals", "ibi", "ibi_ms", "nn",
             "nn_ms", "rr (ms)", "rr interval (ms)", "rr_interval_ms", "interval", "rri_ms",
             "rr (s)", "rr interval (s)")  # fmt: skip


def read_text(path: Path, what: str = "RR file") -> str:
    """The text of a (bounded, regular) file: UTF-8 with or without BOM, else Latin-1;
    binary files are refused. Also refuses more lines than a reading may have beats."""
    regular_file(path, MAX_TEXT_BYTES, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RRFileError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\x00" in data[:4096]:
        raise RRFileError(f"{path}: unknown format (binary file), expected RR text/CSV/capture")
    check_count(path, data.count(b"\n") - 64)  # headers and comments are a few lines
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _values(
    path: Path, rr: list[float], lines: list[int], what: str
) -> tuple[FloatArray, tuple[str, ...]]:
    arr = np.asarray(rr, dtype=np.float64)
    if arr.size and np.median(arr[np.isfinite(arr)] if np.isfinite(arr).any() else arr) < 10.0:
        arr = arr * 1000.0  # seconds
    return arr, check_rr(path, arr, lines, what)


def _num(tok: str, decimal_comma: bool = False) -> float | None:
    try:
        return float(tok.replace(",", ".") if decimal_comma else tok)
    except ValueError:
        return None


def read_kubios(path: Path, text: str) -> ImportedRR:
    """The ``RR interval`` column of a Kubios report's "RR Interval Data" table.

    Rows before the first numeric one are the table's headers; after it, a row whose RR
    cell is not a number is an error (never silently dropped: its neighbours would be
    joined into a false successive difference); rows with both cells empty are the
    spectrum's longer tail.
    """
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
        if len(parts) < 3 or (parts[1] == "" and parts[2] == ""):
            continue
        t, v = _num(parts[1]), _num(parts[2])
        if t is not None and v is not None:
            rr.append(v)
            lines.append(n)
        elif rr:
            raise RRFileError(f"{path}:{n}: Kubios RR row: not a number: {line.strip()[:60]!r}")
    if not rr:
        raise RRFileError(f"{path}: Kubios file without an 'RR Interval Data' table")
    arr, warn = _values(path, rr, lines, "Kubios RR interval")
    return ImportedRR(RRSeries.from_rr(arr, str(path), "kubios", None), warnings=warn)


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


def read_delimited(path: Path, text: str) -> ImportedRR:
    """One RR per line, or a delimited table with an RR column (see the module docstring)."""
    data_lines = [
        (n, ln.strip())
        for n, ln in enumerate(io.StringIO(text), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not data_lines:
        raise RRFileError(f"{path}: no RR values found (empty file?)")
    n0, first = data_lines[0]
    sep = _delimiter(first)
    decimal_comma = sep != ","  # "," is a decimal mark unless it separates the columns
    if sep == "," and _is_decimal_comma_column(data_lines):
        sep, decimal_comma = None, True
    head = _split(first, sep)
    if any(_num(h, decimal_comma) is None for h in head if h != ""):
        names = [h.lower() for h in head]
        col = next((i for i, h in enumerate(names) if h in _RR_NAMES), None)
        if col is None:
            raise RRFileError(
                f"{path}:{n0}: unknown format: header {first[:60]!r} has no RR column "
                "(expected one of rr, rr_ms, rri, ibi, nn, ...)"
            )
        data_lines = data_lines[1:]
        fmt = "csv"
        seconds = "(s)" in names[col]
    else:
        # headerless: one value per line, or time,rr (RR is the last column)
        col = 0 if len(head) == 1 else len(head) - 1
        fmt = "text" if len(head) == 1 else "csv"
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
    arr, warn = _values(path, rr, lines, "RR")
    return ImportedRR(RRSeries.from_rr(arr, str(path), fmt, None), warnings=warn)


def read_rr_text(path: Path) -> ImportedRR:
    """Kubios export or RR text/CSV (``rr-text`` / ``kubios`` formats)."""
    text = read_text(path)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if "kubios" in first.lower() or "kubios hrv" in text[:400].lower():
        return read_kubios(path, text)
    if first.lstrip().startswith("{"):
        raise RRFileError(f"{path}:1: unknown format (JSON that is not a biofeedback capture)")
    return read_delimited(path, text)
