"""HRV engine benchmarks (not part of pytest): prints figures and same-run ratios.

Run from the repo root::

    python benchmarks/bench_hrv.py            # everything (nk.hrv on 1 h takes ~3 min)
    python benchmarks/bench_hrv.py --quick    # skip the whole nk.hrv() call
    python benchmarks/bench_hrv.py --peers    # only the peer table (pip install -e '.[bench]')

The peer table (issue 14) runs hrv-analysis, neurokit2 and ours on the same 5 min, 1 h,
6 h, 24 h and 7 d of real RR (the 21 h healthy Holter file of ../shared/reference, cut or
repeated; simulated RR when it is absent), each tool in a fresh process per size, and
prints time (median of repeats, in-process, imports excluded), the process's peak RSS,
peer/ours ratios and each tool's growth exponent (slope of log time over log beats from
1 h to 7 d). Ours always includes artefact detection, correction and the quality grade.

Targets (docs/architecture.md §7): live per-beat update ≤ 50 µs; analyze 1 h ≤ 2 s and ≥ 50× faster
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


# --------------------------------------------------------------------------- peers
SIZES_S = {"5 min": 300.0, "1 h": 3600.0, "6 h": 6 * 3600.0, "24 h": 24 * 3600.0,
           "7 d": 7 * 24 * 3600.0}  # fmt: skip
#: tool -> (label, code run in the child on ``rr`` (np.ndarray, ms))
TOOLS: dict[str, tuple[str, str]] = {
    "ours": (
        "biofeedback time+freq+Poincaré (+ artefacts, grade)",
        "from biofeedback.hrv import analyze_rr\n"
        "def run(rr): analyze_rr(rr, metrics=['time', 'freq', 'poincare'])",
    ),
    "ours_full": (
        "biofeedback full set (+ SampEn, DFA, indices)",
        "from biofeedback.hrv import analyze_rr\ndef run(rr): analyze_rr(rr, metrics=['all'])",
    ),
    "hrvanalysis": (
        "hrv-analysis time+freq+Poincaré",
        "import warnings; warnings.filterwarnings('ignore')\n"
        # hrv-analysis 1.0.5 calls np.trapz, which numpy 2.4 removed; np.trapezoid is the
        # same function under its new name
        "import numpy as np; np.trapz = getattr(np, 'trapz', np.trapezoid)\n"
        "from hrvanalysis import (get_time_domain_features as a,\n"
        "    get_frequency_domain_features as b, get_poincare_plot_features as c)\n"
        "def run(rr):\n    x = rr.tolist(); a(x); b(x); c(x)",
    ),
    "neurokit2": (
        "neurokit2 hrv_time + hrv_frequency(4 Hz) + Poincaré",
        "import warnings; warnings.filterwarnings('ignore')\n"
        "import numpy as np, neurokit2 as nk\n"
        "from neurokit2.hrv.hrv_nonlinear import _hrv_nonlinear_poincare as pc\n"
        "def run(rr):\n    d = {'RRI': rr, 'RRI_Time': np.cumsum(rr) / 1000.0}\n"
        "    nk.hrv_time(d); nk.hrv_frequency(d, interpolation_rate=4, normalize=False)\n"
        "    pc(rr, out={})",
    ),
}

_CHILD = """
import json, resource, statistics, sys, time
import numpy as np
rr = np.load(sys.argv[1]); reps = int(sys.argv[2])
{code}
ts = []
for _ in range(reps):
    t0 = time.perf_counter(); run(rr); ts.append(time.perf_counter() - t0)
print(json.dumps({{"s": statistics.median(ts),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _peer_inputs() -> dict[str, np.ndarray]:
    p = REF / "healthy_24h_irurzun" / "000_rr_ms.txt"
    base = np.loadtxt(p) if p.is_file() else simulate_rr(21 * 3600.0, seed=7)
    print(f"  input: {p if p.is_file() else 'simulated RR'} ({base.size} beats), cut or "
          "repeated to each length")  # fmt: skip
    out = {}
    for name, dur in SIZES_S.items():
        reps = int(np.ceil(dur * 1000.0 / base.sum()))
        x = np.tile(base, reps)
        out[name] = x[: int(np.searchsorted(np.cumsum(x), dur * 1000.0)) + 1]
    return out


def bench_peers(tools: list[str]) -> None:
    import tempfile

    inputs = _peer_inputs()
    res: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size, rr in inputs.items():
            f = Path(tmp) / f"{size.replace(' ', '')}.npy"
            np.save(f, rr)
            reps = 5 if rr.size < 30_000 else (3 if rr.size < 200_000 else 1)
            for tool in tools:
                code = _CHILD.format(code=TOOLS[tool][1])
                r = subprocess.run([sys.executable, "-c", code, str(f), str(reps)], cwd=REPO,
                                   capture_output=True, text=True)  # fmt: skip
                if r.returncode != 0:
                    last = (r.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"  {tool} {size}: FAILED ({last})")
                    continue
                res[(tool, size)] = json.loads(r.stdout)
    head = f"{'size':>6} {'beats':>7} " + " ".join(f"{t:>22}" for t in tools)
    print("peers, same run: time s (peak RSS MiB) [time / ours time+freq+Poincaré]")
    print(head)
    for size, rr in inputs.items():
        ours = res.get(("ours", size), {}).get("s")
        cells = []
        for t in tools:
            d = res.get((t, size))
            if d is None:
                cells.append(f"{'-':>22}")
                continue
            ratio = f" [{d['s'] / ours:.1f}x]" if ours else ""
            cells.append(f"{d['s']:8.3f} ({d['rss_mib']:4.0f}){ratio:>8}")
        print(f"{size:>6} {rr.size:>7} " + " ".join(cells))
    sizes = [s for s in inputs if inputs[s].size >= 4000]
    for t in tools:
        pts = [(inputs[s].size, res[(t, s)]["s"]) for s in sizes if (t, s) in res]
        if len(pts) >= 2:
            k = np.polyfit(np.log([n for n, _ in pts]), np.log([v for _, v in pts]), 1)[0]
            print(f"  growth exponent {t}: {k:.2f} (time ∝ beats^k, 1 h to 7 d)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the ~3 min nk.hrv() call")
    ap.add_argument("--no-nk", action="store_true", help="skip all neurokit2 comparisons")
    ap.add_argument("--peers", action="store_true", help="only the peer table")
    ap.add_argument("--tools", default=",".join(TOOLS), help="peer-table tools")
    a = ap.parse_args()
    tools = [t for t in a.tools.split(",") if t in TOOLS]
    if a.peers:
        bench_peers(tools)
        return
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
    bench_peers(tools)


if __name__ == "__main__":
    main()
