"""A lab-sized study on both store backends: sync speed, and the dashboard's multi-session
pages (Sessions filtered by study, Compare of one participant's sessions, Trends) for
100 participants × 10 sessions. Not a test; prints figures and PostgreSQL/SQLite ratios.

Needs the PostgreSQL server binaries (Debian: ``apt-get install postgresql``); it starts a
throwaway cluster the way the tests do (`tests.support.postgres`).

    PYTHONPATH=. python benchmarks/bench_study.py [--participants 100] [--sessions 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_PAGES_CHILD = """
import sys, time
from biofeedback.sessions.store import SessionReader
from dashboards.app import render_page
from dashboards.data import DashboardData
db, ids = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
reader = SessionReader(db)
data = DashboardData(reader)
opened = time.perf_counter() - t0
out = [opened]
for path, search in (("/sessions", "?study=bench"), ("/compare", "?ids=" + ids),
                     ("/trends", "")):
    t0 = time.perf_counter()
    render_page(data, None, path, search)
    out.append(time.perf_counter() - t0)
print(*out)
"""

PAGES = ("open store", "Sessions ?study=", "Compare (10 sessions)", "Trends")


def pages_in_fresh_process(target: str, ids: str) -> list[float]:
    """Server time of each page, first render in a new process (nothing in memory)."""
    out = subprocess.run(
        [sys.executable, "-c", _PAGES_CHILD, target, ids],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [float(x) for x in out[-len(PAGES) :]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=10, help="sessions per participant")
    a = ap.parse_args()
    from biofeedback.sessions.store import Store
    from biofeedback.sessions.store.sync import sync
    from dashboards.sample import populate_store
    from tests.support.postgres import PgCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not installed (apt-get install postgresql)")
    n = a.participants * a.sessions
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "study.db"
        t0 = time.perf_counter()
        ids = populate_store(db, n, seed=1)  # 12-min sessions, analyses cached
        with Store(db) as store:
            for k, sid in enumerate(ids):
                store.set_labels(sid, participant=f"P{k % a.participants:03d}", study="bench")
        print(
            f"generated {a.participants} participants × {a.sessions} simulated 12-min "
            f"sessions ({n}) in {time.perf_counter() - t0:.1f} s"
        )
        cluster = PgCluster.start(bindir)
        try:
            url = cluster.create_database("bench")
            t0 = time.perf_counter()
            report = sync(db, url)
            dt_sync = time.perf_counter() - t0
            print(
                f"sync of {len(report.sent)} sessions into PostgreSQL: {dt_sync:.1f} s "
                f"({len(report.sent) / dt_sync:.0f} sessions/s); again: "
                f"{len(sync(db, url).sent)} sent"
            )
            # One participant's sessions (every a.participants-th id).
            mine = ",".join(str(i) for i in ids[:: a.participants][: a.sessions])
            lite = pages_in_fresh_process(str(db), mine)
            server = pages_in_fresh_process(url, mine)
        finally:
            cluster.stop()
    print(f"{'server time, first render':28s} {'SQLite':>8s} {'PostgreSQL':>11s} {'ratio':>6s}")
    for name, x, y in zip(PAGES, lite, server, strict=True):
        print(f"{name:28s} {x:7.3f}s {y:10.3f}s {y / x:6.2f}")
    print("targets: Compare and Trends ≤ 1 s server time on both backends")


if __name__ == "__main__":
    main()
