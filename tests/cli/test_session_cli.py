"""CLI: ``record --protocol/--db``, ``import``, ``sessions``, ``session tag|rename|note|delete``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from biofeedback.beats import beats_from_items
from biofeedback.cli import main
from biofeedback.sessions.store import SessionReader, SessionStatus
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin, CaptureWriter
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement
from devices.records import DeviceInfo, StreamItem
from devices.replay import CaptureReplaySource
from tests.conftest import RECORDINGS, REPO

RR_TEXT = "# exported\n812\n845.5\n\n830\n798\n860\n"


def _capture(path: Path, end_s: float = 30.0) -> Path:
    header = CaptureHeader(
        DeviceInfo(name="Synth H10", address="00:11", model="H10"),
        "2026-11-24T09:00:00+00:00",
        CaptureOrigin("synthetic", generator="tests.test_session_cli"),
    )
    with CaptureWriter(path, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        for i in range(1, int(end_s) + 1):
            w.write(CaptureEvent(float(i), "notify", "2a37", encode_measurement(60, [1024])))
    return path


def _env(db: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if db is not None:
        env["BIOFEEDBACK_DB"] = str(db)
    return env


def _cli(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "biofeedback", *args],
        cwd=REPO,
        env=_env(db),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# ----------------------------------------------------------------------------- record


def test_record_with_protocol_stores_and_keeps_the_frame_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = _capture(tmp_path / "c.jsonl", 40.0)
    db = tmp_path / "s.db"
    proto = tmp_path / "short.toml"
    proto.write_text(
        'name = "short"\n[[phases]]\nname = "rest"\nkind = "baseline"\nduration_s = 20\n'
        'prompts = [{ at_s = 0, text = "Breathe normally." }]\n'
        '[[phases]]\nname = "pace"\nkind = "practice"\nduration_s = 15\n'
        "pacer = { breaths_per_min = 6 }\n"
    )
    rc = main(
        [
            *("record", "--replay", str(cap), "--speed", "0", "--protocol", str(proto)),
            *("--db", str(db), "--breaths-per-min", "5.5", "--title", "t1", "--tag", "lab"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    # The lead's frame lines, for the frames before the protocol's end at 35 s.
    assert sum("HR  60 bpm" in line for line in out) == 34
    assert any("== phase 1/2: rest (baseline, 0:20)" in line for line in out)
    assert any("== phase 2/2: pace (practice, 0:15, pacer 5.5 breaths/min)" in line for line in out)
    assert any(">> Breathe normally." in line for line in out)
    assert any("[rest 0:10 left | session 0:25 left] HR 60 bpm" in line for line in out)
    # The summary counts what the source sent: whether it decoded the frame at 35 s
    # before the protocol's end stopped it is a tie on the clock. The session holds what
    # fell inside the protocol.
    assert sum(line.startswith(("summary: 34 frames", "summary: 35 frames")) for line in out) == 1
    assert out[-1].startswith("session 1 complete: 34 beats, 35.0 s, stored in")
    with SessionReader(db) as r:
        info = r.session(1)
        assert (info.protocol, info.status, info.title, info.tags) == (
            "short",
            SessionStatus.COMPLETE,
            "t1",
            ("lab",),
        )
        assert (info.device_name, info.source) == ("Synth H10", "replay")
        assert [(p.name, p.start_s, p.end_s) for p in r.phases(1)] == [
            ("rest", 0.0, 20.0),
            ("pace", 20.0, 35.0),
        ]


def test_record_no_store_and_plain_record_write_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = _capture(tmp_path / "c.jsonl", 5.0)
    db = tmp_path / "s.db"
    assert (
        main(
            [
                "record",
                "--replay",
                str(cap),
                "--speed",
                "0",
                "--protocol",
                "free",
                "--db",
                str(db),
                "--no-store",
            ]
        )
        == 0
    )
    assert "session complete: 5 beats (not stored)" in capsys.readouterr().out
    assert not db.exists()
    # Without --protocol or --db, record keeps its original behaviour: nothing stored.
    r = _cli("record", "--replay", str(cap), "--speed", "0", db=db)
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("summary: 5 frames")
    assert not db.exists()


def test_record_db_from_the_environment(tmp_path: Path) -> None:
    cap = _capture(tmp_path / "c.jsonl", 5.0)
    db = tmp_path / "env.db"
    r = _cli("record", "--replay", str(cap), "--speed", "0", "--protocol", "free", db=db)
    assert r.returncode == 0, r.stderr
    with SessionReader(db) as reader:
        assert [i.n_beats for i in reader.list_sessions()] == [5]


def test_ctrl_c_and_marks_from_a_terminal(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    cap = _capture(tmp_path / "c.jsonl", 200.0)
    db = tmp_path / "s.db"
    master, slave = pty.openpty()
    with subprocess.Popen(
        [
            *(sys.executable, "-m", "biofeedback", "record", "--replay", str(cap)),
            *("--speed", "20", "--protocol", "self-compassion-break", "--db", str(db)),
        ],
        cwd=REPO,
        env=_env(),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        os.close(slave)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            sent = 0
            for line in proc.stdout:
                if line.startswith("t=") and "HR" in line and sent == 0:
                    os.write(master, b"\n")  # Enter: a mark
                    os.write(master, b"felt a sigh\n")  # text: a note
                    sent = 1
                if sent == 1 and "note felt a sigh" in line:
                    proc.send_signal(signal.SIGINT)  # Ctrl-C
                    sent = 2
            rc = proc.wait(timeout=30)
            err = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
    assert rc == 0, err  # Ctrl-C ends cleanly, with the summary
    with SessionReader(db) as r:
        info = r.session(1)
        assert info.status is SessionStatus.STOPPED_EARLY
        m = r.markers(1)
        user = m[m["kind"].isin(["mark", "note"])]
        assert user[["kind", "text"]].values.tolist() == [["mark", ""], ["note", "felt a sigh"]]
        assert (user["phase"] == "baseline").all()
        assert r.phases(1)[-1].end_s < 180.0


# ----------------------------------------------------------------------------- import


def test_import_rr_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rr.txt"
    f.write_text(RR_TEXT)
    db = tmp_path / "s.db"
    assert main(["import", str(f), "--db", str(db), "--tag", "old"]) == 0
    assert "imported rr.txt as session 1: 5 beats" in capsys.readouterr().out
    with SessionReader(db) as r:
        info = r.session(1)
        assert (info.protocol, info.source, info.tags, info.title) == (
            "free",
            "import",
            ("old",),
            "rr.txt",
        )
        b = r.beats(1)
        assert b["rr_ms"].tolist() == [812.0, 845.5, 830.0, 798.0, 860.0]
        assert b["t_s"].tolist() == pytest.approx([0.812, 1.6575, 2.4875, 3.2855, 4.1455])
        assert b["segment"].tolist() == [0] * 5 and b["rr_1024"].isna().all()


def test_import_capture_keeps_frames_links_and_header_phases(tmp_path: Path) -> None:
    cap = RECORDINGS / "self-compassion-break.jsonl"
    if not cap.is_file():
        pytest.skip("bundled recording not generated yet")
    db = tmp_path / "s.db"
    assert main(["import", str(cap), "--db", str(db)]) == 0

    async def items() -> list[StreamItem]:
        return [it async for it in CaptureReplaySource(cap, clock=VirtualClock()).stream()]

    import asyncio

    expected = beats_from_items(asyncio.run(items()))
    with SessionReader(db) as r:
        info = r.session(1)
        assert info.protocol == "self-compassion-break" and info.n_beats == len(expected)
        assert info.started_at == pd.Timestamp("2026-11-24T09:00:00+00:00").timestamp()
        assert [p.start_s for p in r.phases(1)] == [0.0, 180.0, 300.0, 420.0, 540.0]
        assert info.n_gaps >= 1 and info.n_rejected >= 1


def test_import_capture_without_a_start_time_is_dated_from_the_file(tmp_path: Path) -> None:
    """Header ``started_at`` missing or unparseable: fall back like RR files (mtime minus the
    recording length), never 1970."""
    cap = tmp_path / "c.jsonl"
    header = CaptureHeader(DeviceInfo(name="X", address="A"), "", CaptureOrigin("strap"))
    with CaptureWriter(cap, header) as w:
        w.write(CaptureEvent(0.0, "connect"))
        for i in range(1, 11):
            w.write(CaptureEvent(float(i), "notify", "2a37", encode_measurement(60, [1024])))
    mtime = 1_790_000_000.0
    os.utime(cap, (mtime, mtime))
    db = tmp_path / "s.db"
    assert main(["import", str(cap), "--db", str(db)]) == 0
    with SessionReader(db) as r:
        info = r.session(1)
    assert info.started_at == pytest.approx(mtime - 10.0)
    assert info.ended_at is not None and info.ended_at >= info.started_at


def test_import_bad_files_are_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    bad = tmp_path / "bad.txt"
    bad.write_text("800\nabc\n")
    for target in (bad, tmp_path / "missing.txt"):
        r = _cli("import", str(target), "--db", str(db))
        assert r.returncode == 2
        assert len(r.stderr.strip().splitlines()) == 1 and str(target) in r.stderr
    assert not db.exists() or SessionReader(db).list_sessions() == []


# ----------------------------------------------------------------------------- sessions


def test_sessions_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    assert main(["sessions", "--db", str(db)]) == 0
    assert "no sessions yet" in capsys.readouterr().out
    f = tmp_path / "rr.txt"
    f.write_text(RR_TEXT)
    assert main(["import", str(f), "--db", str(db)]) == 0
    cap = _capture(tmp_path / "c.jsonl", 12.0)
    assert main(["record", "--replay", str(cap), "--speed", "0", "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sessions", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ID",
        "START",
        "DURATION",
        "PROTOCOL",
        "DEVICE",
        "STATUS",
        "ARTEF",
        "TITLE",
    ]
    assert len(lines) == 3 and "complete" in lines[1] and "Synth H10" in lines[2]
    assert main(["sessions", "--db", str(db), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in data] == [1, 2]
    assert data[1]["duration_s"] == 12.0 and data[1]["device"] == "Synth H10"
    assert data[1]["n_beats"] == 12 and data[1]["status"] == "complete"
    # Constant RR: nothing to flag (or no engine: blank), never a made-up rate.
    assert data[1]["artifact_rate"] in (0.0, None)
    assert set(data[0]) >= {"started_at", "protocol", "source", "tags", "artifact_rate"}


# ----------------------------------------------------------------------------- session


def test_session_edits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    f = tmp_path / "rr.txt"
    f.write_text(RR_TEXT)
    assert main(["import", str(f), "--db", str(db)]) == 0
    assert main(["session", "tag", "1", "calm", "evening", "--db", str(db)]) == 0
    assert main(["session", "tag", "1", "evening", "--remove", "--db", str(db)]) == 0
    assert main(["session", "rename", "1", "Before bed", "--db", str(db)]) == 0
    assert main(["session", "note", "1", "tired", "--db", str(db)]) == 0
    assert main(["session", "note", "1", "then better", "--append", "--db", str(db)]) == 0
    with SessionReader(db) as r:
        info = r.session(1)
        assert (info.tags, info.title, info.notes) == (
            ("calm",),
            "Before bed",
            "tired\nthen better",
        )
    # Not a TTY and no --yes: refuse, keep the data.
    r = _cli("session", "delete", "1", "--db", str(db))
    assert r.returncode == 2 and "refusing without --yes" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with SessionReader(db) as reader:
        assert [i.id for i in reader.list_sessions()] == [1]
    capsys.readouterr()
    assert main(["session", "delete", "1", "--yes", "--db", str(db)]) == 0
    assert "session 1 deleted" in capsys.readouterr().out
    with SessionReader(db) as reader:
        assert reader.list_sessions() == []


def test_delete_asks_on_a_terminal(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    db = tmp_path / "s.db"
    f = tmp_path / "rr.txt"
    f.write_text(RR_TEXT)
    assert main(["import", str(f), "--db", str(db)]) == 0
    for answer, remaining in ((b"n\n", [1]), (b"y\n", [])):
        master, slave = pty.openpty()
        with subprocess.Popen(
            [sys.executable, "-m", "biofeedback", "session", "delete", "1", "--db", str(db)],
            cwd=REPO,
            env=_env(),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            os.close(slave)
            os.write(master, answer)  # buffered by the terminal until the prompt reads it
            _, err = proc.communicate(timeout=30)
            os.close(master)
        assert proc.returncode == 0
        assert b"this cannot be undone [y/N]" in err
        with SessionReader(db) as r:
            assert [i.id for i in r.list_sessions()] == remaining


@pytest.mark.parametrize(
    "args",
    [
        ("sessions",),
        ("session", "rename", "1", "x"),
        ("session", "delete", "1", "--yes"),
        ("import", "RR"),
        ("record", "--replay", "CAP", "--speed", "0", "--protocol", "free"),
    ],
)
def test_corrupted_database_is_one_line_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"definitely not SQLite\n" * 100)
    before = db.read_bytes()
    (tmp_path / "rr.txt").write_text(RR_TEXT)
    cap = _capture(tmp_path / "c.jsonl", 3.0)
    argv = [a.replace("RR", str(tmp_path / "rr.txt")).replace("CAP", str(cap)) for a in args]
    r = _cli(*argv, "--db", str(db))
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and f"{db}: not a biofeedback database" in err[0]
    assert "Traceback" not in r.stderr
    assert db.read_bytes() == before  # nothing lost, nothing written


def test_unknown_session_id_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    f = tmp_path / "rr.txt"
    f.write_text(RR_TEXT)
    assert main(["import", str(f), "--db", str(db)]) == 0
    for args in (("session", "tag", "7", "x"), ("session", "delete", "7", "--yes")):
        r = _cli(*args, "--db", str(db))
        assert r.returncode == 2
        assert r.stderr.strip() == f"biofeedback session: error: {db}: no session with id 7"
