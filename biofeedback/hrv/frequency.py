"""Frequency-domain HRV in ms² (Kubios conventions).

Pipeline (matches Kubios HRV Premium 3.1.0's FFT spectrum to ≈0.1 % on the pyhrv/NSRDB
reports, see ``tests/hrv/test_hrv_kubios.py``):

1. per segment, NN values placed at their beat times and interpolated with a cubic spline
   at 4 Hz from the first to the last beat;
2. the segment's mean is removed once (no per-window detrend, like Kubios);
3. Welch periodogram, Hann window of 300 s, 50 % overlap, one-sided density (ms²/Hz),
   FFT length of at least 300 s so the grid is 1/300 Hz (Kubios' "300 points/Hz");
   segments of one recording are pooled by their number of Welch windows. When no segment
   is 300 s long, the longest segment is used as a single window (and a warning is given);
4. band powers by trapezoidal integration with inclusive band edges: VLF 0-0.04,
   LF 0.04-0.15, HF 0.15-0.4 Hz; TP 0-0.4 Hz; peaks = PSD maximum inside each band (none
   when the band holds no power);
   n.u. = band / (TP - VLF) × 100.

Option ``spectral="lomb"``: Lomb-Scargle periodogram on the uneven beat times (no
interpolation), scaled so that its integral from the lowest frequency to the Nyquist
frequency of the mean heart rate equals the variance of the NN series (ms²/Hz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biofeedback.hrv._types import FloatArray

BANDS_HZ: dict[str, tuple[float, float]] = {
    "VLF": (0.0, 0.04),
    "LF": (0.04, 0.15),
    "HF": (0.15, 0.4),
}
_EPS = 1e-9
#: Band searched for the respiratory peak, Hz (4.2-30 breaths/min). It reaches below the HF
#: band on purpose: slow (e.g. 6/min resonance) breathing puts the respiratory peak in LF.
BREATHING_BAND_HZ = (0.07, 0.5)


@dataclass(frozen=True, slots=True)
class Spectrum:
    """A one-sided PSD in ms²/Hz with how it was made."""

    freq_hz: FloatArray
    psd_ms2_hz: FloatArray
    method: str
    window_s: float
    n_windows: int


def interpolate_nn(t_s: FloatArray, nn_ms: FloatArray, fs_hz: float = 4.0) -> FloatArray:
    """Cubic-spline resampling of NN (ms) at ``fs_hz`` from the first to the last beat."""
    from scipy.interpolate import CubicSpline

    tt = np.arange(t_s[0], t_s[-1], 1.0 / fs_hz)
    out: FloatArray = CubicSpline(t_s, nn_ms)(tt)
    return out


def welch_spectrum(
    runs: list[tuple[FloatArray, FloatArray]],
    *,
    fs_hz: float = 4.0,
    window_s: float = 300.0,
    overlap: float = 0.5,
) -> Spectrum | None:
    """Welch PSD pooled over contiguous runs.

    Parameters
    ----------
    runs
        ``(t_s, nn_ms)`` per contiguous segment (beat times in s, NN in ms).
    fs_hz, window_s, overlap
        Interpolation rate, Welch window length and overlap fraction.

    Returns
    -------
    Spectrum or None
        ``None`` if no run has at least 4 beats.
    """
    from scipy.signal import welch

    nperseg = round(window_s * fs_hz)
    nfft_min = round(300.0 * fs_hz)
    sigs = []
    for t, nn in runs:
        if t.size < 4:
            continue
        x = interpolate_nn(t, nn, fs_hz)
        sigs.append(x - x.mean())
    if not sigs:
        return None
    long_enough = [x for x in sigs if x.size >= nperseg]
    if long_enough:
        step = nperseg - round(nperseg * overlap)
        acc = None
        total_w = 0
        for x in long_enough:
            k = 1 + (x.size - nperseg) // step
            f, p = welch(
                x,
                fs=fs_hz,
                window="hann",
                nperseg=nperseg,
                noverlap=nperseg - step,
                nfft=max(nperseg, nfft_min),
                detrend=False,
            )
            acc = p * k if acc is None else acc + p * k
            total_w += k
        assert acc is not None
        return Spectrum(f, acc / total_w, "welch", window_s, total_w)
    x = max(sigs, key=lambda a: a.size)
    f, p = welch(
        x,
        fs=fs_hz,
        window="hann",
        nperseg=x.size,
        noverlap=0,
        nfft=max(x.size, nfft_min),
        detrend=False,
    )
    return Spectrum(f, p, "welch", x.size / fs_hz, 1)


def lomb_spectrum(runs: list[tuple[FloatArray, FloatArray]]) -> Spectrum | None:
    """Lomb-Scargle PSD (ms²/Hz, variance-scaled) on uneven beat times, runs pooled."""
    from scipy.signal import lombscargle

    f = np.arange(1, 121) / 300.0  # 1/300 Hz grid up to 0.4 Hz
    acc = np.zeros_like(f)
    wsum = 0.0
    for t, nn in runs:
        if t.size < 8:
            continue
        y = nn - nn.mean()
        p = lombscargle(t, y, 2.0 * np.pi * f, normalize=False)
        nyq = 0.5 / (nn.mean() / 1000.0)
        fmax = min(nyq, f[-1])
        m = f <= fmax + _EPS
        integ = float(np.trapezoid(p[m], f[m]))
        if integ <= 0:
            continue
        # variance-matching scale (see module docstring)
        acc += p * (float(np.var(y)) / integ) * t.size
        wsum += t.size
    if wsum == 0:
        return None
    return Spectrum(np.concatenate(([0.0], f)), np.concatenate(([0.0], acc / wsum)), "lomb", 0, 1)


def band_metrics(spec: Spectrum) -> dict[str, float]:
    """Band powers (ms²), peaks (Hz), n.u. and LF/HF from a spectrum."""
    f, p = spec.freq_hz, spec.psd_ms2_hz
    out: dict[str, float] = {}
    for name, (lo, hi) in BANDS_HZ.items():
        m = (f >= lo - _EPS) & (f <= hi + _EPS)
        out[f"{name}_ms2"] = float(np.trapezoid(p[m], f[m])) if m.sum() > 1 else float("nan")
        # no power in the band (e.g. metronomic RR): no peak, not the band's lower edge
        has_power = m.any() and bool(np.any(p[m] > 0))
        out[f"{name}_peak_Hz"] = float(f[m][np.argmax(p[m])]) if has_power else float("nan")
    m = f <= BANDS_HZ["HF"][1] + _EPS
    tp = float(np.trapezoid(p[m], f[m]))
    out["TP_ms2"] = tp
    lfhf_total = tp - out["VLF_ms2"]
    out["LF_nu"] = out["LF_ms2"] / lfhf_total * 100.0 if lfhf_total > 0 else float("nan")
    out["HF_nu"] = out["HF_ms2"] / lfhf_total * 100.0 if lfhf_total > 0 else float("nan")
    out["LFHF"] = out["LF_ms2"] / out["HF_ms2"] if out["HF_ms2"] > 0 else float("nan")
    return out


def breathing_rate_per_min(freq_hz: FloatArray, psd_ms2_hz: FloatArray) -> float | None:
    """Breathing-rate estimate, breaths/min: the dominant PSD peak in ``BREATHING_BAND_HZ``.

    Respiratory sinus arrhythmia puts the largest peak of a resting RR spectrum at the
    breathing frequency (Task Force 1996; Shaffer & Ginsberg 2017, Front Public Health
    5:258). The HF peak alone is not an estimate: breathing below 9/min (0.15 Hz) moves the
    peak into LF. ``None`` when the band holds no power.
    """
    lo, hi = BREATHING_BAND_HZ
    band = (freq_hz >= lo - _EPS) & (freq_hz <= hi + _EPS)
    if not np.any(band) or not np.any(psd_ms2_hz[band] > 0):
        return None
    return float(freq_hz[band][int(np.argmax(psd_ms2_hz[band]))] * 60.0)


def coherence_ratio(spec: Spectrum, *, lo_hz: float = 0.04, hi_hz: float = 0.26) -> float:
    """HeartMath-style coherence ratio.

    Peak power = integral of the PSD over a 0.030 Hz window centred on the highest peak in
    ``lo_hz``-``hi_hz``; ratio = peak power / (total power 0.0033-0.4 Hz - peak power)
    (McCraty R et al., The coherent heart, HeartMath Research Center 2009, p. 31; 0.030 Hz
    window as in the HeartMath emWave description).
    """
    f, p = spec.freq_hz, spec.psd_ms2_hz
    m = (f >= lo_hz - _EPS) & (f <= hi_hz + _EPS)
    if not m.any():
        return float("nan")
    fp = float(f[m][np.argmax(p[m])])
    w = (f >= fp - 0.015 - _EPS) & (f <= fp + 0.015 + _EPS)
    tot = (f >= 0.0033 - _EPS) & (f <= 0.4 + _EPS)
    peak = float(np.trapezoid(p[w], f[w])) if w.sum() > 1 else float(p[w].sum() * (f[1] - f[0]))
    total = float(np.trapezoid(p[tot], f[tot]))
    rest = total - peak
    return peak / rest if rest > 0 else float("nan")
