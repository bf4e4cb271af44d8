"""Dashboard speed (docs/architecture.md §7): first page after launch, Compare of 100 sessions, live
notification → visible latency in a real browser. Not a test; prints figures.

    PYTHONPATH=. python benchmarks/bench_dashboard.py [--sessions 100] [--live-s 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def first_page(db: Path) -> None:
    """`biofeedback dashboard` launched as a process → first page answered (HTTP 200)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "biofeedback", "dashboard", "--db", str(db), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        while True:
            try:
                for path in ("/sessions", "/_dash-layout", "/_dash-dependencies"):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read()
                break
            except OSError:
                time.sleep(0.02)
        print(
            f"first page (launch → /sessions + layout + dependencies): "
            f"{time.perf_counter() - t0:.2f} s (target ≤ 1.5 s)"
        )
    finally:
        proc.terminate()
        proc.wait(10)


_COMPARE_CHILD = """
import sys, time
from biofeedback.sessions.store import SessionReader
from dashboards.app import render_page
from dashboards.data import DashboardData

db, n = sys.argv[1], int(sys.argv[2])
ids = ",".join(str(i) for i in range(1, n + 1))
reader = SessionReader(db)
data = DashboardData(reader)
render_page(data, None, "/sessions", "")  # the page a user sees before Compare
t0 = time.perf_counter()
render_page(data, None, "/compare", f"?ids={ids}")
first = time.perf_counter() - t0
t0 = time.perf_counter()
render_page(data, None, "/compare", f"?ids={ids}")
again = time.perf_counter() - t0
print(first, again)
"""


def _compare_in_fresh_process(db: Path, n: int) -> tuple[float, float]:
    """Server time of the first and the second Compare of ``n`` sessions in a new process
    (nothing in memory: what a user gets on the first Compare after launching)."""
    out = subprocess.run(
        [sys.executable, "-c", _COMPARE_CHILD, str(db), str(n)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def compare_100(db: Path, n: int) -> None:
    """Compare of ``n`` sessions: with the store's analysis cache filled as recording fills
    it, and (for honesty) on a copy whose cache is empty (a store from before the cache)."""
    import sqlite3

    first, again = _compare_in_fresh_process(db, n)
    print(
        f"Compare of {n} sessions, server time, fresh process, analysis cache filled at "
        f"recording: first {first:.2f} s (target ≤ 1 s), again {again:.3f} s"
    )
    bare = db.with_name("uncached.db")
    with sqlite3.connect(db) as src, sqlite3.connect(bare) as dst:
        src.backup(dst)
    with sqlite3.connect(bare) as c:
        c.execute("DELETE FROM analysis_cache")
    first_u, _ = _compare_in_fresh_process(bare, n)
    # That first Compare saved what it analysed: the next launch reads it back.
    first_u2, _ = _compare_in_fresh_process(bare, n)
    print(
        f"Compare of {n} sessions without a filled analysis cache (store from before it): "
        f"first {first_u:.2f} s (analyses and saves every session once), "
        f"after that, next launch {first_u2:.2f} s"
    )


def live_latency(live_s: float) -> None:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from biofeedback.sessions.bundled import bundled_recording
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader, Store
    from dashboards import create_app

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "live.db"
        Store(db).close()
        reader = SessionReader(db)
        w = LiveWorker(db, recordings={"scb": bundled_recording()})
        app = create_app(reader, w)
        srv = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_port}/live"
        with sync_playwright() as p:
            b = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = b.new_page()
            page.goto(url)
            page.wait_for_selector("#live-tacho .main-svg")
            page.evaluate("""() => {
                window._seen = [];
                const gd = document.querySelector('#live-tacho .js-plotly-plot');
                new MutationObserver(() => {
                    const x = gd.data && gd.data.length && gd.data[0].x;
                    if (x && x.length) window._seen.push([Date.now() / 1000, x[x.length-1]]);
                }).observe(gd, {subtree: true, childList: true, attributes: true});
            }""")
            w.start("replay:scb", "self-compassion-break", speed=1.0)
            emitted: dict[float, float] = {}
            seq = 0
            t_end = time.time() + live_s
            while time.time() < t_end:
                st = w.state(since_seq=seq, run_id=w.state().run_id)
                for bt in st.new_beats:
                    emitted[round(bt.t_s, 3)] = bt.wall_s
                seq = st.last_seq
                time.sleep(0.05)
            seen = page.evaluate("window._seen")
            b.close()
        w.close()
        srv.shutdown()
    lat: list[float] = []
    warm_from = min(emitted.values(), default=0) + 6.0  # plotly.js warm-up (dash-testing §4.2)
    for t_s, wall in emitted.items():
        if wall < warm_from:
            continue
        vis = next((s for s, last_x in seen if last_x is not None and last_x >= t_s - 1e-6), None)
        if vis is not None:
            lat.append(vis - wall)
    if len(lat) < 5:
        print("live latency: too few beats observed")
        return
    lat.sort()
    p95 = lat[int(0.95 * (len(lat) - 1))]
    print(
        f"notification → visible on the Live page: median {statistics.median(lat):.2f} s, "
        f"p95 {p95:.2f} s, max {lat[-1]:.2f} s over {len(lat)} beats (target p95 ≤ 0.5 s)"
    )


def first_visit(db: Path) -> None:
    """Fresh browser, first visit → main graph drawn, per page, gzip on and off (same run)."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from biofeedback.sessions.bundled import bundled_recording
    from biofeedback.sessions.live import LiveWorker
    from biofeedback.sessions.store import SessionReader
    from dashboards.app import build_app

    pages = {
        "/live": "#live-rmssd-graph .main-svg",
        "/session/1": "#session-tacho .main-svg",
        "/compare?ids=1": "#compare-fig .main-svg",
        "/sessions": "#sess-list",
    }
    reader = SessionReader(db)
    w = LiveWorker(db, recordings={"scb": bundled_recording()})
    times: dict[bool, dict[str, float]] = {}
    weight: dict[bool, int] = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            for gz in (False, True):
                srv = make_server(
                    "127.0.0.1", 0, build_app(reader, w, compress=gz).server, threaded=True
                )
                threading.Thread(target=srv.serve_forever, daemon=True).start()
                base = f"http://127.0.0.1:{srv.server_port}"
                times[gz], weight[gz] = {}, 0
                for path, sel in pages.items():
                    ctx = b.new_context()  # empty cache: a first visit
                    page = ctx.new_page()
                    got: list[int] = []
                    page.on("response", lambda r, got=got: got.append(_wire_bytes(r)))
                    t0 = time.perf_counter()
                    page.goto(base + path)
                    page.wait_for_selector(sel, timeout=30_000)
                    times[gz][path] = time.perf_counter() - t0
                    if path == "/live":
                        weight[gz] = sum(got)
                    ctx.close()
                srv.shutdown()
            b.close()
    finally:
        w.close()
        reader.close()
    for path in pages:
        off, on = times[False][path], times[True][path]
        print(
            f"first visit {path:<16s} → main graph: {on:.2f} s gzip, {off:.2f} s without "
            f"(ratio {on / off:.2f}; target ≤ 1.5 s)"
        )
    print(
        f"/live on the wire: {weight[True] / 1e6:.2f} MB gzip, {weight[False] / 1e6:.2f} MB "
        f"without (ratio {weight[True] / max(weight[False], 1):.2f})"
    )


def _wire_bytes(resp: object) -> int:
    try:
        sizes = resp.request.sizes()  # type: ignore[attr-defined]
        return int(sizes["responseBodySize"]) + int(sizes["responseHeadersSize"])
    except Exception:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--live-s", type=float, default=30.0)
    a = ap.parse_args()
    from dashboards.sample import populate_store

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.db"
        t0 = time.perf_counter()
        populate_store(db, a.sessions, seed=1)  # caches each analysis, as recording does
        print(
            f"generated {a.sessions} simulated 12-min sessions (analyses cached) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        first_page(db)
        compare_100(db, a.sessions)
        if Path("/usr/bin/chromium").exists():
            first_visit(db)
    if Path("/usr/bin/chromium").exists():
        live_latency(a.live_s)
    else:
        print("live latency: skipped (/usr/bin/chromium missing)")


if __name__ == "__main__":
    main()
