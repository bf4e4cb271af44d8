"""One sniff: the format of a file from its name, magic bytes and first lines.

Reads at most :data:`HEAD_BYTES` of the file, and only after ``stat`` has shown a regular
file (a FIFO is refused without being opened, so nothing blocks on it).
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from biofeedback.files.apps import ELITE_NAME
from biofeedback.files.model import fail
from biofeedback.files.tables import norm

#: Bytes read to recognise a format.
HEAD_BYTES = 8192
#: Suffixes of WFDB annotation files recognised next to a ``.hea`` header.
WFDB_ANNOTATION_SUFFIXES = frozenset(
    {".atr", ".ann", ".ecg", ".qrs", ".beat", ".man", ".atest", ".ari", ".pu", ".pu0"}
)
_NUM = r"[-+]?\d+(?:[.,]\d+)?"


def _head(path: Path, n: int = 5) -> list[str]:
    try:
        with path.open("rb") as f:
            raw = f.read(HEAD_BYTES)
    except OSError as exc:
        raise fail(path, f"cannot read ({exc.strerror})") from None
    text = raw.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if len(raw) == HEAD_BYTES and len(lines) > 1:
        # The last line may be cut by the read; a lone cut line is kept, since a capture's
        # one-line JSON header can be longer than the read and still names its format first.
        lines = lines[:-1]
    return [ln.strip() for ln in lines if ln.strip()][:n]


def detect_format(path: str | Path) -> str:
    """Name the format of an RR/ECG file, folder or zip (one of :data:`FORMATS`).

    Raises :class:`~biofeedback.errors.UserError` for a missing path or one that is not a
    regular file or folder.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise fail(p, "no such file or directory") from None
    except OSError as exc:
        raise fail(p, f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if not stat.S_ISREG(st.st_mode):
        raise fail(p, "not a regular file (a FIFO, socket or device), expected an RR file")
    suffix = p.suffix.lower()
    if suffix in (".edf", ".bdf", ".rec"):
        return "edf"
    if suffix == ".hea" or (suffix in WFDB_ANNOTATION_SUFFIXES and p.with_suffix(".hea").is_file()):
        return "wfdb"
    try:
        with p.open("rb") as fb:
            magic = fb.read(8)
    except OSError as exc:
        raise fail(p, f"cannot read ({exc.strerror})") from None
    if magic.startswith(b"0       "):
        return "edf"
    if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06") and zipfile.is_zipfile(p):
        return "zip"
    head = _head(p)
    if not head:
        # Plain RR text is the only format an empty file can claim; its reader reports it.
        return "rr-text"
    return _from_head(p, head)


def _from_head(p: Path, head: list[str]) -> str:
    first = head[0]
    low = norm(first)
    if first.startswith("{") and '"format"' in first and "biofeedback-capture" in first:
        return "capture"
    if low == "[params]" or p.suffix.lower() == ".hrm":
        return "polar-hrm"
    if "phone timestamp" in low and "ecg" in low:
        return "ecg-csv"
    if "phone timestamp" in low and "pp-interval" in low:
        return "polar-ppi"
    if "phone timestamp" in low:
        return "polar-sensor-logger"
    cols = [norm(c) for c in re.split(r"[;,\t]", first)]
    if "sport" in cols and ("start time" in cols or "duration" in cols):
        return "polar-flow-summary"
    timed = "time_ns" in cols or "sensor timestamp [ns]" in cols
    if "ecg_mv" in cols or (timed and any(c.startswith("ecg") for c in cols)):
        return "ecg-csv"
    if "date" in cols and "rr" in cols:
        return "hrv-logger"
    if "kubios" in low or any("kubios" in norm(h) for h in head[1:3]):
        return "kubios"
    if all(re.fullmatch(rf"{_NUM}\t{_NUM}", ln) for ln in head):
        return "polar-flow"
    if ELITE_NAME.match(p.name) and all(re.fullmatch(_NUM, ln) for ln in head):
        return "elite-hrv"
    return "rr-text"
