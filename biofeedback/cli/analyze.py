"""``biofeedback analyze FILE``: offline HRV of an RR file or capture (docs/architecture.md §5)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any, TextIO

from biofeedback.errors import UserError
from biofeedback.terminal import raw_stream

if TYPE_CHECKING:
    from biofeedback.files import ImportedRR


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="RR file: one RR (ms) per line, CSV with an RR column, Kubios RR export, an app "
        "export (Polar, Elite HRV, HRV Logger), ECG CSV, EDF, WFDB .hea, or a capture "
        "(.jsonl); a folder or zip of readings gives one result per reading",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--no-correct",
        action="store_true",
        help="do not correct artefacts (they are still detected and counted; RR outside "
        "200-3000 ms are always removed)",
    )
    p.add_argument(
        "--detrend",
        choices=("none", "smoothness-priors"),
        default="none",
        help="detrending before the spectrum (smoothness priors, lambda 500; default none)",
    )
    p.add_argument(
        "--lomb",
        action="store_true",
        help="Lomb-Scargle periodogram instead of Welch (4 Hz cubic, 300 s, 50 %%)",
    )
    p.add_argument(
        "--resolution-ms",
        type=float,
        default=None,
        metavar="MS",
        help="time resolution of the beat times in ms (0.977 for a BLE strap, 1 for app "
        "exports, 1000/fs for ECG or annotation beats, e.g. 7.8125 at 128 Hz); default: "
        "estimated from the RR values. Deviations within quantisation noise are never "
        "flagged or corrected",
    )
    p.add_argument(
        "--metrics",
        default=None,
        metavar="GROUPS",
        help="comma-separated metric groups: time, geometric, freq, poincare, nonlinear, "
        "indices, or all (default: all; above 200000 beats time,geometric,freq,poincare). "
        "The others print as —; a computed value never depends on the selection",
    )
    p.add_argument(
        "--expert",
        action="store_true",
        help="when the quality grade is 'withheld', also print the computed numbers "
        "(not valid HRV: for inspecting the record only)",
    )


_UNITS = {
    "MeanNN_ms": "ms", "SDNN_ms": "ms", "RMSSD_ms": "ms", "pNN50_pct": "%",
    "MeanHR_bpm": "bpm", "SDHR_bpm": "bpm", "HTI": "", "TINN_ms": "ms", "VLF_ms2": "ms²",
    "LF_ms2": "ms²", "HF_ms2": "ms²", "TP_ms2": "ms²", "LF_nu": "n.u.", "HF_nu": "n.u.",
    "LFHF": "", "LF_peak_Hz": "Hz", "HF_peak_Hz": "Hz", "SD1_ms": "ms", "SD2_ms": "ms",
    "SampEn": "", "DFA_alpha1": "", "DFA_alpha2": "", "StressIndex": "", "PNS_index": "",
    "SNS_index": "",
}  # fmt: skip
_LONG_BEATS = 20_000


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        width = 30
        filled = round(width * min(max(fraction, 0.0), 1.0))
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\ranalyze [{bar}] {fraction * 100:3.0f}% {stage:<18}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    from biofeedback.files import read_readings

    readings = read_readings(args.file)
    results = []
    for i, r in enumerate(readings):
        if i and not args.json:
            print()
        results.append(_analyze_one(args, r))
    if args.json:
        # one reading: one object; a per-reading export: a list, one object per reading
        print(json.dumps(results[0] if len(results) == 1 else results, allow_nan=False))
    return 0


def _analyze_one(args: argparse.Namespace, reading: ImportedRR) -> dict[str, Any]:
    """Analyse one reading; print its table (text mode) or return its JSON object."""
    from biofeedback.hrv.analysis import METRIC_KEYS, analyze_rr

    series = reading.series
    # The bar redraws itself with CR: it writes below the control-character filter.
    prog = _Progress(raw_stream(sys.stderr), series.n_beats >= _LONG_BEATS and sys.stderr.isatty())
    try:
        res = analyze_rr(
            series.rr_ms,
            t_s=series.t_s,
            segment=series.segment,
            correct=not args.no_correct,
            detrend=args.detrend,
            spectral="lomb" if args.lomb else "welch",
            source=series.source,
            resolution_ms=args.resolution_ms
            if args.resolution_ms is not None
            else series.resolution_ms,
            metrics=None if args.metrics is None else args.metrics.split(","),
            progress=prog,
        )
    except ValueError as exc:
        raise UserError(f"{series.source}: {exc}") from None
    finally:
        prog.close()
    if args.json:
        obj = res.to_json_dict()
        obj["warnings"] = [*reading.warnings, *obj["warnings"]]
        return obj
    a, q = res.artifacts, res.quality
    out = [
        f"{res.source}: {res.n_beats} beats, {res.duration_s / 60:.1f} min ({series.format})",
        f"artefacts: {a.count} intervals flagged "
        + ", ".join(f"{k} {v}" for k, v in a.by_type.items() if v)
        + f"; {'corrected' if a.corrected else 'not corrected'}; resolution "
        f"{q.resolution_ms:.4g} ms ({q.resolution_source})",
        f"quality: {q.grade.upper() if q.grade == 'withheld' else q.grade}"
        + (" — metrics withheld" if not q.reported else "")
        + (" — interpret with caution" if q.grade == "poor" else ""),
    ]
    out.extend(f"  {r}" for r in q.reasons)
    out.append("")
    shown = res.withheld_metrics if (args.expert and not q.reported) else res.metrics
    if shown is not res.metrics:
        out.append("  computed but withheld (expert view, not valid HRV):")
    for k in METRIC_KEYS:
        out.append(f"  {k:<12} {_fmt(shown[k]):>10} {_UNITS[k]}")
    warnings = [*reading.warnings, *res.warnings]
    if reading.notes:
        out.append("")
        out.extend(f"note: {n}" for n in reading.notes)
    if warnings:
        out.append("")
        out.extend(f"warning: {w}" for w in warnings)
    print("\n".join(out))
    return {}
