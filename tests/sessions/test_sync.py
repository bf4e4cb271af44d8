"""``sync``: two laptops (two local files) push into one real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from biofeedback.beats import Beat
from biofeedback.sessions.store import (
    Marker,
    MarkerKind,
    NewSession,
    SessionReader,
    SessionStatus,
    Store,
    StoreError,
)
from biofeedback.sessions.store.sync import sync
from devices.heart_rate import encode_measurement, parse_measurement
from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket
from tests.conftest import REPO
from tests.support.postgres import raw_connection


def _record(store: Store, title: str, participant: str, n: int, *, finish: bool = True) -> int:
    w = store.begin_session(
        NewSession(source="replay", title=title, participant=participant, study="S1", tags=("t",))
    )
    w.add_marker(Marker(0.0, MarkerKind.PHASE_START, "baseline", "baseline"))
    for i in range(n):
        raw = encode_measurement(70, [800 + i])
        w.add(HrFrame(float(i), parse_measurement(raw), raw))
        w.add_beats([Beat(float(i), (800 + i) * 1000 / 1024, 800 + i, 0)])
    w.add(RejectedPacket(1.5, b"\x00", "too short"))
    w.add(LinkEvent(2.0, LinkState.DISCONNECTED, "gap"))
    w.add_marker(Marker(float(n), MarkerKind.PHASE_END, "baseline", "baseline"))
    if finish:
        w.finish(SessionStatus.COMPLETE)
        store.save_analysis(w.session_id, "v", n, f'{{"title": "{title}"}}')
    else:
        w.flush()
    return w.session_id


def _snapshot(target: str | Path, uuid: str) -> tuple[object, ...]:
    with SessionReader(target) as r:
        info = r.session_by_uuid(uuid)
        assert info is not None
        sid = info.id
        return (
            info.title,
            info.status,
            info.participant,
            info.study,
            info.tags,
            info.started_at,
            r.beats(sid).to_dict("list"),
            r.frames(sid).to_dict("list"),
            r.rejected(sid).to_dict("list"),
            r.markers(sid).to_dict("list"),
            r.link_events(sid).to_dict("list"),
            r.phases(sid),
            r.cached_analysis(sid, "v", info.n_beats),
        )


def test_two_machines_sync_into_one_server_give_the_union(tmp_path: Path, pg_url: str) -> None:
    a, b = tmp_path / "laptop-a.db", tmp_path / "laptop-b.db"
    with Store(a) as sa, Store(b) as sb:
        # Same short ids on both laptops (1, 2): only the uuid tells the sessions apart.
        for k in range(2):
            _record(sa, f"a{k}", "P01", 20 + k)
            _record(sb, f"b{k}", "P02", 30 + k)
        live = _record(sb, "still recording", "P02", 5, finish=False)
        first = sync(a, pg_url)
        assert [s.local_id for s in first.sent] == [1, 2] and first.present == ()
        second = sync(b, pg_url)
        assert [s.local_id for s in second.sent] == [1, 2]
        assert second.recording == (live,)
        # Again: nothing new, nothing doubled.
        assert sync(a, pg_url).sent == () and sync(b, pg_url).sent == ()
        with SessionReader(a) as ra, SessionReader(b) as rb:
            local = {i.uuid: a for i in ra.list_sessions()}
            local |= {i.uuid: b for i in rb.list_sessions() if i.id != live}
    with SessionReader(pg_url) as server:
        infos = server.list_sessions()
    assert sorted(i.uuid for i in infos) == sorted(local)
    assert sorted(i.title for i in infos) == ["a0", "a1", "b0", "b1"]
    assert sorted(i.id for i in infos) == [1, 2, 3, 4]  # new ids on the server
    for u, path in local.items():
        assert _snapshot(pg_url, u) == _snapshot(path, u)
    with SessionReader(pg_url) as server:
        got = server.list_sessions(participant="P02", study="S1")
        assert sorted(i.title for i in got) == ["b0", "b1"]
    # Once the live session ends, the next sync sends it.
    with Store(b) as sb:
        w = sb.begin_session(NewSession(source="replay"))  # a new one, recorded meanwhile
        w.finish(SessionStatus.COMPLETE)
    c = raw_connection(b)
    c.execute("UPDATE sessions SET status = 'complete' WHERE id = ?", (live,))
    c.close()
    third = sync(b, pg_url)
    assert sorted(s.local_id for s in third.sent) == [live, w.session_id]


def test_a_sync_cut_short_sends_the_rest_next_time(tmp_path: Path, pg_url: str) -> None:
    a = tmp_path / "a.db"
    with Store(a) as sa:
        for k in range(3):
            _record(sa, f"a{k}", "P01", 10)
    seen: list[int] = []

    class Cut(Exception):
        pass

    def stop_after_one(s: object) -> None:
        seen.append(1)
        raise Cut

    with pytest.raises(Cut):
        sync(a, pg_url, on_sent=stop_after_one)
    with SessionReader(pg_url) as r:
        assert len(r.list_sessions()) == 1  # whole sessions only
    rest = sync(a, pg_url)
    assert [s.local_id for s in rest.sent] == [2, 3] and rest.present == (1,)


def test_sync_into_itself_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.db"
    Store(a).close()
    with pytest.raises(StoreError, match="same database"):
        sync(a, a)


def test_sync_cli_reports_what_it_sent(tmp_path: Path, pg_url: str) -> None:
    a = tmp_path / "a.db"
    with Store(a) as sa:
        _record(sa, "a0", "P07", 10)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "biofeedback", "sync", "--to", pg_url, "--db", str(a)]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "sent session 1 -> 1 (" in out.stdout and "S1/P07" in out.stdout
    assert out.stdout.strip().endswith("1 sent, 0 already there")
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert again.stdout.strip().endswith("0 sent, 1 already there")
    missing = [sys.executable, "-m", "biofeedback", "sync", "--to", pg_url, "--db", "nope.db"]
    bad = subprocess.run(missing, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "biofeedback sync: error: nope.db: no such database"
    )
