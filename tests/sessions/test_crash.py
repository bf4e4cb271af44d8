"""Crash tier: ``kill -9`` the real recorder at seeded random moments; two writers on one file.

Each trial runs ``record --replay … --protocol self-compassion-break --db … --capture …`` as a
real process and SIGKILLs it at a seeded uniform moment within `KILL_WINDOW_S` of its session
beginning (before its first frame, between commits, mid-prompt). Every trial must leave: the
session, reopened, ``interrupted``; at most `LOSS_BOUND_S` of beats lost; beats exactly the
capture's first beats; an intact database; ``sessions``, ``compare`` and the JSON, Kubios (and
for some trials HTML) reports working on it; the capture valid up to its last complete line.
One kill in mid-session also runs on every store backend (``db_target``).

Data-loss bound. The writer commits every ``flush_interval_s`` = 0.5 s of the recording's
clock, and the replay runs on that same clock, so at ``kill -9`` the stream time not yet
committed is at most 0.5 s plus the commit latency and the scheduling delay, scaled by the
replay speed. The design allows 1 s of stream time: at ×5 the remaining 0.5 s of stream time
is 100 ms of real time for commit latency and scheduling jitter (a commit in WAL mode with
synchronous=NORMAL takes well under 1 ms). The check: every frame the recorder printed (it
prints a frame only after handing it to the writer) whose time is more than 1 s before the
last printed frame must be in the database. With ``flush_interval_s`` = 3 s the tier fails.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from biofeedback.beats import Beat, beats_from_items
from biofeedback.cli import main
from biofeedback.sessions.store import MIGRATIONS, SessionReader, SessionStatus, StoreError
from biofeedback.sessions.store.backend import is_url
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter, read_capture
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo, StreamItem
from devices.replay import CaptureReplaySource
from tests.conftest import RECORDINGS, REPO
from tests.support.postgres import raw_connection

SPEED = 5.0
KILL_AT_S = 30.0
KILL_DELAY_S = 0.45
#: Each tier trial kills its recorder at a seeded uniform moment in this many wall seconds
#: after its session began (at x5: up to 15 s of stream time, through the first prompts).
KILL_WINDOW_S = 3.0
#: 20 trials in CI (the issue's minimum); BIOFEEDBACK_CRASH_TRIALS=200 for a long run.
TRIALS = int(os.environ.get("BIOFEEDBACK_CRASH_TRIALS", "20"))
#: Recorders run side by side: most of a trial is interpreter start-up and waiting.
PARALLEL = 4
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


@dataclass(frozen=True)
class Trial:
    """One recorder killed with SIGKILL ``kill_after_s`` (wall) after its session began."""

    seed: int
    kill_after_s: float
    db: Path
    capture_out: Path
    returncode: int
    printed_t_s: tuple[float, ...]
    stderr: str


def _run_trial(seed: int, capture: Path, folder: Path) -> Trial:
    kill_after_s = random.Random(seed).uniform(0.0, KILL_WINDOW_S)
    db = folder / f"trial{seed}.db"
    capture_out = folder / f"trial{seed}.jsonl"
    cmd = [sys.executable, "-m", "biofeedback", "record", "--replay", str(capture)]
    cmd += ["--speed", str(SPEED), "--db", str(db), "--protocol", "self-compassion-break"]
    cmd += ["--capture", str(capture_out)]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    killer: threading.Timer | None = None
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("recording session "):  # printed once the session exists
                killer = threading.Timer(kill_after_s, proc.kill)  # SIGKILL
                killer.start()
                break
        rest, err = proc.communicate(timeout=120)
        lines.extend(rest.splitlines())
    finally:
        if killer is not None:
            killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed = tuple(float(m.group(1)) for m in map(FRAME_RE.match, lines) if m)
    return Trial(seed, kill_after_s, db, capture_out, proc.returncode, printed, err)


def _expected_beats(capture: Path) -> list[Beat]:
    src = CaptureReplaySource(capture, clock=VirtualClock())

    async def items() -> list[StreamItem]:
        return [it async for it in src.stream()]

    return beats_from_items(asyncio.run(items()))


def _check_capture(path: Path, stored_frame_t_s: set[float]) -> None:
    """The capture reads as the kill left it (the reader accepts a cut-short last line), is
    exactly its complete lines, and holds every stored frame."""
    if not path.exists():
        assert not stored_frame_t_s  # opened at the first event, before any frame
        return
    cap = read_capture(path)
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if complete != data:  # a line cut by the kill: nothing of it is read, nothing else lost
        whole = path.with_suffix(".complete.jsonl")
        whole.write_bytes(complete)
        assert read_capture(whole).events == cap.events
    elif cap.events:
        # A kill cannot cut a line (each is one write), a full disk can: cut the last line in
        # half; the reader must keep every line before it.
        cut = path.with_suffix(".cut.jsonl")
        last = data.rfind(b"\n", 0, len(data) - 1) + 1
        cut.write_bytes(data[: last + (len(data) - last) // 2])
        assert read_capture(cut).events == cap.events[:-1]
    notified = {round(e.t_s, 2) for e in cap.events if e.kind == "notify"}
    assert stored_frame_t_s <= notified


def _check_trial(trial: Trial, expected: list[Beat], capsys: pytest.CaptureFixture[str]) -> None:
    """Everything the crash tier promises, for one killed recorder."""
    why = f"seed {trial.seed}, killed {trial.kill_after_s:.2f} s in: {trial.stderr[-500:]}"
    assert trial.returncode == -signal.SIGKILL, why
    with SessionReader(trial.db) as r:
        (info,) = r.list_sessions()
        assert info.status is SessionStatus.INTERRUPTED, why
        # The terminal prints times with 2 decimals; a frame is printed after the writer has
        # it, so every frame printed more than LOSS_BOUND_S before the last one is stored.
        stored = {round(t, 2) for t in r.frames(info.id)["t_s"]}
        t_last = max(trial.printed_t_s, default=0.0)
        lost = sorted(t for t in set(trial.printed_t_s) - stored if t <= t_last - LOSS_BOUND_S)
        assert lost == [], (why, lost, t_last)
        assert all(t <= t_last + LOSS_BOUND_S for t in stored), why
        beats = r.beats(info.id)
        n = len(beats)
        # The stored beats are exactly the first beats of the capture, and none of those
        # ending more than LOSS_BOUND_S before the last printed frame is missing.
        assert beats["t_s"].tolist() == [b.t_s for b in expected[:n]], why
        assert beats["rr_ms"].tolist() == [b.rr_ms for b in expected[:n]], why
        assert n >= sum(b.t_s <= t_last - LOSS_BOUND_S for b in expected), why
        if n:
            assert r.phases(info.id)[0].name == "baseline", why
    c = sqlite3.connect(trial.db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok", why
    c.close()
    _check_capture(trial.capture_out, stored)
    # Every reader copes with the interrupted session, however short.
    db, sid = str(trial.db), str(info.id)
    out = trial.db.with_suffix("")
    assert main(["sessions", "--db", db]) == 0, why
    assert "interrupted" in capsys.readouterr().out, why
    assert main(["compare", sid, "--db", db]) == 0, why
    assert main(["report", sid, "--format", "json", "-o", f"{out}.json", "--db", db]) == 0, why
    rc = main(["report", sid, "--format", "kubios", "-o", f"{out}.txt", "--db", db])
    assert rc == (0 if n else 2), why
    if trial.seed % 5 == 0:  # the HTML report is the slow one: a quarter of the trials
        assert main(["report", sid, "--format", "html", "-o", f"{out}.html", "--db", db]) == 0
    capsys.readouterr()


def test_kill_9_at_seeded_random_moments_loses_at_most_one_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = _capture(tmp_path)
    expected = _expected_beats(capture)
    seeds = range(TRIALS)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        trials = list(pool.map(lambda s: _run_trial(s, capture, tmp_path), seeds))
    # The seeded moments reach into the session: most trials were killed mid-stream.
    assert sum(len(t.printed_t_s) > 0 for t in trials) >= TRIALS // 2
    for trial in trials:
        _check_trial(trial, expected, capsys)


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
