"""Both store backends: one schema, one migration history, global ids, refusals on a server.

The PostgreSQL cases run against a real throwaway cluster (`tests.support.postgres`).
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from biofeedback.beats import Beat
from biofeedback.sessions.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Marker,
    MarkerKind,
    NewSession,
    SessionReader,
    SessionStatus,
    Store,
    StoreError,
    migrate,
    pg,
)
from biofeedback.sessions.store.backend import default_target, parse_target, redact
from tests.support.postgres import PgCluster, raw_connection


def _sqlite_columns(path: Path) -> dict[str, list[str]]:
    c = sqlite3.connect(path)
    tables = [
        r[0]
        for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    out = {t: [r[1] for r in c.execute(f"PRAGMA table_info({t})")] for t in tables}
    c.close()
    return out


def test_one_schema_and_one_migration_history_on_both(tmp_path: Path, pg_url: str) -> None:
    Store(tmp_path / "s.db").close()
    Store(pg_url).close()
    lite = _sqlite_columns(tmp_path / "s.db")
    c = raw_connection(pg_url)
    rows = c.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ).fetchall()
    server: dict[str, list[str]] = {}
    for table, column in rows:
        server.setdefault(table, []).append(column)
    # SQLite's implicit rowid is an explicit column on the server; nothing else differs.
    assert server.pop("frames")[-1] == "rowid" and server.pop("rejected_packets")[-1] == "rowid"
    lite.pop("frames")
    lite.pop("rejected_packets")
    assert server == lite
    history = [tuple(r) for r in c.execute("SELECT version, description FROM migrations")]
    c.close()
    assert sorted(history) == [(m.version, m.description) for m in MIGRATIONS]


def test_sessions_get_distinct_uuids_and_keep_the_short_id(db_target: str) -> None:
    with Store(db_target) as store:
        writers = [store.begin_session(NewSession(source="import")) for _ in range(3)]
        for w in writers:
            w.finish(SessionStatus.COMPLETE)
    with SessionReader(db_target) as r:
        infos = r.list_sessions()
        assert [i.id for i in infos] == [1, 2, 3]
        assert len({i.uuid for i in infos}) == 3
        assert all(uuid.UUID(i.uuid).version == 4 for i in infos)
        assert [i.uuid for i in infos] == [w.uuid for w in writers]
        assert r.session_by_uuid(writers[1].uuid) == infos[1]
        assert r.session_by_uuid(str(uuid.uuid4())) is None


def test_v3_file_gets_uuids_for_its_sessions(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=3)
    for t in (1.0, 2.0):
        conn.execute(
            "INSERT INTO sessions (started_at, status, protocol, source) "
            f"VALUES ({t}, 'complete', 'free', 'import')"
        )
    conn.close()
    with SessionReader(path) as r:
        ids = [i.uuid for i in r.list_sessions()]
    assert len(set(ids)) == 2 and all(uuid.UUID(u).version == 4 for u in ids)
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    c.close()


def test_participant_and_study_are_stored_and_filter(db_target: str) -> None:
    with Store(db_target) as store:
        for participant, study in (("P01", "A"), (" P02 ", "A"), ("P01", "B"), ("", None)):
            w = store.begin_session(
                NewSession(source="import", participant=participant, study=study)
            )
            w.add_beats([Beat(1.0, 1000.0, None, 0)])
            w.finish(SessionStatus.COMPLETE)
    with SessionReader(db_target) as r:
        assert [i.id for i in r.list_sessions(study="A")] == [1, 2]
        assert [i.id for i in r.list_sessions(participant="P01")] == [1, 3]
        assert [i.id for i in r.list_sessions(participant="P01", study="B")] == [3]
        assert (r.session(2).participant, r.session(4).participant) == ("P02", None)
        assert (r.session(4).participant, r.session(4).study) == (None, None)
    with Store(db_target) as store:
        store.set_labels(1, study="C")
        store.set_labels(2, participant="")
        with pytest.raises(StoreError, match="participant: expected one line"):
            store.set_labels(3, participant="P\n01")
    with SessionReader(db_target) as r:
        assert [(i.participant, i.study) for i in r.list_sessions()][:3] == [
            ("P01", "C"),
            (None, "A"),
            ("P01", "B"),
        ]


def test_server_of_a_newer_program_is_refused(pg_url: str) -> None:
    Store(pg_url).close()
    c = raw_connection(pg_url)
    c.execute(
        "INSERT INTO migrations (version, description, applied_at) VALUES (?, 'future', 0)",
        (SCHEMA_VERSION + 1,),
    )
    c.close()
    for opener in (Store, SessionReader):
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
            opener(pg_url)


def test_someone_elses_database_is_refused_and_left_alone(pg_url: str) -> None:
    c = raw_connection(pg_url)
    c.execute("CREATE TABLE orders (x integer)")
    c.close()
    with pytest.raises(StoreError, match="not a biofeedback database"):
        Store(pg_url)
    c = raw_connection(pg_url)
    tables = c.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    c.close()
    assert tables == [("orders",)]


def test_unreachable_server_is_one_line_without_the_password(pg_cluster: PgCluster) -> None:
    dead = pg_cluster.url("nope").replace(f":{pg_cluster.port}/", ":1/")
    url = dead.replace(f"{pg_cluster.user}@", f"{pg_cluster.user}:s3cret@")
    for opener in (Store, SessionReader):
        with pytest.raises(StoreError) as info:
            opener(url)
        msg = str(info.value)
        assert "cannot connect to the database" in msg and "\n" not in msg
        assert "s3cret" not in msg and "***" in msg


def test_targets() -> None:
    url = "postgresql://lab@db.example:5432/hrv"
    assert parse_target(url) == url
    assert parse_target("~/x.db") == Path("~/x.db").expanduser()
    assert default_target({"BIOFEEDBACK_DB": url}) == url
    assert default_target({"BIOFEEDBACK_DB": "/tmp/a.db"}) == Path("/tmp/a.db")
    assert redact("postgresql://lab:pw@h/db") == "postgresql://lab:***@h/db"
    assert redact("postgresql://lab@h/db") == "postgresql://lab@h/db"


def test_pg_ddl_translates_types_only() -> None:
    assert pg.pg_ddl("CREATE TABLE x (id INTEGER PRIMARY KEY, v REAL, b BLOB) WITHOUT ROWID") == (
        "CREATE TABLE x (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "v DOUBLE PRECISION, b BYTEA)"
    )
    assert pg.pg_ddl("ALTER TABLE sessions ADD COLUMN uuid TEXT") == (
        "ALTER TABLE sessions ADD COLUMN uuid TEXT"
    )


def test_nul_in_text_is_kept_on_sqlite_and_replaced_on_a_server(db_target: str) -> None:
    with Store(db_target) as store:
        w = store.begin_session(NewSession(source="strap", title="a\x00b"))
        w.add_marker(Marker(1.0, MarkerKind.NOTE, text="x\x00y"))
        w.finish(SessionStatus.COMPLETE)  # the commit goes through on both
    with SessionReader(db_target) as r:
        expected = "\ufffd" if db_target.startswith("postgresql://") else "\x00"
        assert r.session(1).title == f"a{expected}b"
        assert r.markers(1)["text"].tolist() == [f"x{expected}y"]
