"""The dashboard's page models, read from `biofeedback.sessions.view.SessionView`.

Pages and figures see the frozen page models of :mod:`dashboards.model`; this adapter builds
them from the one read model of a session (`biofeedback.sessions.view.SessionViews`), which
loads each session's analysis from the store's cache (filled when a session ends) or
computes it once and saves it through a read-write `Store`; if that fails (db locked,
read-only file) the page still works and the analysis is kept in memory only. Nothing here
calls the HRV engine or re-derives a comparison: Compare is
`biofeedback.sessions.compare.compare_sessions`, Trends its `baseline_history`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboards.model import (
    Comparison,
    Difference,
    LinkGap,
    MarkerPoint,
    PhaseBand,
    PhaseMetrics,
    SessionRow,
    SessionSeries,
    TrendDay,
    Trends,
)

if TYPE_CHECKING:
    from biofeedback.sessions.analysis import PhaseMetrics as AnalysedPhase
    from biofeedback.sessions.store import SessionInfo, SessionReader
    from biofeedback.sessions.view import SessionView, SessionViews

log = logging.getLogger(__name__)

#: Metrics shown in the per-phase tables (keys of `biofeedback.hrv.catalog.CATALOG`).
TABLE_METRICS = (
    "MeanHR_bpm",
    "MeanNN_ms",
    "SDNN_ms",
    "RMSSD_ms",
    "pNN50_pct",
    "LF_ms2",
    "HF_ms2",
    "LFHF",
    "HF_peak_Hz",
    "StressIndex",
)
#: Metrics offered on the Compare page.
COMPARE_METRICS = ("RMSSD_ms", "SDNN_ms", "MeanHR_bpm", "HF_ms2", "LF_ms2", "LFHF", "StressIndex")
#: Lines of `biofeedback.sessions.compare`'s verdict that are context, not a finding: shown as notes
#: under the headline so that a session with nothing to compare does not read the caveat
#: as its verdict.
CAVEAT_PREFIXES = ("HRV is a proxy", "Your smallest worthwhile change", "Data quality:")
NO_VERDICT = (
    "No verdict yet: a verdict needs a baseline and a practice or recovery phase long enough "
    "to measure (see the table below)."
)


def split_verdict(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(findings, caveats)`` of a verdict's lines (see `CAVEAT_PREFIXES`)."""
    findings = [x for x in lines if not x.startswith(CAVEAT_PREFIXES)]
    return findings, [x for x in lines if x.startswith(CAVEAT_PREFIXES)]


_CACHE_SIZE = 512


class DataError(Exception):
    """A friendly, user-facing problem (unknown session, store locked, ...)."""


def friendly(exc: BaseException) -> str:
    """One sentence for the page, from any store or analysis failure."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return (
            "The session store is busy (another program is writing to it). Try again in a moment."
        )
    if "no session with id" in low:
        return "There is no such session. It may have been deleted."
    if "no such database" in low:
        return f"The session store was not found ({text})."
    return text or exc.__class__.__name__


def _iso_local(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s).isoformat(timespec="seconds")


def _row(info: SessionInfo) -> SessionRow:
    return SessionRow(
        id=info.id,
        name=info.title or f"{info.protocol} #{info.id}",
        started_at=_iso_local(info.started_at),
        protocol=info.protocol,
        tags=tuple(info.tags),
        duration_s=float(info.duration_s),
        n_beats=int(info.n_beats),
        status=str(info.status),
        notes=info.notes,
        study=info.study,
        participant=info.participant,
    )


def _finite_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class DashboardData:
    """Page models for the pages; thread-safe; edits through a read-write store.

    Parameters
    ----------
    reader
        The store's read-only `SessionReader`.
    editor
        Opens a read-write store for rename/tag/delete/notes and for saving analyses
        (default: ``Store(reader.path)``).
    views
        The read model (default: `SessionViews` over ``reader`` saving through ``editor``).
    """

    def __init__(
        self,
        reader: SessionReader,
        editor: Callable[[], Any] | None = None,
        *,
        views: SessionViews | None = None,
    ) -> None:
        from biofeedback.sessions.view import SessionViews

        self.reader = reader
        self._editor = editor
        self.views = views or SessionViews(reader, save=self._store)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    # -- cache -------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    def warm(self, stop: threading.Event | None = None) -> int:
        """Fill the read model's analyses (run in a background thread at server start):
        every session's analysis is loaded from the store's cache, or computed once and
        saved. Returns how many sessions have one."""
        n = 0
        for row in self.sessions():
            if stop is not None and stop.is_set():
                break
            try:
                self.views.analysis(row.id)
                n += 1
            except Exception:  # a bad session must not stop the others; its page reports it
                log.exception("warm-up of session %s failed", row.id)
        return n

    # -- sessions ----------------------------------------------------------------------

    def sessions(
        self,
        *,
        protocol: str | None = None,
        tag: str | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        study: str | None = None,
        participant: str | None = None,
    ) -> list[SessionRow]:
        """Sessions newest first, filtered by protocol, tag, study, participant and day range
        (inclusive)."""
        infos = self.reader.list_sessions(
            tag=tag or None,
            protocol=protocol or None,
            study=study or None,
            participant=participant or None,
        )
        rows = [_row(i) for i in infos]
        if day_from:
            rows = [r for r in rows if r.day >= day_from]
        if day_to:
            rows = [r for r in rows if r.day <= day_to]
        return sorted(rows, key=lambda r: (r.started_at, r.id), reverse=True)

    def session_row(self, session_id: int) -> SessionRow:
        return _row(self.reader.session(session_id))

    def protocols_in_store(self) -> list[str]:
        return sorted({r.protocol for r in self.sessions()})

    def tags_in_store(self) -> list[str]:
        return sorted({t for r in self.sessions() for t in r.tags})

    # -- edits -------------------------------------------------------------------------

    def _store(self) -> Any:
        if self._editor is not None:
            return self._editor()
        from biofeedback.sessions.store import Store

        return Store(self.reader.path, create=False)

    def rename(self, session_id: int, title: str) -> None:
        with self._store() as s:
            s.rename(session_id, title.strip())

    def tag(self, session_id: int, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        with self._store() as s:
            s.tag(session_id, add=add, remove=remove)

    def delete(self, session_id: int) -> None:
        with self._store() as s:
            s.delete(session_id)

    def add_note(self, session_id: int, text: str) -> None:
        with self._store() as s:
            s.annotate(session_id, text.strip(), append=True)

    # -- one session -------------------------------------------------------------------

    def view(self, session_id: int) -> SessionView:
        """The session's read model (what the Session page draws)."""
        return self.views.view(session_id)

    def series(self, session_id: int) -> SessionSeries:
        """The Session page's series, from the session's `SessionView`."""
        v = self.view(session_id)
        w = v.whole
        return SessionSeries(
            row=_row(v.info),
            t_s=v.t_s,
            rr_ms=v.rr_ms,
            segment=v.segment,
            artefact=v.artefact,
            phases=_bands(v),
            markers=tuple(MarkerPoint(m.t_s, m.text or m.kind, m.kind) for m in v.marks),
            gaps=tuple(LinkGap(g.start_s, g.end_s, g.reason) for g in v.gaps),
            rmssd_t_s=v.t_s,
            rmssd_ms=v.rolling_rmssd_ms,
            rmssd_window_s=v.rolling_window_s,
            psd_freq_hz=w.freq_hz,
            psd_ms2_per_hz=w.psd_ms2_hz,
            sd1_ms=w.metrics.get("SD1_ms"),
            sd2_ms=w.metrics.get("SD2_ms"),
            warnings=w.warnings,
        )

    def phase_bands(self, session_id: int) -> tuple[PhaseBand, ...]:
        return tuple(
            PhaseBand(p.name, p.kind, float(p.start_s), float(p.end_s))
            for p in self.reader.phases(session_id)
        )

    def gaps(self, session_id: int) -> tuple[LinkGap, ...]:
        """Link gaps (the one rule: `biofeedback.sessions.view.link_gaps`)."""
        return tuple(LinkGap(g.start_s, g.end_s, g.reason) for g in self.view(session_id).gaps)

    def phase_metrics(self, session_id: int) -> tuple[PhaseMetrics, ...]:
        """Metrics per recorded phase plus the whole session (``phase="all"``)."""
        v = self.view(session_id)
        rows = [_phase_row(session_id, p) for p in v.phases] if v.spans else []
        if v.t_s.size:
            rows.append(_phase_row(session_id, v.whole, name="all", kind="all"))
        return tuple(rows)

    # -- comparison --------------------------------------------------------------------

    def _fingerprint(self) -> tuple[Any, ...]:
        # The normal range depends on every session: a comparison is current while none of
        # them changed.
        return tuple((i.id, i.n_beats, str(i.status), i.title) for i in self.reader.list_sessions())

    def compare(self, session_ids: Sequence[int]) -> Comparison:
        """The Compare page: `biofeedback.sessions.compare.compare_sessions` as a page model."""
        ids = tuple(dict.fromkeys(int(i) for i in session_ids))
        key = ("cmp", ids, self._fingerprint())
        return self._cached(key, lambda: self._compare(ids))  # type: ignore[no-any-return]

    def _compare(self, ids: tuple[int, ...]) -> Comparison:
        from biofeedback.sessions.compare import PHASE_KEYS, compare_sessions
        from biofeedback.sessions.stats import MIN_BASELINES

        mc = compare_sessions(self.views, ids)
        phases: list[PhaseMetrics] = []
        diffs: list[Difference] = []
        verdict: list[str] = []
        caveats: list[str] = []
        for sc in mc.sessions:
            sid = sc.session_id
            phases.extend(_phase_row(sid, p) for p in sc.phases)
            diffs.extend(_difference(sid, d) for d in sc.differences)
            findings, more = split_verdict(sc.verdict)
            caveats.extend(c for c in more if c not in caveats)
            if len(ids) == 1:
                verdict.extend(findings or [NO_VERDICT])
            else:
                verdict.append(f"#{sid}: {findings[0] if findings else NO_VERDICT}")
        notes: list[str] = caveats
        normal = mc.normal_range
        if normal is not None:
            notes.append(
                f"Personal normal range (60 days, {normal.n_baselines} days of baselines): "
                f"RMSSD {math.exp(normal.low):.0f}–{math.exp(normal.high):.0f} ms; 7-day "
                f"average {math.exp(normal.rolling7):.0f} ms is {normal.status} it."
            )
        else:
            notes.append(f"A personal normal range needs baselines on ≥ {MIN_BASELINES} days.")
        if len(verdict) > 12:
            verdict = [*verdict[:12], f"… and {len(verdict) - 12} more sessions"]
        return Comparison(
            session_ids=ids,
            phases=tuple(phases),
            differences=tuple(diffs),
            verdict="\n".join(verdict),  # one finding a line (the page keeps the breaks)
            ci_available=True,
            notes=tuple(notes),
            metrics=tuple(PHASE_KEYS),
        )

    def baseline_history(self) -> list[tuple[float, float]]:
        """``(started_at unix s, baseline lnRMSSD)`` (`biofeedback.sessions.compare`)."""
        from biofeedback.sessions.compare import baseline_history

        return baseline_history(self.views)

    def normal_range(self) -> Any:
        """`biofeedback.sessions.stats.NormalRange` from the baselines, or ``None``."""
        from biofeedback.sessions.stats import personal_normal_range

        return personal_normal_range(self.baseline_history())

    # -- trends ------------------------------------------------------------------------

    def trends(self) -> Trends:
        """Daily resting RMSSD (reliable baseline phases) with the personal normal range.

        The band of a day is `biofeedback.sessions.stats.personal_normal_range` (HRV4Training
        style: 60-day mean of daily baseline lnRMSSD ± 0.5 SD, ≥ 7 days) over the baselines
        *before* that day, mapped back to ms; practice minutes are summed per ISO week.
        """
        from biofeedback.sessions.stats import personal_normal_range

        history = self.baseline_history()
        per_day: dict[str, list[float]] = {}
        for t, ln in history:
            per_day.setdefault(_iso_local(t)[:10], []).append(math.exp(ln))
        practice: dict[str, float] = {}
        for row in self.sessions():
            for p in self.phase_bands(row.id):  # spans only: no analysis needed
                if p.kind == "practice":
                    d = dt.date.fromisoformat(row.day)
                    wk = (d - dt.timedelta(days=d.weekday())).isoformat()
                    practice[wk] = practice.get(wk, 0.0) + (p.end_s - p.start_s) / 60.0
        out: list[TrendDay] = []
        for day in sorted(per_day):
            day_start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time()).timestamp()
            before = [(t, v) for t, v in history if t < day_start]
            nr = personal_normal_range(before, now=day_start) if before else None
            lo = hi = None
            if nr is not None:
                lo, hi = math.exp(nr.low), math.exp(nr.high)
            vals = per_day[day]
            out.append(TrendDay(day, float(np.mean(vals)), lo, hi, len(vals)))
        weeks = sorted(practice)
        return Trends(tuple(out), tuple(weeks), tuple(round(practice[w], 1) for w in weeks))


def _bands(v: SessionView) -> tuple[PhaseBand, ...]:
    return tuple(PhaseBand(p.name, p.kind, float(p.start_s), float(p.end_s)) for p in v.spans)


def _phase_row(
    session_id: int, p: AnalysedPhase, *, name: str | None = None, kind: str | None = None
) -> PhaseMetrics:
    return PhaseMetrics(
        session_id,
        p.name if name is None else name,
        p.kind if kind is None else kind,
        p.start_s,
        p.end_s,
        p.n_beats,
        {k: _finite_or_none(v) for k, v in p.metrics.items()},
        p.reliable,
        tuple(p.warnings),
        p.grade,
    )


def _difference(session_id: int, d: Any) -> Difference:
    kind = d.contrast.split("-")[0]
    if d.estimate is None:
        word = "not computable"
    elif d.within_noise:
        word = "within noise"
    else:
        word = "higher" if d.estimate > 0 else "lower"
    return Difference(session_id, d.metric, kind, "baseline", d.estimate, d.ci_low, d.ci_high, word)
