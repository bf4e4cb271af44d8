"""EDF / EDF+ (European Data Format; Kemp et al. 1992, Kemp & Olivan 2003), numpy only.

Beat annotations in an ``EDF Annotations`` signal (texts ``R``, ``N``, ``QRS``, ``beat``...)
give the beat times (from the recording's start); otherwise the first ECG signal (label
containing ``ECG``/``EKG``) goes through the R-peak detector. 16-bit EDF only (BDF's
24-bit samples are refused with a message).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biofeedback.files.ecg import rr_from_ecg
from biofeedback.files.model import ImportedRR, RRSeries, fail
from biofeedback.files.validate import MAX_BINARY_BYTES, check_rr, regular_file
from biofeedback.hrv._types import FloatArray

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
    regular_file(p, MAX_BINARY_BYTES, "EDF file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise fail(p, f"cannot read ({exc.strerror})") from None
    if len(data) < 256:
        raise fail(p, "not an EDF file (shorter than the 256-byte header)")
    if data[:1] == b"\xff":
        raise fail(p, "BDF (24-bit) files are not supported; export EDF or RR text")
    if data[:8] != b"0       ":
        raise fail(p, "not an EDF file (header must start with version '0')")
    try:
        header_bytes = int(_ascii(data[184:192]))
        n_records = int(_ascii(data[236:244]))
        rec_s = float(_ascii(data[244:252]))
        ns = int(_ascii(data[252:256]))
    except ValueError:
        raise fail(p, "EDF header: bad number in bytes 184-256") from None
    if ns <= 0 or header_bytes != 256 * (ns + 1) or len(data) < header_bytes:
        raise fail(p, f"EDF header: {ns} signals but header size {header_bytes}")

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
        raise fail(p, "EDF header: bad physical/digital range or samples-per-record") from None
    if not (np.isfinite(rec_s) and rec_s > 0):
        raise fail(p, f"EDF header: record duration {rec_s:g} s (must be a positive number)")
    if any(n <= 0 for n in nsamp):
        raise fail(p, f"EDF header: samples per record {nsamp} (must be positive)")
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


def read_edf(path: str | Path) -> ImportedRR:
    """EDF/EDF+ → a reading: beat annotations, else R-peaks of the ECG signal."""
    p = Path(path)
    edf = read_edf_file(p)
    beats = sorted(on for on, _, text in edf.annotations if text.lower() in EDF_BEAT_LABELS)
    if len(beats) >= 2:
        peaks = np.asarray(beats, dtype=np.float64)
        rr = np.diff(peaks) * 1000.0
        warn = check_rr(p, rr, what="EDF+ beat annotations")
        fs = max((s.fs_hz for s in edf.signals), default=0.0)
        series = RRSeries(rr, peaks[1:], np.zeros(rr.size, dtype=np.int64), str(p), "edf",
                          1000.0 / fs if fs > 0 else None)  # fmt: skip
        note = f"{len(beats)} beat annotations from the EDF+ annotation signal"
        return ImportedRR(series, edf.started_at, (note,), warn)
    ecg = next((s for s in edf.signals if "ECG" in s.label.upper() or "EKG" in s.label.upper()),
               None)  # fmt: skip
    if ecg is None:
        found = ", ".join(repr(s.label) for s in edf.signals) or "none"
        raise fail(
            p,
            "no beat annotations (EDF Annotations with 'R'/'N'/'QRS'...) and no ECG signal "
            f"(label containing 'ECG'); signals: {found}",
        )
    e = rr_from_ecg(ecg.samples, fs_hz=ecg.fs_hz, source=str(p), fmt="edf")
    note = f"R-peaks from EDF signal {ecg.label!r} at {ecg.fs_hz:g} Hz (neurokit2)"
    return ImportedRR(e.rr, edf.started_at, (note,), check_rr(p, e.rr.rr_ms, what="EDF ECG"))
