"""JSON export: full sessions with metadata, beats, metrics, comparison and verdict.

The document validates against ``session.schema.json`` (JSON Schema draft 2020-12) shipped
next to this module; :data:`SCHEMA_VERSION` is bumped on any incompatible change. Numbers are
plain JSON numbers (NaN/inf are written as ``null``); times are ISO 8601 UTC for wall time and
seconds (``*_s``) on the session's stream clock otherwise. Beats are stored column-wise
(``beats.t_s[i]``, ``beats.rr_ms[i]``...) with the same meaning as the CSV export.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from biofeedback.hrv.catalog import REFERENCES
from biofeedback.reports.csv_export import _ticks
from biofeedback.reports.model import CAVEAT, ReportBundle, SessionReport

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "load_schema", "report_json", "write_json"]

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("session.schema.json")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the export."""
    out: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return out


def _clean(v: Any) -> Any:
    """Replace non-finite floats by None, recursively; numpy scalars → Python."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat()


def _session(rep: SessionReport) -> dict[str, Any]:
    # Long because it is a data table: the JSON document of one session, field by field, in
    # the order of session.schema.json.
    from biofeedback.hrv import METRIC_KEYS
    from biofeedback.sessions.compare_json import difference_to_json

    info = rep.info
    b = rep.beats
    ov = rep.overall
    return {
        "id": info.id,
        "title": info.title,
        "started_at": _iso(info.started_at),
        "ended_at": _iso(info.ended_at),
        "status": str(info.status),
        "protocol": info.protocol,
        "source": info.source,
        "notes": info.notes,
        "tags": list(info.tags),
        "device": {
            "name": info.device_name,
            "address": info.device_address,
            "model": info.device_model,
            "firmware": info.device_firmware,
        },
        "duration_s": info.duration_s,
        "counts": {
            "beats": info.n_beats,
            "frames": info.n_frames,
            "rejected": info.n_rejected,
            "gaps": info.n_gaps,
        },
        "quality": {
            "reliable": ov.reliable,
            "warnings": list(ov.warnings),
            "artifacts": ov.artifacts.to_json_dict(),
            "irregular_rate": ov.artifacts.irregular_rate,
        },
        "settings": rep.settings.describe(),
        "metrics": {k: ov.metrics.get(k) for k in METRIC_KEYS},
        "phases": [
            {
                "name": p.name,
                "kind": p.kind,
                "start_s": p.start_s,
                "end_s": p.end_s,
                "n_beats": p.n_beats,
                "reliable": p.reliable,
                "warnings": list(p.warnings),
                "artifacts": p.artifacts.to_json_dict(),
                "metrics": {k: p.metrics.get(k) for k in METRIC_KEYS},
            }
            for p in rep.phases
        ],
        "differences": [
            difference_to_json(d, with_windows=False) for d in rep.comparison.differences
        ],
        "verdict": list(rep.comparison.verdict),
        "markers": [
            {"t_s": t, "kind": k, "phase": ph, "phase_kind": pk, "text": tx}
            for t, k, ph, pk, tx in zip(
                rep.markers["t_s"].tolist(),
                rep.markers["kind"].tolist(),
                rep.markers["phase"].tolist(),
                rep.markers["phase_kind"].tolist(),
                rep.markers["text"].tolist(),
                strict=True,
            )
        ],
        "link_events": [
            {"t_s": t, "state": st, "detail": de}
            for t, st, de in zip(
                rep.link_events["t_s"].tolist(),
                rep.link_events["state"].tolist(),
                rep.link_events["detail"].tolist(),
                strict=True,
            )
        ],
        "beats": {
            "t_s": b["t_s"].tolist(),
            "rr_ms": b["rr_ms"].tolist(),
            "rr_1024": _ticks(b["rr_1024"]),
            "segment": b["segment"].tolist(),
            "phase": [p if p else None for p in b["phase"].tolist()],
            "flag": b["flag"].tolist(),
        },
    }


def report_json(bundle: ReportBundle) -> dict[str, Any]:
    """The export document as a JSON-ready dict (see ``session.schema.json``)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generator": bundle.sessions[0].generator,
        "generated_at": bundle.generated_at.isoformat(),
        "sessions": [_session(r) for r in bundle.sessions],
        "summary": list(bundle.summary),
        "caveat": CAVEAT,
        "references": dict(REFERENCES),
    }
    out: dict[str, Any] = _clean(doc)
    return out


def write_json(bundle: ReportBundle, path: Path) -> list[Path]:
    """Write the export (UTF-8, 1-space indent); returns ``[path]``."""
    text = json.dumps(report_json(bundle), ensure_ascii=False, allow_nan=False, indent=1)
    from biofeedback.reports.atomic import write_atomic

    return [write_atomic(path, text + "\n")]
