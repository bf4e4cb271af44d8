"""Studies and participants: labels at record/import, edits, filters, the tidy export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biofeedback.beats import Beat
from biofeedback.errors import UserError
from biofeedback.sessions.compare import PHASE_KEYS
from biofeedback.sessions.store import (
    Marker,
    MarkerKind,
    NewSession,
    SessionReader,
    SessionStatus,
    Store,
)
from biofeedback.sessions.study import study_tables, write_study
from tests.conftest import REPO

PHASES = (("rest", "baseline", 0.0, 120.0), ("breathe", "practice", 120.0, 240.0))


def _session(store: Store, participant: str, study: str, seed: int, *, finish: bool = True) -> int:
    rng = np.random.default_rng(seed)
    w = store.begin_session(
        NewSession(source="import", protocol="tiny", participant=participant, study=study)
    )
    for name, kind, a, b in PHASES:
        w.add_marker(Marker(a, MarkerKind.PHASE_START, name, kind))
        w.add_marker(Marker(b, MarkerKind.PHASE_END, name, kind))
    t, beats = 0.0, []
    while t < 239.0:
        rr = float(850 + 60 * np.sin(t / 2) + rng.normal(0, 10))
        t += rr / 1000
        beats.append(Beat(t, rr, None, 0))
    w.add_beats(beats)
    if finish:
        w.finish(SessionStatus.COMPLETE)
    else:
        w.flush()
    return w.session_id


def test_study_tables_are_tidy_and_complete(db_target: str, tmp_path: Path) -> None:
    with Store(db_target) as store:
        ids = [_session(store, p, "S1", k) for k, p in enumerate(("P01", "P02", "P01"))]
        _session(store, "P03", "S2", 9)  # another study
        _session(store, "P04", "S1", 10, finish=False)  # still recording: not exported
        with SessionReader(db_target) as reader:
            tables = study_tables(reader, "S1")
            n_beats = sum(reader.session(i).n_beats for i in ids)
    ph = tables.phases
    assert len(ph) == len(ids) * len(PHASES) * len(PHASE_KEYS)
    key = ["session_uuid", "phase", "metric"]
    assert not ph.duplicated(key).any()
    assert set(ph["participant"]) == {"P01", "P02"} and set(ph["study"]) == {"S1"}
    assert sorted(ph["session_id"].unique()) == ids
    rmssd = ph[(ph["metric"] == "RMSSD_ms") & (ph["phase"] == "rest")]
    assert (rmssd["unit"] == "ms").all() and rmssd["value"].between(5, 200).all()
    assert len(tables.beats) == n_beats
    assert list(tables.beats.columns[:4]) == ["study", "participant", "session_uuid", "session_id"]
    # The dictionary names every column of both tables and every metric, with units.
    d = tables.dictionary
    assert set(d.loc[d["table"] == "phases", "name"]) == set(ph.columns)
    assert set(d.loc[d["table"] == "beats", "name"]) == set(tables.beats.columns)
    metrics = d[d["table"] == "metric"].set_index("name")
    assert list(metrics.index) == list(PHASE_KEYS)
    assert (
        metrics.loc["RMSSD_ms", "unit"] == "ms"
        and "Task Force" in metrics.loc["RMSSD_ms", "meaning"]
    )

    written = write_study(tables, tmp_path, formats=("csv", "parquet"))
    assert sorted(p.name for p in written) == [
        "S1-beats.csv",
        "S1-beats.parquet",
        "S1-dictionary.csv",
        "S1-phases.csv",
        "S1-phases.parquet",
    ]
    from_parquet = pd.read_parquet(tmp_path / "S1-phases.parquet")
    pd.testing.assert_frame_equal(from_parquet, ph)
    from_csv = pd.read_csv(tmp_path / "S1-phases.csv")
    assert from_csv["value"].isna().sum() == ph["value"].isna().sum()
    np.testing.assert_allclose(from_csv["value"].dropna(), ph["value"].dropna(), rtol=1e-12)
    beats = pd.read_parquet(tmp_path / "S1-beats.parquet")
    assert beats["rr_ms"].tolist() == tables.beats["rr_ms"].tolist()


def test_unknown_study_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _session(store, "P01", "S1", 1)
    with SessionReader(db) as reader, pytest.raises(UserError, match="study 'nope': no finished"):
        study_tables(reader, "nope")


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "biofeedback", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_labels_through_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    rng = np.random.default_rng(3)
    rr1, rr2 = tmp_path / "rr1.txt", tmp_path / "rr2.txt"
    for f, n in ((rr1, 300), (rr2, 320)):
        f.write_text("\n".join(f"{850 + rng.normal(0, 20):.1f}" for _ in range(n)) + "\n")
    out = _cli("import", str(rr1), "--db", db, "--participant", "P01", "--study", "S1",
               cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = _cli("import", str(rr2), "--db", db, "--participant", "P02", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = _cli("session", "label", "2", "--study", "S1", "--db", db, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    listed = _cli("sessions", "--db", db, "--study", "S1", "--participant", "P02", "--json",
                  "--no-artifacts", cwd=tmp_path)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    import json

    (only,) = json.loads(listed.stdout)
    assert (only["id"], only["participant"], only["study"]) == (2, "P02", "S1")
    assert len(only["uuid"]) == 36
    table = _cli("sessions", "--db", db, "--no-artifacts", cwd=tmp_path)
    assert "P01" in table.stdout and "S1" in table.stdout
    exported = _cli("export", "--study", "S1", "--db", db, "--out", str(tmp_path), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "study S1: 2 sessions, 2 participants" in exported.stdout
    assert (tmp_path / "S1-phases.parquet").is_file() and (tmp_path / "S1-dictionary.csv").is_file()
    cleared = _cli("session", "label", "2", "--participant", "", "--db", db, cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    with SessionReader(db) as r:
        assert (r.session(2).participant, r.session(2).study) == (None, "S1")
