"""A study as tidy tables for R or pandas: one row per session × phase × metric, and beats.

`study_tables` builds three DataFrames from any store (file or server):

``phases``
    One row per session × phase × metric (long format): who and when (``study``,
    ``participant``, ``session_uuid``, ``session_id``, ``started_at_utc``, ``protocol``,
    ``status``), the phase (``phase``, ``phase_kind``, ``phase_start_s``, ``phase_end_s``,
    ``n_beats``, ``quality``), then ``metric``, ``value`` (empty when the engine withheld
    it) and ``unit``. Values are the per-phase metrics of
    `biofeedback.sessions.compare.analyse_session` (the cached analysis when current).
``beats``
    One row per stored beat with its session and phase (`SessionReader.beats` columns).
``dictionary``
    One row per column of both tables and per metric: name, type, unit, meaning.

`write_study` writes them as CSV and/or Parquet (pyarrow, ``pip install 'biofeedback[lab]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from biofeedback.sessions.store import SessionReader

#: Columns identifying a session, first in both tables.
_SESSION_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("study", "text", "", "study label given at record/import (session set --study)"),
    ("participant", "text", "", "participant code (pseudonymous; no names are stored)"),
    ("session_uuid", "text", "", "global session id, the same in every synced database"),
    ("session_id", "integer", "", "short session id in the exporting database"),
    ("started_at_utc", "text", "ISO 8601", "session start, UTC"),
    ("protocol", "text", "", "protocol name (free, self-compassion-break, ...)"),
    ("status", "text", "", "complete, stopped_early or interrupted"),
)
_PHASE_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("phase", "text", "", "phase name ('whole' for a session without phases)"),
    ("phase_kind", "text", "", "baseline, practice, recovery (or session)"),
    ("phase_start_s", "float", "s", "phase start on the session's stream clock"),
    ("phase_end_s", "float", "s", "phase end on the session's stream clock"),
    ("n_beats", "integer", "beats", "beats analysed in the phase"),
    ("quality", "text", "", "data quality grade: good, acceptable, poor, withheld"),
    ("metric", "text", "", "metric name (see the metric rows of this dictionary)"),
    ("value", "float", "see unit", "metric value; empty when withheld or not computable"),
    ("unit", "text", "", "unit of value"),
)
_BEAT_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("idx", "integer", "", "beat index within the session, from 0"),
    ("t_s", "float", "s", "time of the beat ending the interval, stream clock"),
    ("rr_ms", "float", "ms", "RR interval as stored (raw, not artefact-corrected)"),
    ("rr_1024", "integer", "1/1024 s", "raw strap ticks; empty for imported ms data"),
    ("segment", "integer", "", "contiguous run; RR differences only within one"),
    ("phase", "text", "", "phase containing the beat (empty outside phases)"),
    ("phase_kind", "text", "", "kind of that phase"),
)


def metric_info(key: str) -> tuple[str, str, str, str]:
    """(label, unit, meaning, reference) of a metric, from the metric catalogue."""
    from biofeedback.hrv.catalog import CATALOG

    m = CATALOG.get(key)
    if m is None:
        raise KeyError(f"metric {key!r} is in no catalogue")
    return m.label, m.unit, m.meaning, m.reference


@dataclass(frozen=True, slots=True)
class StudyTables:
    """The three tables of a study export (see the module docstring)."""

    study: str
    phases: pd.DataFrame
    beats: pd.DataFrame
    dictionary: pd.DataFrame


def _session_cells(info: Any) -> dict[str, Any]:
    return {
        "study": info.study,
        "participant": info.participant,
        "session_uuid": info.uuid,
        "session_id": info.id,
        "started_at_utc": datetime.fromtimestamp(info.started_at, UTC).isoformat(),
        "protocol": info.protocol,
        "status": str(info.status),
    }


def study_tables(reader: SessionReader, study: str) -> StudyTables:
    """The tidy tables of every finished session labelled ``study`` (see module docstring)."""
    import pandas as pd

    from biofeedback.sessions.analysis import FINAL_STATUSES
    from biofeedback.sessions.compare import PHASE_KEYS
    from biofeedback.sessions.view import SessionViews

    views = SessionViews(reader, save=False)
    infos = [i for i in reader.list_sessions(study=study) if str(i.status) in FINAL_STATUSES]
    if not infos:
        raise UserError(f"study {study!r}: no finished sessions with that study label")
    rows: list[dict[str, Any]] = []
    beat_frames: list[pd.DataFrame] = []
    for info in infos:
        who = _session_cells(info)
        for p in views.analysis(info.id, info).phases:
            for key in PHASE_KEYS:
                v = p.metrics.get(key)
                rows.append(
                    who
                    | {
                        "phase": p.name,
                        "phase_kind": p.kind,
                        "phase_start_s": p.start_s,
                        "phase_end_s": p.end_s,
                        "n_beats": p.n_beats,
                        "quality": p.grade,
                        "metric": key,
                        "value": None if v is None else float(v),
                        "unit": metric_info(key)[1],
                    }
                )
        b = reader.beats(info.id)
        b.insert(0, "idx", range(len(b)))
        for k, (col, value) in enumerate(who.items()):
            b.insert(k, col, [value] * len(b))
        beat_frames.append(b)
    phase_cols = [c[0] for c in _SESSION_COLUMNS + _PHASE_COLUMNS]
    phases = pd.DataFrame(rows, columns=phase_cols).astype({"value": "float64"})
    beats = pd.concat(beat_frames, ignore_index=True)
    return StudyTables(study, phases, beats, data_dictionary(PHASE_KEYS))


def data_dictionary(metric_keys: tuple[str, ...]) -> pd.DataFrame:
    """Every column of the phase and beat tables, and every metric, with unit and meaning."""
    import pandas as pd

    rows: list[tuple[str, str, str, str, str]] = []
    for table, cols in (
        ("phases", _SESSION_COLUMNS + _PHASE_COLUMNS),
        ("beats", _SESSION_COLUMNS + _BEAT_COLUMNS),
    ):
        rows += [(table, name, kind, unit, meaning) for name, kind, unit, meaning in cols]
    for key in metric_keys:
        label, unit, meaning, ref = metric_info(key)
        rows.append(("metric", key, "float", unit, f"{label}: {meaning} ({ref})"))
    return pd.DataFrame(rows, columns=["table", "name", "type", "unit", "meaning"])


def write_study(tables: StudyTables, out_dir: Path, *, formats: tuple[str, ...]) -> list[Path]:
    """Write ``<study>-phases``, ``<study>-beats`` (each format) and ``<study>-dictionary.csv``
    into ``out_dir``; the paths written."""
    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: no such directory")
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in tables.study)
    written: list[Path] = []
    for name, df in (("phases", tables.phases), ("beats", tables.beats)):
        if "csv" in formats:
            path = out_dir / f"{stem}-{name}.csv"
            df.to_csv(path, index=False)
            written.append(path)
        if "parquet" in formats:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UserError(
                    "parquet export needs pyarrow: pip install 'biofeedback[lab]'"
                ) from None
            path = out_dir / f"{stem}-{name}.parquet"
            df.to_parquet(path, index=False)
            written.append(path)
    path = out_dir / f"{stem}-dictionary.csv"
    tables.dictionary.to_csv(path, index=False)
    written.append(path)
    return written
