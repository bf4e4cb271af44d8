"""``biofeedback demo`` through a real process: what happens to its session on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from biofeedback.sessions.store import SessionReader
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")


def _demo_until_ctrl_c(*extra: str) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "biofeedback", "demo", "--port", "0", "--speed", "20", *extra],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        for line in proc.stderr:
            seen.append(line)
            if "watch it live" in line:
                break
            assert time.monotonic() < deadline, seen
        time.sleep(1.5)  # a few seconds of the session recorded
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    return "".join(seen) + rest


def test_ctrl_c_on_demo_says_where_the_session_was_and_how_to_keep_it() -> None:
    err = _demo_until_ctrl_c()
    m = re.search(r"replaying \S+ at speed 20 into (\S+demo\.db)", err)
    assert m is not None, err
    db = Path(m.group(1))
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"demo: session 1 was in the temporary store {db}, now deleted"), last
    assert "--db PATH" in last
    assert not db.exists() and not db.parent.exists()


def test_ctrl_c_on_demo_with_db_keeps_the_session(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    err = _demo_until_ctrl_c("--db", str(db))
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"demo: session 1 is kept in {db}"), last
    with SessionReader(db) as r:
        (info,) = r.list_sessions()
        assert info.n_beats > 0
