"""Session comparison: per-phase metrics, bootstrap CIs, verdicts, personal normal range."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from biofeedback.beats import Beat
from biofeedback.sessions.analysis import (
    SessionAnalysis,
    analyse_session,
    cache_analysis,
    load_analysis,
)
from biofeedback.sessions.compare import (
    SessionComparison,
    baseline_history,
    compare_session,
    compare_sessions,
)
from biofeedback.sessions.compare_json import comparison_to_json
from biofeedback.sessions.protocols import load_protocol
from biofeedback.sessions.recorder import SessionRecorder
from biofeedback.sessions.settings import ANALYSIS_VERSION
from biofeedback.sessions.stats import (
    MIN_BASELINES,
    Difference,
    bootstrap_diff_ci,
    personal_normal_range,
)
from biofeedback.sessions.store import Marker, MarkerKind, NewSession, SessionReader, Store
from biofeedback.synth import Phase, inject_artefacts, random_artefact_sites, simulate_rr
from devices.capture import read_capture
from devices.replay import CaptureReplaySource, clock_for_speed
from tests.conftest import RECORDINGS

SCB = RECORDINGS / "self-compassion-break.jsonl"


def _record_scb(db: Path) -> int:
    async def go() -> int:
        clock = clock_for_speed(0)
        src = CaptureReplaySource(SCB, clock=clock)
        with Store(db) as store:
            w = store.begin_session(
                NewSession(source="replay", protocol="self-compassion-break", device=src.info),
                clock=clock,
            )
            rec = SessionRecorder(src, w, load_protocol("self-compassion-break"), clock)
            return (await rec.run()).session_id

    return asyncio.run(go())


def _store_beats(
    db: Path,
    rr_ms: np.ndarray,
    phases: list[tuple[str, str, float, float]],
    *,
    started_at: float = 1_760_000_000.0,
) -> int:
    """Write simulated beats with phase markers straight through the store's writer."""
    with Store(db) as store:
        w = store.begin_session(NewSession(source="import", protocol="test", started_at=started_at))
        t = np.cumsum(rr_ms) / 1000.0
        w.add_beats(Beat(float(ti), float(r), None, 0) for ti, r in zip(t, rr_ms, strict=True))
        for name, kind, a, b in phases:
            w.add_marker(Marker(a, MarkerKind.PHASE_START, name, kind))
            w.add_marker(Marker(b, MarkerKind.PHASE_END, name, kind))
        from biofeedback.sessions.store import SessionStatus

        w.finish(SessionStatus.COMPLETE)
        return w.session_id


def _two_phase_session(db: Path, base: Phase, prac: Phase, seed: int) -> int:
    """A simulated baseline then practice, stored with their phase markers."""
    sim = simulate_rr([base, prac], seed=seed)
    end = base.duration_s + prac.duration_s
    return _store_beats(
        db,
        sim.rr_ms,
        [
            ("baseline", "baseline", 0.0, base.duration_s),
            ("practice", "practice", base.duration_s, end),
        ],
    )


def _practice_diff(c: SessionComparison, metric: str) -> Difference:
    return next(
        x for x in c.differences if x.metric == metric and x.contrast == "practice-baseline"
    )


def test_self_compassion_break_shows_the_generators_calming_trend(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid = _record_scb(db)
    truth = read_capture(SCB).header.extra["phases"]
    with SessionReader(db) as reader:
        c = compare_session(reader, sid)
    # The recorded phases are the protocol's, which the generator followed.
    assert [p.name for p in c.phases] == [p["name"] for p in truth]
    assert c.quality_ok
    d = {(x.contrast, x.metric): x for x in c.differences}
    # source: biofeedback/synth/ phases of recordings/generate.py (HR 72 → ~65 bpm,
    # larger RSA at 6-8 breaths/min during the practice).
    hr = d[("practice-baseline", "MeanHR_bpm")]
    ln = d[("practice-baseline", "lnRMSSD")]
    assert hr.estimate is not None and hr.ci_high is not None and hr.ci_high < 0
    assert ln.estimate is not None and ln.ci_low is not None and ln.ci_low > 0
    assert not hr.within_noise and not ln.within_noise
    by_kind = {p.kind: p for p in c.by_kind}
    br_base = by_kind["baseline"].metrics["BreathingRate_per_min"]
    br_prac = by_kind["practice"].metrics["BreathingRate_per_min"]
    assert br_base is not None and br_prac is not None
    assert br_base == pytest.approx(14.0, abs=1.5)  # generator: 14 breaths/min at baseline
    assert 6.0 <= br_prac <= 8.5  # generator: 8, 7 and 6.5 breaths/min in the three steps
    assert any("Breathing slowed" in v for v in c.verdict)
    assert any("rose during the practice" in v for v in c.verdict)


def test_no_change_is_called_within_noise(tmp_path: Path) -> None:
    ph = Phase("rest", "baseline", 600.0, 65.0, 25.0, 12.0)
    sim = simulate_rr([ph], seed=3)
    sid = _store_beats(
        tmp_path / "n.db",
        sim.rr_ms,
        [("baseline", "baseline", 0.0, 300.0), ("practice", "practice", 300.0, 600.0)],
    )
    with SessionReader(tmp_path / "n.db") as reader:
        c = compare_session(reader, sid)
    ln = next(
        x for x in c.differences if x.metric == "lnRMSSD" and x.contrast == "practice-baseline"
    )
    assert ln.within_noise
    assert any("within noise" in v for v in c.verdict)


def test_poor_quality_phase_gets_no_verdict(tmp_path: Path) -> None:
    ph = Phase("rest", "baseline", 600.0, 65.0, 25.0, 12.0)
    sim = simulate_rr([ph], seed=5)
    rng = np.random.default_rng(5)
    n = sim.rr_ms.size
    sites = random_artefact_sites(n // 2, rng, n_ectopic=40, n_missed=10, min_gap=3)
    first = inject_artefacts(sim.rr_ms[: n // 2], sites, rng).rr_ms
    rr = np.concatenate([first, sim.rr_ms[n // 2 :]])
    split = float(np.sum(first) / 1000.0)
    sid = _store_beats(
        tmp_path / "q.db",
        rr,
        [("baseline", "baseline", 0.0, split), ("practice", "practice", split, 600.0)],
    )
    with SessionReader(tmp_path / "q.db") as reader:
        c = compare_session(reader, sid)
    assert not c.quality_ok
    assert any(v.startswith("Data quality too poor during baseline") for v in c.verdict)


def test_verdict_says_the_quality_grade_and_poor_is_cautioned(tmp_path: Path) -> None:
    # source: seeded simulated session; ~8 % of the practice beats carry injected ectopic
    # events (the "poor" band 5-20 % of biofeedback.hrv.quality), the baseline is clean.
    from biofeedback.synth import inject_artefacts_at_rate

    base, prac = (
        Phase("rest", "baseline", 300.0, 65.0, 25.0, 12.0),
        Phase("task", "practice", 300.0, 75.0, 15.0, 15.0),
    )
    sim = simulate_rr([base, prac], seed=9)
    t = np.cumsum(sim.rr_ms) / 1000.0
    k = int(np.searchsorted(t, 300.0))
    dirty = inject_artefacts_at_rate(sim.rr_ms[k:], rate=0.08, seed=9, kinds=("ectopic",))
    rr = np.concatenate([sim.rr_ms[:k], dirty.rr_ms])
    split = float(np.sum(sim.rr_ms[:k]) / 1000.0)
    sid = _store_beats(
        tmp_path / "g.db",
        rr,
        [("rest", "baseline", 0.0, split), ("task", "practice", split, float(rr.sum() / 1000))],
    )
    with SessionReader(tmp_path / "g.db") as reader:
        c = compare_session(reader, sid)
    grades = {p.kind: p.grade for p in c.phases}
    assert grades == {"baseline": "good", "practice": "poor"}
    assert "Data quality: baseline good, practice poor." in c.verdict
    assert any(v.startswith("Data quality during practice is poor") for v in c.verdict)
    # poor is reported (with the caution), not withheld: the RMSSD verdict is still given
    assert c.quality_ok
    assert any(v.startswith("HRV (RMSSD)") for v in c.verdict)
    practice = next(p for p in c.phases if p.kind == "practice")
    assert practice.metrics["RMSSD_ms"] is not None
    assert 5.0 < (practice.metrics["ArtifactRate_pct"] or 0.0) < 20.0


def test_bootstrap_ci_covers_known_shift() -> None:
    rng = np.random.default_rng(11)

    def windows(rmssd: float, n: int) -> np.ndarray:
        # 30 within-window differences of N(0, rmssd²) and 30 beats at 60 bpm per window.
        d = rng.normal(0.0, rmssd, size=(n, 30))
        return np.column_stack([(d * d).sum(axis=1), np.full(n, 30.0), np.full(n, 1800.0),
                                np.full(n, 30.0)])  # fmt: skip

    out = bootstrap_diff_ci(windows(20.0, 12), windows(40.0, 12))
    assert out is not None
    est, lo, hi = out["lnRMSSD"]
    assert lo < est < hi
    assert lo < math.log(2.0) < hi  # true shift of ln(40/20)
    same = bootstrap_diff_ci(windows(30.0, 12), windows(30.0, 12))
    assert same is not None and same["lnRMSSD"][1] < 0 < same["lnRMSSD"][2]
    assert bootstrap_diff_ci(windows(30.0, 2), windows(30.0, 12)) is None


def test_personal_normal_range_needs_seven_days_and_uses_half_sd() -> None:
    day = 86400.0
    t0 = 1_760_000_000.0
    vals = [3.5, 3.7, 3.6, 3.8, 3.4, 3.6, 3.7, 3.5, 3.9, 3.6]
    assert personal_normal_range([(t0 + i * day, v) for i, v in enumerate(vals[:6])]) is None
    nr = personal_normal_range([(t0 + i * day, v) for i, v in enumerate(vals)])
    assert nr is not None and nr.n_baselines == len(vals) >= MIN_BASELINES
    assert nr.mean == pytest.approx(np.mean(vals))
    assert nr.swc == pytest.approx(0.5 * np.std(vals, ddof=1))
    assert nr.rolling7 == pytest.approx(np.mean(vals[-7:]))
    assert nr.low == pytest.approx(nr.mean - nr.swc)


def test_compare_sessions_json_and_baseline_change(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    a = _record_scb(db)
    b = _record_scb(db)
    with SessionReader(db) as reader:
        mc = compare_sessions(reader, [a, b])
    js = comparison_to_json(mc)
    assert [s["id"] for s in js["sessions"]] == [a, b]
    assert js["baseline_change_lnRMSSD"] == pytest.approx(0.0, abs=1e-9)
    assert js["normal_range"] is None
    diff = js["sessions"][0]["differences"][0]
    assert set(diff) >= {"metric", "contrast", "estimate", "ci95", "within_noise"}
    # Without a personal normal range a change between two sessions has no noise yardstick;
    # the summary must say so rather than state a bare percentage.
    change = next(v for v in js["summary"] if v.startswith("Resting (baseline) RMSSD changed"))
    assert "cannot be told from day-to-day variation" in change


def test_compare_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from biofeedback.cli import main

    db = tmp_path / "c.db"
    sid = _record_scb(db)
    assert main(["compare", str(sid), "--db", str(db), "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["sessions"][0]["phases"][0]["kind"] == "baseline"
    assert main(["compare", str(sid), "--db", str(db)]) == 0
    assert "practice-baseline" in capsys.readouterr().out
    assert main(["compare", "999", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "999" in err[0]
    assert main(["compare", "1", "--db", str(tmp_path / "missing.db")]) == 2


def test_record_then_compare_end_to_end_through_the_cli(tmp_path: Path) -> None:
    """The user's path: record a guided replay at full speed, then ``compare --json``."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    db = tmp_path / "e2e.db"
    base = [sys.executable, "-m", "biofeedback"]
    r = subprocess.run(
        [*base, "record", "--replay", str(SCB), "--speed", "0", "--quiet",
         "--protocol", "self-compassion-break", "--db", str(db)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*base, "compare", "1", "--json", "--db", str(db)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["sessions"][0]
    assert s["status"] == "complete"
    assert [p["kind"] for p in s["phases"]] == [
        "baseline", "practice", "practice", "practice", "recovery",
    ]  # fmt: skip
    d = {(x["contrast"], x["metric"]): x for x in s["differences"]}
    hr = d[("practice-baseline", "MeanHR_bpm")]
    ln = d[("practice-baseline", "lnRMSSD")]
    # source: recordings/generate.py calming trend (HR down, RSA up during the practice)
    assert hr["ci95"][1] < 0 < ln["ci95"][0]
    with SessionReader(db) as reader:  # the recording filled the analysis cache
        assert load_analysis(reader, 1) is not None


# ----------------------------------------------------------------------------- analysis cache


def _tampered(an: SessionAnalysis, *, version: str = ANALYSIS_VERSION) -> str:
    """``an`` as JSON with the first phase's RMSSD replaced by a value no analysis gives."""
    import json

    d = json.loads(an.to_json())
    d["phases"][0]["metrics"]["RMSSD_ms"] = 12345.0
    d["version"] = version
    return json.dumps(d)


def test_cached_analysis_gives_identical_results_and_stale_rows_are_ignored(
    tmp_path: Path,
) -> None:
    db = tmp_path / "c.db"
    sid = _record_scb(db)
    other = _record_scb(db)
    with SessionReader(db) as reader:
        fresh = compare_session(reader, sid)
        fresh_swc = compare_session(reader, sid, swc_lnrmssd=0.4)
        fresh_history = baseline_history(reader)
        assert load_analysis(reader, sid) is None  # nothing cached yet
        an = analyse_session(reader, sid)
        n_beats = reader.session(sid).n_beats
    # Lossless JSON: every float, window sum and None comes back exactly.
    back = SessionAnalysis.from_json(an.to_json())
    assert back.to_json() == an.to_json()
    assert back.phases == an.phases
    for a, b in zip(an.by_kind, back.by_kind, strict=True):
        assert a.metrics == b.metrics
        assert a.windows.shape == b.windows.shape and np.array_equal(a.windows, b.windows)
    with Store(db) as store:
        cache_analysis(store, sid)
        cache_analysis(store, other)
    with SessionReader(db) as reader:
        cached = load_analysis(reader, sid)
        assert cached is not None and cached.to_json() == an.to_json()
        assert compare_session(reader, sid) == fresh
        assert compare_session(reader, sid, swc_lnrmssd=0.4) == fresh_swc
        assert baseline_history(reader) == fresh_history
    # The cache is what answers: a (tampered) current row shows through...
    with Store(db) as store:
        store.save_analysis(sid, ANALYSIS_VERSION, n_beats, _tampered(an))
    with SessionReader(db) as reader:
        assert compare_session(reader, sid).phases[0].metrics["RMSSD_ms"] == 12345.0
    # ...but rows of another analysis version or another beat count are ignored.
    for version, n in (("compare-0", n_beats), (ANALYSIS_VERSION, n_beats - 1)):
        with Store(db) as store:
            store.save_analysis(sid, version, n, _tampered(an, version=version))
        with SessionReader(db) as reader:
            assert load_analysis(reader, sid) is None
            assert compare_session(reader, sid) == fresh


def test_a_session_still_recording_is_never_cached(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    sim = simulate_rr([Phase("rest", "baseline", 120.0, 65.0, 25.0, 12.0)], seed=2)
    with Store(db) as store:
        w = store.begin_session(NewSession(source="import"))
        t = np.cumsum(sim.rr_ms) / 1000.0
        w.add_beats(Beat(float(ti), float(r), None, 0) for ti, r in zip(t, sim.rr_ms, strict=True))
        w.flush()
        cache_analysis(store, w.session_id)  # refused: the writer (this process) is alive
        with SessionReader(db) as reader:
            assert reader.cached_analysis(w.session_id, ANALYSIS_VERSION, t.size) is None
            fresh = compare_session(reader, w.session_id)
            an = analyse_session(reader, w.session_id)
        store.save_analysis(w.session_id, ANALYSIS_VERSION, t.size, _tampered(an))
        with SessionReader(db) as reader:
            assert load_analysis(reader, w.session_id) is None
            assert compare_session(reader, w.session_id) == fresh


def test_cache_analysis_logs_instead_of_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(tmp_path / "e.db") as store, caplog.at_level("ERROR"):
        cache_analysis(store, 42)  # no such session
    assert any("42" in r.getMessage() for r in caplog.records)
    with Store(":memory:") as mem:
        cache_analysis(mem, 1)  # nothing to cache in a throw-away store


def test_import_fills_the_analysis_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from biofeedback.cli import main

    db = tmp_path / "i.db"
    rr_file = tmp_path / "rr.txt"
    sim = simulate_rr([Phase("rest", "baseline", 300.0, 65.0, 25.0, 12.0)], seed=4)
    rr_file.write_text("\n".join(f"{x:.0f}" for x in sim.rr_ms) + "\n")
    assert main(["import", str(SCB), "--db", str(db)]) == 0
    assert main(["import", str(rr_file), "--db", str(db)]) == 0
    capsys.readouterr()
    kinds: list[list[str]] = []
    with SessionReader(db) as reader:
        for info in reader.list_sessions():
            cached = load_analysis(reader, info.id)
            assert cached is not None, info.id
            assert cached.to_json() == analyse_session(reader, info.id).to_json()
            kinds.append([p.kind for p in cached.phases])
    # The capture's header phases; an RR file has none, so one whole-session pseudo-phase.
    assert kinds == [["baseline", "practice", "practice", "practice", "recovery"], ["session"]]


def test_live_worker_fills_the_analysis_cache_when_the_recording_ends(tmp_path: Path) -> None:
    from biofeedback.sessions.live import LiveWorker

    db = tmp_path / "live.db"
    w = LiveWorker(db, recordings={"scb": SCB})
    try:
        w.start("replay:scb", "self-compassion-break", speed=0)  # as fast as possible
        res = w.wait(120)
    finally:
        w.close()
    assert res is not None and res.n_beats > 0
    with SessionReader(db) as reader:
        cached = load_analysis(reader, res.session_id)
        assert cached is not None
        assert cached.to_json() == analyse_session(reader, res.session_id).to_json()


def test_dashboard_saves_missing_analyses_and_answers_the_same(tmp_path: Path) -> None:
    from dashboards.data import DashboardData
    from dashboards.sample import populate_store

    cached_db, bare_db = tmp_path / "cached.db", tmp_path / "bare.db"
    ids = populate_store(cached_db, 2, seed=3)
    assert populate_store(bare_db, 2, seed=3, cache_analyses=False) == ids
    with SessionReader(cached_db) as a, SessionReader(bare_db) as b:
        assert all(load_analysis(a, i) is not None for i in ids)
        assert all(load_analysis(b, i) is None for i in ids)
        from_cache = DashboardData(a).compare(ids)
        computed = DashboardData(b).compare(ids)  # analyses and saves them
        assert computed == from_cache
        for i in ids:
            saved, reference = load_analysis(b, i), load_analysis(a, i)
            assert saved is not None and reference is not None
            assert saved.to_json() == reference.to_json()


def test_too_few_windows_for_a_ci_is_not_called_within_noise(tmp_path: Path) -> None:
    # source: seeded simulation; a 75-s practice gives 2 full 30-s windows (< 3), so no
    # bootstrap CI exists and the verdict must not claim "within noise" (nor a change).
    base = Phase("rest", "baseline", 300.0, 65.0, 20.0, 12.0)
    prac = Phase("calm", "practice", 75.0, 60.0, 60.0, 12.0)
    sid = _two_phase_session(tmp_path / "s.db", base, prac, seed=8)
    with SessionReader(tmp_path / "s.db") as reader:
        c = compare_session(reader, sid)
    ln = _practice_diff(c, "lnRMSSD")
    assert ln.ci_low is None and ln.n_windows_b < 3
    assert ln.estimate is not None and ln.estimate > 0.3  # a large raw difference...
    lines = [v for v in c.verdict if "during the practice" in v]
    assert lines and not any("within noise" in v for v in lines)  # ...that is not "noise"
    assert not any(v.startswith(("HRV (RMSSD) rose", "HRV (RMSSD) fell")) for v in lines)
    assert any("too short" in v for v in lines if v.startswith("HRV (RMSSD)"))
    assert any("too short" in v for v in lines if v.startswith("Heart rate"))


def test_breathing_shift_sentence_does_not_presuppose_an_hrv_change(tmp_path: Path) -> None:
    # source: seeded simulation; breathing 15/min -> 6/min, but the 75-s practice has no CI,
    # so no HRV change was shown and the breathing note must not speak of "the HRV change".
    base = Phase("rest", "baseline", 300.0, 65.0, 20.0, 15.0)
    prac = Phase("pace", "practice", 75.0, 63.0, 40.0, 6.0)
    sid = _two_phase_session(tmp_path / "b.db", base, prac, seed=9)
    with SessionReader(tmp_path / "b.db") as reader:
        c = compare_session(reader, sid)
    br = [v for v in c.verdict if v.startswith("Breathing slowed")]
    assert br, c.verdict
    assert "the HRV change" not in br[0]
    assert "RMSSD, HF and LF/HF" in br[0]


def test_change_below_the_personal_swc_says_why_it_is_noise(tmp_path: Path) -> None:
    # source: seeded simulation, RSA 20 -> 40 ms: the CI excludes zero, but a (made-up,
    # deliberately huge) personal SWC of 5 ln units makes it noise; the verdict must say the
    # SWC is the reason, not print a CI that excludes zero next to a bare "within noise".
    base = Phase("rest", "baseline", 300.0, 65.0, 20.0, 12.0)
    prac = Phase("calm", "practice", 300.0, 62.0, 40.0, 12.0)
    sid = _two_phase_session(tmp_path / "w.db", base, prac, seed=10)
    with SessionReader(tmp_path / "w.db") as reader:
        c = compare_session(reader, sid, swc_lnrmssd=5.0)
    ln = _practice_diff(c, "lnRMSSD")
    assert ln.ci_low is not None and ln.ci_low > 0 and ln.within_noise
    line = next(v for v in c.verdict if v.startswith("HRV (RMSSD)") and "practice" in v)
    assert "smallest worthwhile change" in line


def test_metronomic_rr_gives_no_infinite_ln_rmssd(tmp_path: Path) -> None:
    # source: property: fixed-rate pacing (every RR = 1000 ticks/1024 s) has RMSSD 0, so
    # lnRMSSD is undefined: no CI for it, no -inf/NaN, and compare --json still serialises.
    import json

    rr = np.full(700, 1000.0 * 1000.0 / 1024.0)
    sid = _store_beats(
        tmp_path / "c.db",
        rr,
        [("baseline", "baseline", 0.0, 300.0), ("practice", "practice", 300.0, 600.0)],
    )
    with SessionReader(tmp_path / "c.db") as reader:
        mc = compare_sessions(reader, [sid])
    d = {(x.contrast, x.metric): x for x in mc.sessions[0].differences}
    ln = d[("practice-baseline", "lnRMSSD")]
    assert ln.estimate is None and ln.ci_low is None and ln.within_noise
    hr = d[("practice-baseline", "MeanHR_bpm")]
    assert hr.estimate == pytest.approx(0.0, abs=1e-9) and hr.ci_low is not None
    json.dumps(comparison_to_json(mc), allow_nan=False)


def test_baseline_change_runs_in_time_order_not_argument_order(tmp_path: Path) -> None:
    # Session `new` was recorded a week after session `old`, but is named first: the change
    # is from the older to the newer one, whatever the order of the ids.
    db = tmp_path / "t.db"
    week_s = 7 * 86_400.0
    ids = {}
    for label, rsa, start in (
        ("new", 15.0, 1_760_000_000.0 + week_s),
        ("old", 40.0, 1_760_000_000.0),
    ):
        sim = simulate_rr([Phase("rest", "baseline", 300.0, 65.0, rsa, 12.0)], seed=5)
        ids[label] = _store_beats(
            db, sim.rr_ms, [("rest", "baseline", 0.0, 300.0)], started_at=start
        )
    with SessionReader(db) as reader:
        forward = compare_sessions(reader, [ids["old"], ids["new"]])
        backward = compare_sessions(reader, [ids["new"], ids["old"]])
    ln = {
        c.session_id: next(k.metrics["lnRMSSD"] for k in c.by_kind if k.kind == "baseline")
        for c in forward.sessions
    }
    expected = ln[ids["new"]] - ln[ids["old"]]
    assert expected < 0  # the smaller RSA a week later
    for mc in (forward, backward):
        assert mc.baseline_change_lnrmssd == pytest.approx(expected)
        line = next(v for v in mc.summary if v.startswith("Resting (baseline) RMSSD changed"))
        pct = 100.0 * (math.exp(expected) - 1.0)
        assert line.startswith(
            f"Resting (baseline) RMSSD changed {pct:+.0f} % from session {ids['old']} "
            f"to session {ids['new']}"
        )


def test_compare_of_a_too_short_session_says_why_the_cells_are_dashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from biofeedback.cli import main

    db = tmp_path / "short.db"
    five = tmp_path / "five.txt"
    five.write_text("812\n845\n830\n798\n860\n")
    forty = tmp_path / "forty.txt"  # 40 beats, 32 s: RMSSD yes, SDNN/HF/LF/HF/Stress no
    rr40 = [round(800 + 30 * math.sin(i / 2)) for i in range(40)]
    forty.write_text("".join(f"{rr}\n" for rr in rr40))
    assert main(["import", str(five), "--db", str(db)]) == 0
    assert main(["import", str(forty), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["compare", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    # The phase spans the first to the last beat: 845 + 830 + 798 + 860 ms = 3.3 s.
    assert "whole (3 s, 5 beats): too few beats to analyse (needs ≥ 10)" in out
    assert main(["compare", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    span = f"whole ({sum(rr40[1:]) / 1000:.0f} s, 40 beats):"
    line = next(v for v in out.splitlines() if v.strip().startswith(span))
    for why in (
        "SDNN ms needs ≥ 60 s of NN data",
        "HF ms² needs ≥ 60 s of gap-free NN data",
        "LF/HF needs ≥ 120 s of gap-free NN data",
        "Stress needs ≥ 120 s of NN data",
    ):
        assert why in line, line
    assert "RMSSD" not in line  # shown, so not explained
