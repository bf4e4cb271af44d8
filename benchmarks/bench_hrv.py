"""HRV engine benchmarks (not part of pytest): prints figures and same-run ratios.

Run from the repo root::

    python benchmarks/bench_hrv.py            # everything (nk.hrv on 1 h takes ~3 min)
    python benchmarks/bench_hrv.py --quick    # skip the whole nk.hrv() call

Targets (DESIGN.md §7): live per-beat update ≤ 50 µs; analyze 1 h ≤ 2 s and ≥ 50× faster
than ``nk.hrv()``; analyze 24 h (80 k beats) ≤ 15 s and ≤ 1 GiB peak RSS;
``biofeedback --help`` ≤ 0.3 s. Parts that need ../shared/reference are skipped when absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REF = REPO.parent / "shared" / "reference"
sys.path.insert(0, str(REPO))

from biofeedback.synth import stationary_rr as simulate_rr  # noqa: E402


def _series_1() -> tuple[np.ndarray, str]:
    p = REF / "pyhrv_nsrdb_kubios" / "series_1_rr_ms.txt"
    if p.is_file():
        return np.loadtxt(p), str(p)
    print("  (../shared/reference absent: using 1 h of simulated RR)")
    rr = simulate_rr(3600.0, seed=1)
    tmp = Path("/tmp/bench_hrv_1h.txt")
    tmp.write_text("\n".join(f"{v:.3f}" for v in rr))
    return rr, str(tmp)


def bench_live(rr: np.ndarray) -> None:
    from biofeedback.hrv.live import LiveHrv, live_spectral

    t = np.cumsum(rr) / 1000.0
    tl, rl = t.tolist(), rr.tolist()
    per_round = []
    p99s = []
    for _ in range(3):
        live = LiveHrv()
        dts = []
        pc = time.perf_counter_ns
        for a, b in zip(tl, rl, strict=True):
            t0 = pc()
            live.push(a, b)
            dts.append(pc() - t0)
        dts_us = np.asarray(dts[400:]) / 1000.0
        per_round.append(float(np.median(dts_us)))
        p99s.append(float(np.percentile(dts_us, 99)))
    med = statistics.median(per_round)
    print(f"live LiveHrv.push (60 s + 300 s windows, gate on): median {med:.2f} µs/beat, "
          f"p99 {statistics.median(p99s):.2f} µs (target ≤ 50 µs)")  # fmt: skip
    # numpy full recompute of the same two windows, same run
    t_np = []
    for i in range(1000, 1600):
        t0 = time.perf_counter_ns()
        for w in (60.0, 300.0):
            lo = np.searchsorted(t, t[i] - w, side="right")
            x = rr[lo : i + 1]
            _ = x.mean(), x.std(ddof=1), np.sqrt(np.mean(np.diff(x) ** 2))
        t_np.append(time.perf_counter_ns() - t0)
    np_us = float(np.median(t_np)) / 1000.0
    print(f"  numpy full recompute per beat: {np_us:.1f} µs  -> running sums {np_us / med:.1f}x")
    spec_t: list[float] = []
    for _ in range(20):
        inp = live.spectral_input()
        s0 = time.perf_counter()
        live_spectral(inp)
        spec_t.append(time.perf_counter() - s0)
    sp_ms = statistics.median(spec_t) * 1000
    print(f"  live_spectral (300 s LF/HF/HF peak/coherence): {sp_ms:.2f} ms per call; "
          f"every 5 s = {sp_ms / 5000 * 100:.3f} % of a core")  # fmt: skip
    return None


def bench_live_vs_nk(rr: np.ndarray, nk: object) -> None:
    t = np.cumsum(rr) / 1000.0
    dts = []
    for i in range(1000, 1050):
        lo = np.searchsorted(t, t[i] - 60.0, side="right")
        t0 = time.perf_counter()
        nk.hrv_time({"RRI": rr[lo : i + 1], "RRI_Time": t[lo : i + 1]})  # type: ignore[attr-defined]
        dts.append(time.perf_counter() - t0)
    print(f"  nk.hrv_time on the 60 s window per beat: {statistics.median(dts) * 1e6:.0f} µs")


def bench_analyze_1h(rr: np.ndarray, path: str, nk: object | None) -> float:
    from biofeedback.files import read_rr
    from biofeedback.hrv import analyze_rr

    analyze_rr(rr)  # warm imports
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        s = read_rr(path)
        analyze_rr(s.rr_ms, t_s=s.t_s, segment=s.segment)
        ts.append(time.perf_counter() - t0)
    ours = statistics.median(ts)
    print(f"analyze 1 h ({rr.size} beats, read + artefacts + full metric set): "
          f"{ours * 1000:.0f} ms in-process (target ≤ 2 s)")  # fmt: skip
    code = (
        "import sys,json,time;t0=time.perf_counter();"
        "from biofeedback.files import read_rr;from biofeedback.hrv import analyze_rr;"
        f"s=read_rr({path!r});r=analyze_rr(s.rr_ms,t_s=s.t_s,segment=s.segment);"
        "json.dumps(r.to_json_dict());print(time.perf_counter()-t0)"
    )
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"  whole process (python start + imports + analyze + JSON): "
          f"{statistics.median(walls):.2f} s wall")  # fmt: skip
    if nk is None:
        return ours
    t = np.cumsum(rr) / 1000.0
    t0 = time.perf_counter()
    nk.hrv_time({"RRI": rr, "RRI_Time": t})  # type: ignore[attr-defined]
    nk.hrv_frequency({"RRI": rr, "RRI_Time": t}, interpolation_rate=4, normalize=False)  # type: ignore[attr-defined]
    t_tf = time.perf_counter() - t0
    print(
        f"  nk.hrv_time + nk.hrv_frequency(4 Hz) alone: {t_tf * 1000:.0f} ms (no artefact "
        "handling, no nonlinear indices, so not the like-for-like comparison)"
    )
    return ours


def bench_nk_hrv(rr: np.ndarray, nk: object, ours_s: float) -> None:
    t = np.cumsum(rr) / 1000.0
    t0 = time.perf_counter()
    nk.hrv({"RRI": rr, "RRI_Time": t})  # type: ignore[attr-defined]
    dt = time.perf_counter() - t0
    print(f"  nk.hrv({{RRI, RRI_Time}}) 1 h: {dt:.1f} s (n=1) -> ours {dt / ours_s:.0f}x faster "
          "(target ≥ 50x)")  # fmt: skip


def bench_24h() -> None:
    p = REF / "healthy_24h_irurzun" / "000_rr_ms.txt"
    if not p.is_file():
        print("analyze 24 h: skipped (../shared/reference absent)")
        return
    code = (
        "import resource,time,json;t0=time.perf_counter();"
        "from biofeedback.files import read_rr;from biofeedback.hrv import analyze_rr;"
        f"s=read_rr({str(p)!r});r=analyze_rr(s.rr_ms,t_s=s.t_s,segment=s.segment);"
        "json.dumps(r.to_json_dict());"
        "print(json.dumps({'wall':time.perf_counter()-t0,'n':s.n_beats,'reliable':r.reliable,"
        "'rss_kib':resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    )
    d = json.loads(out.stdout)
    print(f"analyze 24 h ({d['n']} beats): {d['wall']:.2f} s in a fresh process (target ≤ 15 s),"
          f" peak RSS {d['rss_kib'] / 1024:.0f} MiB (target ≤ 1024 MiB)")  # fmt: skip


def bench_help() -> None:
    walls = []
    rc = 0
    err = ""
    for _ in range(5):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "biofeedback", "--help"], cwd=REPO,
                           capture_output=True, text=True)  # fmt: skip
        walls.append(time.perf_counter() - t0)
        rc, err = r.returncode, r.stderr
    if rc != 0:
        print(f"biofeedback --help: FAILED rc={rc}: {err.strip().splitlines()[-1]}")
        return
    print(f"biofeedback --help: {statistics.median(walls):.3f} s wall (target ≤ 0.3 s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the ~3 min nk.hrv() call")
    ap.add_argument("--no-nk", action="store_true", help="skip all neurokit2 comparisons")
    a = ap.parse_args()
    rr, path = _series_1()
    bench_help()
    bench_live(rr)
    nk = None
    if not a.no_nk:
        import warnings

        warnings.filterwarnings("ignore")
        import neurokit2

        nk = neurokit2
        bench_live_vs_nk(rr, nk)
    ours = bench_analyze_1h(rr, path, nk)
    bench_24h()
    if nk is not None and not a.quick:
        # ratio against the median in-process figure measured above in this same run
        bench_nk_hrv(rr, nk, ours)


if __name__ == "__main__":
    main()
