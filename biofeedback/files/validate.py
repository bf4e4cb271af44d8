"""The one validation rule of every imported file, shared by ``import`` and ``analyze``.

Every reader ends in :func:`check_rr` (values) and every reading in :func:`validate`
(timeline, wall time, size), so a file that ``analyze`` refuses is never stored, and a
file that is stored can be read back by every view of the store.

* **Fatal** (one-line :class:`~biofeedback.files.model.RRFileError`): no values; a value that
  is not a finite number; at least half the values outside the plausibility band
  :data:`biofeedback.beats.RR_MIN_MS`-:data:`biofeedback.beats.RR_MAX_MS` (a unit or column
  mistake); a clock or beat time that is not finite or spans more than
  :data:`MAX_RECORDING_S`; a wall time outside :data:`WALL_YEARS`; more than
  :data:`MAX_BEATS` beats or a file larger than its format's byte limit.
* **Flagged** (kept raw, a warning): a few values outside the band, physiologically
  impossible ones included (0, negative, > 60 s): the analysis flags them ``out_of_range``
  and never uses them. An impossible value does not advance the timeline
  (:func:`timeline_s`), so one 1e308 cannot push later beats out of any calendar.
"""

from __future__ import annotations

import datetime as dt
import math
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from biofeedback.beats import MAX_BEATS, RR_MAX_MS, RR_MIN_MS
from biofeedback.files.model import ImportedRR, fail
from biofeedback.hrv._types import FloatArray

#: No RR interval is longer than this, ms: a longer value is impossible, never a pause.
FATAL_MAX_MS = 60_000.0
#: Longest recording accepted, s (31 days: beyond the 14-day patch Holters on sale).
MAX_RECORDING_S = 31 * 86_400.0
#: Largest text file read (RR text, CSV, app exports, ECG CSV), bytes.
MAX_TEXT_BYTES = 64 * 1024 * 1024
#: Largest binary file read (EDF, WFDB signal), bytes.
MAX_BINARY_BYTES = 256 * 1024 * 1024
#: Calendar years a recording's wall time may fall in (the Unix epoch to 2099): a year
#: 0001 or 9999 is a broken clock, and cannot be stored as a timestamp.
WALL_YEARS = (1970, 2099)


def impossible(rr_ms: FloatArray) -> np.ndarray:
    """Values no heart produces and no timeline can hold: <= 0 or > 60 s (or non-finite)."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(rr_ms) | (rr_ms <= 0) | (rr_ms > FATAL_MAX_MS)


def timeline_s(rr_ms: FloatArray) -> FloatArray:
    """Beat times, s: the cumulative RR, where an impossible value advances time by 0."""
    step = np.where(impossible(rr_ms), 0.0, rr_ms)
    out: FloatArray = np.cumsum(step) / 1000.0
    return out


def _where(src: object, lines: Sequence[int] | None, i: int) -> str:
    return f"{src}:{lines[i]}" if lines is not None else f"{src}: value {i + 1}"


def _at(lines: Sequence[int] | None, i: int) -> str:
    return f"line {lines[i]}" if lines is not None else f"value {i + 1}"


def check_rr(
    src: object, rr_ms: FloatArray, lines: Sequence[int] | None = None, what: str = "RR"
) -> tuple[str, ...]:
    """Apply the fatal-vs-flagged rule to RR values (ms); return the warnings.

    ``lines`` gives each value's line in the file (for the messages); ``what`` names the
    column or source in them.
    """
    n = int(rr_ms.size)
    if n == 0:
        raise fail(src, f"no RR values found ({what}; empty file?)")
    finite = np.isfinite(rr_ms)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise fail(_where(src, lines, i), f"{what}: {rr_ms[i]!r} is not an RR value")
    bad = (rr_ms < RR_MIN_MS) | (rr_ms > RR_MAX_MS)
    k = int(bad.sum())
    if k == 0:
        return ()
    first = int(np.flatnonzero(bad)[0])
    if 2 * k >= n:
        v = float(rr_ms[first])
        if v <= 0:
            why = f"RR {v:g} ms is not a positive number"
        elif v > FATAL_MAX_MS:
            why = f"RR {v:g} ms is absurd (> {FATAL_MAX_MS:.0f} ms)"
        else:
            why = f"RR {v:g} ms is outside {RR_MIN_MS:g}-{RR_MAX_MS:g} ms"
        raise fail(
            _where(src, lines, first),
            f"{why}, and so are {k - 1} more of {n} values ({what}): not RR intervals; "
            "expected RR in milliseconds",
        )
    n_imp = int(impossible(rr_ms).sum())
    tail = f", {n_imp} impossible (<= 0 or > 60 s)" if n_imp else ""
    return (
        f"{k} of {n} RR values outside {RR_MIN_MS:g}-{RR_MAX_MS:g} ms{tail} (first "
        f"{rr_ms[first]:g} ms, {_at(lines, first)}): "
        "kept as out-of-range artefacts, not used for HRV",
    )


def check_clock(src: object, clock_s: FloatArray, what: str) -> None:
    """A file's own clock (s): finite and spanning at most :data:`MAX_RECORDING_S`."""
    ok = np.isfinite(clock_s)
    if ok.all():
        span = np.abs(clock_s - clock_s[0]) if clock_s.size else clock_s
        ok = span <= MAX_RECORDING_S
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise fail(
            src,
            f"{what} {clock_s[i]:g} s (value {i + 1}) is not a time within "
            f"{MAX_RECORDING_S / 86400:g} days of the start",
        )


def check_wall_time(src: object, t: dt.datetime, where: str) -> dt.datetime:
    """``t`` if its year is in :data:`WALL_YEARS`, else a one-line error naming ``where``."""
    lo, hi = WALL_YEARS
    if not lo <= t.year <= hi:
        raise fail(src, f"{where}: date {t.isoformat()} is not a plausible recording date "
                   f"(expected {lo}-{hi})")  # fmt: skip
    return t


def regular_file(path: Path, limit_bytes: int, what: str = "file") -> int:
    """Size of ``path`` if it is a regular file within ``limit_bytes``; else a one-line
    error. Uses ``stat`` only, so a FIFO or device is refused without blocking on it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise fail(path, "no such file") from None
    except OSError as exc:
        raise fail(path, f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise fail(path, f"is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise fail(path, f"not a regular file (a FIFO, socket or device), expected a {what}")
    if st.st_size > limit_bytes:
        raise fail(path, f"{st.st_size / 2**20:.0f} MiB is larger than the "
                   f"{limit_bytes / 2**20:.0f} MiB accepted for a {what}")  # fmt: skip
    return int(st.st_size)


def check_count(src: object, n: int) -> None:
    """Refuse more than :data:`MAX_BEATS` values (before they are parsed)."""
    if n > MAX_BEATS:
        raise fail(src, f"more than {MAX_BEATS:,} beats (about {n:,} lines); split the file")


def validate(reading: ImportedRR) -> ImportedRR:
    """The last check of every reading, whatever its format (see the module docstring)."""
    s = reading.series
    src = s.source
    check_count(src, s.n_beats)
    if not (s.rr_ms.size == s.t_s.size == s.segment.size):
        raise fail(src, "internal: RR, beat times and segments differ in length")
    check_rr(src, s.rr_ms, what=s.format)
    t = s.t_s
    if not np.all(np.isfinite(t)):
        raise fail(src, "beat times are not finite numbers")
    if t.size and (float(t.min()) < -FATAL_MAX_MS / 1000 or float(t[-1]) > MAX_RECORDING_S):
        raise fail(src, f"beat times span {float(t[-1]) / 86400:.3g} days; longer than "
                   f"{MAX_RECORDING_S / 86400:g} days is not one recording")  # fmt: skip
    if np.any(np.diff(t) < 0):
        i = int(np.flatnonzero(np.diff(t) < 0)[0])
        raise fail(src, f"beat {i + 2} is earlier than beat {i + 1}")
    if reading.started_at is not None:
        check_wall_time(src, reading.started_at, "start time")
        try:
            end = reading.started_at + dt.timedelta(seconds=float(t[-1]) if t.size else 0.0)
            end.timestamp()
        except (OverflowError, ValueError, OSError):
            raise fail(src, "start time plus duration is not a date") from None
        check_wall_time(src, end, "end time")
    return reading


def with_warnings(reading: ImportedRR, *warnings: str) -> ImportedRR:
    """``reading`` with more warnings."""
    return replace(reading, warnings=reading.warnings + tuple(w for w in warnings if w))


def finite_or_none(v: float) -> float | None:
    """``v`` if finite (for optional numeric metadata)."""
    return v if math.isfinite(v) else None
