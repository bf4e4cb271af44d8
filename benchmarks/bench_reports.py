"""Report generation time for a 1 h session (target: each format ≤ 5 s). Not a test.

Builds a store with one simulated 1 h session (seeded `biofeedback.synth.simulate_rr`:
10 min baseline, 4 × 10 min practice, 10 min recovery; 1 % injected ectopic beats; one
link gap), then times, per format, the `biofeedback report` path twice: in process (reading
the store, analysis of the whole session + every phase + `biofeedback.sessions.compare`
bootstrap, writing) and as a user sees it, the whole command in a fresh process
(``python -m biofeedback report ...``: interpreter start, imports, the same work and, for
the PDF, the browser launch); the ratio of the two is printed.

Run: ``PYTHONPATH=. python benchmarks/bench_reports.py [--hours H] [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from biofeedback.beats import Beat
from biofeedback.sessions.store import Marker, MarkerKind, NewSession, SessionStatus, Store
from biofeedback.synth import ArtefactKind, Phase, inject_artefacts, simulate_rr
from devices.clock import VirtualClock
from devices.records import LinkEvent, LinkState

TARGET_S = 5.0


def make_store(path: Path, hours: float, seed: int = 7) -> int:
    unit = hours * 3600.0 / 6.0
    phases = [
        Phase("baseline", "baseline", unit, 72, 25, 14),  # type: ignore[arg-type]
        *[
            Phase(f"practice-{i}", "practice", unit, 66, 45, 6.5)  # type: ignore[arg-type]
            for i in range(1, 5)
        ],
        Phase("recovery", "recovery", unit, 68, 35, 10),  # type: ignore[arg-type]
    ]
    sim = simulate_rr(phases, seed)
    rng = np.random.default_rng(seed)
    n = len(sim.rr_ms)
    # 1 % ectopic beats, spaced so no two overlap (jittered within their 100-beat slot).
    slots = np.arange(50, n - 150, 100)
    sites = [(ArtefactKind.ECTOPIC, int(i + rng.integers(0, 50))) for i in slots]
    inj = inject_artefacts(sim.rr_ms, sites, rng)
    rr = np.asarray(inj.rr_ms)
    t = sim.start_s + np.cumsum(rr) / 1000.0
    gap = (unit * 2.5, unit * 2.5 + 20.0)  # one 20 s link loss mid-practice
    keep = (t < gap[0]) | (t > gap[1])
    seg = (t > gap[1]).astype(np.int64)
    clock = VirtualClock(wall_start_s=1_790_000_000.0)
    with Store(path, clock=clock) as store:
        w = store.begin_session(
            NewSession(source="import", protocol="self-compassion-break", title="bench 1 h"),
            flush_interval_s=1e9,
        )
        start = 0.0
        for ph in phases:
            w.add_marker(Marker(start, MarkerKind.PHASE_START, ph.name, ph.kind))
            w.add_marker(Marker(start + ph.duration_s, MarkerKind.PHASE_END, ph.name, ph.kind))
            start += ph.duration_s
        w.add(LinkEvent(gap[0], LinkState.DISCONNECTED, "bench"))
        w.add(LinkEvent(gap[1], LinkState.CONNECTED, "bench"))
        w.add_beats(
            Beat(float(tt), float(r), None, int(s))
            for tt, r, s in zip(t[keep], rr[keep], seg[keep], strict=True)
        )
        w.finish(SessionStatus.COMPLETE)
        return w.session_id


def _whole_command(db: Path, sid: int, fmt: str, out: Path) -> float:
    """Seconds for ``python -m biofeedback report`` in a fresh process, as a user runs it."""
    out.unlink(missing_ok=True)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "biofeedback", "report", str(sid), "--format", fmt]
    t0 = time.perf_counter()
    subprocess.run(
        [*cmd, "-o", str(out), "--db", str(db)], check=True, capture_output=True, env=env
    )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from biofeedback.reports import write_report
    from biofeedback.reports.model import build_report
    from biofeedback.reports.pdf import find_chromium
    from biofeedback.sessions.store import SessionReader

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        sid = make_store(db, args.hours)
        with SessionReader(db) as reader:
            n = reader.session(sid).n_beats
            print(f"session: {args.hours:g} h, {n} beats")
            t0 = time.perf_counter()
            bundle = build_report(reader, [sid])
            build_s = time.perf_counter() - t0
            print(f"read + analyse (whole, 6 phases, compare bootstrap): {build_s:.2f} s")
            fmts = ["csv", "json", "kubios", "html"] + (["pdf"] if find_chromium() else [])
            worst = 0.0
            for fmt in fmts:
                times, size = [], 0
                for _ in range(args.repeat):
                    out = Path(tmp) / f"r.{fmt}"
                    t0 = time.perf_counter()
                    files = write_report(reader, [sid], fmt, out)
                    times.append(time.perf_counter() - t0)
                    size = sum(f.stat().st_size for f in files)
                med = statistics.median(times)
                whole = statistics.median(
                    _whole_command(db, sid, fmt, Path(tmp) / f"w.{fmt}") for _ in range(args.repeat)
                )
                worst = max(worst, whole)
                print(
                    f"{fmt:>6s}: {med:5.2f} s in process, {whole:5.2f} s whole command "
                    f"({whole / med:4.1f}x), medians of {args.repeat}; {size / 1e6:6.2f} MB  "
                    f"{'ok' if whole <= TARGET_S else 'OVER TARGET'}"
                )
            if "pdf" not in fmts:
                print("   pdf: skipped (no Chromium)")
            del bundle
    print(f"target ≤ {TARGET_S:.0f} s per format: {'met' if worst <= TARGET_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
