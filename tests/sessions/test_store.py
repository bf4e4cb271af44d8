"""The session store on both backends (SQLite file, PostgreSQL server): round trips,
batching, crash recovery, migrations and bad files."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.beats import Beat
from biofeedback.sessions.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    Marker,
    MarkerKind,
    NewSession,
    PhaseSpan,
    SessionReader,
    SessionStatus,
    Store,
    StoreError,
    default_db_path,
    migrate,
)
from devices.clock import VirtualClock
from devices.heart_rate import encode_measurement, parse_measurement
from devices.records import DeviceInfo, HrFrame, LinkEvent, LinkState, RejectedPacket
from tests.support.postgres import PgCluster, raw_connection

DEVICE = DeviceInfo(name="Polar H10 1234", address="AA:BB", model="H10", firmware="3.1.1")


def _frame(
    t_s: float, hr: int, rr: list[int], contact: bool | None = True, energy: int | None = None
) -> HrFrame:
    raw = encode_measurement(hr, rr, contact=contact, energy_kj=energy)
    return HrFrame(t_s, parse_measurement(raw), raw)


# ----------------------------------------------------------------------------- round trip

times = st.floats(min_value=0.0, max_value=1e5, allow_nan=False, allow_infinity=False)
frames_st = st.lists(
    st.tuples(
        times,
        st.integers(0, 300),
        st.lists(st.integers(1, 65535), max_size=3),
        st.sampled_from([True, False, None]),
        st.one_of(st.none(), st.integers(0, 65535)),
    ),
    max_size=30,
)
beats_st = st.lists(
    st.tuples(times, st.one_of(st.none(), st.integers(1, 4000)), st.integers(0, 5)),
    max_size=40,
)
text_st = st.text(max_size=20)
markers_st = st.lists(
    st.tuples(times, st.sampled_from(list(MarkerKind)), st.one_of(st.none(), text_st), text_st),
    max_size=10,
)
links_st = st.lists(st.tuples(times, st.sampled_from(list(LinkState)), text_st), max_size=10)


@settings(max_examples=40, deadline=None)
@given(
    frames_st,
    beats_st,
    markers_st,
    links_st,
    st.lists(st.tuples(times, st.binary(max_size=8), text_st), max_size=5),
)
def test_round_trip(
    frames: list[tuple[float, int, list[int], bool | None, int | None]],
    beats: list[tuple[float, int | None, int]],
    markers: list[tuple[float, MarkerKind, str | None, str]],
    links: list[tuple[float, LinkState, str]],
    rejected: list[tuple[float, bytes, str]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        _check_round_trip(Path(d) / "s.db", frames, beats, markers, links, rejected)


# PostgreSQL text cannot hold NUL characters (SQLite's can); everything else round-trips.
# (NUL has its own test); lone surrogates are excluded as in `text_st` (st.text's default).
pg_text_st = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
_PG_DB: dict[str, str] = {}


@settings(max_examples=15, deadline=None)
@given(
    frames_st,
    beats_st,
    st.lists(
        st.tuples(
            times, st.sampled_from(list(MarkerKind)), st.one_of(st.none(), pg_text_st), pg_text_st
        ),
        max_size=10,
    ),
    st.lists(st.tuples(times, st.sampled_from(list(LinkState)), pg_text_st), max_size=10),
    st.lists(st.tuples(times, st.binary(max_size=8), pg_text_st), max_size=5),
)
def test_round_trip_postgresql(
    pg_cluster: PgCluster,
    frames: list[tuple[float, int, list[int], bool | None, int | None]],
    beats: list[tuple[float, int | None, int]],
    markers: list[tuple[float, MarkerKind, str | None, str]],
    links: list[tuple[float, LinkState, str]],
    rejected: list[tuple[float, bytes, str]],
) -> None:
    # One database for all examples (each example is its own session in it).
    if "url" not in _PG_DB:
        _PG_DB["url"] = pg_cluster.create_database("round_trip")
    _check_round_trip(_PG_DB["url"], frames, beats, markers, links, rejected)


def _check_round_trip(
    path: str | Path,
    frames: list[tuple[float, int, list[int], bool | None, int | None]],
    beats: list[tuple[float, int | None, int]],
    markers: list[tuple[float, MarkerKind, str | None, str]],
    links: list[tuple[float, LinkState, str]],
    rejected: list[tuple[float, bytes, str]],
) -> None:
    clock = VirtualClock()
    with Store(path, clock=clock) as store:
        w = store.begin_session(
            NewSession(source="replay", protocol="free", device=DEVICE, tags=("b", "a")),
            clock=clock,
        )
        for t, hr, rr, contact, energy in frames:
            w.add(_frame(t, hr, rr, contact, energy))
        beat_objs = [
            Beat(t, (rr if rr is not None else 800) * 1000.0 / 1024.0, rr, seg)
            for t, rr, seg in beats
        ]
        w.add_beats(beat_objs)
        for t, kind, phase, text in markers:
            w.add_marker(Marker(t, kind, phase, None if phase is None else "practice", text))
        for t, state, detail in links:
            w.add(LinkEvent(t, state, detail))
        for t, raw, reason in rejected:
            w.add(RejectedPacket(t, raw, reason))
        w.finish(SessionStatus.COMPLETE)
        sid = w.session_id
    with SessionReader(path) as r:
        info = r.session(sid)
        assert info.status is SessionStatus.COMPLETE
        assert info.tags == ("a", "b")
        assert (info.device_name, info.device_model, info.device_firmware) == (
            "Polar H10 1234",
            "H10",
            "3.1.1",
        )
        all_t = [f[0] for f in frames] + [b[0] for b in beats] + [m[0] for m in markers]
        all_t += [x[0] for x in links] + [x[0] for x in rejected]
        assert info.duration_s == max(all_t, default=0.0)
        assert (info.n_frames, info.n_beats, info.n_rejected) == (
            len(frames),
            len(beats),
            len(rejected),
        )
        assert info.n_gaps == sum(s is LinkState.DISCONNECTED for _, s, _ in links)

        fdf = r.frames(sid)
        exp = sorted(frames, key=lambda f: f[0])  # stable: same order for equal times
        assert fdf["t_s"].tolist() == [f[0] for f in exp]
        assert fdf["hr_bpm"].tolist() == [f[1] for f in exp]
        assert [None if pd.isna(v) else bool(v) for v in fdf["contact"]] == [f[3] for f in exp]
        assert [None if pd.isna(v) else int(v) for v in fdf["energy_kj"]] == [f[4] for f in exp]
        assert [parse_measurement(b).rr_1024 for b in fdf["raw"]] == [tuple(f[2]) for f in exp]

        bdf = r.beats(sid)
        assert list(bdf.columns) == [
            "t_s",
            "rr_ms",
            "rr_1024",
            "segment",
            "phase",
            "phase_kind",
        ]
        assert bdf["t_s"].tolist() == [b.t_s for b in beat_objs]  # idx order kept
        assert bdf["rr_ms"].tolist() == [b.rr_ms for b in beat_objs]
        got_ticks = [None if pd.isna(v) else int(v) for v in bdf["rr_1024"]]
        assert got_ticks == [b.rr_1024 for b in beat_objs]
        assert bdf["segment"].tolist() == [b.segment for b in beat_objs]

        mdf = r.markers(sid)
        exp_m = sorted(markers, key=lambda m: m[0])
        assert mdf["t_s"].tolist() == [m[0] for m in exp_m]
        assert mdf["kind"].tolist() == [m[1].value for m in exp_m]
        assert mdf["text"].tolist() == [m[3] for m in exp_m]

        ldf = r.link_events(sid)
        exp_l = sorted(links, key=lambda x: x[0])
        assert list(zip(ldf["t_s"], ldf["state"], ldf["detail"], strict=True)) == [
            (t, s.value, d) for t, s, d in exp_l
        ]
        rdf = r.rejected(sid)
        exp_r = sorted(rejected, key=lambda x: x[0])
        assert list(zip(rdf["t_s"], rdf["raw"], rdf["reason"], strict=True)) == exp_r


def test_phases_and_beat_phase_columns(db_target: str) -> None:
    path = db_target
    with Store(path) as store:
        w = store.begin_session(NewSession(source="replay", protocol="x"))
        w.add_marker(Marker(0.0, MarkerKind.PHASE_START, "rest", "baseline"))
        w.add_marker(Marker(10.0, MarkerKind.PHASE_END, "rest", "baseline"))
        w.add_marker(Marker(10.0, MarkerKind.PHASE_START, "breathe", "practice"))
        w.add_marker(Marker(12.0, MarkerKind.MARK, "breathe", "practice", "cough"))
        w.add_beats(Beat(float(t), 1000.0, 1024, 0) for t in range(1, 16))
        # Stopped at 15 s: the open phase is cut where the data end.
        w.finish(SessionStatus.STOPPED_EARLY)
        sid = w.session_id
    with SessionReader(path) as r:
        assert r.phases(sid) == [
            PhaseSpan("rest", "baseline", 0.0, 10.0),
            PhaseSpan("breathe", "practice", 10.0, 15.0),
        ]
        b = r.beats(sid)
        assert b.loc[b["t_s"] < 10, "phase"].unique().tolist() == ["rest"]
        assert b.loc[b["t_s"] >= 10, "phase_kind"].unique().tolist() == ["practice"]
        assert r.markers(sid)["text"].tolist()[-1] == "cough"


# ----------------------------------------------------------------------------- batching


def test_writer_commits_when_the_interval_has_passed(db_target: str) -> None:
    path = db_target
    clock = VirtualClock()
    store = Store(path, clock=clock)
    w = store.begin_session(NewSession(source="replay"), clock=clock, flush_interval_s=1.0)
    other = raw_connection(path)

    def visible() -> int:
        return int(other.execute("SELECT count(*) FROM frames").fetchone()[0])

    w.add(_frame(0.1, 60, [1024]))
    clock.advance(0.5)
    w.add(_frame(0.6, 60, [1024]))
    assert visible() == 0 and w.pending == 2  # batched, not yet committed
    clock.advance(0.5)
    w.add(_frame(1.0, 60, [1024]))  # 1 s since the last commit: this add commits
    assert visible() == 3 and w.pending == 0
    clock.advance(0.2)
    w.add(_frame(1.2, 60, [1024]))
    assert visible() == 3
    w.finish(SessionStatus.COMPLETE)
    assert visible() == 4
    other.close()
    store.close()


def test_writer_commits_every_interval_of_stream_time_when_it_falls_behind(
    tmp_path: Path,
) -> None:
    # A starved process (loaded machine, laptop waking up) gets a backlog of items at once:
    # the clock hardly moves while their stream times run on. Commits must still follow the
    # stream, or a kill would lose the whole backlog however short the flush interval.
    path = tmp_path / "s.db"
    clock = VirtualClock()  # never advanced: all items arrive "at once"
    store = Store(path, clock=clock)
    w = store.begin_session(NewSession(source="replay"), clock=clock, flush_interval_s=0.5)
    other = sqlite3.connect(path)
    for k in range(1, 31):
        w.add(_frame(0.1 * k, 60, [1024]))
        stored = other.execute("SELECT max(t_s) FROM frames").fetchone()[0] or 0.0
        assert 0.1 * k - stored <= 0.5 + 1e-9, (k, stored)
    assert w.commits >= 5
    other.close()
    store.close()


async def test_autoflush_commits_during_a_silent_gap(db_target: str) -> None:
    import asyncio

    path = db_target
    clock = VirtualClock()
    store = Store(path, clock=clock)
    w = store.begin_session(NewSession(source="replay"), clock=clock, flush_interval_s=0.5)
    w.add(_frame(0.1, 60, [1024]))
    task = asyncio.ensure_future(w.autoflush())
    await clock.sleep(0.6)  # no more items: only the autoflush task can commit
    other = raw_connection(path)
    assert other.execute("SELECT count(*) FROM frames").fetchone()[0] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other.close()
    store.close()


# ----------------------------------------------------------------------------- recovery


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _set_writer(
    path: str | Path, sid: int, pid: int | None, host: str | None, hb: float | None
) -> None:
    c = raw_connection(path)
    c.execute(
        "UPDATE sessions SET writer_pid = ?, writer_host = ?, heartbeat_at = ? WHERE id = ?",
        (pid, host, hb, sid),
    )
    c.close()


def test_sessions_of_dead_writers_become_interrupted(db_target: str) -> None:
    import time

    path = db_target
    with Store(path) as store:
        w1 = store.begin_session(NewSession(source="strap"))
        w1.add_beats([Beat(1.0, 1000.0, 1024, 0)])
        w1.flush()
        w2 = store.begin_session(NewSession(source="strap"))
        w3 = store.begin_session(NewSession(source="strap"))
        w4 = store.begin_session(NewSession(source="strap"))
        ids = (w1.session_id, w2.session_id, w3.session_id, w4.session_id)
        # Still alive: this process, with a fresh heartbeat.
        assert store.recover_interrupted() == []
    now = time.time()
    _set_writer(path, ids[0], _dead_pid(), socket.gethostname(), now)  # dead pid here
    _set_writer(path, ids[1], None, "elsewhere", now - STALE_AFTER_S - 5)  # stale elsewhere
    _set_writer(path, ids[2], None, "elsewhere", now)  # fresh heartbeat elsewhere
    # ids[3] keeps this live process's pid.
    with SessionReader(path) as r:  # the reader reports it before anyone repairs the file
        assert [r.session(i).status for i in ids] == [
            SessionStatus.INTERRUPTED,
            SessionStatus.INTERRUPTED,
            SessionStatus.RECORDING,
            SessionStatus.RECORDING,
        ]
    with Store(path) as store:
        assert sorted(store.recovered) == sorted(ids[:2])
        with pytest.raises(StoreError, match="still being recorded"):
            store.delete(ids[3])
    c = raw_connection(path)
    statuses = dict(c.execute("SELECT id, status FROM sessions").fetchall())
    c.close()
    assert [statuses[i] for i in ids] == ["interrupted", "interrupted", "recording", "recording"]
    with SessionReader(path) as r:
        assert r.beats(ids[0])["rr_ms"].tolist() == [1000.0]  # still analysable


def test_a_reused_writer_pid_does_not_keep_a_crashed_session_recording(tmp_path: Path) -> None:
    # The writer crashed long ago and its pid now belongs to another, live process (here:
    # this one). Its heartbeat stopped: the session is interrupted and can be deleted.
    import time

    path = tmp_path / "s.db"
    with Store(path) as store:
        w = store.begin_session(NewSession(source="strap"))
        w.add_beats([Beat(1.0, 1000.0, 1024, 0)])
        w.flush()
        sid = w.session_id
    stale = time.time() - STALE_AFTER_S - 5
    _set_writer(path, sid, os.getpid(), socket.gethostname(), stale)
    with SessionReader(path) as r:
        assert r.session(sid).status is SessionStatus.INTERRUPTED
        assert r.session(sid).ended_at == stale
    with Store(path) as store:
        assert store.recovered == [sid]
        store.delete(sid)
    with SessionReader(path) as r:
        assert r.list_sessions() == []


# ----------------------------------------------------------------------------- migrations


def test_v1_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    cols = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
    assert "heartbeat_at" not in cols
    conn.execute(
        "INSERT INTO sessions (started_at, status, protocol, source) "
        "VALUES (1700000000, 'recording', 'free', 'strap')"
    )
    conn.execute("INSERT INTO beats VALUES (1, 0, 0.8, 800.0, NULL, 0)")
    conn.close()
    with SessionReader(path) as r:  # upgrades through a short read-write open
        info = r.session(1)
        # A v1 file cannot say whether its writer lives: no heartbeat, so interrupted.
        assert info.status is SessionStatus.INTERRUPTED
        assert r.beats(1)["rr_ms"].tolist() == [800.0]
    c = sqlite3.connect(path)
    assert (
        c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == MIGRATIONS[-1].version
    )
    assert [r[0] for r in c.execute("SELECT version FROM migrations ORDER BY version")] == [
        m.version for m in MIGRATIONS
    ]
    assert c.execute("SELECT status FROM sessions").fetchone()[0] == "interrupted"
    c.close()


def test_reader_without_upgrade_refuses_old_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.close()
    with pytest.raises(StoreError, match="needs an upgrade"):
        SessionReader(path, upgrade=False)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    for opener in (Store, SessionReader):
        with pytest.raises(StoreError) as info:
            opener(path)
        assert f"schema version {SCHEMA_VERSION + 1} is newer" in str(info.value)
        assert str(path) in str(info.value)


def test_not_sqlite_and_foreign_sqlite_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all " * 50)
    before = junk.read_bytes()
    for opener in (Store, SessionReader):
        with pytest.raises(StoreError) as info:
            opener(junk)
        msg = str(info.value)
        assert msg.startswith(f"{junk}: not a biofeedback database") and "\n" not in msg
    assert junk.read_bytes() == before  # nothing written into it
    foreign = tmp_path / "foreign.db"
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="another program's SQLite file"):
        Store(foreign)


def test_paths(tmp_path: Path) -> None:
    assert default_db_path({"BIOFEEDBACK_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    p = default_db_path({})
    assert p.name == "biofeedback.db" and "biofeedback" in str(p.parent)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing-dir" / "s.db")
    with pytest.raises(StoreError, match="no such database"):
        SessionReader(tmp_path / "none.db")
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


# ----------------------------------------------------------------------------- edits


def test_tag_rename_annotate_delete(db_target: str) -> None:
    path = db_target
    with Store(path) as store:
        w = store.begin_session(NewSession(source="import", tags=("x",)))
        w.add_beats([Beat(1.0, 1000.0, None, 0)])
        w.add_marker(Marker(0.5, MarkerKind.NOTE, text="n"))
        w.finish(SessionStatus.COMPLETE)
        sid = w.session_id
        assert store.tag(sid, add=["calm", "morning"]) == ("calm", "morning", "x")
        assert store.tag(sid, remove=["x"]) == ("calm", "morning")
        store.rename(sid, "Monday")
        store.annotate(sid, "first")
        store.annotate(sid, "second", append=True)
        with pytest.raises(StoreError, match="no session with id 99"):
            store.rename(99, "x")
    with SessionReader(path) as r:
        info = r.session(sid)
        assert (info.title, info.notes, info.tags) == (
            "Monday",
            "first\nsecond",
            ("calm", "morning"),
        )
        assert [i.id for i in r.list_sessions(tag="calm")] == [sid]
        assert r.list_sessions(tag="nope") == []
        with pytest.raises(StoreError, match="no session with id 99"):
            r.beats(99)
    with Store(path) as store:
        store.delete(sid)
    c = raw_connection(path)
    for table in ("sessions", "beats", "markers", "tags"):
        assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    c.close()


# ----------------------------------------------------------------------------- analysis cache


def test_v2_database_gains_the_analysis_cache(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=2)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "analysis_cache" not in tables
    conn.close()
    with SessionReader(path) as r:  # upgrades through a short read-write open
        assert r.cached_analysis(1, "v", 0) is None
    c = sqlite3.connect(path)
    cols = [r[1] for r in c.execute("PRAGMA table_info(analysis_cache)")]
    assert cols == ["session_id", "version", "n_beats", "payload", "created_at"]
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
    c.close()


def test_analysis_cache_matches_version_and_beat_count_and_goes_with_the_session(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    with Store(path, clock=VirtualClock(wall_start_s=1_700_000_000.0)) as store:
        w = store.begin_session(NewSession(source="import"))
        w.add_beats([Beat(1.0, 1000.0, None, 0), Beat(2.0, 1000.0, None, 0)])
        w.finish(SessionStatus.COMPLETE)
        sid = w.session_id
        store.save_analysis(sid, "v1", 2, '{"a": 1}')
        store.save_analysis(sid, "v1", 2, '{"a": 2}')  # replaces
        with pytest.raises(StoreError, match="no session with id 99"):
            store.save_analysis(99, "v1", 2, "{}")
        with SessionReader(path) as r:
            assert r.cached_analysis(sid, "v1", 2) == '{"a": 2}'
            assert r.cached_analysis(sid, "v2", 2) is None  # other analysis version
            assert r.cached_analysis(sid, "v1", 3) is None  # session grew since
        row = store.conn.execute("SELECT created_at FROM analysis_cache").fetchone()
        assert row[0] == 1_700_000_000.0  # the store's clock
        # The row must go even where foreign keys are not enforced (no cascade).
        store.conn.execute("PRAGMA foreign_keys = OFF")
        store.delete(sid)
        assert store.conn.execute("SELECT count(*) FROM analysis_cache").fetchone()[0] == 0
