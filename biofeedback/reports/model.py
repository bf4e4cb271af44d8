"""What a report shows: each session's `SessionView` and the comparison across them.

:func:`build_report` reads the sessions through the one read model
(`biofeedback.sessions.view.SessionViews`: the cached analysis, or one analysis computed
now) and returns a frozen :class:`ReportBundle` that every renderer (CSV, JSON, Kubios, HTML,
PDF) consumes. Renderers never touch the store and nothing here calls the HRV engine.

Differences against the baseline, their bootstrap confidence intervals, the verdict and the
multi-session summary come from `biofeedback.sessions.compare.compare_sessions`, so a report
says exactly what ``biofeedback compare`` says. Metric labels, units and references are the
metric catalogue's (`biofeedback.hrv.catalog`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from biofeedback import __version__
from biofeedback.sessions.analysis import PhaseMetrics
from biofeedback.sessions.settings import AnalysisSettings

if TYPE_CHECKING:
    import pandas as pd

    from biofeedback.sessions.compare import MultiComparison, SessionComparison
    from biofeedback.sessions.store import SessionInfo, SessionReader
    from biofeedback.sessions.view import SessionView, SessionViews

__all__ = [
    "CAVEAT",
    "TABLE_METRICS",
    "AnalysisSettings",
    "ReportBundle",
    "SessionReport",
    "build_report",
]

#: Metrics of the per-phase table, in order (labels and units from the catalogue).
TABLE_METRICS: tuple[str, ...] = (
    "MeanHR_bpm",
    "MeanNN_ms",
    "SDNN_ms",
    "RMSSD_ms",
    "pNN50_pct",
    "HF_ms2",
    "LF_ms2",
    "LFHF",
    "HF_peak_Hz",
    "SD1_ms",
    "SD2_ms",
    "StressIndex",
)

CAVEAT = (
    "Heart rate variability is an indirect proxy of autonomic activity, influenced by "
    "breathing, posture, movement, caffeine, sleep and time of day. These numbers describe this "
    "recording; they are not a diagnosis and not medical advice."
)


@dataclass(frozen=True)
class SessionReport:
    """One session of a report: its `SessionView` and its comparison (verdict, CIs)."""

    view: SessionView
    comparison: SessionComparison
    generated_at: dt.datetime
    generator: str = f"biofeedback {__version__}"

    @property
    def info(self) -> SessionInfo:
        return self.view.info

    @property
    def beats(self) -> pd.DataFrame:
        """`SessionReader.beats` columns plus ``flag`` (artefact type name or ``""``)."""
        return self.view.beats

    @property
    def overall(self) -> PhaseMetrics:
        """The whole session's results."""
        return self.view.whole

    @property
    def phases(self) -> tuple[PhaseMetrics, ...]:
        """Each recorded protocol phase (none for a session without phases)."""
        return self.view.phases if self.view.spans else ()

    @property
    def markers(self) -> pd.DataFrame:
        return self.view.markers

    @property
    def link_events(self) -> pd.DataFrame:
        return self.view.link_events

    @property
    def gaps(self) -> tuple[tuple[float, float], ...]:
        """Link gaps ``(start_s, end_s)`` (the one rule: `biofeedback.sessions.view.link_gaps`)."""
        return tuple((g.start_s, g.end_s) for g in self.view.gaps)

    @property
    def settings(self) -> AnalysisSettings:
        return self.view.settings

    @property
    def verdict(self) -> str:
        """The comparison's verdict in words (from `biofeedback.sessions.compare`)."""
        return " ".join(self.comparison.verdict)

    @property
    def started_at(self) -> dt.datetime:
        """Session start as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.info.started_at, tz=dt.UTC)

    @property
    def artefact(self) -> NDArray[np.bool_]:
        """Per-beat artefact mask."""
        return self.view.artefact

    @property
    def title(self) -> str:
        """Title shown in headings: the session's title or ``Session <id>``."""
        return self.view.title


@dataclass(frozen=True)
class ReportBundle:
    """The sessions of one report (one or several) and the comparison across them."""

    sessions: tuple[SessionReport, ...]
    comparison: MultiComparison
    generated_at: dt.datetime

    @property
    def summary(self) -> tuple[str, ...]:
        """Cross-session summary lines (resting HRV change, personal normal range)."""
        return self.comparison.summary


def build_report(
    source: SessionReader | SessionViews,
    session_ids: Sequence[int],
    settings: AnalysisSettings | None = None,
    *,
    now: dt.datetime | None = None,
) -> ReportBundle:
    """Build the report of one or more sessions (in the order given).

    ``source`` is the read model (or a reader, wrapped in one). Non-default ``settings``
    analyse the sessions afresh with them (never cached). Unknown ids raise the store's
    `StoreError` (a `UserError`) before any analysis.
    """
    from biofeedback.sessions.compare import compare_sessions
    from biofeedback.sessions.view import SessionViews, views_of

    if not session_ids:
        raise ValueError("build_report needs at least one session id")
    views = views_of(source)
    if settings is not None and settings != views.settings:
        views = SessionViews(views.reader, save=False, settings=settings)
    for sid in session_ids:
        views.reader.session(sid)
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    mc = compare_sessions(views, list(session_ids))
    by_id = {c.session_id: c for c in mc.sessions}
    reports = tuple(SessionReport(views.view(sid), by_id[sid], stamp) for sid in session_ids)
    return ReportBundle(reports, mc, stamp)
