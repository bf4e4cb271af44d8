"""`SessionView`: one read model of a stored session for every consumer.

A `SessionView` is everything any output shows about one session: the beat arrays, phase
spans and each beat's phase (one slicing rule, `biofeedback.sessions.store.phase_index`),
link gaps (one rule, `link_gaps`), user marks, the artefact mask, the corrected NN series,
the rolling RMSSD (one definition, `biofeedback.hrv.rolling.rolling_rmssd`), spectra, the
per-phase and per-kind results with their quality grade, and the inputs of the verdict
(the pooled kinds' window sums). Reports, the dashboard's pages, ``compare``, ``sessions``
and ``session`` read it; none of them calls the HRV engine.

`SessionViews` hands them out: it keeps each session's `SessionAnalysis` in memory, else
loads it from the store's analysis cache, else computes it (`analyse_session`, one analysis)
and saves it for finished sessions, so the engine runs once per session per analysis version
whatever is asked. The engine is injected (``analyze=``), which is how tests count its calls.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from biofeedback.hrv._types import BoolArray, FloatArray, IntArray
from biofeedback.sessions.analysis import (
    FINAL_STATUSES,
    Analyzer,
    PhaseMetrics,
    SessionAnalysis,
    analyse_session,
    load_analysis,
)
from biofeedback.sessions.settings import DEFAULT_SETTINGS, AnalysisSettings

if TYPE_CHECKING:
    import pandas as pd

    from biofeedback.sessions.store import PhaseSpan, SessionInfo, SessionReader, Store

log = logging.getLogger(__name__)

#: Link states that open a gap (no data until the next ``connected``).
GAP_OPENING: frozenset[str] = frozenset({"disconnected", "reconnecting", "gave_up"})


@dataclass(frozen=True, slots=True)
class LinkGap:
    """A stretch without data because the link was lost: ``[start_s, end_s]``, seconds."""

    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Mark:
    """A user mark or note at ``t_s`` seconds."""

    t_s: float
    kind: str
    text: str
    phase: str | None

    @property
    def label(self) -> str:
        """What a figure writes at the mark: its text, or its kind."""
        return self.text or self.kind


def link_gaps(link_events: pd.DataFrame, end_s: float) -> tuple[LinkGap, ...]:
    """Link gaps from the stored link events: the one rule.

    A gap opens at the first ``disconnected``, ``reconnecting`` or ``gave_up`` while the link
    was up and closes at the next ``connected``; a gap still open at the end runs to
    ``end_s`` (the session's end). ``reason`` is the opening event's detail (or its state).
    """
    out: list[LinkGap] = []
    start: float | None = None
    reason = ""
    for t, state, detail in zip(
        link_events["t_s"], link_events["state"], link_events["detail"], strict=True
    ):
        if state in GAP_OPENING and start is None:
            start, reason = float(t), str(detail or state)
        elif state == "connected" and start is not None:
            out.append(LinkGap(start, float(t), reason))
            start = None
    if start is not None:
        out.append(LinkGap(start, max(start, float(end_s)), reason))
    return tuple(out)


@dataclass(frozen=True, slots=True, eq=False)
class SessionView:
    """Everything every output needs about one session (see the module docstring).

    ``beats`` is `SessionReader.beats` plus ``flag`` (artefact type name or ``""``);
    ``markers``/``link_events`` are the reader's DataFrames (for the exports). Arrays are
    per stored beat; ``rolling_rmssd_ms`` is NaN where the window is too thin.
    """

    info: SessionInfo
    analysis: SessionAnalysis
    settings: AnalysisSettings
    beats: pd.DataFrame
    t_s: FloatArray
    rr_ms: FloatArray
    segment: IntArray
    phase_of_beat: IntArray
    spans: tuple[PhaseSpan, ...]
    gaps: tuple[LinkGap, ...]
    marks: tuple[Mark, ...]
    markers: pd.DataFrame
    link_events: pd.DataFrame
    rolling_rmssd_ms: FloatArray

    @property
    def session_id(self) -> int:
        return self.info.id

    @property
    def title(self) -> str:
        """The session's title or ``Session <id>``."""
        return self.info.title or f"Session {self.info.id}"

    @property
    def artefact(self) -> BoolArray:
        """Per-beat artefact mask (whole-session analysis)."""
        out: BoolArray = self.analysis.flags != 0
        return out

    @property
    def whole(self) -> PhaseMetrics:
        """The whole session's results."""
        return self.analysis.whole

    @property
    def phases(self) -> tuple[PhaseMetrics, ...]:
        """Each recorded phase's results (``whole`` alone for a session without phases)."""
        return self.analysis.phases

    @property
    def by_kind(self) -> tuple[PhaseMetrics, ...]:
        """Pooled phase kinds (baseline, practice, recovery present), the verdict's inputs."""
        return self.analysis.by_kind

    @property
    def rolling_window_s(self) -> float:
        return self.settings.rolling_window_s

    @property
    def nn_groups(self) -> list[str]:
        """Phase name of each corrected NN interval (``(no phase)`` outside phases)."""
        from biofeedback.sessions.store import phase_index

        names = np.array(["(no phase)"] + [s.name for s in self.spans], dtype=object)
        out: list[str] = names[phase_index(self.analysis.nn_t_s, self.spans) + 1].tolist()
        return out


def build_view(
    reader: SessionReader,
    info: SessionInfo,
    analysis: SessionAnalysis,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> SessionView:
    """Assemble a `SessionView` from the store and a (cached or fresh) analysis."""
    from biofeedback.hrv.artifacts import TYPE_NAMES
    from biofeedback.hrv.rolling import rolling_rmssd
    from biofeedback.sessions.store import phase_index

    beats = reader.beats(info.id).copy()
    spans = tuple(reader.phases(info.id))
    t = beats["t_s"].to_numpy(dtype=np.float64)
    rr = beats["rr_ms"].to_numpy(dtype=np.float64)
    seg = beats["segment"].to_numpy(dtype=np.int64)
    names = np.array([""] + [TYPE_NAMES[k] for k in sorted(TYPE_NAMES)], dtype=object)
    flags = analysis.flags if analysis.flags.size == len(beats) else np.zeros(len(beats), int)
    beats["flag"] = names[flags]
    markers = reader.markers(info.id)
    links = reader.link_events(info.id)
    marks = tuple(
        Mark(float(t_m), str(k), str(tx or ""), None if ph is None else str(ph))
        for t_m, k, tx, ph in zip(
            markers["t_s"].tolist(),
            markers["kind"].tolist(),
            markers["text"].tolist(),
            markers["phase"].tolist(),
            strict=True,
        )
        if k in ("mark", "note")
    )
    return SessionView(
        info=info,
        analysis=analysis,
        settings=settings,
        beats=beats,
        t_s=t,
        rr_ms=rr,
        segment=seg,
        phase_of_beat=phase_index(t, spans),
        spans=spans,
        gaps=link_gaps(links, info.duration_s),
        marks=marks,
        markers=markers,
        link_events=links,
        rolling_rmssd_ms=rolling_rmssd(t, rr, seg, flags != 0, settings.rolling_window_s),
    )


class SessionViews:
    """Hands out `SessionView`s and `SessionAnalysis`es; thread-safe; one analysis a session.

    Parameters
    ----------
    reader
        The store's read path.
    analyze
        The HRV engine (default :func:`biofeedback.hrv.analyze_rr`); injected to count calls.
    save
        Opens a read-write `Store` to save analyses it had to compute (default:
        ``Store(reader.path)``); ``None`` never saves (in memory only). A failure to save
        (locked or read-only store) is logged and the analysis kept in memory.
    settings
        Non-default settings are analysed fresh and never saved.
    """

    _VIEWS = 8  # views hold the beat arrays: keep a few (the pages being looked at)

    def __init__(
        self,
        reader: SessionReader,
        *,
        analyze: Analyzer | None = None,
        save: Callable[[], Store] | bool | None = True,
        settings: AnalysisSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.reader = reader
        self._analyze = analyze
        self._save = save
        self.settings = settings
        self._lock = threading.Lock()
        self._analyses: dict[int, tuple[tuple[int, str], SessionAnalysis]] = {}
        self._views: OrderedDict[tuple[Any, ...], SessionView] = OrderedDict()

    def _opener(self) -> Callable[[], Store] | None:
        if self._save is False or self._save is None:
            return None
        if self._save is True:
            from biofeedback.sessions.store import Store

            return lambda: Store(self.reader.path, create=False)
        return self._save

    def analyses(self, infos: Sequence[SessionInfo]) -> dict[int, SessionAnalysis]:
        """The analysis of each session: memory, else the store's cache, else computed."""
        out: dict[int, SessionAnalysis] = {}
        to_save: list[SessionAnalysis] = []
        default = self.settings == DEFAULT_SETTINGS
        for info in infos:
            key = (info.n_beats, str(info.status))
            with self._lock:
                hit = self._analyses.get(info.id)
            if hit is not None and hit[0] == key:
                out[info.id] = hit[1]
                continue
            an = load_analysis(self.reader, info.id, info=info) if default else None
            if an is None:
                an = analyse_session(
                    self.reader, info.id, analyze=self._analyze, settings=self.settings
                )
                final = str(info.status) in FINAL_STATUSES
                if default and final and an.n_beats == info.n_beats:
                    to_save.append(an)
            with self._lock:
                self._analyses[info.id] = (key, an)
            out[info.id] = an
        if to_save:
            self._store_all(to_save)
        return out

    def _store_all(self, analyses: Sequence[SessionAnalysis]) -> None:
        from biofeedback.sessions.analysis import save_analysis

        opener = self._opener()
        if opener is None:
            return
        try:
            with opener() as store:
                for an in analyses:
                    save_analysis(store, an)
        except Exception as exc:  # locked or read-only store: keep them in memory only
            log.info("analysis cache not saved (%s)", exc)

    def analysis(self, session_id: int, info: SessionInfo | None = None) -> SessionAnalysis:
        """The analysis of one session (see `analyses`)."""
        info = self.reader.session(session_id) if info is None else info
        return self.analyses([info])[info.id]

    def view(self, session_id: int) -> SessionView:
        """The `SessionView` of one session (kept while its beats, status and title hold)."""
        info = self.reader.session(session_id)
        key = (info.id, info.n_beats, str(info.status), info.title, info.notes, info.tags)
        with self._lock:
            hit = self._views.get(key)
            if hit is not None:
                self._views.move_to_end(key)
                return hit
        v = build_view(self.reader, info, self.analysis(session_id, info), self.settings)
        with self._lock:
            self._views[key] = v
            while len(self._views) > self._VIEWS:
                self._views.popitem(last=False)
        return v


def views_of(source: SessionReader | SessionViews) -> SessionViews:
    """``source`` itself when it is a `SessionViews`, else a fresh one over the reader
    (which never writes to the store)."""
    return source if isinstance(source, SessionViews) else SessionViews(source, save=False)
