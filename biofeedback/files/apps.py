"""Exports of RR apps: Elite HRV readings and HRV Logger.

========================  ====================================================================
``elite-hrv``             Elite HRV export: one text file per reading, named
                          ``YYYY-MM-DD HH-MM-SS.txt``, one RR in ms per line, no header; the
                          export arrives as a folder or ``.zip`` of such files (one session
                          per reading: :func:`biofeedback.files.read.read_readings`).
``hrv-logger``            HRV Logger (Marco Altini) ``*_RR_*.csv``: header ``date,rr,since start``
                          (``date`` wall time of the beat, ``rr`` ms, ``since start`` ms).
========================  ====================================================================

Layouts from the RRational documentation ("Supported Data Formats", user-guide/data-formats)
and the Elite HRV export walk-through on dataespresso.com (2017, "Reading RR intervals from
EliteHRV with Pandas": per-reading ``.txt`` files, RR only, start time in the file name).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np

from biofeedback.files.model import MS_RESOLUTION_MS, ImportedRR, RRSeries, fail
from biofeedback.files.tables import col, floats, rel_seconds, segments_from_clock, stamps, table
from biofeedback.files.text import read_text
from biofeedback.files.validate import check_clock, check_rr, check_wall_time

#: Name of one reading of a per-reading export (Elite HRV): local start date-time.
READING_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ _T](\d{2})[-_:.]?(\d{2})[-_:.]?(\d{2})\b")
ELITE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}[ _]\d{2}-\d{2}-\d{2}\.txt$")


def start_from_name(path: Path, name: str) -> dt.datetime | None:
    """The local start time written in a reading's file name (``2024-05-05 07-06-40``)."""
    m = READING_NAME.match(name)
    if not m:
        return None
    try:
        t = dt.datetime.strptime(f"{m[1]} {m[2]}:{m[3]}:{m[4]}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return check_wall_time(path, t, "date in the file name")


def read_elite_hrv(path: Path, name: str | None = None) -> ImportedRR:
    """One Elite HRV reading: one RR in ms per line, start time in the file name.

    ``name`` is the reading's name when it differs from the path's (a zip member).
    """
    src = path
    vals: list[float] = []
    lines: list[int] = []
    for n, ln in enumerate(read_text(path).splitlines(), start=1):
        s = ln.strip()
        if not s:
            continue
        try:
            vals.append(float(s))
        except ValueError:
            raise fail(f"{src}:{n}", f"expected one RR value in ms, got {s[:40]!r}") from None
        lines.append(n)
    rr = np.asarray(vals, dtype=np.float64)
    warn = check_rr(src, rr, lines, "one RR per line")
    start = start_from_name(path, name or path.name)
    return ImportedRR(RRSeries.from_rr(rr, str(src), "elite-hrv", MS_RESOLUTION_MS), start,
                      warnings=warn)  # fmt: skip


def read_hrv_logger(path: Path) -> ImportedRR:
    """HRV Logger RR export (``*_RR_*.csv``).

    Expected columns: ``date`` (wall time of the beat) and ``rr`` (ms); ``since start`` (ms)
    is used for gaps when present. Column names are matched case-insensitively.
    """
    t = table(path, read_text(path))
    label = "HRV Logger"
    di = col(path, t, ["date"], label)
    ri = col(path, t, ["rr"], label)
    rr = floats(path, t, ri, "rr")
    warn = check_rr(path, rr, t.lines, "column 'rr'")
    st = stamps(path, t, di, "date")
    if "since start" in t.header:
        clock = floats(path, t, t.header.index("since start"), "since start") / 1000.0
        check_clock(path, clock, "column 'since start'")
    else:
        clock = rel_seconds(path, st, "date")
    step0 = rr[0] / 1000.0 if 0 < rr[0] <= 60_000 else 0.0
    tt, seg = segments_from_clock(rr, clock - clock[0] + step0)
    start = st[0] - dt.timedelta(seconds=float(tt[0]))
    series = RRSeries(rr, tt, seg, str(path), "hrv-logger", MS_RESOLUTION_MS)
    return ImportedRR(series, start, warnings=warn)
