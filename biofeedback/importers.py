"""Importers for RR exports of other apps, and RR from a raw ECG.

Every reader returns a :class:`biofeedback.rr_io.RRSeries` (RR in ms, beat times in s,
segments; ``format`` is the format name below), or raises
:class:`~biofeedback.errors.UserError` naming the file and the missing column / bad value.
:func:`read_with_meta` also returns the recording's start time and notes (:class:`ImportedRR`).
:func:`detect_format` names the format of a file from its name and first lines;
:func:`read_rr_any` dispatches on it (to :func:`biofeedback.rr_io.read_rr` for its formats).

Formats (layouts as documented by the apps or by tools that read them; cited per reader):

========================  ====================================================================
name                      layout
========================  ====================================================================
``polar-sensor-logger``   Polar Sensor Logger ``*_RR.txt``: ``;``-separated, header
                          ``Phone timestamp;RR-interval [ms]``, one beat per row, phone time
                          ISO 8601 (``2024-05-05T14:50:00.436``). ``,`` is accepted too.
``polar-flow``            Polar Flow web "HRV data" export: tab-separated, no header, two
                          columns: elapsed time (s) and RR (ms).
``elite-hrv``             Elite HRV export: one text file per reading, named
                          ``YYYY-MM-DD HH-MM-SS.txt``, one RR in ms per line, no header; the
                          export arrives as a folder or ``.zip`` of such files.
``hrv-logger``            HRV Logger (Marco Altini) ``*_RR_*.csv``: header ``date,rr,since start``
                          (``date`` wall time of the beat, ``rr`` ms, ``since start`` ms).
``ecg-csv``               Raw ECG: ``time_ns,ecg_mV`` (the ``polar_h10_detectpvc`` reference
                          layout) or Polar Sensor Logger ``*_ECG.txt`` (``Phone timestamp;
                          sensor timestamp [ns];timestamp [ms];ecg [uV]``). R-peaks are
                          detected with neurokit2 and refined to sub-sample precision.
``edf``                   EDF / EDF+ (European Data Format; Kemp et al. 1992, Kemp & Olivan
                          2003), read with numpy only: beat annotations in an ``EDF
                          Annotations`` signal (texts ``R``, ``N``, ``QRS``, ``beat``...) give
                          the beat times; otherwise the first ECG signal (label containing
                          ``ECG``/``EKG``) goes through the R-peak detector. 16-bit EDF only
                          (BDF's 24-bit samples are refused with a message).
========================  ====================================================================

:func:`detect_format` also recognises the formats of :mod:`biofeedback.rr_io`: ``capture``
(JSONL capture), ``kubios`` (Kubios RR text export) and ``rr-text`` (one RR per line or a CSV
with an RR column); :func:`read_rr_any` hands those to ``rr_io``.

Sources for the layouts: Polar Sensor Logger header lines as written by the app
(``Phone timestamp;RR-interval [ms]``; ECG ``...;ecg [uV]``), seen in public parsers of its
files; HRV Logger, Polar Flow and Elite HRV layouts from the RRational documentation
("Supported Data Formats", rrational.readthedocs.io, user-guide/data-formats) and the Elite
HRV export walk-through on dataespresso.com (2017, "Reading RR intervals from EliteHRV with
Pandas": per-reading ``.txt`` files, RR only, start time in the file name).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from biofeedback.beats import RR_MAX_MS as RR_MAX_MS
from biofeedback.beats import RR_MIN_MS as RR_MIN_MS
from biofeedback.errors import UserError
from biofeedback.rr_io import RRSeries

__all__ = [
    "FORMATS",
    "EcgBeats",
    "EdfFile",
    "EdfSignal",
    "ImportedRR",
    "MatchResult",
    "detect_format",
    "match_rr_to_peaks",
    "read_ecg_csv",
    "read_edf",
    "read_edf_file",
    "read_elite_hrv",
    "read_elite_hrv_export",
    "read_hrv_logger",
    "read_polar_flow",
    "read_polar_sensor_logger",
    "read_rr_any",
    "read_with_meta",
    "rr_from_ecg",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Formats this module reads itself.
FORMATS: tuple[str, ...] = (
    "polar-sensor-logger",
    "polar-flow",
    "elite-hrv",
    "hrv-logger",
    "ecg-csv",
    "edf",
)

#: A gap in the wall-clock timestamps larger than the summed RR by more than this starts a
#: new segment (same rule as :class:`biofeedback.beats.BeatAssembler`).
RESYNC_TOL_S = 3.0
# RR_MIN_MS-RR_MAX_MS (biofeedback.beats, the one plausibility definition): a file with most
# values outside it is rejected as a unit mistake (a few are artefacts, flagged by the
# analysis).
#: No RR interval is longer than this, ms (same limit as :mod:`biofeedback.rr_io`).
FATAL_MAX_MS = 60_000.0

_ELITE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}[ _]\d{2}-\d{2}-\d{2}\.txt$")


@dataclass(frozen=True)
class ImportedRR:
    """An RR series read from a file, with what the file says about the recording.

    Attributes
    ----------
    series
        The RR series (``series.segment`` changes where the file's clock shows a gap;
        ``series.format`` is one of :data:`FORMATS`).
    started_at
        Wall time of the start of the recording (timezone-aware UTC if the file says so,
        else naive local time), if the format carries one.
    notes
        Facts worth showing the user (joined readings, ECG detection settings...).
    """

    series: RRSeries
    started_at: dt.datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_beats(self) -> int:
        """Number of RR intervals."""
        return self.series.n_beats


def _fail(path: str | Path, msg: str) -> UserError:
    return UserError(f"{path}: {msg}")


def _read_text(path: Path) -> str:
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a directory, expected a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(path, "not a text file (expected UTF-8 text)") from None
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror})") from None


def _check_rr(path: str | Path, rr: FloatArray, what: str) -> None:
    """The fatal-vs-flagged line of :mod:`biofeedback.rr_io`: a non-finite, non-positive or
    > 60 s value, or a majority of values outside ``RR_MIN_MS``-``RR_MAX_MS`` (a unit or
    column mistake), is an error; a few implausible values in a good file are artefacts,
    kept for the analysis to flag (``out_of_range``)."""
    if len(rr) == 0:
        raise _fail(path, f"no RR values found ({what})")
    fatal = np.flatnonzero(~np.isfinite(rr) | (rr <= 0) | (rr > FATAL_MAX_MS))
    if len(fatal):
        v = rr[fatal[0]]
        raise _fail(
            path,
            f"{what}: RR value {v:g} (row {fatal[0] + 1}) is not an RR interval "
            f"(expected 0-{FATAL_MAX_MS:g} ms)",
        )
    bad = (rr < RR_MIN_MS) | (rr > RR_MAX_MS)
    if bad.mean() > 0.5:
        first = int(np.flatnonzero(bad)[0])
        raise _fail(
            path,
            f"{what}: {int(bad.sum())} of {len(rr)} values (first {rr[first]:g}, row "
            f"{first + 1}) outside {RR_MIN_MS:g}-{RR_MAX_MS:g} ms; expected RR in milliseconds",
        )


def _cumulative(rr_ms: FloatArray) -> FloatArray:
    out: FloatArray = np.cumsum(rr_ms) / 1000.0
    return out


def _segments_from_clock(rr_ms: FloatArray, clock_s: FloatArray) -> tuple[FloatArray, IntArray]:
    """Beat times = cumulative RR, re-anchored to the file's clock after a gap.

    ``clock_s`` is the file's own time of each beat (relative, s). Cumulative RR is the
    precise timeline; the clock only tells where data are missing (the sum of RR falls
    behind by more than :data:`RESYNC_TOL_S`), which starts a new segment re-anchored to the
    clock. A clock that jumps *back* by more than the tolerance (naive local time at a DST
    change, an NTP step) also starts a new segment, but the timeline continues from the
    cumulative RR (beat times never decrease) and the clock is re-based from there on.
    """
    n = len(rr_ms)
    t = np.empty(n)
    seg = np.zeros(n, dtype=np.int64)
    s = 0
    offset = 0.0  # timeline - clock, changed only by a backward clock jump
    t_prev = clock_s[0] - rr_ms[0] / 1000.0
    for i in range(n):
        cand = t_prev + rr_ms[i] / 1000.0
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
    t0 = t[0] - rr_ms[0] / 1000.0
    return t - t0, seg


def _make(
    path: str | Path,
    fmt: str,
    rr_ms: FloatArray,
    t_s: FloatArray | None = None,
    segment: IntArray | None = None,
    started_at: dt.datetime | None = None,
    notes: Sequence[str] = (),
) -> ImportedRR:
    rr = np.asarray(rr_ms, dtype=np.float64)
    series = RRSeries(
        rr,
        _cumulative(rr) if t_s is None else np.asarray(t_s, dtype=np.float64),
        np.zeros(len(rr), dtype=np.int64) if segment is None else segment,
        str(path),
        fmt,
    )
    return ImportedRR(series, started_at, tuple(notes))


# --------------------------------------------------------------------------- CSV helpers


def _norm(col: str) -> str:
    return " ".join(col.strip().lower().split())


def _sniff_delimiter(header: str) -> str:
    for d in (";", "\t", ","):
        if d in header:
            return d
    return ","


def _table(path: Path, text: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise _fail(path, "empty file")
    delim = _sniff_delimiter(lines[0])
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    header = [_norm(c) for c in rows[0]]
    return header, rows[1:]


def _col(path: Path, header: list[str], names: Sequence[str], fmt_label: str) -> int:
    for n in names:
        if n in header:
            return header.index(n)
    raise _fail(
        path,
        f"missing column {names[0]!r} for {fmt_label} (columns found: "
        f"{', '.join(repr(h) for h in header) or 'none'})",
    )


def _floats(path: Path, rows: list[list[str]], idx: int, col: str) -> FloatArray:
    out = np.empty(len(rows))
    for i, r in enumerate(rows):
        try:
            out[i] = float(r[idx].strip().replace(",", "."))
        except (IndexError, ValueError):
            got = r[idx].strip() if idx < len(r) else "nothing"
            raise _fail(
                path, f"row {i + 2}, column {col!r}: expected a number, got {got!r}"
            ) from None
    return out


def _parse_time(path: Path, row: int, col: str, s: str) -> dt.datetime:
    v = s.strip()
    try:
        return dt.datetime.fromisoformat(v.replace(" ", "T", 1) if "T" not in v else v)
    except ValueError:
        raise _fail(
            path, f"row {row}, column {col!r}: expected a date-time like 2024-05-05T14:50:00.436"
        ) from None


def _same_clock(path: Path, col: str, stamps: list[dt.datetime]) -> list[dt.datetime]:
    """``stamps`` if all carry a UTC offset or none does; else a one-line error naming the
    first row that differs from the first row (they cannot share one clock)."""
    aware = stamps[0].tzinfo is not None if stamps else False
    for i, s in enumerate(stamps):
        if (s.tzinfo is not None) != aware:
            raise _fail(
                path,
                f"row {i + 2}, column {col!r}: time zone offset "
                f"{'missing' if aware else 'present'} unlike row 2 (mixed time zones)",
            )
    return stamps


def _rel_seconds(stamps: list[dt.datetime]) -> FloatArray:
    t0 = stamps[0]
    return np.array([(s - t0).total_seconds() for s in stamps], dtype=np.float64)


# --------------------------------------------------------------------------- readers


def _read_polar_sensor_logger(path: str | Path) -> ImportedRR:
    """Read a Polar Sensor Logger RR file (``*_RR.txt``).

    Expected columns: ``Phone timestamp`` (ISO 8601 phone wall time of the row) and
    ``RR-interval [ms]``, separated by ``;`` (the app's choice) or ``,``. Beat times are the
    cumulative RR, re-anchored to the phone time after a gap of more than 3 s.
    """
    p = Path(path)
    header, rows = _table(p, _read_text(p))
    label = "Polar Sensor Logger RR"
    if "hr [bpm]" in header and "rr-interval [ms]" not in header:
        raise _fail(
            p,
            "this is a Polar Sensor Logger HR file; missing column 'RR-interval [ms]' "
            "(import the *_RR.txt file)",
        )
    ti = _col(p, header, ["phone timestamp"], label)
    ri = _col(p, header, ["rr-interval [ms]"], label)
    rr = _floats(p, rows, ri, "RR-interval [ms]")
    _check_rr(p, rr, "column 'RR-interval [ms]'")
    stamps = _same_clock(
        p,
        "Phone timestamp",
        [_parse_time(p, i + 2, "Phone timestamp", r[ti]) for i, r in enumerate(rows)],
    )
    t, seg = _segments_from_clock(rr, _rel_seconds(stamps))
    start = stamps[0] - dt.timedelta(milliseconds=float(rr[0]))
    return _make(p, "polar-sensor-logger", rr, t, seg, start)


def _read_polar_flow(path: str | Path) -> ImportedRR:
    """Read a Polar Flow "HRV data" export: ``elapsed_s<TAB>rr_ms`` rows, no header.

    Elapsed time is the time of each beat in seconds from the start; it is used only to find
    gaps (segments), beat times are the cumulative RR.
    """
    p = Path(path)
    lines = [ln for ln in _read_text(p).splitlines() if ln.strip()]
    if not lines:
        raise _fail(p, "empty file")
    el = np.empty(len(lines))
    rr = np.empty(len(lines))
    for i, ln in enumerate(lines):
        parts = ln.replace(",", ".").split()
        if len(parts) < 2:
            raise _fail(
                p, f"line {i + 1}: expected two columns (elapsed s, RR ms), got {ln.strip()!r}"
            )
        try:
            el[i], rr[i] = float(parts[0]), float(parts[1])
        except ValueError:
            raise _fail(
                p, f"line {i + 1}: expected numbers (elapsed s, RR ms), got {ln.strip()!r}"
            ) from None
    _check_rr(p, rr, "column 2 (RR ms)")
    t, seg = _segments_from_clock(rr, el - el[0] + rr[0] / 1000.0)
    return _make(p, "polar-flow", rr, t, seg)


def _elite_start(name: str) -> dt.datetime | None:
    if not _ELITE_NAME.match(name):
        return None
    return dt.datetime.strptime(name[:19].replace("_", " "), "%Y-%m-%d %H-%M-%S")


def _elite_values(src: str, text: str) -> FloatArray:
    vals: list[float] = []
    for i, ln in enumerate(text.splitlines()):
        s = ln.strip()
        if not s:
            continue
        try:
            vals.append(float(s))
        except ValueError:
            raise _fail(src, f"line {i + 1}: expected one RR value in ms, got {s!r}") from None
    rr = np.asarray(vals, dtype=np.float64)
    _check_rr(src, rr, "one RR per line")
    return rr


def _read_elite_hrv(path: str | Path) -> ImportedRR:
    """Read one Elite HRV reading: one RR in ms per line, start time in the file name.

    The file name ``YYYY-MM-DD HH-MM-SS.txt`` (local time) gives ``started_at``; any other
    name is accepted without a start time.
    """
    p = Path(path)
    rr = _elite_values(str(p), _read_text(p))
    return _make(p, "elite-hrv", rr, started_at=_elite_start(p.name))


def read_elite_hrv_export(path: str | Path) -> list[ImportedRR]:
    """Read a whole Elite HRV export (folder or ``.zip``): one series per reading, oldest first.

    Only members named ``YYYY-MM-DD HH-MM-SS.txt`` are read.
    """
    p = Path(path)
    out: list[ImportedRR] = []
    if p.is_dir():
        for f in sorted(p.rglob("*.txt")):
            if _ELITE_NAME.match(f.name):
                out.append(_read_elite_hrv(f))
    elif zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            for name in sorted(z.namelist()):
                base = name.rsplit("/", 1)[-1]
                if not _ELITE_NAME.match(base):
                    continue
                src = f"{p}!{name}"
                text = z.read(name).decode("utf-8-sig", errors="replace")
                out.append(
                    _make(src, "elite-hrv", _elite_values(src, text), started_at=_elite_start(base))
                )
    else:
        raise _fail(p, "expected an Elite HRV export folder or .zip")
    if not out:
        raise _fail(p, "no Elite HRV readings (files named 'YYYY-MM-DD HH-MM-SS.txt') found")
    out.sort(key=lambda r: r.started_at or dt.datetime.min)
    return out


def _read_hrv_logger(path: str | Path) -> ImportedRR:
    """Read an HRV Logger RR export (``*_RR_*.csv``).

    Expected columns: ``date`` (wall time of the beat) and ``rr`` (ms); ``since start`` (ms)
    is used for gaps when present. Column names are matched case-insensitively, spaces
    trimmed.
    """
    p = Path(path)
    header, rows = _table(p, _read_text(p))
    label = "HRV Logger"
    di = _col(p, header, ["date"], label)
    ri = _col(p, header, ["rr"], label)
    rr = _floats(p, rows, ri, "rr")
    _check_rr(p, rr, "column 'rr'")
    stamps = _same_clock(
        p, "date", [_parse_time(p, i + 2, "date", r[di]) for i, r in enumerate(rows)]
    )
    if "since start" in header:
        clock = _floats(p, rows, header.index("since start"), "since start") / 1000.0
    else:
        clock = _rel_seconds(stamps)
    t, seg = _segments_from_clock(rr, clock - clock[0] + rr[0] / 1000.0)
    start = stamps[0] - dt.timedelta(milliseconds=float(rr[0]))
    return _make(p, "hrv-logger", rr, t, seg, start)


# --------------------------------------------------------------------------- ECG


@dataclass(frozen=True)
class EcgBeats:
    """R-peaks found in an ECG and the RR series they make.

    Attributes
    ----------
    peak_t_s
        R-peak times, s from the first sample, refined to sub-sample precision.
    rr
        The RR series (``rr_ms = diff(peak_t_s)``, ``t_s`` = time of the later peak, relative
        to the first R-peak; ``format`` ``ecg-csv``).
    fs_hz
        Sampling rate used (measured from the timestamps when given).
    started_at
        Wall time (UTC) of the first R-peak when the file has epoch timestamps.
    """

    peak_t_s: FloatArray
    rr: RRSeries
    fs_hz: float
    started_at: dt.datetime | None = None


def _parabolic(sig: FloatArray, idx: IntArray, half_window: int = 2) -> FloatArray:
    """Sub-sample peak positions: local maximum within ±``half_window``, then a parabola.

    Three-point parabolic interpolation of a sampled peak (e.g. Jacobsen & Kootsookos 2007,
    IEEE Signal Process. Mag. 24(3):123) removes most of the ±T/2 quantisation of a peak
    time; at 130 Hz that is ±3.8 ms.
    """
    n = len(sig)
    out = np.empty(len(idx))
    for k, i in enumerate(idx):
        lo = max(int(i) - half_window, 1)
        hi = min(int(i) + half_window, n - 2)
        j = lo + int(np.argmax(sig[lo : hi + 1]))
        j = min(max(j, 1), n - 2)
        y0, y1, y2 = sig[j - 1], sig[j], sig[j + 1]
        den = y0 - 2.0 * y1 + y2
        d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        out[k] = j + float(np.clip(d, -0.5, 0.5))
    return out


def rr_from_ecg(
    ecg: Sequence[float] | FloatArray,
    *,
    fs_hz: float | None = None,
    t_s: Sequence[float] | FloatArray | None = None,
    source: str = "<ecg>",
    method: str = "neurokit",
    fmt: str = "ecg-csv",
) -> EcgBeats:
    """Detect R-peaks in an ECG and return the RR series.

    The signal is cleaned with ``neurokit2.ecg_clean`` (0.5 Hz high-pass, 50 Hz notch),
    R-peaks are found with ``neurokit2.ecg_peaks(method=method)`` and each peak is refined by
    parabolic interpolation on the cleaned signal, because at 130 Hz (Polar H10) a sample is
    7.7 ms, far coarser than the strap's own 1/1024 s RR.

    Parameters
    ----------
    ecg
        ECG samples (any unit; mV or µV).
    fs_hz
        Sampling rate in Hz. Required unless ``t_s`` is given.
    t_s
        Sample times in s; when given the rate is measured from them (the H10 runs at about
        130.16 Hz, not exactly 130).
    source
        Name used in messages and in the result.
    method
        neurokit2 R-peak detector (``neurokit`` is the validated choice here).
    fmt
        Format name stored in the result's ``RRSeries.format``.

    Returns
    -------
    EcgBeats

    References
    ----------
    Makowski D. et al. (2021) NeuroKit2: A Python toolbox for neurophysiological signal
    processing. Behav. Res. Methods 53:1689-1696.
    """
    x = np.asarray(ecg, dtype=np.float64)
    if t_s is not None:
        t = np.asarray(t_s, dtype=np.float64)
        if len(t) != len(x) or len(t) < 2:
            raise _fail(source, "ECG samples and times differ in length (or < 2 samples)")
        fs = (len(t) - 1) / float(t[-1] - t[0])
    elif fs_hz is not None:
        fs = float(fs_hz)
    else:
        raise ValueError("rr_from_ecg needs fs_hz or t_s")
    if not np.isfinite(fs) or fs < 50.0:
        raise _fail(source, f"ECG sampling rate {fs:.1f} Hz is too low (need >= 50 Hz)")
    if len(x) < 5 * fs:
        raise _fail(source, f"ECG too short ({len(x) / fs:.1f} s); need at least 5 s")
    import neurokit2 as nk  # lazy: ~1.5-3.5 s import

    clean = np.asarray(nk.ecg_clean(x, sampling_rate=fs, method="neurokit"), dtype=np.float64)
    _, info = nk.ecg_peaks(clean, sampling_rate=fs, method=method)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    if len(peaks) < 2:
        raise _fail(source, "fewer than 2 R-peaks found in the ECG")
    refined = _parabolic(clean, peaks)
    peak_t = refined / fs
    rr = np.diff(peak_t) * 1000.0
    # Beat times are relative to the first R-peak (the start of the first interval).
    t_beats = peak_t[1:] - peak_t[0]
    series = _make(source, fmt, rr, t_beats).series
    return EcgBeats(peak_t_s=peak_t, rr=series, fs_hz=fs)


def read_ecg_csv(path: str | Path) -> EcgBeats:
    """Read a raw ECG CSV and return its R-peaks and RR series (see :func:`rr_from_ecg`).

    Accepted layouts: ``time_ns,ecg_mV`` (time in ns, any epoch) and Polar Sensor Logger
    ``*_ECG.txt`` (``sensor timestamp [ns]`` and ``ecg [uV]``, ``;``-separated). A file with
    an ECG column but no time column needs the rate: not supported here.
    """
    p = Path(path)
    header, rows = _table(p, _read_text(p))
    label = "ECG CSV"
    ei = _col(p, header, ["ecg_mv", "ecg [uv]", "ecg [mv]", "ecg"], label)
    ti = _col(p, header, ["time_ns", "sensor timestamp [ns]"], label)
    ecg = _floats(p, rows, ei, header[ei])
    tns = np.array([int(float(r[ti])) for r in rows], dtype=np.int64)
    t = (tns - tns[0]).astype(np.float64) / 1e9
    beats = rr_from_ecg(ecg, t_s=t, source=str(p))
    start: dt.datetime | None = None
    if header[ti] == "time_ns" and tns[0] > 10**17:  # Unix epoch ns (after 1973)
        start = dt.datetime.fromtimestamp(tns[0] / 1e9 + beats.peak_t_s[0], tz=dt.UTC).replace(
            microsecond=0
        )
    return EcgBeats(beats.peak_t_s, beats.rr, beats.fs_hz, start)


@dataclass(frozen=True)
class MatchResult:
    """ECG-derived RR matched to a reference RR sequence (e.g. the strap's own RR).

    ``ref_index[k]`` is the reference interval matched by ``diff_ms[k]`` = ECG RR − reference
    RR for that interval; ``n_ref`` is the length of the reference sequence.
    """

    ref_index: IntArray
    diff_ms: FloatArray
    n_ref: int


def match_rr_to_peaks(
    peak_t_s: FloatArray, ref_rr_ms: FloatArray, tol_ms: float = 60.0
) -> MatchResult:
    """Match a reference RR sequence to detected peaks, interval by interval.

    The reference has no beat times of its own (BLE RR arrive ~1/s, batched), so its beats are
    placed by cumulative RR, anchored on the first peaks and re-anchored on every matched
    peak (rounding and missed beats then never accumulate). An interval matches when both of
    its beats fall within ``tol_ms`` of consecutive peaks.
    """
    tp = np.asarray(peak_t_s, dtype=np.float64) * 1000.0
    rr = np.asarray(ref_rr_ms, dtype=np.float64)
    s = np.concatenate([[0.0], np.cumsum(rr)])
    probe = s[: min(len(s), 40)]

    def hits(o: float) -> int:
        pred = probe + o
        j = np.clip(np.searchsorted(tp, pred), 1, len(tp) - 1)
        d = np.minimum(np.abs(tp[j] - pred), np.abs(tp[j - 1] - pred))
        return int(np.sum(d < tol_ms))

    cands = [tp[j] - s[k] for j in range(min(8, len(tp))) for k in range(min(8, len(s)))]
    offset = max(cands, key=hits)
    idx: list[int] = []
    diffs: list[float] = []
    prev: tuple[int, int] | None = None
    for k in range(len(s)):
        pred = s[k] + offset
        m = int(np.searchsorted(tp, pred))
        c = min((c for c in (m - 1, m) if 0 <= c < len(tp)), key=lambda c: abs(tp[c] - pred))
        if abs(tp[c] - pred) < tol_ms:
            if prev is not None and prev == (k - 1, c - 1):
                idx.append(k - 1)
                diffs.append(float(tp[c] - tp[c - 1] - rr[k - 1]))
            offset = tp[c] - s[k]
            prev = (k, c)
        else:
            prev = None
    return MatchResult(np.asarray(idx, dtype=np.int64), np.asarray(diffs), len(rr))


# --------------------------------------------------------------------------- EDF / EDF+

#: Annotation texts taken as beats (case-insensitive), as written by Holter/ECG software.
EDF_BEAT_LABELS = frozenset(
    {"r", "n", "qrs", "beat", "r-peak", "rpeak", "r peak", "normal", "normal beat", "heartbeat"}
)


@dataclass(frozen=True)
class EdfSignal:
    """One EDF signal: label, physical unit, sampling rate (Hz) and physical samples."""

    label: str
    unit: str
    fs_hz: float
    samples: FloatArray


@dataclass(frozen=True)
class EdfFile:
    """What :func:`read_edf_file` found: start time, signals and EDF+ annotations."""

    started_at: dt.datetime | None
    signals: tuple[EdfSignal, ...]
    annotations: tuple[tuple[float, float, str], ...]  # onset s, duration s (0 if none), text


def _ascii(b: bytes) -> str:
    return b.decode("ascii", errors="replace").strip()


def _tals(raw: bytes) -> list[tuple[float, float, str]]:
    """Time-stamped annotation lists of one EDF+ annotation record (EDF+ spec §2.2.2)."""
    out: list[tuple[float, float, str]] = []
    for tal in raw.split(b"\x00"):
        if not tal or tal[:1] not in (b"+", b"-"):
            continue
        parts = tal.split(b"\x14")
        head = parts[0].split(b"\x15")
        try:
            onset = float(head[0])
            dur = float(head[1]) if len(head) > 1 and head[1] else 0.0
        except ValueError:
            continue
        for text in parts[1:]:
            if text:
                out.append((onset, dur, text.decode("utf-8", errors="replace").strip()))
    return out


def read_edf_file(path: str | Path) -> EdfFile:
    """Parse an EDF/EDF+ file (header, 16-bit samples scaled to physical units, TALs)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise _fail(p, f"cannot read ({exc.strerror})") from None
    if len(data) < 256:
        raise _fail(p, "not an EDF file (shorter than the 256-byte header)")
    if data[:1] == b"\xff":
        raise _fail(p, "BDF (24-bit) files are not supported; export EDF or RR text")
    if data[:8] != b"0       ":
        raise _fail(p, "not an EDF file (header must start with version '0')")
    try:
        header_bytes = int(_ascii(data[184:192]))
        n_records = int(_ascii(data[236:244]))
        rec_s = float(_ascii(data[244:252]))
        ns = int(_ascii(data[252:256]))
    except ValueError:
        raise _fail(p, "EDF header: bad number in bytes 184-256") from None
    if ns <= 0 or header_bytes != 256 * (ns + 1) or len(data) < header_bytes:
        raise _fail(p, f"EDF header: {ns} signals but header size {header_bytes}")

    def field(offset: int, width: int) -> list[str]:
        base = 256 + offset * ns
        return [_ascii(data[base + i * width : base + (i + 1) * width]) for i in range(ns)]

    labels = field(0, 16)
    units = field(16 * 1 + 80, 8)
    try:
        pmin = [float(v) for v in field(16 + 80 + 8, 8)]
        pmax = [float(v) for v in field(16 + 80 + 16, 8)]
        dmin = [float(v) for v in field(16 + 80 + 24, 8)]
        dmax = [float(v) for v in field(16 + 80 + 32, 8)]
        nsamp = [int(v) for v in field(16 + 80 + 40 + 80, 8)]
    except ValueError:
        raise _fail(p, "EDF header: bad physical/digital range or samples-per-record") from None
    rec_len = sum(nsamp)
    avail = (len(data) - header_bytes) // (2 * rec_len) if rec_len else 0
    if n_records < 0 or n_records > avail:
        n_records = avail  # -1 (unknown) or a truncated file: read what is there
    raw = np.frombuffer(data, dtype="<i2", count=n_records * rec_len, offset=header_bytes)
    raw = raw.reshape(n_records, rec_len)
    signals: list[EdfSignal] = []
    annotations: list[tuple[float, float, str]] = []
    col = 0
    for i in range(ns):
        block = raw[:, col : col + nsamp[i]]
        col += nsamp[i]
        if labels[i] == "EDF Annotations":
            for r in block:
                annotations.extend(_tals(r.tobytes()))
            continue
        scale = (pmax[i] - pmin[i]) / (dmax[i] - dmin[i]) if dmax[i] != dmin[i] else 1.0
        phys = (block.reshape(-1).astype(np.float64) - dmin[i]) * scale + pmin[i]
        signals.append(EdfSignal(labels[i], units[i], nsamp[i] / rec_s, phys))
    started: dt.datetime | None = None
    try:
        d, t = _ascii(data[168:176]), _ascii(data[176:184])
        dd, mm, yy = (int(x) for x in d.split("."))
        hh, mi, ss = (int(x) for x in t.split("."))
        # EDF years: 85-99 → 1985-1999, 00-84 → 2000-2084 (EDF spec clipping date).
        started = dt.datetime(1900 + yy if yy >= 85 else 2000 + yy, mm, dd, hh, mi, ss)
    except ValueError:
        started = None
    return EdfFile(started, tuple(signals), tuple(annotations))


def _read_edf(path: str | Path) -> ImportedRR:
    p = Path(path)
    edf = read_edf_file(p)
    beats = sorted(on for on, _, text in edf.annotations if text.lower() in EDF_BEAT_LABELS)
    if len(beats) >= 2:
        peaks = np.asarray(beats, dtype=np.float64)
        rr = np.diff(peaks) * 1000.0
        _check_rr(p, rr, "EDF+ beat annotations")
        return _make(
            p,
            "edf",
            rr,
            peaks[1:] - peaks[0],
            None,
            edf.started_at,
            (f"{len(beats)} beat annotations from the EDF+ annotation signal",),
        )
    ecg = next((s for s in edf.signals if "ECG" in s.label.upper() or "EKG" in s.label.upper()),
               None)  # fmt: skip
    if ecg is None:
        found = ", ".join(repr(s.label) for s in edf.signals) or "none"
        raise _fail(
            p,
            "no beat annotations (EDF Annotations with 'R'/'N'/'QRS'...) and no ECG signal "
            f"(label containing 'ECG'); signals: {found}",
        )
    e = rr_from_ecg(ecg.samples, fs_hz=ecg.fs_hz, source=str(p), fmt="edf")
    note = f"R-peaks from EDF signal {ecg.label!r} at {ecg.fs_hz:g} Hz (neurokit2)"
    start = None
    if edf.started_at is not None:
        start = edf.started_at + dt.timedelta(seconds=float(e.peak_t_s[0]))
    return ImportedRR(e.rr, start, (note,))


def read_edf(path: str | Path) -> RRSeries:
    """EDF/EDF+ → :class:`RRSeries`: beat annotations, else R-peaks of the ECG signal."""
    return _read_edf(path).series


# --------------------------------------------------------------------------- detection


def _head(path: Path, n: int = 5) -> list[str]:
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as f:
            out: list[str] = []
            for ln in f:
                if ln.strip():
                    out.append(ln.strip())
                if len(out) >= n:
                    break
            return out
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror})") from None


_NUM = r"[-+]?\d+(?:[.,]\d+)?"


def detect_format(path: str | Path) -> str:
    """Name the format of an RR/ECG file from its name and first lines.

    Returns one of :data:`FORMATS`, or ``capture``, ``kubios``, ``rr-text`` (the formats
    of :mod:`biofeedback.rr_io`). Raises :class:`UserError` for a missing or
    unrecognisable file.
    """
    p = Path(path)
    if not p.exists():
        raise _fail(p, "no such file or directory")
    if p.is_dir() or zipfile.is_zipfile(p):
        return "elite-hrv"
    if p.suffix.lower() in (".edf", ".bdf", ".rec"):
        return "edf"
    with p.open("rb") as fb:
        magic = fb.read(8)
    if magic.startswith(b"0       "):
        return "edf"
    head = _head(p)
    if not head:
        # Plain RR text is the only format an empty file can claim; its reader reports it.
        return "rr-text"
    first = head[0]
    low = _norm(first)
    if first.startswith("{") and '"format"' in first and "biofeedback-capture" in first:
        return "capture"
    if "phone timestamp" in low and "ecg" in low:
        return "ecg-csv"
    if "phone timestamp" in low:
        return "polar-sensor-logger"
    cols = [_norm(c) for c in re.split(r"[;,\t]", first)]
    if "ecg_mv" in cols or ("time_ns" in cols and any(c.startswith("ecg") for c in cols)):
        return "ecg-csv"
    if "date" in cols and "rr" in cols:
        return "hrv-logger"
    if "kubios" in low or any("kubios" in _norm(h) for h in head[1:3]):
        return "kubios"
    if all(re.fullmatch(rf"{_NUM}\t{_NUM}", ln) for ln in head):
        return "polar-flow"
    if _ELITE_NAME.match(p.name) and all(re.fullmatch(_NUM, ln) for ln in head):
        return "elite-hrv"
    return "rr-text"


def read_with_meta(path: str | Path, fmt: str | None = None) -> ImportedRR:
    """Read any format of :data:`FORMATS` (``fmt`` or :func:`detect_format`), with metadata.

    An Elite HRV folder/zip with several readings is joined, one segment per reading.
    ``rr-text``/``kubios``/``capture`` are read by :func:`biofeedback.rr_io.read_rr` (no
    start time).
    """
    p = Path(path)
    f = fmt or detect_format(p)
    readers: dict[str, Any] = {
        "polar-sensor-logger": _read_polar_sensor_logger,
        "polar-flow": _read_polar_flow,
        "hrv-logger": _read_hrv_logger,
    }
    if f in readers:
        out: ImportedRR = readers[f](p)
        return out
    if f == "ecg-csv":
        e = read_ecg_csv(p)
        note = f"R-peaks from ECG at {e.fs_hz:.2f} Hz (neurokit2, parabolic refinement)"
        return ImportedRR(e.rr, e.started_at, (note,))
    if f == "elite-hrv":
        if p.is_file() and not zipfile.is_zipfile(p):
            return _read_elite_hrv(p)
        parts = read_elite_hrv_export(p)
        rr = np.concatenate([r.series.rr_ms for r in parts])
        seg = np.concatenate([np.full(r.n_beats, i, dtype=np.int64) for i, r in enumerate(parts)])
        return _make(
            p,
            "elite-hrv",
            rr,
            _cumulative(rr),
            seg,
            parts[0].started_at,
            (f"{len(parts)} readings joined",),
        )
    if f == "edf":
        return _read_edf(p)
    if f in ("rr-text", "kubios", "capture"):
        from biofeedback.rr_io import read_rr

        return ImportedRR(read_rr(p))
    raise _fail(p, f"unknown format {f!r} (known: {', '.join(FORMATS)})")


def read_rr_any(path: str | Path, fmt: str | None = None) -> RRSeries:
    """Read any RR/ECG file this program knows (see :func:`read_with_meta`)."""
    return read_with_meta(path, fmt).series


def read_polar_sensor_logger(path: str | Path) -> RRSeries:
    """Polar Sensor Logger ``*_RR.txt`` → :class:`RRSeries`.

    Columns ``Phone timestamp`` and ``RR-interval [ms]`` (see :func:`_read_polar_sensor_logger`).
    """
    return _read_polar_sensor_logger(path).series


def read_polar_flow(path: str | Path) -> RRSeries:
    """Polar Flow HRV export → :class:`RRSeries` (see :func:`_read_polar_flow`)."""
    return _read_polar_flow(path).series


def read_elite_hrv(path: str | Path) -> RRSeries:
    """One Elite HRV reading → :class:`RRSeries` (see :func:`_read_elite_hrv`)."""
    return _read_elite_hrv(path).series


def read_hrv_logger(path: str | Path) -> RRSeries:
    """HRV Logger ``*_RR_*.csv`` → :class:`RRSeries` (see :func:`_read_hrv_logger`)."""
    return _read_hrv_logger(path).series
