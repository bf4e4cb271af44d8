"""``biofeedback compare``: per-phase metrics, differences with CIs and a verdict."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from biofeedback.sessions.analysis import PhaseMetrics
    from biofeedback.sessions.compare import MultiComparison, SessionComparison


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sessions", nargs="+", type=int, metavar="SESSION", help="session id(s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--db", metavar="PATH|URL", help="database (default: $BIOFEEDBACK_DB or user data dir)"
    )


def _cell(key: str, v: float | None) -> str:
    from biofeedback.hrv.catalog import format_value

    return format_value(key, v, missing="-")


#: The engine's metric behind a column, when it is not the column's own key.
_SOURCE = {"lnRMSSD": "RMSSD_ms", "BreathingRate_per_min": "HF_ms2"}


def why_dashes(p: PhaseMetrics) -> str | None:
    """Why a row of the table has dashes, from the engine's own warnings: ``None`` when
    every cell has a number. Without it a too-short phase showed only dashes."""
    from biofeedback.hrv.catalog import metric
    from biofeedback.sessions.analysis import MIN_BEATS
    from biofeedback.sessions.compare import PHASE_KEYS

    missing = [k for k in PHASE_KEYS if p.metrics.get(k) is None]
    if not missing:
        return None
    where = f"{p.name} ({p.end_s - p.start_s:.0f} s, {p.n_beats} beats)"
    if p.n_beats < MIN_BEATS:
        return f"{where}: too few beats to analyse (needs ≥ {MIN_BEATS})"
    if not p.reliable:
        return f"{where}: withheld ({'; '.join(p.reasons) or p.grade or 'unreliable'})"
    needs: list[str] = []
    for k in missing:
        prefix = f"{_SOURCE.get(k, k)}: not computed, needs "
        for w in p.warnings:
            if w.startswith(prefix):
                needs.append(f"{metric(k).short} needs {w[len(prefix) :].split(' (have')[0]}")
                break
    if not needs:
        return None
    return f"{where}: " + "; ".join(dict.fromkeys(needs))


def format_session(c: SessionComparison) -> str:
    """A readable table of one session's comparison (headers from the metric catalogue)."""
    from biofeedback.hrv.catalog import metric
    from biofeedback.sessions.compare import PHASE_KEYS

    when = dt.datetime.fromtimestamp(c.started_at).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"Session {c.session_id}  {c.title or ''}  {when}  protocol {c.protocol}  ({c.status})"
    ]
    head = f"{'phase':<18s}{'kind':<10s}{'beats':>6s}" + "".join(
        f"{metric(k).short:>11s}" for k in PHASE_KEYS
    )
    lines.append(head)
    n_of_kind = {k.kind: sum(p.kind == k.kind for p in c.phases) for k in c.by_kind}
    pooled = [k for k in c.by_kind if n_of_kind[k.kind] > 1]
    for i, p in enumerate((*c.phases, *pooled)):
        name = f"[all {p.kind}]" if i >= len(c.phases) else p.name
        row = f"{name[:17]:<18s}{p.kind:<10s}{p.n_beats:>6d}" + "".join(
            f"{_cell(k, p.metrics.get(k)):>11s}" for k in PHASE_KEYS
        )
        tag = f"  {p.grade}" if p.grade else ("" if p.reliable else "  unreliable")
        lines.append(row + tag)
    whys = [w for w in map(why_dashes, c.phases) if w is not None]
    if whys:
        lines.append("")
        lines.append("  Why the dashes:")
        lines.extend(f"    {w}" for w in whys)
    if c.differences:
        lines.append("")
        lines.append(f"{'difference':<20s}{'metric':<12s}{'estimate':>10s}{'95% CI':>22s}  windows")
        for d in c.differences:
            ci = "-" if d.ci_low is None else f"[{d.ci_low:+.2f}, {d.ci_high:+.2f}]"
            est = "-" if d.estimate is None else f"{d.estimate:+.2f}"
            tag = (
                "  no CI (too short)"
                if d.ci_low is None
                else "  within noise"
                if d.within_noise
                else ""
            )
            lines.append(
                f"{d.contrast:<20s}{d.metric:<12s}{est:>10s}{ci:>22s}  "
                f"{d.n_windows_a}/{d.n_windows_b}{tag}"
            )
    lines.append("")
    lines.extend(f"  {v}" for v in c.verdict)
    return "\n".join(lines)


def format_comparison(mc: MultiComparison) -> str:
    """Every session's table, then the across-session summary."""
    parts = [format_session(c) for c in mc.sessions]
    parts.append("\n".join(mc.summary))
    return "\n\n".join(parts)


def run(args: argparse.Namespace) -> int:
    from biofeedback.cli.options import db_path
    from biofeedback.sessions.compare import compare_sessions
    from biofeedback.sessions.compare_json import comparison_to_json
    from biofeedback.sessions.store import SessionReader

    path = db_path(args)
    with SessionReader(path) as reader:
        mc = compare_sessions(reader, args.sessions)
    if args.json:
        print(json.dumps(comparison_to_json(mc), indent=2, allow_nan=False))
    else:
        print(format_comparison(mc))
    return 0
