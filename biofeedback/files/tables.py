"""Helpers shared by the readers of delimited app exports: tables, columns, clocks."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biofeedback.files.model import fail
from biofeedback.files.validate import check_clock, check_wall_time, impossible
from biofeedback.hrv._types import FloatArray, IntArray

#: A gap in the file's clock larger than the summed RR by more than this starts a new
#: segment (same rule as :class:`biofeedback.beats.BeatAssembler`).
RESYNC_TOL_S = 3.0


@dataclass(frozen=True)
class Table:
    """A delimited file: normalised header, data rows and each row's line in the file."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]


def norm(col: str) -> str:
    """A column name compared case- and space-insensitively."""
    return " ".join(col.strip().lower().split())


def sniff_delimiter(header: str) -> str:
    for d in (";", "\t", ","):
        if d in header:
            return d
    return ","


def table(path: Path, text: str) -> Table:
    """Header and rows of a delimited text (blank lines skipped, line numbers kept)."""
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not numbered:
        raise fail(path, "empty file")
    delim = sniff_delimiter(numbered[0][1])
    rows = list(csv.reader(io.StringIO("\n".join(ln for _, ln in numbered)), delimiter=delim))
    if len(rows) != len(numbered):  # a quoted field spanning lines: no line numbers
        raise fail(path, "a quoted field spans lines; expected one row per line")
    return Table([norm(c) for c in rows[0]], rows[1:], [n for n, _ in numbered[1:]])


def col(path: Path, t: Table, names: Sequence[str], fmt_label: str) -> int:
    """Index of the first of ``names`` in the header, else a one-line error."""
    for n in names:
        if n in t.header:
            return t.header.index(n)
    raise fail(
        path,
        f"missing column {names[0]!r} for {fmt_label} (columns found: "
        f"{', '.join(repr(h) for h in t.header) or 'none'})",
    )


def floats(path: Path, t: Table, idx: int, name: str) -> FloatArray:
    """Column ``idx`` as numbers (decimal commas accepted), else an error naming the line."""
    out = np.empty(len(t.rows))
    for i, r in enumerate(t.rows):
        try:
            out[i] = float(r[idx].strip().replace(",", "."))
        except (IndexError, ValueError):
            got = r[idx].strip() if idx < len(r) else "nothing"
            raise fail(
                f"{path}:{t.lines[i]}", f"column {name!r}: expected a number, got {got[:40]!r}"
            ) from None
    return out


def parse_time(path: Path, line: int, name: str, s: str) -> dt.datetime:
    """An ISO 8601 date-time cell (``T`` or a space between date and time)."""
    v = s.strip()
    try:
        t = dt.datetime.fromisoformat(v.replace(" ", "T", 1) if "T" not in v else v)
    except ValueError:
        raise fail(
            f"{path}:{line}",
            f"column {name!r}: expected a date-time like 2024-05-05T14:50:00.436, got {v[:40]!r}",
        ) from None
    return check_wall_time(f"{path}:{line}", t, f"column {name!r}")


def stamps(path: Path, t: Table, idx: int, name: str) -> list[dt.datetime]:
    """Column ``idx`` as date-times sharing one clock: all with a UTC offset or none."""
    out = [parse_time(path, t.lines[i], name, r[idx] if idx < len(r) else "")
           for i, r in enumerate(t.rows)]  # fmt: skip
    aware = out[0].tzinfo is not None if out else False
    for i, s in enumerate(out):
        if (s.tzinfo is not None) != aware:
            raise fail(
                f"{path}:{t.lines[i]}",
                f"column {name!r}: time zone offset {'missing' if aware else 'present'} "
                f"unlike line {t.lines[0]} (mixed time zones)",
            )
    return out


def rel_seconds(path: Path, st: list[dt.datetime], name: str) -> FloatArray:
    """Seconds of each stamp from the first, checked to be one recording's span."""
    t0 = st[0]
    out = np.array([(s - t0).total_seconds() for s in st], dtype=np.float64)
    check_clock(path, out, f"column {name!r}:")
    return out


def segments_from_clock(rr_ms: FloatArray, clock_s: FloatArray) -> tuple[FloatArray, IntArray]:
    """Beat times = cumulative RR, re-anchored to the file's clock after a gap.

    ``clock_s`` is the file's own time of each beat (relative, s). Cumulative RR is the
    precise timeline; the clock only tells where data are missing (the sum of RR falls
    behind by more than :data:`RESYNC_TOL_S`), which starts a new segment re-anchored to the
    clock. A clock that jumps *back* by more than the tolerance (naive local time at a DST
    change, an NTP step) also starts a new segment, but the timeline continues from the
    cumulative RR (beat times never decrease) and the clock is re-based from there on.
    An impossible RR (<= 0 or > 60 s, kept as an artefact) does not advance the timeline.
    """
    n = len(rr_ms)
    step_s = np.where(impossible(rr_ms), 0.0, rr_ms) / 1000.0
    t = np.empty(n)
    seg = np.zeros(n, dtype=np.int64)
    s = 0
    offset = 0.0  # timeline - clock, changed only by a backward clock jump
    t_prev = clock_s[0] - step_s[0]
    for i in range(n):
        cand = t_prev + step_s[i]
        clk = clock_s[i] + offset
        if i and abs(clk - cand) > RESYNC_TOL_S:
            s += 1
            if clk > cand:  # data missing: re-anchor to the clock
                cand = clk
            else:  # clock went back: keep the RR timeline, re-base the clock
                offset += cand - clk
        t[i] = cand
        seg[i] = s
        t_prev = cand
    t0 = t[0] - step_s[0]
    return t - t0, seg
