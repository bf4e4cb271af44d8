"""Crash safety with real processes: ``kill -9`` mid-session, and two writers on one file.

Data-loss bound. The writer commits every ``flush_interval_s`` = 0.5 s of the recording's
clock, and the replay runs on that same clock, so at ``kill -9`` the stream time not yet
committed is at most 0.5 s plus the commit latency and the scheduling delay, scaled by the
replay speed. The design allows 1 s of stream time: at ×5 the remaining 0.5 s of stream time
is 100 ms of real time for commit latency and scheduling jitter (a commit in WAL mode with
synchronous=NORMAL takes well under 1 ms). The check: every frame the recorder printed (it
prints a frame only after handing it to the writer) whose time is more than 1 s before the
last printed frame must be in the database.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from biofeedback.beats import beats_from_items
from biofeedback.sessions.store import MIGRATIONS, SessionReader, SessionStatus, StoreError
from biofeedback.sessions.store.backend import is_url
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo
from devices.replay import CaptureReplaySource
from tests.conftest import RECORDINGS, REPO
from tests.support.postgres import raw_connection

SPEED = 5.0
KILL_AT_S = 30.0
KILL_DELAY_S = 0.45
LOSS_BOUND_S = 1.0
FRAME_RE = re.compile(r"^t=\s*([0-9.]+)s\s+HR\s")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _capture(tmp_path: Path) -> Path:
    bundled = RECORDINGS / "self-compassion-break.jsonl"
    if bundled.is_file():
        return bundled
    path = tmp_path / "synth.jsonl"
    header = CaptureHeader(
        DeviceInfo(name="Synth", address="00:11"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests.test_crash"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        for i in range(1, 720):
            rr = [800 + (i % 7) * 10]
            w.write(CaptureEvent(float(i), "notify", "2a37", encode_measurement(70, rr)))
    return path


def test_kill_9_mid_session_loses_at_most_one_second(tmp_path: Path, db_target: str) -> None:
    capture = _capture(tmp_path)
    db = db_target
    cmd = [sys.executable, "-m", "biofeedback", "record", "--replay", str(capture)]
    cmd += ["--speed", str(SPEED), "--db", str(db), "--protocol", "self-compassion-break"]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed: list[float] = []
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            m = FRAME_RE.match(line)
            if m:
                printed.append(float(m.group(1)))
                if printed[-1] >= KILL_AT_S:
                    break
            assert time.monotonic() < deadline, "recorder too slow"
        # Kill between two frames and away from the commit schedule's phase: the stream
        # runs on for KILL_DELAY_S more seconds (≈ 2.25 s of stream time at ×5).
        time.sleep(KILL_DELAY_S)
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    printed += [float(m.group(1)) for m in map(FRAME_RE.match, rest.splitlines()) if m]
    t_last_printed = max(printed)
    assert t_last_printed >= KILL_AT_S

    with SessionReader(db) as r:
        (info,) = r.list_sessions()
        assert info.status is SessionStatus.INTERRUPTED
        # The terminal prints times with 2 decimals.
        stored = [round(t, 2) for t in r.frames(info.id)["t_s"]]
        lost = sorted(set(printed) - set(stored))
        assert all(t > t_last_printed - LOSS_BOUND_S for t in lost), (lost, t_last_printed)
        assert not set(stored) - set(printed) or max(stored) <= t_last_printed + LOSS_BOUND_S
        # Still analysable: the stored beats are exactly the first beats of the capture.
        beats = r.beats(info.id)
        assert len(beats) > 20
        src = CaptureReplaySource(capture, clock=VirtualClock())

        async def items() -> list[object]:
            return [it async for it in src.stream()]

        import asyncio

        expected = beats_from_items(asyncio.run(items()))[: len(beats)]  # type: ignore[arg-type]
        assert beats["t_s"].tolist() == [b.t_s for b in expected]
        assert beats["rr_ms"].tolist() == [b.rr_ms for b in expected]
        assert r.phases(info.id)[0].name == "baseline"
    if not is_url(db):
        c = sqlite3.connect(db)
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        c.close()
    # The CLI lists it as interrupted, too.
    out = subprocess.run(
        [sys.executable, "-m", "biofeedback", "sessions", "--db", str(db), "--no-artifacts"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "interrupted" in out.stdout


WRITER = """
import sys, time
from biofeedback.beats import Beat
from biofeedback.sessions.store import NewSession, SessionStatus, Store
n = int(sys.argv[3])
with Store(sys.argv[1]) as st:
    w = st.begin_session(NewSession(source="replay", title=sys.argv[2]), flush_interval_s=0.002)
    for i in range(n):
        w.add_beats([Beat(i * 0.8, 800.0, 819, 0)])
        if i % 20 == 0:
            time.sleep(0.001)
    w.finish(SessionStatus.COMPLETE)
"""


def test_two_writer_processes_on_one_file(db_target: str) -> None:
    db = db_target  # created (file) or migrated (server) by the writers themselves, concurrently
    n = 3000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), name, str(n)],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    reads: list[int] = []
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        # A reader beside two writers: never blocks them, never sees a torn state.
        while not stop.is_set():
            try:
                with SessionReader(db) as r:
                    for s in r.list_sessions():
                        df: pd.DataFrame = r.beats(s.id)
                        if not df["t_s"].is_monotonic_increasing:
                            problems.append(f"session {s.id}: beats out of order")
                        reads.append(len(df))
            except StoreError as exc:
                # Before the writers have created and migrated the file.
                if "no such database" not in str(exc) and "upgrade" not in str(exc):
                    problems.append(str(exc))
            except sqlite3.Error as exc:
                problems.append(repr(exc))
            time.sleep(0.02)

    t = threading.Thread(target=reader)
    t.start()
    try:
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        stop.set()
        t.join()
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    with SessionReader(db) as r:
        infos = r.list_sessions()
        assert sorted(i.title for i in infos) == ["first", "second"]
        for i in infos:
            assert i.status is SessionStatus.COMPLETE and i.n_beats == n
            assert r.beats(i.id)["t_s"].tolist() == [k * 0.8 for k in range(n)]
    c = raw_connection(db)
    if not is_url(db):
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Both opened a new database at once; each migration step ran exactly once.
    assert c.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    c.close()
    assert reads, "the reader never got a look in"
    assert problems == []
