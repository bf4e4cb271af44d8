"""JSON of the comparison: ``compare --json`` (schema_version 1) and the report's differences."""

from __future__ import annotations

import datetime as dt
from typing import Any

from biofeedback.sessions.analysis import PhaseMetrics
from biofeedback.sessions.compare import PHASE_KEYS, MultiComparison
from biofeedback.sessions.stats import Difference


def phase_to_json(p: PhaseMetrics) -> dict[str, Any]:
    """One phase (or pooled kind) of ``compare --json``: its ``PHASE_KEYS`` metrics."""
    out: dict[str, Any] = {
        "name": p.name,
        "kind": p.kind,
        "start_s": float(p.start_s),
        "end_s": float(p.end_s),
        "n_beats": int(p.n_beats),
        "reliable": bool(p.reliable),
        "metrics": {k: None if (v := p.metrics.get(k)) is None else float(v) for k in PHASE_KEYS},
        "warnings": [str(w) for w in p.warnings],
        "grade": p.grade,
        "reasons": list(p.reasons),
    }
    return out


def difference_to_json(d: Difference, *, with_windows: bool = True) -> dict[str, Any]:
    """One `Difference` as JSON, for ``compare --json`` and the report's JSON export.

    Keys: ``metric``, ``contrast``, ``baseline`` and ``other`` (the two phase-group values),
    ``estimate`` (other − baseline, in the metric's unit), ``ci95`` (``[low, high]`` or
    ``None`` when a group has < 3 windows), ``within_noise``; with ``with_windows`` also
    ``n_windows`` (``[baseline, other]`` 30-s windows). The report export passes
    ``with_windows=False``: its schema (``reports/session.schema.json``) has no such field.
    """
    out: dict[str, Any] = {
        "metric": d.metric,
        "contrast": d.contrast,
        "baseline": d.a_value,
        "other": d.b_value,
        "estimate": d.estimate,
        "ci95": None if d.ci_low is None or d.ci_high is None else [d.ci_low, d.ci_high],
    }
    if with_windows:
        out["n_windows"] = [d.n_windows_a, d.n_windows_b]
    out["within_noise"] = d.within_noise
    return out


def comparison_to_json(mc: MultiComparison) -> dict[str, Any]:
    """The JSON object printed by ``compare --json`` (schema_version 1)."""
    nr = mc.normal_range
    return {
        "schema_version": 1,
        "sessions": [
            {
                "id": c.session_id,
                "title": c.title,
                "started_at": dt.datetime.fromtimestamp(c.started_at, dt.UTC).isoformat(),
                "protocol": c.protocol,
                "status": c.status,
                "quality_ok": c.quality_ok,
                "phases": [phase_to_json(p) for p in c.phases],
                "by_kind": [phase_to_json(p) for p in c.by_kind],
                "differences": [difference_to_json(d) for d in c.differences],
                "verdict": list(c.verdict),
            }
            for c in mc.sessions
        ],
        "baseline_change_lnRMSSD": mc.baseline_change_lnrmssd,
        "normal_range": None
        if nr is None
        else {
            "lnRMSSD_mean": nr.mean,
            "lnRMSSD_low": nr.low,
            "lnRMSSD_high": nr.high,
            "swc_lnRMSSD": nr.swc,
            "n_baseline_days": nr.n_baselines,
            "rolling7_lnRMSSD": nr.rolling7,
            "status": nr.status,
        },
        "summary": list(mc.summary),
    }
