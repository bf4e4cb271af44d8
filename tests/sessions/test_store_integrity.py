"""Corrupted-database tier: a damaged store file is refused by every command, in one line,
and nothing is written to it (writers used to "succeed" and store data nobody could read)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.sessions.store import SessionReader, Store, StoreError
from tests.conftest import RECORDINGS, REPO
from tests.support.store_damage import flip_bytes

#: Seeds of the damage (50 flipped bytes each); every one of them was seen to break reads or
#: to let a write through before the integrity check.
SEEDS = range(6)
RR_TEXT = "812\n845.5\n830\n798\n860\n"


def _errors(stderr: str) -> list[str]:
    """The error lines of a command's stderr (warnings about the input may precede them);
    anything else on stderr, such as a traceback, fails the test."""
    lines = stderr.strip().splitlines()
    other = [v for v in lines if not v.startswith(("warning:", "biofeedback "))]
    assert other == [], stderr
    return [v for v in lines if not v.startswith("warning:")]


@pytest.fixture(scope="module")
def healthy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("healthy") / "s.db"
    for name in ("resting-clean.jsonl", "self-compassion-break.jsonl"):
        assert main(["import", str(RECORDINGS / name), "--db", str(db)]) == 0
    return db


COMMANDS = {
    "sessions": ["sessions"],
    "session tag": ["session", "tag", "1", "x"],
    "session rename": ["session", "rename", "1", "x"],
    "session note": ["session", "note", "1", "x"],
    "session delete": ["session", "delete", "1", "--yes"],
    "import": ["import", "RR"],
    "record": ["record", "--replay", "CAP", "--speed", "0", "--quiet", "--protocol", "free"],
    "compare": ["compare", "1"],
    "report": ["report", "1", "--format", "json", "-o", "OUT"],
}


@pytest.mark.parametrize("seed", SEEDS)
def test_every_command_refuses_a_corrupted_database_in_one_line(
    healthy_db: Path, tmp_path: Path, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "damaged.db"
    shutil.copy(healthy_db, db)
    flip_bytes(db, seed)
    before = db.read_bytes()
    rr = tmp_path / "rr.txt"
    rr.write_text(RR_TEXT)
    capsys.readouterr()
    for name, args in COMMANDS.items():
        argv = [
            {"RR": str(rr), "CAP": str(RECORDINGS / "resting-clean.jsonl")}.get(a, a) for a in args
        ]
        argv = [a.replace("OUT", str(tmp_path / "out.json")) for a in argv]
        rc = main([*argv, "--db", str(db)])
        out, err = capsys.readouterr()
        lines = _errors(err)
        assert rc == 2, (name, out, err)
        assert len(lines) == 1 and "database is corrupted" in lines[0], (name, err)
        assert str(db) in lines[0]
        assert db.read_bytes() == before, f"{name} wrote into the damaged file"
    assert not (tmp_path / "out.json").exists()


# ----------------------------------------------------------------------------- read-only


def _other_user() -> list[str]:
    """Argv prefix running a command without write permission on files we create: nothing
    for a normal user (file modes apply), ``setpriv`` to nobody for root (which ignores
    them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def _cli_as(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [*prefix, sys.executable, "-m", "biofeedback", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_only_database_reads_and_refuses_writes_in_one_line(
    healthy_db: Path, read_only: str
) -> None:
    prefix = _other_user()
    # pytest's tmp folders are private to their owner; the other user needs to get in.
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        top.chmod(0o777)
        folder = top / "store"
        folder.mkdir()
        db = folder / "s.db"
        shutil.copy(healthy_db, db)
        db.chmod(0o444 if read_only == "file" else 0o666)
        folder.chmod(0o555 if read_only == "folder" else 0o777)
        rr = top / "rr.txt"
        rr.write_text(RR_TEXT)
        rr.chmod(0o644)
        before = db.read_bytes()
        try:
            listed = _cli_as(prefix, "sessions", "--db", str(db), "--no-artifacts")
            assert listed.returncode == 0, listed.stderr
            assert "self-compassion-break" in listed.stdout
            out = top / "r.json"
            rep = _cli_as(
                prefix, "report", "2", "--format", "json", "-o", str(out), "--db", str(db)
            )
            assert rep.returncode == 0, rep.stderr
            for args in (("session", "tag", "1", "x"), ("import", str(rr))):
                r = _cli_as(prefix, *args, "--db", str(db))
                lines = _errors(r.stderr)
                assert r.returncode == 2, r.stderr
                assert len(lines) == 1 and "read-only" in lines[0] and str(db) in lines[0], lines
            assert db.read_bytes() == before
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("version", [-1, -(2**31)])
def test_negative_schema_version_is_one_line_for_readers_and_writers(
    tmp_path: Path, version: int, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    c = sqlite3.connect(db)
    c.execute(f"PRAGMA user_version = {version}")
    c.close()
    before = db.read_bytes()
    capsys.readouterr()
    for args in (["sessions"], ["session", "tag", "1", "x"]):
        assert main([*args, "--db", str(db)]) == 2
        err = _errors(capsys.readouterr().err)
        assert len(err) == 1 and f"schema version {version} is not valid" in err[0], err
    assert db.read_bytes() == before


# ----------------------------------------------------------------------------- full disk


def _cap_pages(store: Store, extra_pages: int) -> None:
    # A real SQLITE_FULL from the real engine: the file may grow by only a few pages.
    n = int(store.conn.execute("PRAGMA page_count").fetchone()[0])
    store.conn.execute(f"PRAGMA max_page_count = {n + extra_pages}")


def test_an_import_onto_a_full_database_is_one_error_and_leaves_the_store_as_it_was(
    tmp_path: Path,
) -> None:
    from biofeedback.cli.import_ import import_rr
    from biofeedback.files import read_with_meta

    db = tmp_path / "s.db"
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(RR_TEXT)
    big.write_text("".join(f"{800 + i % 50}\n" for i in range(60_000)))
    with Store(db) as store:
        first = import_rr(small, store, title="kept", tags=())
        _cap_pages(store, 3)
        with pytest.raises(StoreError) as info:
            import_rr(big, store, title="too big", tags=(), imported=read_with_meta(big))
    msg = str(info.value)
    assert "\n" not in msg and "database or disk is full" in msg and str(db) in msg
    assert "cannot rollback" not in msg
    with SessionReader(db) as r:
        assert [i.id for i in r.list_sessions()] == [first]
        assert r.beats(first)["rr_ms"].tolist() == [812.0, 845.5, 830.0, 798.0, 860.0]


def test_a_recording_that_fills_the_database_keeps_what_was_committed(tmp_path: Path) -> None:
    import asyncio
    import io

    from biofeedback.cli.record import record_session
    from biofeedback.sessions.protocols import load_protocol
    from devices.clock import VirtualClock
    from devices.replay import CaptureReplaySource

    db = tmp_path / "s.db"
    capture = RECORDINGS / "self-compassion-break.jsonl"
    clock = VirtualClock()
    out = io.StringIO()
    with Store(db, clock=clock) as store:
        _cap_pages(store, 6)
        src = CaptureReplaySource(capture, clock=clock)
        with pytest.raises(StoreError) as info:
            asyncio.run(
                record_session(
                    src,
                    store=store,
                    protocol=load_protocol("free"),
                    clock=clock,
                    source_kind="replay",
                    out=out,
                    quiet=True,
                    interactive=False,
                )
            )
    msg = str(info.value)
    assert "\n" not in msg and "database or disk is full" in msg
    m = re.search(r"session (\d+) is kept up to the last commit \(t=([0-9.]+) s\)", msg)
    assert m is not None, msg
    with SessionReader(db) as r:
        (info_,) = r.list_sessions()
        beats = r.beats(info_.id)
        # Part of the session was committed before the file filled up, and is readable.
        assert 0 < len(beats) < 792
        assert beats["t_s"].max() <= float(m.group(2)) + 1e-9
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()


def _limited_file_size(limit_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        import resource
        import signal

        # Past the limit write() fails with EFBIG, as on a full disk, instead of killing us.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("fmt", ["html", "json", "csv"])
def test_a_report_that_does_not_fit_leaves_no_truncated_file(
    healthy_db: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"r.{fmt}"
    old = "an older report, kept whole\n"
    out.write_text(old)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "biofeedback", "report", "1", "2", "--format", fmt]
    r = subprocess.run(
        [*argv, "-o", str(out), "--force", "--db", str(healthy_db)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited_file_size(48 * 1024),
    )
    lines = _errors(r.stderr)
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and "nothing was written" in lines[0], lines
    assert out.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.fixture
def full_disk() -> Iterator[Path]:
    """A 2 MiB tmpfs, filled to the last block by the test (root and mount(8) only)."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", tmp], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
        try:
            yield Path(tmp)
        finally:
            subprocess.run(["umount", "-l", tmp], check=False)


def _fill(folder: Path) -> None:
    with (folder / "filler").open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_full_disk_commands_are_one_line_and_lose_nothing(full_disk: Path, tmp_path: Path) -> None:
    db = full_disk / "s.db"
    rr = tmp_path / "rr.txt"
    rr.write_text(RR_TEXT)
    big = tmp_path / "big.txt"
    big.write_text("".join(f"{800 + i % 50}\n" for i in range(60_000)))
    assert _cli_as([], "import", str(rr), "--db", str(db)).returncode == 0
    _fill(full_disk)
    runs = {
        "import": _cli_as([], "import", str(big), "--db", str(db)),
        "record": _cli_as(
            [],
            "record",
            "--replay",
            str(RECORDINGS / "self-compassion-break.jsonl"),
            "--speed",
            "0",
            "--quiet",
            "--protocol",
            "free",
            "--db",
            str(db),
        ),
        "report": _cli_as(
            [],
            "report",
            "1",
            "--format",
            "html",
            "-o",
            str(full_disk / "r.html"),
            "--db",
            str(db),
        ),
    }
    for name, r in runs.items():
        lines = _errors(r.stderr)
        assert r.returncode == 2, (name, r.stderr)
        assert "Traceback" not in r.stderr and len(lines) == 1, (name, r.stderr)
        assert "full" in lines[0], (name, lines)
    assert not (full_disk / "r.html").exists()
    assert not [p for p in full_disk.iterdir() if p.name.startswith(".r.html")]
    (full_disk / "filler").unlink()
    with SessionReader(db) as r:
        infos = r.list_sessions()
        assert infos[0].id == 1 and r.beats(1)["rr_ms"].tolist()[:2] == [812.0, 845.5]
        # the import left nothing; the recording kept what it had committed, if anything
        assert [i.source for i in infos[1:]] in ([], ["replay"])
