"""What a report shows, computed once from the store: the one adapter to store/HRV/compare.

:func:`build_session_report` reads a session through `biofeedback.sessions.store.SessionReader`
(never the database directly), analyses the whole session and each protocol phase with
`biofeedback.hrv.analyze_rr`, and returns a frozen :class:`SessionReport` that every
renderer (CSV, JSON, Kubios, HTML, PDF) consumes. Renderers never touch the store.

Differences against the baseline, their bootstrap confidence intervals, the verdict and the
multi-session summary come from `biofeedback.sessions.compare` (``compare_sessions``), so a report
says exactly what ``biofeedback compare`` says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from biofeedback import __version__

if TYPE_CHECKING:
    import pandas as pd

    from biofeedback.hrv import HrvResult
    from biofeedback.sessions.compare import MultiComparison, SessionComparison
    from biofeedback.sessions.store import SessionInfo, SessionReader

__all__ = [
    "CAVEAT",
    "METRIC_INFO",
    "REFERENCES",
    "AnalysisSettings",
    "PhaseReport",
    "ReportBundle",
    "SessionReport",
    "build_report",
    "build_session_report",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Every metric key: (label, unit, what it reflects, reference).
METRIC_INFO: dict[str, tuple[str, str, str, str]] = {
    "MeanNN_ms": ("Mean NN", "ms", "average beat-to-beat interval", "Task Force 1996"),
    "SDNN_ms": ("SDNN", "ms", "overall variability", "Task Force 1996"),
    "RMSSD_ms": (
        "RMSSD",
        "ms",
        "short-term (vagally mediated) variability",
        "Task Force 1996; Shaffer & Ginsberg 2017",
    ),
    "pNN50_pct": ("pNN50", "%", "share of successive differences > 50 ms", "Ewing et al. 1984"),
    "MeanHR_bpm": ("Mean HR", "bpm", "average heart rate", "Task Force 1996"),
    "SDHR_bpm": ("SD HR", "bpm", "spread of instantaneous heart rate", "Kubios HRV guide 2020"),
    "HTI": ("HRV triangular index", "", "geometric overall variability", "Task Force 1996"),
    "TINN_ms": ("TINN", "ms", "width of the NN histogram", "Task Force 1996"),
    "VLF_ms2": ("VLF power", "ms²", "0-0.04 Hz power", "Task Force 1996"),
    "LF_ms2": (
        "LF power",
        "ms²",
        "0.04-0.15 Hz power (baroreflex, slow breathing)",
        "Task Force 1996",
    ),
    "HF_ms2": (
        "HF power",
        "ms²",
        "0.15-0.4 Hz power (respiratory sinus arrhythmia)",
        "Task Force 1996",
    ),
    "TP_ms2": ("Total power", "ms²", "power up to 0.4 Hz", "Task Force 1996"),
    "LF_nu": ("LF", "n.u.", "LF / (LF + HF)", "Task Force 1996"),
    "HF_nu": ("HF", "n.u.", "HF / (LF + HF)", "Task Force 1996"),
    "LFHF": ("LF/HF", "", "ratio; not a clean sympathovagal index", "Billman 2013"),
    "LF_peak_Hz": ("LF peak", "Hz", "frequency of the LF maximum", "Task Force 1996"),
    "HF_peak_Hz": (
        "HF peak",
        "Hz",
        "frequency of the HF maximum (≈ breathing rate)",
        "Task Force 1996",
    ),
    "SD1_ms": ("SD1", "ms", "Poincaré short axis (≈ RMSSD/√2)", "Brennan et al. 2001"),
    "SD2_ms": ("SD2", "ms", "Poincaré long axis", "Brennan et al. 2001"),
    "SampEn": ("Sample entropy", "", "irregularity", "Richman & Moorman 2000"),
    "DFA_alpha1": ("DFA α1", "", "short-term fractal scaling (4-16 beats)", "Peng et al. 1995"),
    "DFA_alpha2": ("DFA α2", "", "long-term fractal scaling (17-64 beats)", "Peng et al. 1995"),
    "StressIndex": (
        "Stress index",
        "",
        "√ of Baevsky's stress index",
        "Baevsky & Chernikova 2017; Kubios",
    ),
    "PNS_index": ("PNS index", "", "parasympathetic index (Kubios)", "Kubios HRV guide 2020"),
    "SNS_index": ("SNS index", "", "sympathetic index (Kubios)", "Kubios HRV guide 2020"),
}

#: Metrics shown in the per-phase table (key, label, unit), in order; label and unit come
#: from :data:`METRIC_INFO` so the table and the references never disagree.
TABLE_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (key, METRIC_INFO[key][0], METRIC_INFO[key][1])
    for key in (
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
)

#: Full references for the short names in :data:`METRIC_INFO`.
REFERENCES: dict[str, str] = {
    "Task Force 1996": "Task Force of the ESC and NASPE (1996). Heart rate variability: standards "
    "of measurement, physiological interpretation and clinical use. Circulation 93:1043-1065.",
    "Shaffer & Ginsberg 2017": "Shaffer F, Ginsberg JP (2017). An overview of heart rate "
    "variability metrics and norms. Front. Public Health 5:258.",
    "Ewing et al. 1984": "Ewing DJ, Neilson JM, Travis P (1984). New method for assessing cardiac "
    "parasympathetic activity using 24 hour electrocardiograms. Br. Heart J. 52:396-402.",
    "Brennan et al. 2001": "Brennan M, Palaniswami M, Kamen P (2001). Do existing measures of "
    "Poincaré plot geometry reflect nonlinear features of heart rate variability? IEEE TBME "
    "48:1342-1347.",
    "Richman & Moorman 2000": "Richman JS, Moorman JR (2000). Physiological time-series analysis "
    "using approximate entropy and sample entropy. Am. J. Physiol. 278:H2039-H2049.",
    "Peng et al. 1995": "Peng CK, Havlin S, Stanley HE, Goldberger AL (1995). Quantification of "
    "scaling exponents and crossover phenomena in nonstationary heartbeat time series. Chaos "
    "5:82-87.",
    "Baevsky & Chernikova 2017": "Baevsky RM, Chernikova AG (2017). Heart rate variability "
    "analysis: physiological foundations and main methods. Cardiometry 10:66-76.",
    "Billman 2013": "Billman GE (2013). The LF/HF ratio does not accurately measure cardiac "
    "sympatho-vagal balance. Front. Physiol. 4:26.",
    "Kubios HRV guide 2020": "Tarvainen MP et al. (2020). Kubios HRV User's Guide, version 3.4. "
    "Kubios Oy.",
    "Lipponen & Tarvainen 2019": "Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart "
    "rate variability time series artefact correction using novel beat classification. J. Med. "
    "Eng. Technol. 43:173-181.",
    "Quigley et al. 2024": "Quigley KS et al. (2024). Publication guidelines for human heart rate "
    "and heart rate variability studies in psychophysiology. Psychophysiology 61:e14604.",
}

CAVEAT = (
    "Heart rate variability is an indirect proxy of autonomic activity, influenced by "
    "breathing, posture, movement, caffeine, sleep and time of day. These numbers describe this "
    "recording; they are not a diagnosis and not medical advice."
)


@dataclass(frozen=True)
class AnalysisSettings:
    """Analysis settings used for a report (printed in its methods section)."""

    correct_artifacts: bool = True
    detrend: str = "none"
    spectral: str = "welch"
    rolling_window_s: float = 60.0

    def describe(self) -> dict[str, str]:
        """Human-readable settings, for the methods section and the JSON export."""
        from biofeedback.hrv.analysis import ARTIFACT_RATE_LIMIT, IRREGULAR_RATE_LIMIT
        from biofeedback.hrv.frequency import BANDS_HZ

        spec = (
            "Welch periodogram of the NN series interpolated at 4 Hz (cubic spline), 300-s "
            "Hann windows with 50 % overlap, mean removed; power in ms²"
            if self.spectral == "welch"
            else "Lomb-Scargle periodogram of the unevenly sampled NN series; power in ms²"
        )
        return {
            "artefact_detection": "Lipponen & Tarvainen (2019) beat classification "
            "(ectopic, missed, extra, long/short); RR outside 200-3000 ms always removed",
            "artefact_correction": "corrected (time-preserving interpolation)"
            if self.correct_artifacts
            else "not corrected (flagged only)",
            "reliability_gate": f"metrics withheld when artefacts exceed "
            f"{ARTIFACT_RATE_LIMIT * 100:.0f} % of beats or more than "
            f"{IRREGULAR_RATE_LIMIT * 100:.0f} % of successive RR change by > 20 %",
            "detrending": "smoothness priors, λ = 500"
            if self.detrend == "smoothness-priors"
            else "none",
            "spectrum": spec,
            "bands": ", ".join(f"{k} {lo:g}-{hi:g} Hz" for k, (lo, hi) in BANDS_HZ.items()),
            "rolling_rmssd": f"{self.rolling_window_s:.0f}-s trailing window, pairs within one "
            "segment and without artefacts",
            "segments": "successive differences, spectra and nonlinear measures never span a "
            "link gap",
        }


@dataclass(frozen=True)
class PhaseReport:
    """One protocol phase: its span, number of beats and full analysis."""

    name: str
    kind: str
    start_s: float
    end_s: float
    n_beats: int
    result: HrvResult

    @property
    def metrics(self) -> Mapping[str, float | None]:
        """Reliable metrics (``None`` when withheld or not computable)."""
        return self.result.metrics


@dataclass(frozen=True)
class SessionReport:
    """Everything a report shows about one session (see module docstring).

    ``beats`` has the `SessionReader.beats` columns plus ``flag`` (artefact type name or
    ``""``); ``gaps`` are ``(start_s, end_s)`` of link losses.
    """

    info: SessionInfo
    beats: pd.DataFrame
    overall: HrvResult
    phases: tuple[PhaseReport, ...]
    markers: pd.DataFrame
    link_events: pd.DataFrame
    gaps: tuple[tuple[float, float], ...]
    settings: AnalysisSettings
    comparison: SessionComparison
    generated_at: dt.datetime
    generator: str = f"biofeedback {__version__}"

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
        out: NDArray[np.bool_] = self.beats["flag"].to_numpy() != ""
        return out

    @property
    def title(self) -> str:
        """Title shown in headings: the session's title or ``Session <id>``."""
        return self.info.title or f"Session {self.info.id}"


def _analyze(
    rr_ms: FloatArray, t_s: FloatArray, segment: IntArray, settings: AnalysisSettings, source: str
) -> HrvResult:
    from biofeedback.hrv import analyze_rr

    return analyze_rr(
        rr_ms,
        t_s=t_s,
        segment=segment,
        correct=settings.correct_artifacts,
        detrend=settings.detrend,  # type: ignore[arg-type]
        spectral=settings.spectral,  # type: ignore[arg-type]
        source=source,
    )


def _gaps(link_events: pd.DataFrame, end_s: float) -> tuple[tuple[float, float], ...]:
    out: list[tuple[float, float]] = []
    down: float | None = None
    for t, state in zip(link_events["t_s"], link_events["state"], strict=True):
        if state in ("disconnected", "reconnecting", "gave_up") and down is None:
            down = float(t)
        elif state == "connected" and down is not None:
            out.append((down, float(t)))
            down = None
    if down is not None:
        out.append((down, max(down, end_s)))
    return tuple(out)


def build_session_report(
    reader: SessionReader,
    session_id: int,
    settings: AnalysisSettings | None = None,
    *,
    comparison: SessionComparison | None = None,
    now: dt.datetime | None = None,
) -> SessionReport:
    """Read one session and analyse it for a report.

    Parameters
    ----------
    reader
        The store, read-only.
    session_id
        The session; `biofeedback.sessions.store.StoreError` (a ``UserError``) if unknown.
    settings
        Analysis settings (default `AnalysisSettings()`).
    comparison
        This session's `biofeedback.sessions.compare.SessionComparison` (computed if not given).
    now
        Generation time stamped on the report (default: current UTC time).
    """
    from biofeedback.hrv.artifacts import TYPE_NAMES
    from biofeedback.sessions.compare import compare_session

    settings = settings or AnalysisSettings()
    info = reader.session(session_id)
    beats = reader.beats(session_id).copy()
    spans = reader.phases(session_id)
    markers = reader.markers(session_id)
    links = reader.link_events(session_id)
    rr = beats["rr_ms"].to_numpy(dtype=np.float64)
    t = beats["t_s"].to_numpy(dtype=np.float64)
    seg = beats["segment"].to_numpy(dtype=np.int64)
    src = f"session {session_id}"
    overall = _analyze(rr, t, seg, settings, src)
    names = np.array([""] + [TYPE_NAMES[k] for k in sorted(TYPE_NAMES)], dtype=object)
    codes = np.asarray(overall.artifacts.flags, dtype=np.int64)
    beats["flag"] = names[codes] if len(codes) == len(beats) else ""
    phases: list[PhaseReport] = []
    for span in spans:
        m = (t >= span.start_s) & (t < span.end_s)
        res = _analyze(rr[m], t[m], seg[m], settings, f"{src}, phase {span.name}")
        phases.append(
            PhaseReport(span.name, span.kind, span.start_s, span.end_s, int(m.sum()), res)
        )
    return SessionReport(
        info=info,
        beats=beats,
        overall=overall,
        phases=tuple(phases),
        markers=markers,
        link_events=links,
        gaps=_gaps(links, info.duration_s),
        settings=settings,
        comparison=comparison or compare_session(reader, session_id),
        generated_at=(now or dt.datetime.now(dt.UTC)).replace(microsecond=0),
    )


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
    reader: SessionReader,
    session_ids: Sequence[int],
    settings: AnalysisSettings | None = None,
    *,
    now: dt.datetime | None = None,
) -> ReportBundle:
    """Build the report of one or more sessions (in the order given).

    Unknown ids raise the store's `StoreError` (a `UserError`) before any analysis.
    """
    from biofeedback.sessions.compare import compare_sessions

    if not session_ids:
        raise ValueError("build_report needs at least one session id")
    for sid in session_ids:
        reader.session(sid)
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    mc = compare_sessions(reader, list(session_ids))
    by_id = {c.session_id: c for c in mc.sessions}
    reports = tuple(
        build_session_report(reader, sid, settings, comparison=by_id[sid], now=stamp)
        for sid in session_ids
    )
    return ReportBundle(reports, mc, stamp)
