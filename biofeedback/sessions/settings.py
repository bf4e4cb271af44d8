"""The declared parameters of a session analysis and the analysis version derived from code.

`ANALYSIS_VERSION` keys the store's analysis cache. It is a hash of the source of the
modules that determine the stored numbers (`VERSIONED_MODULES`) and of the default
`AnalysisSettings`, so any change there recomputes stored analyses without anyone
remembering to bump a constant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ANALYSIS_VERSION",
    "DEFAULT_SETTINGS",
    "VERSIONED_MODULES",
    "AnalysisSettings",
    "analysis_version",
]


@dataclass(frozen=True)
class AnalysisSettings:
    """The declared parameters of a session analysis (part of `ANALYSIS_VERSION`)."""

    correct_artifacts: bool = True
    detrend: str = "none"
    spectral: str = "welch"
    rolling_window_s: float = 60.0

    def describe(self) -> dict[str, str]:
        """Human-readable settings, for a report's methods section and the JSON export."""
        from biofeedback.beats import RR_MAX_MS, RR_MIN_MS
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
            f"(ectopic, missed, extra, long/short); RR outside {RR_MIN_MS:.0f}-{RR_MAX_MS:.0f} "
            "ms always removed",
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


DEFAULT_SETTINGS = AnalysisSettings()

#: Modules whose source determines the stored numbers (paths relative to ``biofeedback/``;
#: a folder means every ``*.py`` in it). The metric catalogue and the live engine do not.
VERSIONED_MODULES: tuple[str, ...] = (
    "hrv",
    "beats.py",
    "sessions/analysis.py",
    "sessions/settings.py",
    "sessions/stats.py",
    "sessions/store/records.py",
)
_UNVERSIONED = frozenset({"hrv/catalog.py", "hrv/live.py"})


def analysis_version(settings: AnalysisSettings = DEFAULT_SETTINGS) -> str:
    """``view-`` + 16 hex digits of SHA-256 over `VERSIONED_MODULES`' source and ``settings``."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(repr(settings).encode())
    for entry in VERSIONED_MODULES:
        p = root / entry
        for f in sorted(p.glob("*.py")) if p.is_dir() else [p]:
            rel = f.relative_to(root).as_posix()
            if rel not in _UNVERSIONED:
                h.update(rel.encode())
                h.update(f.read_bytes())
    return f"view-{h.hexdigest()[:16]}"


#: The current analysis version (see `analysis_version`).
ANALYSIS_VERSION = analysis_version()
