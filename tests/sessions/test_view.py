"""The read model: one analysis per session whatever is asked, one rule for gaps and phases.

The engine is injected (``SessionViews(analyze=...)``): a counting wrapper around the real
``analyze_rr`` counts its calls without patching any module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from biofeedback.beats import Beat
from biofeedback.hrv import analyze_rr
from biofeedback.sessions.analysis import analyse_session, load_analysis
from biofeedback.sessions.compare import compare_sessions
from biofeedback.sessions.store import (
    Marker,
    MarkerKind,
    NewSession,
    PhaseSpan,
    SessionReader,
    SessionStatus,
    Store,
    phase_index,
)
from biofeedback.sessions.view import SessionViews, link_gaps
from biofeedback.synth import Phase, simulate_rr
from devices.records import LinkEvent, LinkState


class CountingAnalyzer:
    """The real engine, counting its calls (the seam `SessionViews` takes)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return analyze_rr(*args, **kwargs)


PHASES = [
    Phase("baseline", "baseline", 180.0, 70.0, 20.0, 13.0),
    Phase("breathing", "practice", 120.0, 66.0, 35.0, 6.0),
    Phase("kindness", "practice", 120.0, 67.0, 25.0, 12.0),
    Phase("recovery", "recovery", 120.0, 68.0, 22.0, 12.0),
]


def store_session(db: Path, *, seed: int = 4, links: bool = False) -> int:
    """A simulated four-phase session (two practice phases) stored through the writer."""
    sim = simulate_rr(PHASES, seed=seed)
    t = np.cumsum(sim.rr_ms) / 1000.0
    with Store(db) as store:
        w = store.begin_session(
            NewSession(source="import", protocol="test", started_at=1_760_000_000.0 + seed)
        )
        w.add_beats(Beat(float(ti), float(r), None, 0) for ti, r in zip(t, sim.rr_ms, strict=True))
        start = 0.0
        for ph in PHASES:
            w.add_marker(Marker(start, MarkerKind.PHASE_START, ph.name, ph.kind))
            w.add_marker(Marker(start + ph.duration_s, MarkerKind.PHASE_END, ph.name, ph.kind))
            start += ph.duration_s
        if links:
            # reconnecting → gave_up opens a gap that never closes; so does disconnected → end.
            for t_s, state in ((100.0, LinkState.DISCONNECTED), (104.0, LinkState.CONNECTED),
                               (300.0, LinkState.RECONNECTING), (303.0, LinkState.GAVE_UP),
                               (310.0, LinkState.CONNECTED), (500.0, LinkState.DISCONNECTED),
                               (505.0, LinkState.END)):  # fmt: skip
                w.add(LinkEvent(t_s, state, "test"))
        w.finish(SessionStatus.COMPLETE)
        return w.session_id


def test_one_analysis_per_session_whatever_is_asked(tmp_path: Path) -> None:
    from biofeedback.reports import render
    from biofeedback.reports.model import build_report
    from dashboards.data import DashboardData

    db = tmp_path / "s.db"
    ids = [store_session(db, seed=s) for s in (1, 2)]
    with SessionReader(db) as reader:
        assert all(load_analysis(reader, i) is None for i in ids)
        engine = CountingAnalyzer()
        views = SessionViews(reader, analyze=engine)
        # One analysis = whole session + 4 phases + 3 pooled kinds = 8 engine calls.
        per_session = 1 + len(PHASES) + 3
        data = DashboardData(reader, views=views)
        for sid in ids:
            data.series(sid), data.phase_metrics(sid), data.view(sid)
        data.compare(ids)
        data.trends()
        bundle = build_report(views, ids)
        for fmt in ("html", "json", "csv"):
            render(bundle, fmt, tmp_path / f"r.{fmt}")
        compare_sessions(views, ids)
        assert engine.calls == per_session * len(ids)
        # Asked again: nothing is recomputed.
        data.compare(ids), build_report(views, ids), data.series(ids[0])
        assert engine.calls == per_session * len(ids)
        # The analyses were saved: a fresh read model (a new process) computes nothing.
        assert all(load_analysis(reader, i) is not None for i in ids)
        again = CountingAnalyzer()
        fresh = SessionViews(SessionReader(db), analyze=again)
        DashboardData(fresh.reader, views=fresh).phase_metrics(ids[0])
        build_report(fresh, ids)
        assert again.calls == 0


def test_cached_view_equals_a_fresh_analysis(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid = store_session(db)
    with SessionReader(db) as reader:
        fresh = analyse_session(reader, sid)
        views = SessionViews(reader)
        views.analysis(sid)  # computed and saved
        cached = load_analysis(reader, sid)
    assert cached is not None and cached.to_json() == fresh.to_json()
    assert cached.whole == fresh.whole
    np.testing.assert_array_equal(cached.nn_ms, fresh.nn_ms)
    np.testing.assert_array_equal(cached.flags, fresh.flags)


def test_phase_index_is_half_open_except_the_last_span() -> None:
    spans = [PhaseSpan("a", "baseline", 0.0, 10.0), PhaseSpan("b", "practice", 10.0, 20.0)]
    t = np.array([-1.0, 0.0, 9.999, 10.0, 19.5, 20.0, 20.5])
    assert phase_index(t, spans).tolist() == [-1, 0, 0, 1, 1, 1, -1]


def test_link_gaps_one_rule() -> None:
    ev = pd.DataFrame(
        {
            "t_s": [5.0, 8.0, 20.0, 21.0, 30.0, 40.0, 41.0],
            "state": [
                "disconnected",
                "connected",
                "reconnecting",
                "gave_up",
                "connected",
                "disconnected",
                "end",
            ],
            "detail": ["lost", "", "retry 1", "", "", "", ""],
        }
    )
    gaps = link_gaps(ev, 60.0)
    # reconnecting → gave_up is one gap (to the next connected); an open gap runs to the end.
    assert [(g.start_s, g.end_s) for g in gaps] == [(5.0, 8.0), (20.0, 30.0), (40.0, 60.0)]
    assert gaps[0].reason == "lost" and gaps[2].reason == "disconnected"


def test_cli_and_dashboard_page_models_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``compare --json``, ``report --format json`` and the dashboard's page models give the
    same per-phase numbers, rolling RMSSD and gaps for one session."""
    from biofeedback.cli import main
    from biofeedback.reports.model import build_report
    from dashboards.data import DashboardData

    db = tmp_path / "s.db"
    sid = store_session(db, links=True)
    assert main(["compare", str(sid), "--json", "--db", str(db)]) == 0
    cmp_doc = json.loads(capsys.readouterr().out)
    out = tmp_path / "r.json"
    assert main(["report", str(sid), "--format", "json", "-o", str(out), "--db", str(db)]) == 0
    rep_doc = json.loads(out.read_text(encoding="utf-8"))
    with SessionReader(db) as reader:
        data = DashboardData(reader)
        page = {p.phase: p for p in data.phase_metrics(sid)}
        compare_page = {p.phase: p for p in data.compare([sid]).phases}
        series = data.series(sid)
        rep = build_report(reader, [sid]).sessions[0]
    cli_phases = cmp_doc["sessions"][0]["phases"]
    rep_phases = {p["name"]: p for p in rep_doc["sessions"][0]["phases"]}
    assert [p["name"] for p in cli_phases] == [ph.name for ph in PHASES]
    for p in cli_phases:
        for key, value in p["metrics"].items():
            if key in rep_phases[p["name"]]["metrics"]:
                assert rep_phases[p["name"]]["metrics"][key] == value, (p["name"], key)
            assert page[p["name"]].metrics[key] == value, (p["name"], key)
            assert compare_page[p["name"]].metrics[key] == value, (p["name"], key)
        assert page[p["name"]].n_beats == p["n_beats"] == rep_phases[p["name"]]["n_beats"]
    whole = rep_doc["sessions"][0]["metrics"]
    assert {k: page["all"].metrics[k] for k in whole} == whole
    np.testing.assert_array_equal(series.rmssd_ms, rep.view.rolling_rmssd_ms)
    np.testing.assert_array_equal(series.rmssd_t_s, rep.view.t_s)
    page_gaps = [(g.start_s, g.end_s) for g in series.gaps]
    assert page_gaps == list(rep.gaps) == [(100.0, 104.0), (300.0, 310.0), (500.0, 540.0)]
