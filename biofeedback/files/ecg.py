"""RR from a raw ECG: R-peak detection, ECG CSV files, and matching RR to peaks.

``ecg-csv``: ``time_ns,ecg_mV`` (the ``polar_h10_detectpvc`` reference layout) or Polar
Sensor Logger ``*_ECG.txt`` (``Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg
[uV]``). R-peaks are detected with neurokit2 and refined to sub-sample precision. Beat times
count from the recording's first sample; the wall time comes from epoch ``time_ns`` or the
phone timestamp, never from a sensor clock (the Polar sensor epoch is 2000-01-01).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biofeedback.files.model import ImportedRR, RRSeries, fail
from biofeedback.files.tables import col, floats, parse_time, table
from biofeedback.files.text import read_text
from biofeedback.files.validate import check_clock, check_rr
from biofeedback.hrv._types import FloatArray, IntArray


@dataclass(frozen=True)
class EcgBeats:
    """R-peaks found in an ECG and the RR series they make.

    Attributes
    ----------
    peak_t_s
        R-peak times, s from the first sample, refined to sub-sample precision.
    rr
        The RR series (``rr_ms = diff(peak_t_s)``, ``t_s`` = time of the later peak from the
        first sample; ``resolution_ms`` = one sample; ``format`` ``ecg-csv``).
    fs_hz
        Sampling rate used (measured from the timestamps when given).
    started_at
        Wall time of the first sample when the file has one (epoch ``time_ns`` or the phone
        timestamp).
    """

    peak_t_s: FloatArray
    rr: RRSeries
    fs_hz: float
    started_at: dt.datetime | None = None


def _parabolic(sig: FloatArray, idx: IntArray, half_window: int = 2) -> FloatArray:
    """Sub-sample peak positions: local maximum within ±``half_window``, then a parabola.

    Three-point parabolic interpolation of a sampled peak (e.g. Jacobsen & Kootsookos 2007,
    IEEE Signal Process. Mag. 24(3):123) removes most of the ±T/2 quantisation of a peak
    time; at 130 Hz that is ±3.8 ms.
    """
    n = len(sig)
    out = np.empty(len(idx))
    for k, i in enumerate(idx):
        lo = max(int(i) - half_window, 1)
        hi = min(int(i) + half_window, n - 2)
        j = lo + int(np.argmax(sig[lo : hi + 1]))
        j = min(max(j, 1), n - 2)
        y0, y1, y2 = sig[j - 1], sig[j], sig[j + 1]
        den = y0 - 2.0 * y1 + y2
        d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        out[k] = j + float(np.clip(d, -0.5, 0.5))
    return out


def rr_from_ecg(
    ecg: Sequence[float] | FloatArray,
    *,
    fs_hz: float | None = None,
    t_s: Sequence[float] | FloatArray | None = None,
    source: str = "<ecg>",
    method: str = "neurokit",
    fmt: str = "ecg-csv",
) -> EcgBeats:
    """Detect R-peaks in an ECG and return the RR series.

    The signal is cleaned with ``neurokit2.ecg_clean`` (0.5 Hz high-pass, 50 Hz notch),
    R-peaks are found with ``neurokit2.ecg_peaks(method=method)`` and each peak is refined by
    parabolic interpolation on the cleaned signal, because at 130 Hz (Polar H10) a sample is
    7.7 ms, far coarser than the strap's own 1/1024 s RR.

    Parameters
    ----------
    ecg
        ECG samples (any unit; mV or µV).
    fs_hz
        Sampling rate in Hz. Required unless ``t_s`` is given.
    t_s
        Sample times in s; when given the rate is measured from them (the H10 runs at about
        130.16 Hz, not exactly 130).
    source
        Name used in messages and in the result.
    method
        neurokit2 R-peak detector (``neurokit`` is the validated choice here).
    fmt
        Format name stored in the result's ``RRSeries.format``.

    Returns
    -------
    EcgBeats

    References
    ----------
    Makowski D. et al. (2021) NeuroKit2: A Python toolbox for neurophysiological signal
    processing. Behav. Res. Methods 53:1689-1696.
    """
    x = np.asarray(ecg, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise fail(source, "ECG samples contain values that are not finite numbers")
    if t_s is not None:
        t = np.asarray(t_s, dtype=np.float64)
        if len(t) != len(x) or len(t) < 2:
            raise fail(source, "ECG samples and times differ in length (or < 2 samples)")
        span = float(t[-1] - t[0])
        if not np.all(np.isfinite(t)) or span <= 0:
            raise fail(source, "ECG time column is not increasing finite times")
        fs = (len(t) - 1) / span
    elif fs_hz is not None:
        fs = float(fs_hz)
    else:
        raise ValueError("rr_from_ecg needs fs_hz or t_s")
    if not np.isfinite(fs) or fs < 50.0:
        raise fail(source, f"ECG sampling rate {fs:.1f} Hz is too low (need >= 50 Hz)")
    if len(x) < 5 * fs:
        raise fail(source, f"ECG too short ({len(x) / fs:.1f} s); need at least 5 s")
    import neurokit2 as nk  # lazy: ~1.5-3.5 s import

    clean = np.asarray(nk.ecg_clean(x, sampling_rate=fs, method="neurokit"), dtype=np.float64)
    _, info = nk.ecg_peaks(clean, sampling_rate=fs, method=method)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    if len(peaks) < 2:
        raise fail(source, "fewer than 2 R-peaks found in the ECG")
    refined = _parabolic(clean, peaks)
    peak_t = refined / fs
    rr = np.diff(peak_t) * 1000.0
    # Beat times count from the recording's first sample, like every other source.
    series = RRSeries(rr, peak_t[1:], np.zeros(rr.size, dtype=np.int64), source, fmt,
                      1000.0 / fs)  # fmt: skip
    return EcgBeats(peak_t_s=peak_t, rr=series, fs_hz=fs)


def read_ecg_csv(path: str | Path) -> EcgBeats:
    """Read a raw ECG CSV and return its R-peaks and RR series (see :func:`rr_from_ecg`).

    Accepted layouts: ``time_ns,ecg_mV`` (time in ns, any epoch) and Polar Sensor Logger
    ``*_ECG.txt`` (``sensor timestamp [ns]`` and ``ecg [uV]``, ``;``-separated). A file with
    an ECG column but no time column needs the rate: not supported here.
    """
    p = Path(path)
    t = table(p, read_text(p, "ECG file"))
    label = "ECG CSV"
    ei = col(p, t, ["ecg_mv", "ecg [uv]", "ecg [mv]", "ecg"], label)
    ti = col(p, t, ["time_ns", "sensor timestamp [ns]"], label)
    if not t.rows:
        raise fail(p, "ECG CSV without samples")
    ecg = floats(p, t, ei, t.header[ei])
    tns = floats(p, t, ti, t.header[ti])
    if not np.all(np.isfinite(tns)):
        i = int(np.flatnonzero(~np.isfinite(tns))[0])
        raise fail(f"{p}:{t.lines[i]}", f"column {t.header[ti]!r}: not a finite time")
    rel_s = (tns - tns[0]) / 1e9
    check_clock(p, rel_s, f"column {t.header[ti]!r}")
    beats = rr_from_ecg(ecg, t_s=rel_s, source=str(p))
    start: dt.datetime | None = None
    if t.header[ti] == "time_ns" and 1e18 <= tns[0] < 4.1e18:  # Unix epoch ns, 2001-2099
        start = dt.datetime.fromtimestamp(float(tns[0]) / 1e9, tz=dt.UTC)
    elif "phone timestamp" in t.header:
        pi = t.header.index("phone timestamp")
        start = parse_time(p, t.lines[0], "Phone timestamp", t.rows[0][pi])
    return EcgBeats(beats.peak_t_s, beats.rr, beats.fs_hz, start)


def read_ecg(path: Path) -> ImportedRR:
    """An ECG CSV as a reading (see :func:`read_ecg_csv`)."""
    e = read_ecg_csv(path)
    note = f"R-peaks from ECG at {e.fs_hz:.2f} Hz (neurokit2, parabolic refinement)"
    return ImportedRR(e.rr, e.started_at, (note,), check_rr(path, e.rr.rr_ms, what="ECG RR"))


@dataclass(frozen=True)
class MatchResult:
    """ECG-derived RR matched to a reference RR sequence (e.g. the strap's own RR).

    ``ref_index[k]`` is the reference interval matched by ``diff_ms[k]`` = ECG RR − reference
    RR for that interval; ``n_ref`` is the length of the reference sequence.
    """

    ref_index: IntArray
    diff_ms: FloatArray
    n_ref: int


def match_rr_to_peaks(
    peak_t_s: FloatArray, ref_rr_ms: FloatArray, tol_ms: float = 60.0
) -> MatchResult:
    """Match a reference RR sequence to detected peaks, interval by interval.

    The reference has no beat times of its own (BLE RR arrive ~1/s, batched), so its beats are
    placed by cumulative RR, anchored on the first peaks and re-anchored on every matched
    peak (rounding and missed beats then never accumulate). An interval matches when both of
    its beats fall within ``tol_ms`` of consecutive peaks.
    """
    tp = np.asarray(peak_t_s, dtype=np.float64) * 1000.0
    rr = np.asarray(ref_rr_ms, dtype=np.float64)
    s = np.concatenate([[0.0], np.cumsum(rr)])
    probe = s[: min(len(s), 40)]

    def hits(o: float) -> int:
        pred = probe + o
        j = np.clip(np.searchsorted(tp, pred), 1, len(tp) - 1)
        d = np.minimum(np.abs(tp[j] - pred), np.abs(tp[j - 1] - pred))
        return int(np.sum(d < tol_ms))

    cands = [tp[j] - s[k] for j in range(min(8, len(tp))) for k in range(min(8, len(s)))]
    offset = max(cands, key=hits)
    idx: list[int] = []
    diffs: list[float] = []
    prev: tuple[int, int] | None = None
    for k in range(len(s)):
        pred = s[k] + offset
        m = int(np.searchsorted(tp, pred))
        c = min((c for c in (m - 1, m) if 0 <= c < len(tp)), key=lambda c: abs(tp[c] - pred))
        if abs(tp[c] - pred) < tol_ms:
            if prev is not None and prev == (k - 1, c - 1):
                idx.append(k - 1)
                diffs.append(float(tp[c] - tp[c - 1] - rr[k - 1]))
            offset = tp[c] - s[k]
            prev = (k, c)
        else:
            prev = None
    return MatchResult(np.asarray(idx, dtype=np.int64), np.asarray(diffs), len(rr))
