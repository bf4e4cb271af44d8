"""What every reader of :mod:`biofeedback.files` returns: an RR series and its metadata."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from biofeedback.errors import UserError
from biofeedback.hrv._types import FloatArray, IntArray

#: Time resolution of RR exported in whole milliseconds (most apps), ms.
MS_RESOLUTION_MS = 1.0
#: Time resolution of a BLE Heart Rate Service RR (1/1024 s ticks), ms.
STRAP_RESOLUTION_MS = 1000.0 / 1024.0


class RRFileError(UserError):
    """An RR file cannot be used; ``str()`` names the file, line and problem."""


@dataclass(frozen=True, slots=True)
class RRSeries:
    """RR intervals with beat times and segments.

    Attributes
    ----------
    rr_ms
        Interval lengths, ms (float64), as the file holds them (implausible values included,
        for the analysis to flag ``out_of_range``).
    t_s
        Time of the beat ending each interval, s from the start of the recording.
    segment
        Contiguous-run id per interval; successive differences never cross a change.
    source
        File name (or other description).
    format
        Detected format name (see :data:`biofeedback.files.FORMATS`).
    resolution_ms
        Time resolution of the source's beat times, ms: 1000/1024 for strap ticks, 1 for
        whole-ms exports, 1000/fs for ECG-derived or annotated beats; ``None`` if unknown.
        Artefact detection must not flag deviations within it.
    """

    rr_ms: FloatArray
    t_s: FloatArray
    segment: IntArray
    source: str
    format: str = "text"
    resolution_ms: float | None = None

    @property
    def n_beats(self) -> int:
        return int(self.rr_ms.size)

    @classmethod
    def from_rr(
        cls,
        rr_ms: FloatArray | list[float],
        source: str = "",
        fmt: str = "text",
        resolution_ms: float | None = None,
    ) -> RRSeries:
        """Series from RR alone: times are the cumulative sum (see
        :func:`biofeedback.files.validate.timeline_s`), one segment."""
        from biofeedback.files.validate import timeline_s

        rr = np.asarray(rr_ms, dtype=np.float64)
        return cls(rr, timeline_s(rr), np.zeros(rr.size, dtype=np.int64), source, fmt,
                   resolution_ms)  # fmt: skip


@dataclass(frozen=True)
class ImportedRR:
    """One reading read from a file, with what the file says about the recording.

    Attributes
    ----------
    series
        The RR series (``series.segment`` changes where the file's clock shows a gap).
    started_at
        Wall time of the start of the recording (timezone-aware UTC if the file says so,
        else naive local time), if the format carries one.
    notes
        Facts worth showing the user (ECG detection settings, beat labels...).
    warnings
        What the user must know about the data (values kept as artefacts, intervals
        dropped, a start time that is not the file's own...).
    labels
        Beat label per interval when the source has them (WFDB symbols), else empty.
    """

    series: RRSeries
    started_at: dt.datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    labels: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_beats(self) -> int:
        """Number of RR intervals."""
        return self.series.n_beats

    @property
    def ectopic_by_label(self) -> np.ndarray | None:
        """Per interval: ``True`` where the beat ending it is labelled not sinus-conducted
        (see :data:`biofeedback.files.physionet.NORMAL_SYMBOLS`); ``None`` without labels.
        The contract for label-driven artefact marking (the labels beat detection)."""
        if not self.labels:
            return None
        from biofeedback.files.physionet import NORMAL_SYMBOLS

        return np.array([s not in NORMAL_SYMBOLS for s in self.labels], dtype=bool)

    @property
    def resolution_ms(self) -> float | None:
        """Time resolution of the beat times, ms (see :class:`RRSeries`)."""
        return self.series.resolution_ms


def fail(path: object, msg: str) -> RRFileError:
    """The one-line error of this package: ``"<file>: <problem>"``."""
    return RRFileError(f"{path}: {msg}")
