"""RR export for Kubios HRV (and any tool that reads one RR interval per line).

Format: plain ASCII text, one RR interval in **milliseconds** per line, no header, ``.``
decimal point, ``\\n`` line ends. Kubios HRV reads "RR interval data in ASCII text format":
a single column of RR intervals in seconds or milliseconds (the unit is detected from the
values), optionally after header lines whose number is set in the import dialog (Kubios HRV
User's Guide, version 3.4, 2020, section 2 "Supported data formats and devices"; same in the
Scientific 4.x guide, section 2.2). With no header the file opens with Kubios's default
import settings, and :func:`biofeedback.files.read_rr` (``biofeedback analyze``/``import``)
reads it back unchanged.

Values are written with up to 7 decimals: a strap's 1/1024 s tick converts to ms exactly
within 7 decimals (``839 ticks = 819.3359375 ms``), so the export is lossless and a
round-trip gives bit-identical RR. Everything in the session is exported, artefacts
included (Kubios applies its own correction, which is the point of exporting raw data),
except values outside the plausible band (:data:`biofeedback.beats.RR_MIN_MS`-``RR_MAX_MS``,
e.g. a strap's RR = 0 glitch): they are no interval any tool can use (Kubios and ``analyze``
refuse an RR of 0), so they are left out and counted by :func:`out_of_range_count`.

Limits: this format has no time column, so a link gap is invisible to Kubios: the beats on
either side of it are joined. :func:`kubios_text` returns how many gaps were joined and the
CLI prints that as a warning; choose a gap-free span (or a phase) in Kubios if it matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from biofeedback.beats import RR_MAX_MS, RR_MIN_MS
from biofeedback.errors import UserError
from biofeedback.reports.atomic import write_atomic
from biofeedback.reports.model import ReportBundle, SessionReport

if TYPE_CHECKING:
    import pandas as pd

    from biofeedback.sessions.store import SessionReader

__all__ = [
    "format_rr_ms",
    "joined_breaks",
    "kubios_text",
    "kubios_text_from_beats",
    "out_of_range_count",
    "write_kubios",
    "write_kubios_session",
]


def format_rr_ms(v: float) -> str:
    """An RR value in ms as text: up to 7 decimals, trailing zeros dropped."""
    s = f"{v:.7f}".rstrip("0").rstrip(".")
    return s or "0"


def _plausible(beats: pd.DataFrame) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    rr = beats["rr_ms"].to_numpy(dtype=np.float64)
    ok: np.ndarray[tuple[int], np.dtype[np.bool_]] = (rr >= RR_MIN_MS) & (rr <= RR_MAX_MS)
    return ok


def out_of_range_count(beats: pd.DataFrame) -> int:
    """How many beats of a `SessionReader.beats` frame the Kubios text leaves out."""
    return int(np.count_nonzero(~_plausible(beats)))


def kubios_text_from_beats(beats: pd.DataFrame) -> tuple[str, int]:
    """RR text of a `SessionReader.beats` frame and the number of gaps (segment breaks) joined."""
    keep = _plausible(beats)
    rr = beats["rr_ms"].to_numpy(dtype=np.float64)[keep]
    seg = beats["segment"].to_numpy(dtype=np.int64)
    joins = int(np.count_nonzero(np.diff(seg) != 0)) if len(seg) > 1 else 0
    return "".join(format_rr_ms(float(v)) + "\n" for v in rr), joins


def kubios_text(rep: SessionReport) -> tuple[str, int]:
    """The RR text of one session and the number of segment breaks (gaps) it joins."""
    return kubios_text_from_beats(rep.beats)


def write_kubios_session(reader: SessionReader, session_id: int, path: Path) -> list[Path]:
    """Write one stored session's RR text straight from the store (no analysis needed)."""
    beats = reader.beats(session_id)
    if beats.empty:
        raise UserError(f"session {session_id}: no beats to export")
    text, _ = kubios_text_from_beats(beats)
    return [write_atomic(path, text, encoding="ascii")]


def write_kubios(bundle: ReportBundle, path: Path) -> list[Path]:
    """Write the RR text of the (single) session in ``bundle``; returns ``[path]``."""
    if len(bundle.sessions) != 1:
        raise UserError(
            f"{path}: the Kubios RR format holds one session; got {len(bundle.sessions)} "
            "(export them one at a time)"
        )
    rep = bundle.sessions[0]
    if rep.beats.empty:
        raise UserError(f"session {rep.info.id}: no beats to export")
    text, _ = kubios_text(rep)
    return [write_atomic(path, text, encoding="ascii")]


def joined_breaks(beats: pd.DataFrame, gaps: Sequence[tuple[float, float]]) -> tuple[int, int]:
    """Breaks of the beat series that a Kubios file joins: ``(at a link gap, other)``.

    Every segment change is joined (the format has no time column). A break whose two beats
    straddle a link gap ``(start_s, end_s)`` is that gap; any other break is lost skin
    contact, a dropped or malformed RR part, or a clock resync (no link gap: the outputs that
    count link gaps must not count it as one).
    """
    t = beats["t_s"].to_numpy(dtype=np.float64)
    seg = beats["segment"].to_numpy()
    at = np.flatnonzero(np.diff(seg) != 0) + 1
    at_gap = sum(any(g0 <= t[i] and g1 >= t[i - 1] for g0, g1 in gaps) for i in at.tolist())
    return at_gap, int(at.size) - at_gap
