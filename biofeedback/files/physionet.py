"""WFDB records (PhysioNet): a ``.hea`` header with beat annotations or an ECG signal.

``wfdb``: the path is the header (``100.hea``) or an annotation file (``100.atr``,
``.qrs``, ``.ecg``...) of a record; read with the ``wfdb`` package (Xie C. et al., WFDB
Python, PhysioNet; MIT licence). Beat annotations give the beat times (sample / fs, so
the resolution is one sample), and their symbols are kept: an interval ending on a beat that
is not sinus-conducted (symbols other than ``N``, ``L``, ``R``, ``B``: normal and bundle
branch block beats, PhysioNet annotation codes, ``wfdb.io.annotation``) is labelled ectopic
from the cardiologist's label, not by detection. A record without annotations goes through
the R-peak detector on its first ECG signal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from biofeedback.files.ecg import rr_from_ecg
from biofeedback.files.model import ImportedRR, RRSeries, fail
from biofeedback.files.validate import MAX_BINARY_BYTES, MAX_TEXT_BYTES, check_rr, regular_file

#: Annotation files tried for a ``.hea`` path, in this order (PhysioNet conventions:
#: reference beat labels first, then detector outputs).
ANNOTATION_EXTENSIONS = ("atr", "ann", "ecg", "qrs", "beat", "man", "atest")
#: Beat symbols of sinus-conducted beats (normal, left/right/unspecified bundle branch block).
NORMAL_SYMBOLS = frozenset("NLRB")
#: Every beat symbol of the PhysioNet annotation codes (non-beat codes such as ``+``,
#: ``~``, ``|``, ``"`` are rhythm changes, noise or comments, not beats).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


def _wfdb_call(path: Path, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
    # wfdb raises whatever its parser hits (ValueError, IndexError, KeyError...) on a
    # malformed record; at this boundary every failure is the file's, reported in one line.
    try:
        return fn(*args, **kw)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise fail(path, f"WFDB record: cannot read the {what} ({reason})") from None


def _started_at(hdr: Any) -> dt.datetime | None:
    date, time = getattr(hdr, "base_date", None), getattr(hdr, "base_time", None)
    if date is None or time is None:
        return None
    return dt.datetime.combine(date, time)


def read_wfdb(path: Path) -> ImportedRR:
    """A WFDB record from its header or annotation path (see the module docstring)."""
    import wfdb  # lazy: pulls in matplotlib

    ext = path.suffix.lower().lstrip(".")
    record = path.with_suffix("")
    hea = record.with_suffix(".hea")
    regular_file(hea, MAX_TEXT_BYTES, "WFDB header")
    hdr = _wfdb_call(path, "header", wfdb.rdheader, str(record))
    fs = float(getattr(hdr, "fs", 0) or 0)
    if not (np.isfinite(fs) and fs > 0):
        raise fail(hea, f"WFDB header: sampling frequency {fs:g} (must be positive)")
    exts = [ext] if ext != "hea" else [e for e in ANNOTATION_EXTENSIONS
                                       if record.with_suffix(f".{e}").is_file()]  # fmt: skip
    start = _started_at(hdr)
    if exts:
        ann_path = record.with_suffix(f".{exts[0]}")
        regular_file(ann_path, MAX_BINARY_BYTES, "WFDB annotation file")
        ann = _wfdb_call(ann_path, "annotations", wfdb.rdann, str(record), exts[0])
        return _from_annotations(ann_path, ann, fs, start)
    return _from_signal(path, record, hdr, fs, start)


def _from_annotations(path: Path, ann: Any, fs: float, start: dt.datetime | None) -> ImportedRR:
    sym = [str(s) for s in ann.symbol]
    samples = np.asarray(ann.sample, dtype=np.int64)
    beat = np.array([s in BEAT_SYMBOLS for s in sym], dtype=bool)
    if int(beat.sum()) < 2:
        raise fail(path, f"WFDB annotations: {int(beat.sum())} beat annotations (need 2)")
    t = samples[beat] / fs
    labels = tuple(s for s, b in zip(sym, beat, strict=True) if b)
    order = np.argsort(t, kind="stable")
    t = t[order]
    labels = tuple(labels[i] for i in order)
    rr = np.diff(t) * 1000.0
    warn = check_rr(path, rr, what="WFDB beat annotations")
    series = RRSeries(rr, t[1:], np.zeros(rr.size, dtype=np.int64), str(path), "wfdb",
                      1000.0 / fs)  # fmt: skip
    counts = Counter(labels)
    n_ectopic = sum(v for k, v in counts.items() if k not in NORMAL_SYMBOLS)
    note = (f"{len(labels)} beat annotations at {fs:g} Hz ("
            + ", ".join(f"{k} {v}" for k, v in counts.most_common())
            + f"); {n_ectopic} not sinus-conducted, labelled ectopic")  # fmt: skip
    return ImportedRR(series, start, (note,), warn, labels[1:])


def _from_signal(path: Path, record: Path, hdr: Any, fs: float,
                 start: dt.datetime | None) -> ImportedRR:  # fmt: skip
    import wfdb

    names = [str(n) for n in (getattr(hdr, "sig_name", None) or [])]
    if not names:
        raise fail(path, "WFDB record: no annotation file and no signals")
    for f in {str(n) for n in (getattr(hdr, "file_name", None) or [])}:
        regular_file(record.parent / f, MAX_BINARY_BYTES, "WFDB signal file")
    ecg_like = ("ecg", "ekg", "mlii", "mli", "ml", "v1", "v2", "v4", "v5", "ii", "lead")
    ch = next((i for i, n in enumerate(names) if any(k in n.lower() for k in ecg_like)), 0)
    rec = _wfdb_call(path, "signal", wfdb.rdrecord, str(record), channels=[ch])
    x = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
    e = rr_from_ecg(x, fs_hz=fs, source=str(path), fmt="wfdb")
    note = f"R-peaks from WFDB signal {names[ch]!r} at {fs:g} Hz (neurokit2)"
    return ImportedRR(e.rr, start, (note,), check_rr(path, e.rr.rr_ms, what="WFDB ECG"))
