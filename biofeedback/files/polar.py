"""Polar exports: Sensor Logger RR/PPI (HR refused), Polar Flow HRV and summary, ``.hrm``.

========================  ====================================================================
``polar-sensor-logger``   Polar Sensor Logger ``*_RR.txt``: ``;``-separated, header
                          ``Phone timestamp;RR-interval [ms]``, one beat per row, phone time
                          ISO 8601 (``2024-05-05T14:50:00.436``). ``,`` is accepted too.
``polar-ppi``             Polar Sensor Logger ``*_PPI.txt`` of optical sensors (Verity Sense,
                          OH1): ``Phone timestamp;PP-interval [ms];error estimate [ms];
                          blocker;contact;...``. Per the Polar BLE SDK (``PolarPpiSample``):
                          ``blocker`` 1 = the interval is invalid (movement), ``contact`` 0 =
                          poor skin contact, and an error estimate over 30 ms "may be caused by
                          movement artefact or too loose sensor-skin contact": such intervals
                          are dropped (the segment breaks there) and counted in a warning.
``polar-flow``            Polar Flow web "HRV data" export: tab-separated, no header, two
                          columns: elapsed time (s) and RR (ms).
``polar-hrm``             Polar ``.hrm`` (Polar Precision Performance "HRM file format"):
                          ``[Params]`` with ``Date=YYYYMMDD``, ``StartTime=HH:MM:SS.s`` and
                          ``Interval``; ``Interval=238`` means R-R recording, each
                          ``[HRData]`` row then starts with an RR in ms. Any other interval is
                          HR sampling (1-60 s) and is refused with that reason.
``polar-flow-summary``    Polar Flow training CSV (summary row, then 1 Hz ``HR (bpm)``
                          samples): recognised and refused, "HR only, no RR intervals".
========================  ====================================================================
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from biofeedback.files.model import MS_RESOLUTION_MS, ImportedRR, RRSeries, fail
from biofeedback.files.tables import (
    col,
    floats,
    rel_seconds,
    segments_from_clock,
    stamps,
    table,
)
from biofeedback.files.text import read_text
from biofeedback.files.validate import check_clock, check_rr, check_wall_time

#: Polar BLE SDK: PP error estimates above this (ms) suggest movement or loose contact.
PPI_MAX_ERROR_MS = 30.0
#: ``Interval`` value of a ``.hrm`` file recorded in R-R mode.
HRM_RR_INTERVAL = 238


def _series(path: Path, fmt: str, rr: np.ndarray, t: np.ndarray, seg: np.ndarray) -> RRSeries:
    return RRSeries(rr, t, seg, str(path), fmt, MS_RESOLUTION_MS)


def read_sensor_logger(path: Path) -> ImportedRR:
    """Polar Sensor Logger ``*_RR.txt`` (or ``*_PPI.txt``, see :func:`read_ppi`).

    Beat times are the cumulative RR, re-anchored to the phone time after a gap of > 3 s.
    """
    t = table(path, read_text(path))
    if "pp-interval [ms]" in t.header:
        return read_ppi(path)
    if "hr [bpm]" in t.header and "rr-interval [ms]" not in t.header:
        raise fail(
            path,
            "this is a Polar Sensor Logger HR file (heart rate only, no RR intervals); missing "
            "column 'RR-interval [ms]'; "
            "import the *_RR.txt file (chest straps) or *_PPI.txt (optical sensors)",
        )
    label = "Polar Sensor Logger RR"
    ti = col(path, t, ["phone timestamp"], label)
    ri = col(path, t, ["rr-interval [ms]"], label)
    rr = floats(path, t, ri, "RR-interval [ms]")
    warn = check_rr(path, rr, t.lines, "column 'RR-interval [ms]'")
    st = stamps(path, t, ti, "Phone timestamp")
    tt, seg = segments_from_clock(rr, rel_seconds(path, st, "Phone timestamp"))
    start = st[0] - dt.timedelta(seconds=float(tt[0]))
    return ImportedRR(_series(path, "polar-sensor-logger", rr, tt, seg), start, warnings=warn)


def read_ppi(path: Path) -> ImportedRR:
    """Polar Sensor Logger PPI file: valid pulse-to-pulse intervals, unusable ones dropped."""
    t = table(path, read_text(path))
    label = "Polar Sensor Logger PPI"
    ti = col(path, t, ["phone timestamp"], label)
    pi = col(path, t, ["pp-interval [ms]"], label)
    ppi = floats(path, t, pi, "PP-interval [ms]")

    def flag(name: str) -> np.ndarray:
        if name not in t.header:
            return np.zeros(ppi.size, dtype=bool)
        return floats(path, t, t.header.index(name), name)

    supported = flag("contact supported") if "contact supported" in t.header else 1.0
    flags = (
        (f"error estimate > {PPI_MAX_ERROR_MS:g} ms",
         flag("error estimate [ms]") > PPI_MAX_ERROR_MS),
        ("blocker set", flag("blocker") != 0),
        ("no skin contact", ("contact" in t.header) & (flag("contact") == 0) & (supported != 0)),
    )  # fmt: skip
    drop = np.zeros(ppi.size, dtype=bool)
    reasons: list[str] = []
    for why, bad in flags:
        new = np.asarray(bad, dtype=bool) & ~drop
        if new.any():
            reasons.append(f"{int(new.sum())} {why}")
        drop |= new
    if drop.all():
        raise fail(path, f"{label}: all {ppi.size} intervals unusable ({', '.join(reasons)})")
    st = stamps(path, t, ti, "Phone timestamp")
    clock = rel_seconds(path, st, "Phone timestamp")
    keep = ~drop
    lines = [ln for ln, k in zip(t.lines, keep, strict=True) if k]
    rr = ppi[keep]
    warn = check_rr(path, rr, lines, "column 'PP-interval [ms]'")
    tt, seg = segments_from_clock(rr, clock[keep])
    # A dropped interval is a missing beat: the next difference must not span it.
    after_drop = np.concatenate([[False], drop[:-1]])[keep]
    seg = seg + np.cumsum(after_drop)
    if drop.any():
        warn = (f"{int(drop.sum())} of {ppi.size} PP intervals dropped as unusable "
                f"({', '.join(reasons)}; Polar SDK quality flags)", *warn)  # fmt: skip
    start = st[int(np.flatnonzero(keep)[0])] - dt.timedelta(seconds=float(tt[0]))
    note = "optical pulse-to-pulse intervals (PPI), not ECG R-R"
    return ImportedRR(_series(path, "polar-ppi", rr, tt, seg), start, (note,), warn)


def read_polar_flow(path: Path) -> ImportedRR:
    """Polar Flow "HRV data" export: ``elapsed_s<TAB>rr_ms`` rows, no header.

    Elapsed time is used only to find gaps (segments); beat times are the cumulative RR.
    """
    numbered = [(n, ln) for n, ln in enumerate(read_text(path).splitlines(), 1) if ln.strip()]
    if not numbered:
        raise fail(path, "empty file")
    el = np.empty(len(numbered))
    rr = np.empty(len(numbered))
    for i, (n, ln) in enumerate(numbered):
        parts = ln.replace(",", ".").split()
        try:
            el[i], rr[i] = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise fail(
                f"{path}:{n}", f"expected two numbers (elapsed s, RR ms), got {ln.strip()[:40]!r}"
            ) from None
    lines = [n for n, _ in numbered]
    warn = check_rr(path, rr, lines, "column 2 (RR ms)")
    check_clock(path, el, "elapsed time (column 1)")
    step0 = rr[0] / 1000.0 if 0 < rr[0] <= 60_000 else 0.0
    tt, seg = segments_from_clock(rr, el - el[0] + step0)
    return ImportedRR(_series(path, "polar-flow", rr, tt, seg), warnings=warn)


def _hrm_sections(path: Path, text: str) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    cur: list[tuple[int, str]] | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        ln = raw.strip()
        if ln.startswith("[") and ln.endswith("]"):
            cur = out.setdefault(ln[1:-1].lower(), [])
        elif ln and cur is not None:
            cur.append((n, ln))
    if "params" not in out:
        raise fail(path, "Polar .hrm file without a [Params] section")
    return out


def read_hrm(path: Path) -> ImportedRR:
    """Polar ``.hrm``: R-R mode (``Interval=238``) gives RR; HR mode is refused."""
    sec = _hrm_sections(path, read_text(path))
    params = {k.strip().lower(): v.strip() for _, ln in sec["params"] if "=" in ln
              for k, v in [ln.split("=", 1)]}  # fmt: skip
    interval = params.get("interval", "")
    if interval != str(HRM_RR_INTERVAL):
        raise fail(
            path,
            f"Polar .hrm in HR mode (Interval={interval or '?'}: heart rate sampled every "
            f"{interval or '?'} s, no RR intervals); record with R-R recording on "
            f"(Interval={HRM_RR_INTERVAL})",
        )
    rows = sec.get("hrdata", [])
    rr = np.empty(len(rows))
    for i, (n, ln) in enumerate(rows):
        try:
            rr[i] = float(ln.split()[0])
        except ValueError:
            raise fail(f"{path}:{n}", f"[HRData]: expected an RR in ms, got {ln[:40]!r}") from None
    lines = [n for n, _ in rows]
    warn = check_rr(path, rr, lines, "Polar .hrm [HRData] RR")
    start = None
    date, time = params.get("date", ""), params.get("starttime", "")
    try:
        start = dt.datetime.strptime(f"{date} {time.split('.')[0]}", "%Y%m%d %H:%M:%S")
    except ValueError:
        start = None
    if start is not None:
        check_wall_time(path, start, "[Params] Date")
    return ImportedRR(RRSeries.from_rr(rr, str(path), "polar-hrm", MS_RESOLUTION_MS), start,
                      warnings=warn)  # fmt: skip


def refuse_flow_summary(path: Path) -> ImportedRR:
    """A Polar Flow training CSV: recognised, but it holds 1 Hz HR samples only."""
    raise fail(path, "Polar Flow training summary: HR only, no RR intervals (export the "
               "RR data: Polar Flow 'HRV data', or record with Polar Sensor Logger)")  # fmt: skip
