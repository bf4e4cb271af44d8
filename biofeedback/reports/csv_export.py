"""CSV exports: one row per beat, and a metrics table (one row per session × phase × metric).

Beats CSV columns (header line, ``,``-separated, ``.`` decimal point, UTF-8, CRLF line ends
as in RFC 4180; text with line breaks is quoted):

==============  ==============================================================================
column          meaning
==============  ==============================================================================
``session_id``  session id in the store
``t_s``         time of the beat ending the interval, s from the start of the session
``rr_ms``       RR interval, ms (full precision: strap ticks × 1000/1024 are exact)
``rr_1024``     raw interval in 1/1024 s ticks as the strap sent it (empty for imported ms)
``segment``     contiguous run; RR differences are only meaningful within one
``phase``       protocol phase containing the beat (empty outside phases)
``phase_kind``  ``baseline`` / ``practice`` / ``recovery`` (empty outside phases)
``flag``        artefact type (``ectopic``, ``missed``, ``extra``, ``longshort``,
                ``out_of_range``) or empty for a normal beat
==============  ==============================================================================

Metrics CSV columns: ``session_id, scope, kind, start_s, end_s, n_beats, reliable, metric,
value, unit, ci_low, ci_high, within_noise``. Rows with ``scope`` ``session`` (whole
recording) or a phase name hold that span's metrics (``kind`` is the phase kind; ``value``
empty when the metric is not computable or withheld, i.e. ``reliable`` false). Rows with
``kind`` ``difference`` hold `biofeedback.sessions.compare` contrasts: ``scope`` is the contrast
(``practice-baseline``, ``recovery-baseline``), ``value`` the estimated difference (in
``unit``, the metric's unit; empty for ``lnRMSSD``, whose difference is a log ratio) and
``ci_low``/``ci_high`` its bootstrap 95 % interval.

Formula injection: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, tab
or carriage return as a formula (``=cmd|' /C calc'!A0``), and phase names come from shared
captures and protocol files. Every text cell goes through :func:`text_cell`, which puts a
``'`` before such a first character (OWASP "CSV Injection"); number cells are written by
this module from floats and ints and stay numbers (a negative difference keeps its ``-``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biofeedback.hrv.catalog import metric
from biofeedback.reports.model import SessionReport

__all__ = [
    "BEATS_COLUMNS",
    "METRICS_COLUMNS",
    "beats_csv",
    "metrics_csv",
    "metrics_path_for",
    "text_cell",
    "write_csv",
]

#: RFC 4180 line end. Python's csv module quotes a field holding any character of the line
#: terminator: with "\r\n" a CR or LF inside a phase name is quoted; with "\n" alone a CR
#: was written bare and split the row in every reader.
_EOL = "\r\n"

#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

BEATS_COLUMNS = (
    "session_id",
    "t_s",
    "rr_ms",
    "rr_1024",
    "segment",
    "phase",
    "phase_kind",
    "flag",
)
METRICS_COLUMNS = (
    "session_id",
    "scope",
    "kind",
    "start_s",
    "end_s",
    "n_beats",
    "reliable",
    "metric",
    "value",
    "unit",
    "ci_low",
    "ci_high",
    "within_noise",
)


def text_cell(s: object) -> str:
    """A text value as a CSV cell no spreadsheet evaluates (``'`` before a formula start)."""
    t = "" if s is None else str(s)
    return "'" + t if t.startswith(FORMULA_PREFIXES) else t


def _num(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if v == v else ""  # repr: shortest round-tripping form; NaN → empty
    return str(v)


def _ticks(col: Any) -> list[int | None]:
    """A nullable integer column as Python ints and None."""
    import pandas as pd

    return [None if pd.isna(v) else int(v) for v in col.tolist()]


def beats_csv(reports: Sequence[SessionReport]) -> str:
    """The beats of every session as CSV text (columns in the module docstring)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=_EOL)
    w.writerow(BEATS_COLUMNS)
    for rep in reports:
        b = rep.beats
        sid = rep.info.id
        # rr_1024 is pandas' nullable Int64: <NA> for beats imported as ms.
        ticks = ["" if v is None else str(v) for v in _ticks(b["rr_1024"])]
        for t, rr, tick_s, seg, ph, pk, fl in zip(
            b["t_s"].tolist(),
            b["rr_ms"].tolist(),
            ticks,
            b["segment"].tolist(),
            b["phase"].tolist(),
            b["phase_kind"].tolist(),
            b["flag"].tolist(),
            strict=True,
        ):
            w.writerow(
                [
                    sid,
                    repr(t),
                    repr(rr),
                    tick_s,
                    seg,
                    text_cell(ph or ""),
                    text_cell(pk or ""),
                    text_cell(fl),
                ]
            )
    return buf.getvalue()


def metrics_csv(reports: Sequence[SessionReport]) -> str:
    """Session and per-phase metrics as a long-format CSV table."""
    from biofeedback.hrv import METRIC_KEYS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=_EOL)
    w.writerow(METRICS_COLUMNS)
    for rep in reports:
        sid = rep.info.id
        rows = [("session", "", 0.0, rep.info.duration_s, rep.overall.n_beats, rep.overall)]
        rows += [(p.name, p.kind, p.start_s, p.end_s, p.n_beats, p) for p in rep.phases]
        for scope, kind, a, b, n, res in rows:
            for key in METRIC_KEYS:
                unit = metric(key).unit
                w.writerow(
                    [sid, text_cell(scope), text_cell(kind), _num(float(a)), _num(float(b)), n,
                     str(res.reliable).lower(), text_cell(key), _num(res.metrics.get(key)),
                     text_cell(unit), "", "", ""]
                )  # fmt: skip
        for d in rep.comparison.differences:
            unit = metric(d.metric).unit
            w.writerow(
                [sid, text_cell(d.contrast), "difference", "", "", "", "", text_cell(d.metric),
                 _num(d.estimate), text_cell(unit), _num(d.ci_low), _num(d.ci_high),
                 str(d.within_noise).lower()]
            )  # fmt: skip
    return buf.getvalue()


def metrics_path_for(path: Path) -> Path:
    """The metrics table beside the beats CSV: ``x.csv`` → ``x.metrics.csv``."""
    return path.with_name(f"{path.stem}.metrics.csv")


def write_csv(reports: Sequence[SessionReport], path: Path) -> list[Path]:
    """Write the beats CSV at ``path`` and the metrics CSV beside it; returns both paths."""
    mpath = metrics_path_for(path)
    from biofeedback.reports.atomic import write_atomic

    return [write_atomic(path, beats_csv(reports)), write_atomic(mpath, metrics_csv(reports))]
