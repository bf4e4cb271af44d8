"""File ingestion: every RR/ECG file, export and capture this program reads.

One sniff (:func:`detect_format`, :mod:`~biofeedback.files.sniff`), one validation rule
(:mod:`~biofeedback.files.validate`, shared by ``import`` and ``analyze``), one module per
family of formats:

* :mod:`~biofeedback.files.text`: RR text, CSV with an RR column, Kubios RR exports;
* :mod:`~biofeedback.files.capture`: ``biofeedback-capture`` JSONL (the live decode path);
* :mod:`~biofeedback.files.polar`: Polar Sensor Logger RR/PPI, Polar Flow, ``.hrm``;
* :mod:`~biofeedback.files.apps`: Elite HRV readings, HRV Logger;
* :mod:`~biofeedback.files.ecg`: ECG CSV through R-peak detection;
* :mod:`~biofeedback.files.edf`: EDF/EDF+; :mod:`~biofeedback.files.physionet`: WFDB;
* :mod:`~biofeedback.files.read`: the dispatch, per-reading folders and zips.

Every reader returns an :class:`ImportedRR` (an :class:`RRSeries` with ``resolution_ms``,
start time, notes, warnings), or raises a one-line :class:`RRFileError` naming the file.
"""

from biofeedback.files.ecg import (
    EcgBeats,
    MatchResult,
    match_rr_to_peaks,
    read_ecg_csv,
    rr_from_ecg,
)
from biofeedback.files.edf import EdfFile, EdfSignal, read_edf_file
from biofeedback.files.model import ImportedRR, RRFileError, RRSeries
from biofeedback.files.read import FORMATS, read_readings, read_rr, read_with_meta
from biofeedback.files.sniff import detect_format

__all__ = [
    "FORMATS",
    "EcgBeats",
    "EdfFile",
    "EdfSignal",
    "ImportedRR",
    "MatchResult",
    "RRFileError",
    "RRSeries",
    "detect_format",
    "match_rr_to_peaks",
    "read_ecg_csv",
    "read_edf_file",
    "read_readings",
    "read_rr",
    "read_with_meta",
    "rr_from_ecg",
]
