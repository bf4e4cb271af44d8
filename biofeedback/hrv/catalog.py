"""The metric catalogue: what every metric key means, and the one number formatter.

Every output (CLI tables, dashboard headers and tooltips, HTML/PDF/CSV/JSON reports) takes a
metric's label, unit, digits, meaning, minimum/recommended length and reference from
:data:`CATALOG`, and formats numbers with :func:`format_value`. Keys carry their unit
(``RMSSD_ms``); the engine's keys are `biofeedback.hrv.analysis.METRIC_KEYS`, the session
comparison adds ``lnRMSSD``, ``BreathingRate_per_min`` and ``ArtifactRate_pct``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from biofeedback.hrv.analysis import METRIC_KEYS, MIN_DURATION_S

__all__ = [
    "CATALOG",
    "REFERENCES",
    "Metric",
    "format_value",
    "header",
    "label",
    "metric",
]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric key, as users see it.

    ``min_s``/``recommended_s`` are the analysed NN duration (s) below which the engine
    gives no value, and from which it gives one without a warning (``None``: no minimum).
    """

    key: str
    label: str
    short: str
    unit: str
    digits: int
    meaning: str
    reference: str
    min_s: float | None = None
    recommended_s: float | None = None

    @property
    def header(self) -> str:
        """``label (unit)``, or the label alone for unitless metrics."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


# A data table (one row per metric), not logic: kept in one piece so a metric's whole
# description is read in one place.
_ROWS: tuple[tuple[str, str, str, str, int, str, str], ...] = (
    # key, label, short label, unit, digits, meaning, reference
    ("MeanNN_ms", "Mean NN", "NN ms", "ms", 1, "average beat-to-beat interval", "Task Force 1996"),
    ("SDNN_ms", "SDNN", "SDNN ms", "ms", 1, "overall variability", "Task Force 1996"),
    ("RMSSD_ms", "RMSSD", "RMSSD ms", "ms", 1, "short-term (vagally mediated) variability",
     "Task Force 1996; Shaffer & Ginsberg 2017"),
    ("pNN50_pct", "pNN50", "pNN50 %", "%", 1, "share of successive differences > 50 ms",
     "Ewing et al. 1984"),
    ("MeanHR_bpm", "Mean HR", "HR bpm", "bpm", 1, "average heart rate", "Task Force 1996"),
    ("SDHR_bpm", "SD HR", "SDHR bpm", "bpm", 1, "spread of instantaneous heart rate",
     "Kubios HRV guide 2020"),
    ("HTI", "HRV triangular index", "HTI", "", 1, "geometric overall variability",
     "Task Force 1996"),
    ("TINN_ms", "TINN", "TINN ms", "ms", 0, "width of the NN histogram", "Task Force 1996"),
    ("VLF_ms2", "VLF power", "VLF ms²", "ms²", 0, "0-0.04 Hz power", "Task Force 1996"),
    ("LF_ms2", "LF power", "LF ms²", "ms²", 0, "0.04-0.15 Hz power (baroreflex, slow breathing)",
     "Task Force 1996"),
    ("HF_ms2", "HF power", "HF ms²", "ms²", 0,
     "0.15-0.4 Hz power (respiratory sinus arrhythmia)", "Task Force 1996"),
    ("TP_ms2", "Total power", "TP ms²", "ms²", 0, "power up to 0.4 Hz", "Task Force 1996"),
    ("LF_nu", "LF", "LF n.u.", "n.u.", 1, "LF / (LF + HF)", "Task Force 1996"),
    ("HF_nu", "HF", "HF n.u.", "n.u.", 1, "HF / (LF + HF)", "Task Force 1996"),
    ("LFHF", "LF/HF", "LF/HF", "", 2, "ratio; not a clean sympathovagal index", "Billman 2013"),
    ("LF_peak_Hz", "LF peak", "LF pk Hz", "Hz", 3, "frequency of the LF maximum",
     "Task Force 1996"),
    ("HF_peak_Hz", "HF peak", "HF pk Hz", "Hz", 3,
     "frequency of the HF maximum (≈ breathing rate)", "Task Force 1996"),
    ("SD1_ms", "SD1", "SD1 ms", "ms", 1, "Poincaré short axis (≈ RMSSD/√2)", "Brennan et al. 2001"),
    ("SD2_ms", "SD2", "SD2 ms", "ms", 1, "Poincaré long axis", "Brennan et al. 2001"),
    ("SampEn", "Sample entropy", "SampEn", "", 2, "irregularity", "Richman & Moorman 2000"),
    ("DFA_alpha1", "DFA α1", "DFA α1", "", 2, "short-term fractal scaling (4-16 beats)",
     "Peng et al. 1995"),
    ("DFA_alpha2", "DFA α2", "DFA α2", "", 2, "long-term fractal scaling (17-64 beats)",
     "Peng et al. 1995"),
    ("StressIndex", "Stress index", "Stress", "", 1, "√ of Baevsky's stress index",
     "Baevsky & Chernikova 2017; Kubios"),
    ("PNS_index", "PNS index", "PNS", "", 2, "parasympathetic index (Kubios)",
     "Kubios HRV guide 2020"),
    ("SNS_index", "SNS index", "SNS", "", 2, "sympathetic index (Kubios)",
     "Kubios HRV guide 2020"),
    ("lnRMSSD", "ln RMSSD", "lnRMSSD", "", 2,
     "natural log of RMSSD (the resting marker compared across days)", "Plews et al. 2013"),
    ("BreathingRate_per_min", "Breathing rate", "Breath/min", "/min", 1,
     "dominant 0.07-0.5 Hz spectral peak, breaths per minute", "Shaffer & Ginsberg 2017"),
    ("ArtifactRate_pct", "Beats corrected", "Artef %", "%", 1,
     "share of beats artefact-corrected", "Lipponen & Tarvainen 2019"),
)  # fmt: skip

_DERIVED_FROM = {"lnRMSSD": "RMSSD_ms", "BreathingRate_per_min": "HF_peak_Hz"}


def _build() -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for key, lab, short, unit, digits, meaning, ref in _ROWS:
        lengths = MIN_DURATION_S.get(_DERIVED_FROM.get(key, key))
        out[key] = Metric(
            key,
            lab,
            short,
            unit,
            digits,
            meaning,
            ref,
            None if lengths is None else lengths[0],
            None if lengths is None else lengths[1],
        )
    return out


#: Every metric key → its `Metric`; the engine's keys first, in `METRIC_KEYS` order.
CATALOG: dict[str, Metric] = _build()
assert set(METRIC_KEYS) <= set(CATALOG), "every engine metric needs a catalogue entry"

#: Full references for the short names used in :data:`CATALOG`.
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
    "Plews et al. 2013": "Plews DJ, Laursen PB, Stanley J, Kilding AE, Buchheit M (2013). "
    "Training adaptation and heart rate variability in elite endurance athletes: opening the "
    "door to effective monitoring. Sports Med. 43:773-781.",
    "Quigley et al. 2024": "Quigley KS et al. (2024). Publication guidelines for human heart rate "
    "and heart rate variability studies in psychophysiology. Psychophysiology 61:e14604.",
}


def metric(key: str) -> Metric:
    """The catalogue entry of ``key``; an unknown key gets a plain entry named after it."""
    found = CATALOG.get(key)
    return found if found is not None else Metric(key, key, key, "", 2, "", "")


def label(key: str) -> str:
    """Human label of ``key`` (``RMSSD``)."""
    return metric(key).label


def header(key: str) -> str:
    """Column header of ``key``: label with unit (``RMSSD (ms)``)."""
    return metric(key).header


def format_value(
    key: str, value: float | None, *, missing: str = "–", digits: int | None = None
) -> str:
    """``value`` of metric ``key`` for display: the catalogue's digits, thousands separated.

    ``missing`` for ``None`` and non-finite values. A non-zero value that would print as 0 at
    the catalogue's digits gets three decimals (a tiny LF/HF must not read as 0).
    ``digits`` overrides the catalogue (differences of lnRMSSD, for instance).
    """
    if value is None or not math.isfinite(value):
        return missing
    nd = metric(key).digits if digits is None else digits
    if value != 0 and abs(value) < 0.5 * 10.0**-nd:
        nd = max(nd, 3)
    return f"{value:,.{nd}f}"
