"""One analysis per session: report (html) and Session page of a 1 h session. Not a test.

Targets (docs/architecture.md): report (html) of a 1 h session ≤ 1 s server side, Session
page ≤ 0.5 s server time, each ≤ 1 analysis of the session. The store is the one of
``bench_reports.py`` (seeded 1 h, 6 phases, 1 % ectopics, one link gap) in the state a
recording leaves it: the session's analysis cached by ``cache_analysis``.

Measured per repetition in a fresh process state (new reader, new read model, as on the
first request after a launch): *report* = `build_report` + `render_html` (the server side
of ``report --format html``, no file write); *page* = the Session page's layout serialised
to JSON as Dash sends it. ``analyze_rr`` calls are counted with `cProfile` in a separate,
untimed run (no module is patched). *cold* = no cached analysis: the one analysis runs.

The same measurements run on the previous code from a ``git worktree`` of ``--old`` (by
default the parent of the commit that deleted ``biofeedback/report_figures.py``), each on
its own copy of the store warmed by that code's own cache, and the ratios are printed.

Run: ``python benchmarks/bench_readmodel.py [--repeat N] [--old REV] [--no-old]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT_TARGET_S = 1.0
PAGE_TARGET_S = 0.5
#: analyze_rr calls of one analysis of the bench session: whole + 6 phases + 3 pooled kinds.
ONE_ANALYSIS = 10

# Runs inside the measured tree (old or new): same public names in both.
_MEASURE = r"""
import cProfile, json, pstats, statistics, sys, time
from biofeedback.reports.model import build_report
from biofeedback.reports.html import render_html
from biofeedback.sessions.store import SessionReader
from dashboards.data import DashboardData
from dashboards.pages import session as page
import plotly.utils

db, sid, repeat, cold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "cold"

def report():
    with SessionReader(db) as r:
        return len(render_html(build_report(r, [sid])))

def session_page():
    with SessionReader(db) as r:
        data = DashboardData(r, editor=(lambda: (_ for _ in ()).throw(OSError("bench: no save"))))
        return len(json.dumps(page.layout(data, sid), cls=plotly.utils.PlotlyJSONEncoder))

def clear():
    if cold:
        import sqlite3
        c = sqlite3.connect(db); c.execute("DELETE FROM analysis_cache"); c.commit(); c.close()

def calls(fn):
    clear()
    prof = cProfile.Profile(); prof.enable(); fn(); prof.disable()
    st = pstats.Stats(prof).stats
    return sum(v[1] for k, v in st.items() if k[2] == "analyze_rr")

out = {}
for name, fn in (("report", report), ("page", session_page)):
    fn()  # warm imports
    times = []
    for _ in range(repeat):
        clear()
        t0 = time.perf_counter(); size = fn(); times.append(time.perf_counter() - t0)
    out[name] = {"s": statistics.median(times), "bytes": size, "analyze_rr": calls(fn)}
print(json.dumps(out))
"""


def _run(tree: Path, db: Path, sid: int, repeat: int, mode: str) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(db), str(sid), str(repeat), mode],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, dict[str, float]] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def _warm(tree: Path, db: Path, sid: int, module: str) -> None:
    code = (
        f"from {module} import cache_analysis\n"
        "from biofeedback.sessions.store import Store\n"
        f"s = Store({str(db)!r}); cache_analysis(s, {sid}); s.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True)


def _old_rev() -> str:
    gone = "biofeedback/report_figures.py"
    cmd = ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", gone]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return f"{out}^" if out else "HEAD"


def _line(label: str, r: dict[str, float], target: float, old: dict[str, float] | None) -> str:
    ok = "ok" if r["s"] <= target and r["analyze_rr"] <= ONE_ANALYSIS else "OVER TARGET"
    ratio = (
        ""
        if old is None
        else f"  | previous {old['s']:.3f} s, analyze_rr {old['analyze_rr']:.0f}: "
        f"×{old['s'] / r['s']:.1f}"
    )
    return f"{label:<22s}{r['s']:7.3f} s  analyze_rr {r['analyze_rr']:.0f}  {ok}{ratio}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old", default=None, help="git revision of the previous code")
    ap.add_argument("--no-old", action="store_true", help="skip the previous code")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_reports import make_store

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "bench.db"
        sid = make_store(base, 1.0)
        new_db = Path(tmp) / "new.db"
        shutil.copy(base, new_db)
        _warm(ROOT, new_db, sid, "biofeedback.sessions.analysis")
        new = {m: _run(ROOT, new_db, sid, args.repeat, m) for m in ("warm", "cold")}
        old: dict[str, dict[str, dict[str, float]]] | None = None
        if not args.no_old:
            rev = args.old or _old_rev()
            tree = Path(tmp) / "old"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT,
                           check=True, capture_output=True)  # fmt: skip
            try:
                old_db = Path(tmp) / "old.db"
                shutil.copy(base, old_db)
                _warm(tree, old_db, sid, "biofeedback.sessions.compare")
                old = {m: _run(tree, old_db, sid, args.repeat, m) for m in ("warm", "cold")}
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                               check=False, capture_output=True)  # fmt: skip
            print(f"previous code: {rev}")
    print(
        f"1 h session, median of {args.repeat}; one analysis of it = {ONE_ANALYSIS} analyze_rr "
        "calls (whole + 6 phases + 3 pooled kinds)"
    )
    for mode in ("warm", "cold"):
        for name, target in (("report", REPORT_TARGET_S), ("page", PAGE_TARGET_S)):
            o = None if old is None else old[mode][name]
            print(_line(f"{name} ({mode} cache)", new[mode][name], target, o))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
