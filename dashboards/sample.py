"""Fill a store with seeded simulated sessions (benchmarks, browser tests, screenshots).

Each session walks a protocol's phases with physiology that calms during practice
(`biofeedback.synth.simulate_rr`); beats and phase markers go through the real
`biofeedback.sessions.store.SessionWriter`, and each finished session's analysis is cached
(`biofeedback.sessions.analysis.cache_analysis`) as ``record``/``import`` do. Output is
deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

#: (mean HR bpm, RSA amplitude ms, breaths/min) per phase kind, before per-session jitter.
PHYSIOLOGY = {
    "baseline": (74.0, 22.0, 14.0),
    "practice": (69.0, 34.0, 9.0),
    "recovery": (70.0, 30.0, 12.0),
}


def populate_store(
    db_path: str | Path,
    n_sessions: int,
    *,
    seed: int = 1,
    protocol: str = "self-compassion-break",
    first_day: dt.date = dt.date(2026, 9, 1),
    tags: tuple[str, ...] = ("sim",),
    cache_analyses: bool = True,
) -> list[int]:
    """Write ``n_sessions`` simulated sessions, one per day from ``first_day``; their ids.

    ``cache_analyses=False`` leaves the analysis cache empty (a store from before it existed).
    """
    from biofeedback.beats import TICKS_PER_S, Beat
    from biofeedback.sessions.analysis import cache_analysis
    from biofeedback.sessions.protocols import load_protocol
    from biofeedback.sessions.store import Marker, MarkerKind, NewSession, SessionStatus, Store
    from biofeedback.synth import Phase, simulate_rr
    from devices.clock import VirtualClock

    proto = load_protocol(protocol)
    rng = np.random.default_rng(seed)
    ids: list[int] = []
    with Store(db_path, clock=VirtualClock()) as store:
        for k in range(n_sessions):
            shift = float(rng.normal(0.0, 3.0))  # day-to-day HR level
            calm = float(rng.uniform(0.6, 1.4))  # how much the practice helps today
            phases = []
            for ph in proto.phases:
                hr, rsa, br = PHYSIOLOGY[ph.kind.value]
                if ph.kind.value != "baseline":
                    b_hr, b_rsa, _ = PHYSIOLOGY["baseline"]
                    hr = b_hr + (hr - b_hr) * calm
                    rsa = b_rsa + (rsa - b_rsa) * calm
                phases.append(Phase(ph.name, ph.kind.value, ph.duration_s, hr + shift, rsa, br))  # type: ignore[arg-type]
            sim = simulate_rr(phases, seed=seed * 10_000 + k)
            day = first_day + dt.timedelta(days=k)
            start = dt.datetime.combine(day, dt.time(7, 30)).timestamp()
            w = store.begin_session(
                NewSession(
                    source="import",
                    protocol=proto.name,
                    title=f"simulated day {k + 1}",
                    tags=tags,
                    started_at=start,
                )
            )
            t0 = 0.0
            for a, b, ph in proto.timeline():
                w.add_marker(Marker(t0 + a, MarkerKind.PHASE_START, ph.name, ph.kind.value))
                w.add_marker(Marker(t0 + b, MarkerKind.PHASE_END, ph.name, ph.kind.value))
            ticks = np.round(sim.rr_ms * TICKS_PER_S / 1000.0).astype(np.int64)
            w.add_beats(
                Beat(float(t), float(tk) * 1000.0 / TICKS_PER_S, int(tk), 0)
                for t, tk in zip(sim.t_s, ticks, strict=True)
            )
            w.finish(SessionStatus.COMPLETE, ended_at=start + sim.duration_s)
            if cache_analyses:
                cache_analysis(store, w.session_id)
            ids.append(w.session_id)
    return ids
