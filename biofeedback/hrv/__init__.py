"""HRV engine: artefacts, offline metrics (Kubios conventions) and live metrics.

Public entry points:

* :func:`biofeedback.hrv.analysis.analyze_rr` → :class:`HrvResult` (offline, whole record or
  any slice of it), whose ``quality`` (:class:`biofeedback.hrv.quality.Quality`) is the
  grade every output shows: ``quality.grade`` in good / acceptable / poor / withheld,
  ``quality.reasons`` the sentences why;
* :class:`biofeedback.hrv.live.LiveHrv` (per-beat running metrics) and
  :func:`biofeedback.hrv.live.live_spectral` (LF/HF, breathing rate, coherence).

Importing this package imports numpy only; scipy is imported inside the functions that need it.
"""

from biofeedback.hrv.analysis import METRIC_KEYS, ArtifactSummary, HrvResult, analyze_rr
from biofeedback.hrv.quality import Quality

__all__ = ["METRIC_KEYS", "ArtifactSummary", "HrvResult", "Quality", "analyze_rr"]
