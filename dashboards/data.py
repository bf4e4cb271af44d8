"""The dashboard's only door to ``biofeedback``: store reads/edits, HRV analysis, comparison.

Pages and figures see the frozen view models of :mod:`dashboards.model`; this adapter turns
`biofeedback.sessions.store.SessionReader` DataFrames and `biofeedback.hrv` results into them, and
caches per-session analyses (keyed by id, beat count and status, so a session still being
recorded is re-analysed as it grows) so Compare/Trends over 100 sessions stay under 1 s.

Compare and Trends read each session's `biofeedback.sessions.compare.SessionAnalysis` from the
store's persisted analysis cache (filled when a session ends), so they are fast even on the
first request after launch. A finished session without a current cache row (recorded before
the cache existed, or by an older analysis version) is analysed once and saved through a
read-write `Store`; if that fails (db locked, read-only file) the page still works and the
analysis is kept in memory only.
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
    from biofeedback.sessions.compare import SessionAnalysis
    from biofeedback.sessions.store import SessionInfo, SessionReader

log = logging.getLogger(__name__)

#: Metrics shown in the per-phase tables (DESIGN.md §5 keys).
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
ROLLING_WINDOW_S = 60.0
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


class Analysis:
    """What the adapter keeps from one ``analyze_rr`` call."""

    __slots__ = ("artefact", "metrics", "psd_freq_hz", "psd_ms2_per_hz", "reliable", "warnings")

    def __init__(
        self,
        metrics: dict[str, float | None],
        reliable: bool,
        warnings: tuple[str, ...],
        artefact: np.ndarray[Any, np.dtype[np.bool_]],
        psd_freq_hz: np.ndarray[Any, np.dtype[np.float64]],
        psd_ms2_per_hz: np.ndarray[Any, np.dtype[np.float64]],
    ) -> None:
        self.metrics = metrics
        self.reliable = reliable
        self.warnings = warnings
        self.artefact = artefact
        self.psd_freq_hz = psd_freq_hz
        self.psd_ms2_per_hz = psd_ms2_per_hz


def analyze(
    rr_ms: np.ndarray[Any, Any],
    segment: np.ndarray[Any, Any],
    t_s: np.ndarray[Any, Any] | None = None,
    *,
    psd: bool,
) -> Analysis:
    """Run the HRV engine (`biofeedback.hrv.analyze_rr`) and keep what the pages show."""
    from biofeedback.hrv import analyze_rr

    n = int(rr_ms.size)
    empty = np.zeros(0, dtype=np.float64)
    if n < 3:
        return Analysis({}, False, ("too few beats",), np.zeros(n, bool), empty, empty)
    res = analyze_rr(
        np.asarray(rr_ms, np.float64),
        t_s=None if t_s is None else np.asarray(t_s, np.float64),
        segment=np.asarray(segment, np.int64),
    )
    metrics = {k: _finite_or_none(v) for k, v in res.metrics.items()}
    flags = np.asarray(res.artifacts.flags)
    artefact = flags != 0 if flags.size == n else np.zeros(n, bool)
    f = p = empty
    if psd and res.spectrum is not None:
        f = np.asarray(res.spectrum.freq_hz, np.float64)
        p = np.asarray(res.spectrum.psd_ms2_hz, np.float64)
    return Analysis(
        metrics, bool(res.reliable), tuple(str(w) for w in res.warnings), artefact, f, p
    )


def rolling_rmssd(
    t_s: np.ndarray[Any, Any],
    rr_ms: np.ndarray[Any, Any],
    segment: np.ndarray[Any, Any],
    artefact: np.ndarray[Any, Any],
    window_s: float = ROLLING_WINDOW_S,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Trailing-window RMSSD (ms) at every beat, for display.

    Successive differences are taken within a segment and only between two unflagged beats;
    a window with fewer than 10 of them is NaN. Vectorised with cumulative sums (O(n)).
    """
    t = np.asarray(t_s, np.float64)
    rr = np.asarray(rr_ms, np.float64)
    n = rr.size
    if n < 2:
        return t.copy(), np.full(n, np.nan)
    ok = (segment[1:] == segment[:-1]) & ~artefact[1:] & ~artefact[:-1]
    d2 = np.where(ok, np.diff(rr) ** 2, 0.0)
    cnt = ok.astype(np.float64)
    cs = np.concatenate([[0.0], np.cumsum(d2)])
    cc = np.concatenate([[0.0], np.cumsum(cnt)])
    td = t[1:]  # a difference is "at" the later beat
    lo = np.searchsorted(td, td - window_s, side="right")
    hi = np.arange(1, td.size + 1)
    s = cs[hi] - cs[lo]
    c = cc[hi] - cc[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(c >= 10, np.sqrt(s / np.maximum(c, 1)), np.nan)
    return td, val


class DashboardData:
    """Read (and edit) sessions for the pages; thread-safe; caches analyses.

    Parameters
    ----------
    reader
        The store's read-only `SessionReader`.
    editor
        Opens a read-write store for rename/tag/delete/notes (default: ``Store(reader.path)``).
    """

    def __init__(self, reader: SessionReader, editor: Callable[[], Any] | None = None) -> None:
        self.reader = reader
        self._editor = editor
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        # Session id -> ((n_beats, status), analysis): small, one entry per session, no LRU.
        self._analyses: dict[int, tuple[tuple[int, str], SessionAnalysis]] = {}

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
        """Fill the caches (run in a background thread at server start): first the
        comparisons (cheap once the store's analysis cache is filled; sessions missing there
        are analysed and saved), then each session's phase table for the Session page.
        Returns how many sessions got their phase table."""
        try:
            self.baseline_history()
        except Exception:  # a bad store must not kill the thread; pages report it
            log.exception("warm-up of the analysis cache failed")
        for row in self.sessions():
            if stop is not None and stop.is_set():
                break
            try:
                self.compare([row.id])
            except Exception:  # a bad session must not stop the others
                continue
        n = 0
        for row in self.sessions():
            if stop is not None and stop.is_set():
                break
            try:
                self.phase_metrics(row.id)
                n += 1
            except Exception:  # a bad session must not stop the others
                continue
        return n

    def analyses(self, infos: Sequence[SessionInfo]) -> dict[int, SessionAnalysis]:
        """`biofeedback.sessions.compare.SessionAnalysis` of each session: from memory, else the
        store's analysis cache, else computed now (and, for a finished session, saved)."""
        from biofeedback.sessions import compare as engine

        out: dict[int, SessionAnalysis] = {}
        to_save: list[SessionAnalysis] = []
        for info in infos:
            key = (info.n_beats, str(info.status))
            with self._lock:
                hit = self._analyses.get(info.id)
            if hit is not None and hit[0] == key:
                out[info.id] = hit[1]
                continue
            an = engine.load_analysis(self.reader, info.id, info=info)
            if an is None:
                an = engine.analyse_session(self.reader, info.id)
                if str(info.status) in engine.FINAL_STATUSES and an.n_beats == info.n_beats:
                    to_save.append(an)
            with self._lock:
                self._analyses[info.id] = (key, an)
            out[info.id] = an
        if to_save:
            self._save_analyses(to_save)
        return out

    def _save_analyses(self, analyses: Sequence[SessionAnalysis]) -> None:
        try:
            with self._store() as s:
                for an in analyses:
                    s.save_analysis(an.session_id, an.version, an.n_beats, an.to_json())
        except Exception as exc:  # locked or read-only store: keep them in memory only
            log.info("analysis cache not saved (%s)", exc)

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

    def _key(self, session_id: int) -> tuple[Any, ...]:
        info = self.reader.session(session_id)
        return (session_id, info.n_beats, str(info.status), info.title)

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

    def _beats(self, session_id: int) -> Any:
        return self.reader.beats(session_id)

    def series(self, session_id: int) -> SessionSeries:
        """Everything the Session page draws (cached)."""
        return self._cached(("series", *self._key(session_id)), lambda: self._series(session_id))  # type: ignore[no-any-return]

    def _series(self, session_id: int) -> SessionSeries:
        row = self.session_row(session_id)
        df = self._beats(session_id)
        t = df["t_s"].to_numpy(np.float64)
        rr = df["rr_ms"].to_numpy(np.float64)
        seg = df["segment"].to_numpy(np.int64)
        warnings: list[str] = []
        try:
            an = analyze(rr, seg, t, psd=True)
            artefact = an.artefact
            warnings.extend(an.warnings)
            sd1, sd2 = an.metrics.get("SD1_ms"), an.metrics.get("SD2_ms")
            f, p = an.psd_freq_hz, an.psd_ms2_per_hz
        except ImportError as exc:
            warnings.append(f"HRV engine unavailable ({exc})")
            artefact = np.zeros(rr.size, bool)
            sd1 = sd2 = None
            f = p = np.zeros(0)
        rt, rv = rolling_rmssd(t, rr, seg, artefact, ROLLING_WINDOW_S)
        markers = self.reader.markers(session_id)
        mk = tuple(
            MarkerPoint(float(m.t_s), str(m.text or m.kind), str(m.kind))  # type: ignore[arg-type]
            for m in markers.itertuples()
            if m.kind in ("mark", "note")
        )
        return SessionSeries(
            row=row,
            t_s=t,
            rr_ms=rr,
            segment=seg,
            artefact=artefact,
            phases=self.phase_bands(session_id),
            markers=mk,
            gaps=self.gaps(session_id),
            rmssd_t_s=rt,
            rmssd_ms=rv,
            rmssd_window_s=ROLLING_WINDOW_S,
            psd_freq_hz=f,
            psd_ms2_per_hz=p,
            sd1_ms=sd1,
            sd2_ms=sd2,
            warnings=tuple(warnings),
        )

    def phase_bands(self, session_id: int) -> tuple[PhaseBand, ...]:
        return tuple(
            PhaseBand(p.name, p.kind, float(p.start_s), float(p.end_s))
            for p in self.reader.phases(session_id)
        )

    def gaps(self, session_id: int) -> tuple[LinkGap, ...]:
        """Link losses as [disconnected, next connected) spans."""
        ev = self.reader.link_events(session_id)
        out: list[LinkGap] = []
        start: float | None = None
        reason = ""
        for e in ev.itertuples():
            if e.state == "disconnected" and start is None:
                start, reason = float(e.t_s), str(e.detail or "link lost")  # type: ignore[arg-type]
            elif e.state == "connected" and start is not None:
                out.append(LinkGap(start, float(e.t_s), reason))  # type: ignore[arg-type]
                start = None
        if start is not None:
            out.append(LinkGap(start, start, reason))
        return tuple(out)

    def phase_metrics(self, session_id: int) -> tuple[PhaseMetrics, ...]:
        """Metrics per recorded phase plus the whole session (``phase="all"``), cached."""
        return self._cached(  # type: ignore[no-any-return]
            ("phases", *self._key(session_id)), lambda: self._phase_metrics(session_id)
        )

    def _phase_metrics(self, session_id: int) -> tuple[PhaseMetrics, ...]:
        df = self._beats(session_id)
        t = df["t_s"].to_numpy(np.float64)
        rr = df["rr_ms"].to_numpy(np.float64)
        seg = df["segment"].to_numpy(np.int64)
        spans = list(self.phase_bands(session_id))
        if t.size:
            spans.append(PhaseBand("all", "all", float(t[0]) - 1e-9, float(t[-1]) + 1e-9))
        out: list[PhaseMetrics] = []
        for sp in spans:
            m = (t >= sp.start_s) & (t < sp.end_s)
            try:
                an = analyze(rr[m], seg[m], t[m], psd=False)
                metrics, reliable, warns = an.metrics, an.reliable, an.warnings
            except ImportError as exc:
                metrics, reliable, warns = {}, False, (f"HRV engine unavailable ({exc})",)
            out.append(
                PhaseMetrics(
                    session_id,
                    sp.name,
                    sp.kind,
                    sp.start_s,
                    sp.end_s,
                    int(m.sum()),
                    metrics,
                    reliable,
                    warns,
                )
            )
        return tuple(out)

    # -- comparison --------------------------------------------------------------------

    def compare(self, session_ids: Sequence[int]) -> Comparison:
        """Per-phase metrics of the sessions and their differences from baseline.

        Uses `biofeedback.sessions.compare.compare_session` (bootstrap CIs, verdict) per session,
        cached; the personal normal range (`biofeedback.sessions.compare.personal_normal_range`) is
        built from the cached baseline values instead of re-analysing every session on
        each request (`biofeedback.sessions.compare.compare_sessions` does that).
        """
        ids = tuple(dict.fromkeys(int(i) for i in session_ids))
        try:
            from biofeedback.sessions import compare as engine
        except ImportError:
            return self._compare_without_engine(ids)
        normal = self.normal_range()
        swc = None if normal is None else round(float(normal.swc), 6)
        phases: list[PhaseMetrics] = []
        diffs: list[Difference] = []
        verdict: list[str] = []
        caveats: list[str] = []
        infos = {sid: self.reader.session(sid) for sid in ids}
        keys = {
            sid: ("cmp", sid, i.n_beats, str(i.status), i.title, swc) for sid, i in infos.items()
        }
        with self._lock:
            missing = [infos[sid] for sid in ids if keys[sid] not in self._cache]
        analysed = self.analyses(missing)
        for sid in ids:
            info = infos[sid]

            def make(info: SessionInfo = info) -> Any:
                an = analysed.get(info.id) or self.analyses([info])[info.id]
                return engine.comparison_from_analysis(info, an, swc_lnrmssd=swc)

            sc = self._cached(keys[sid], make)
            for p in sc.phases:
                phases.append(
                    PhaseMetrics(
                        sid,
                        p.name,
                        p.kind,
                        p.start_s,
                        p.end_s,
                        p.n_beats,
                        dict(p.metrics),
                        p.reliable,
                        tuple(p.warnings),
                    )
                )
            for d in sc.differences:
                kind = d.contrast.split("-")[0]
                if d.estimate is None:
                    word = "not computable"
                elif d.within_noise:
                    word = "within noise"
                else:
                    word = "higher" if d.estimate > 0 else "lower"
                diffs.append(
                    Difference(
                        sid, d.metric, kind, "baseline", d.estimate, d.ci_low, d.ci_high, word
                    )
                )
            findings, more = split_verdict(sc.verdict)
            caveats.extend(c for c in more if c not in caveats)
            if len(ids) == 1:
                verdict.extend(findings or [NO_VERDICT])
            else:
                verdict.append(f"#{sid}: {findings[0] if findings else NO_VERDICT}")
        notes: list[str] = caveats
        if normal is not None:
            notes.append(
                f"Personal normal range (60 days, {normal.n_baselines} days of baselines): "
                f"RMSSD {math.exp(normal.low):.0f}–{math.exp(normal.high):.0f} ms; 7-day "
                f"average {math.exp(normal.rolling7):.0f} ms is {normal.status} it."
            )
        else:
            notes.append(
                f"A personal normal range needs baselines on ≥ {engine.MIN_BASELINES} days."
            )
        if len(verdict) > 12:
            verdict = [*verdict[:12], f"… and {len(verdict) - 12} more sessions"]
        return Comparison(
            session_ids=ids,
            phases=tuple(phases),
            differences=tuple(diffs),
            verdict="\n".join(verdict),  # one finding a line (the page keeps the breaks)
            ci_available=True,
            notes=tuple(notes),
            metrics=tuple(engine.PHASE_KEYS),
        )

    def baseline_history(self) -> list[tuple[float, float]]:
        """``(started_at unix s, baseline lnRMSSD)`` of sessions with a reliable baseline."""
        out: list[tuple[float, float]] = []
        infos = [
            i
            for i in self.reader.list_sessions()
            if any(p.kind == "baseline" for p in self.reader.phases(i.id))
        ]
        # Same values as `biofeedback.sessions.compare.baseline_history` (first baseline phase).
        analysed = self.analyses(infos)
        for info in infos:
            ln = analysed[info.id].baseline_lnrmssd()
            if ln is not None:
                out.append((info.started_at, ln))
        return out

    def normal_range(self) -> Any:
        """`biofeedback.sessions.compare.NormalRange` from the cached baselines, or ``None``."""
        from biofeedback.sessions.compare import personal_normal_range

        return personal_normal_range(self.baseline_history())

    def _compare_without_engine(self, ids: tuple[int, ...]) -> Comparison:
        phases: list[PhaseMetrics] = []
        for sid in ids:
            phases.extend(self.phase_metrics(sid))
        return Comparison(
            session_ids=ids,
            phases=tuple(phases),
            differences=tuple(_differences_without_ci(phases)),
            verdict="Confidence intervals pending: the comparison engine is not installed.",
            ci_available=False,
            notes=("Differences are phase values minus baseline; no uncertainty yet.",),
        )

    # -- trends ------------------------------------------------------------------------

    def trends(self) -> Trends:
        """Daily resting RMSSD (reliable baseline phases) with the personal normal range.

        The band of a day is `biofeedback.sessions.compare.personal_normal_range` (HRV4Training
        style: 60-day mean of daily baseline lnRMSSD ± 0.5 SD, ≥ 7 days) over the baselines
        *before* that day, mapped back to ms; practice minutes are summed per ISO week.
        """
        from biofeedback.sessions.compare import personal_normal_range

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


def _differences_without_ci(phases: Sequence[PhaseMetrics]) -> list[Difference]:
    out: list[Difference] = []
    by_session: dict[int, list[PhaseMetrics]] = {}
    for p in phases:
        by_session.setdefault(p.session_id, []).append(p)
    for sid, pms in by_session.items():
        base = next((p for p in pms if p.kind == "baseline"), None)
        if base is None:
            continue
        for p in pms:
            if p is base or p.phase == "all":
                continue
            for metric in COMPARE_METRICS:
                a, b = p.metrics.get(metric), base.metrics.get(metric)
                delta = None if a is None or b is None else a - b
                out.append(
                    Difference(sid, metric, p.phase, base.phase, delta, None, None, "CI pending")
                )
    return out
