"""Dispatch: a path (file, per-reading folder or zip) → validated readings.

:func:`read_readings` is what ``import`` and ``analyze`` call: every reading passes
:func:`biofeedback.files.validate.validate`, so both accept and refuse the same files.
A folder or zip holding one file per reading (an Elite HRV export, any app that writes one
file per reading) gives one reading each, with its own start time (the file's own, else the
date-time in its name); only the folder's own files are read, never its subfolders.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from biofeedback.errors import UserError
from biofeedback.files import apps, ecg, edf, physionet, polar, text
from biofeedback.files.capture import read_capture_rr
from biofeedback.files.model import ImportedRR, RRSeries, fail
from biofeedback.files.sniff import detect_format
from biofeedback.files.validate import MAX_BINARY_BYTES, MAX_TEXT_BYTES, validate

Reader = Callable[[Path], ImportedRR]

#: Readers of single files, by format name.
READERS: dict[str, Reader] = {
    "capture": read_capture_rr,
    "rr-text": text.read_rr_text,
    "kubios": text.read_rr_text,
    "polar-sensor-logger": polar.read_sensor_logger,
    "polar-ppi": polar.read_ppi,
    "polar-flow": polar.read_polar_flow,
    "polar-hrm": polar.read_hrm,
    "polar-flow-summary": polar.refuse_flow_summary,
    "elite-hrv": apps.read_elite_hrv,
    "hrv-logger": apps.read_hrv_logger,
    "ecg-csv": ecg.read_ecg,
    "edf": edf.read_edf,
    "wfdb": physionet.read_wfdb,
}
#: Every format name :func:`detect_format` gives (``folder``/``zip``: per-reading exports).
FORMATS: tuple[str, ...] = (*READERS, "folder", "zip")
#: Most files looked at in a folder or zip (an export of readings, not a file system).
MAX_MEMBERS = 2000


def read_one(path: Path, fmt: str | None = None) -> ImportedRR:
    """One file → one validated reading."""
    f = fmt or detect_format(path)
    reader = READERS.get(f)
    if reader is None:
        if f in ("folder", "zip"):
            raise fail(path, "a folder or zip holds readings: use read_readings")
        raise fail(path, f"unknown format {f!r} (known: {', '.join(FORMATS)})")
    return validate(reader(path))


def _pick(names: list[str]) -> list[str]:
    """The readings among a folder's or zip's file names (sorted base names)."""
    visible = sorted(n for n in names if not n.startswith(".") and n != "Thumbs.db")
    elite = [n for n in visible if apps.ELITE_NAME.match(n)]
    if elite:
        return elite
    heads = [n for n in visible if n.lower().endswith(".hea")]
    # a WFDB record is its header (its .dat/.atr files are read through it)
    return heads or visible


def _dated(r: ImportedRR, path: Path, name: str) -> ImportedRR:
    if r.started_at is not None:
        return r
    return replace(r, started_at=apps.start_from_name(path, name))


def _folder(path: Path) -> list[ImportedRR]:
    names: list[str] = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                if len(names) >= MAX_MEMBERS:
                    raise fail(path, f"more than {MAX_MEMBERS} files: not an export of readings")
                if entry.is_file(follow_symlinks=False) and stat.S_ISREG(entry.stat().st_mode):
                    names.append(entry.name)
    except OSError as exc:
        raise fail(path, f"cannot list the folder ({exc.strerror})") from None
    picked = _pick(names)
    if not picked:
        raise fail(path, "is a directory without readings (only its own files are read, not "
                   "its subfolders)")  # fmt: skip
    return [_dated(read_one(path / n), path / n, n) for n in picked]


def _zip(path: Path) -> list[ImportedRR]:
    """Readings of a zip: members copied (bounded: zip bombs stop at the limit) to a
    temporary folder, read there, and named ``ZIP!MEMBER`` in results and messages."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(path, f"not a readable zip ({exc})") from None
    with z, tempfile.TemporaryDirectory(prefix="biofeedback-zip-") as tmp:
        members = [i for i in z.infolist() if not i.is_dir() and "__MACOSX" not in i.filename]
        if len(members) > MAX_MEMBERS:
            raise fail(path, f"more than {MAX_MEMBERS} members: not an export of readings")
        by_base = {Path(i.filename).name: i for i in members}
        picked = _pick(list(by_base))
        if not picked:
            raise fail(path, "no readings in this zip")
        needed = set(picked)
        if any(n.lower().endswith(".hea") for n in picked):
            stems = {Path(n).stem for n in picked}
            needed |= {n for n in by_base if Path(n).stem in stems}
        for n in needed:
            _extract(path, z, by_base[n], Path(tmp) / n)
        out: list[ImportedRR] = []
        for n in picked:
            src = f"{path}!{by_base[n].filename}"
            try:
                r = read_one(Path(tmp) / n)
            except UserError as exc:
                raise UserError(str(exc).replace(str(Path(tmp) / n), src)) from None
            series: RRSeries = replace(r.series, source=src)
            out.append(_dated(replace(r, series=series), path, n))
        return out


def _extract(path: Path, z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    limit = MAX_BINARY_BYTES if dest.suffix.lower() in (".edf", ".dat") else MAX_TEXT_BYTES
    if info.file_size > limit:
        raise fail(path, f"member {info.filename!r} unpacks to {info.file_size / 2**20:.0f} MiB;"
                   f" more than the {limit / 2**20:.0f} MiB accepted")  # fmt: skip
    try:
        with z.open(info) as src, dest.open("wb") as out:
            copied = 0
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > limit:  # the declared size lied
                    raise fail(path, f"member {info.filename!r} unpacks to more than "
                               f"{limit / 2**20:.0f} MiB")  # fmt: skip
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise fail(path, f"member {info.filename!r}: cannot unpack ({exc})") from None


def _order(r: ImportedRR) -> tuple[dt.datetime, str]:
    t = r.started_at.replace(tzinfo=None) if r.started_at is not None else dt.datetime.max
    return t, r.series.source


def read_readings(path: str | Path, fmt: str | None = None) -> list[ImportedRR]:
    """Every reading of a file, per-reading folder or zip, validated, oldest first."""
    p = Path(path)
    f = fmt or detect_format(p)
    if f == "folder":
        out = _folder(p)
    elif f == "zip":
        out = _zip(p)
    else:
        return [read_one(p, f)]
    out.sort(key=_order)
    return out


def read_with_meta(path: str | Path, fmt: str | None = None) -> ImportedRR:
    """The one reading of ``path``; a folder or zip of several readings is an error here
    (see :func:`read_readings`)."""
    rs = read_readings(path, fmt)
    if len(rs) != 1:
        raise fail(path, f"holds {len(rs)} readings, one session each (see read_readings)")
    return rs[0]


def read_rr(path: str | Path, fmt: str | None = None) -> RRSeries:
    """The RR series of the one reading of ``path`` (see :func:`read_with_meta`)."""
    return read_with_meta(path, fmt).series
