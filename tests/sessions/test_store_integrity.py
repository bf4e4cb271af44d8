"""Corrupted-database tier: a damaged store file is refused by every command, in one line,
and nothing is written to it (writers used to "succeed" and store data nobody could read)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from biofeedback.cli import main
from tests.conftest import RECORDINGS
from tests.support.store_damage import flip_bytes

#: Seeds of the damage (50 flipped bytes each); every one of them was seen to break reads or
#: to let a write through before the integrity check.
SEEDS = range(6)
RR_TEXT = "812\n845.5\n830\n798\n860\n"


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
        lines = err.strip().splitlines()
        assert rc == 2, (name, out, err)
        assert len(lines) == 1 and "database is corrupted" in lines[0], (name, err)
        assert str(db) in lines[0]
        assert db.read_bytes() == before, f"{name} wrote into the damaged file"
    assert not (tmp_path / "out.json").exists()
