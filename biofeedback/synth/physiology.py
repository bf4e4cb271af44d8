"""Stage 1 of the simulator: a seeded beat-to-beat RR process over protocol phases.

See `biofeedback.synth` for the model and its references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

#: Written into every synthetic capture header: a stable identifier of the generator (the
#: module was ``biofeedback.simulate`` when the bundled recordings were made), not a path.
GENERATOR_NAME = "biofeedback.simulate"
#: Bump when the output for a given seed changes (recordings must then be regenerated).
GENERATOR_VERSION = 1

FloatArray = NDArray[np.float64]
PhaseKind = Literal["baseline", "practice", "recovery"]

_GRID_HZ = 10.0  # modulation signals are built on this grid and interpolated at beat times
_MIN_RR_MS = 300.0
_MAX_RR_MS = 2000.0


# --------------------------------------------------------------------------- physiology


@dataclass(frozen=True, slots=True)
class Phase:
    """One protocol phase as the body experiences it.

    Attributes
    ----------
    name
        Phase name (``"baseline"``, ``"mindfulness"``...).
    kind
        ``"baseline"``, ``"practice"`` or ``"recovery"``; recovery uses the slower
        ``Physiology.recovery_tau_s`` so the practice's calm persists partly.
    duration_s
        Length, seconds.
    mean_hr_bpm
        Target mean heart rate, beats per minute (reached after the lag).
    rsa_amplitude_ms
        Peak amplitude of the respiratory RR oscillation, ms (half the peak-to-peak).
    breathing_rate_per_min
        Breaths per minute; the RSA peak sits at ``breathing_rate_per_min / 60`` Hz.
    """

    name: str
    kind: PhaseKind
    duration_s: float
    mean_hr_bpm: float
    rsa_amplitude_ms: float
    breathing_rate_per_min: float

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"phase {self.name!r}: duration_s must be > 0")
        if not 25.0 <= self.mean_hr_bpm <= 220.0:
            raise ValueError(f"phase {self.name!r}: mean_hr_bpm {self.mean_hr_bpm} not 25..220")
        if self.rsa_amplitude_ms < 0:
            raise ValueError(f"phase {self.name!r}: rsa_amplitude_ms must be >= 0")
        if not 2.0 <= self.breathing_rate_per_min <= 40.0:
            raise ValueError(f"phase {self.name!r}: breathing_rate_per_min not 2..40")


@dataclass(frozen=True, slots=True)
class Physiology:
    """Amplitudes (standard deviations, ms) and time constants of the non-phase components."""

    mayer_hz: float = 0.1
    mayer_sd_ms: float = 12.0
    vlf_sd_ms: float = 15.0
    pink_sd_ms: float = 6.0
    white_sd_ms: float = 5.0
    transition_tau_s: float = 20.0
    recovery_tau_s: float = 60.0
    breathing_tau_s: float = 5.0


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedBeats:
    """A simulated beat series.

    Attributes
    ----------
    rr_ms
        RR intervals, ms (float, not rounded).
    t_s
        Time of the R peak that *ends* each interval, seconds from the start (first peak at
        ``start_s``).
    phase_index
        Index into ``phases`` of the phase each beat ends in.
    phases, phase_starts_s
        The phases and their start times, seconds.
    seed
        The seed that produced the series.
    """

    rr_ms: FloatArray
    t_s: FloatArray
    phase_index: NDArray[np.int64]
    phases: tuple[Phase, ...]
    phase_starts_s: tuple[float, ...]
    seed: int
    start_s: float = 0.0

    @property
    def duration_s(self) -> float:
        """Total planned duration of the phases, seconds."""
        return float(sum(p.duration_s for p in self.phases))

    @property
    def peaks_s(self) -> FloatArray:
        """All R-peak times (``len(rr_ms) + 1`` of them), seconds."""
        return np.concatenate([[self.start_s], self.t_s])

    def in_phase(self, index: int) -> FloatArray:
        """RR (ms) of the beats that end in phase ``index``."""
        out: FloatArray = self.rr_ms[self.phase_index == index]
        return out


def _shaped_noise(
    rng: np.random.Generator, n: int, fs_hz: float, gain: FloatArray | None, sd: float
) -> FloatArray:
    """White Gaussian noise coloured by an amplitude response ``gain(f)``, scaled to ``sd``."""
    if sd <= 0 or n < 4:
        rng.standard_normal(n)  # keep the random stream aligned whatever the amplitudes
        return np.zeros(n)
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    if gain is not None:
        spec = spec * gain
    x = np.fft.irfft(spec, n)
    x -= x.mean()
    s = float(x.std())
    return x * (sd / s) if s > 0 else x


def _lag(target: FloatArray, tau: FloatArray, fs_hz: float) -> FloatArray:
    """First-order lag (exponential approach) of a step-wise target with per-sample tau."""
    out = np.empty_like(target)
    y = float(target[0])
    dt = 1.0 / fs_hz
    alpha = 1.0 - np.exp(-dt / np.maximum(tau, 1e-9))
    for i in range(target.size):
        y += float(alpha[i]) * (float(target[i]) - y)
        out[i] = y
    return out


#: The self-compassion break as the bundled recording simulates it: 3 min baseline at
#: 14 breaths/min, three 2-min practice steps with slower breathing and larger RSA, 3 min
#: recovery (targets: mean HR bpm, RSA amplitude ms, breaths/min).
SELF_COMPASSION_BREAK: tuple[Phase, ...] = (
    Phase("baseline", "baseline", 180.0, 72.0, 20.0, 14.0),
    Phase("mindfulness", "practice", 120.0, 68.0, 60.0, 8.0),
    Phase("common-humanity", "practice", 120.0, 66.0, 80.0, 7.0),
    Phase("self-kindness", "practice", 120.0, 65.0, 90.0, 6.5),
    Phase("recovery", "recovery", 180.0, 69.0, 30.0, 12.0),
)


def _step_beats(rr_grid: list[float], white: list[float], total_s: float, fs: float) -> FloatArray:
    """Integral pulse frequency modulation: ``t_{k+1} = t_k + RR(t_k)`` on the grid signal."""
    rr_out: list[float] = []
    t = 0.0
    k = 0
    while t < total_s and k < len(white):
        x = t * fs
        i = int(x)
        frac = x - i
        rr = rr_grid[i] + frac * (rr_grid[i + 1] - rr_grid[i]) + white[k]
        rr = min(max(rr, _MIN_RR_MS), _MAX_RR_MS)
        t += rr / 1000.0
        if t >= total_s:
            break
        rr_out.append(rr)
        k += 1
    return np.asarray(rr_out, dtype=np.float64)


def simulate_rr(
    phases: Sequence[Phase],
    seed: int,
    physiology: Physiology | None = None,
) -> SimulatedBeats:
    """Simulate the RR process over ``phases``.

    Parameters
    ----------
    phases
        Consecutive phases; the first one's HR/RSA/breathing are the starting state.
    seed
        Seed of the ``numpy.random.default_rng`` stream; same seed ⇒ identical output.
    physiology
        Amplitudes and time constants (defaults: :class:`Physiology`).

    Returns
    -------
    SimulatedBeats
        Beats whose peaks span ``[0, sum(duration_s))``.
    """
    if not phases:
        raise ValueError("simulate_rr needs at least one phase")
    phy = physiology or Physiology()
    rng = np.random.default_rng(seed)
    total_s = float(sum(p.duration_s for p in phases))
    fs = _GRID_HZ
    n = math.ceil(total_s * fs) + int(10 * fs)  # margin for the last beat
    t_grid = np.arange(n) / fs

    starts = np.cumsum([0.0] + [p.duration_s for p in phases[:-1]])
    idx = np.clip(np.searchsorted(starts, t_grid, side="right") - 1, 0, len(phases) - 1)
    hr_t = np.array([p.mean_hr_bpm for p in phases])[idx]
    rsa_t = np.array([p.rsa_amplitude_ms for p in phases])[idx]
    br_t = np.array([p.breathing_rate_per_min for p in phases])[idx] / 60.0
    is_recovery = np.array([p.kind == "recovery" for p in phases])[idx]
    tau = np.where(is_recovery, phy.recovery_tau_s, phy.transition_tau_s).astype(np.float64)

    base = _lag(60000.0 / hr_t, tau, fs)
    # RSA follows breathing quickly; only the mean HR carries the slow recovery lag.
    rsa = _lag(rsa_t, np.full(n, phy.transition_tau_s), fs)
    br = _lag(br_t, np.full(n, phy.breathing_tau_s), fs)
    phi = 2.0 * np.pi * np.cumsum(br) / fs + rng.uniform(0.0, 2.0 * np.pi)

    f = np.fft.rfftfreq(n, 1.0 / fs)
    mayer_gain = np.exp(-0.5 * ((f - phy.mayer_hz) / 0.012) ** 2)
    vlf_gain = np.where((f > 0.0) & (f < 0.04), 1.0, 0.0) * np.where(
        f > 0, 1.0 / np.sqrt(f + 1e-9), 0
    )
    pink_gain = np.where((f >= 0.003) & (f <= 2.0), 1.0 / np.sqrt(np.maximum(f, 0.003)), 0.0)
    mayer = _shaped_noise(rng, n, fs, mayer_gain, phy.mayer_sd_ms)
    vlf = _shaped_noise(rng, n, fs, vlf_gain, phy.vlf_sd_ms)
    pink = _shaped_noise(rng, n, fs, pink_gain, phy.pink_sd_ms)
    rr_grid = (base + rsa * np.sin(phi) + mayer + vlf + pink).tolist()

    # Step beat by beat; the white jitter is drawn up front so the stream is fixed.
    max_beats = int(total_s * 1000.0 / _MIN_RR_MS) + 2
    white = (rng.standard_normal(max_beats) * phy.white_sd_ms).tolist()
    rr_arr = _step_beats(rr_grid, white, total_s, fs)
    t_s = np.cumsum(rr_arr) / 1000.0
    ph = np.clip(np.searchsorted(starts, t_s, side="right") - 1, 0, len(phases) - 1)
    return SimulatedBeats(
        rr_ms=rr_arr,
        t_s=t_s,
        phase_index=ph.astype(np.int64),
        phases=tuple(phases),
        phase_starts_s=tuple(float(s) for s in starts),
        seed=seed,
    )


def stationary_rr(
    duration_s: float,
    *,
    seed: int,
    mean_ms: float = 850.0,
    rsa_ms: float = 40.0,
    resp_hz: float = 0.25,
    lf_ms: float = 25.0,
    noise_ms: float = 30.0,
    jitter_ms: float = 5.0,
) -> FloatArray:
    """Stationary RR series with known spectral content, for HRV tests and benchmarks.

    ``RR(t) = mean_ms + √2·rsa_ms·sin(2π·resp_hz·t + φ1) + √2·lf_ms·sin(2π·0.1·t + φ2)
    + pink(t) + white_k``, sampled beat by beat (``t_{k+1} = t_k + RR(t_k)``, integral pulse
    frequency style) until ``duration_s`` is covered.

    Parameters
    ----------
    duration_s
        Time to cover, seconds; the beats' sum reaches at least ``duration_s``.
    seed
        Seed of the ``numpy.random.default_rng`` stream; same seed and parameters ⇒
        identical output.
    mean_ms
        Mean RR, ms.
    rsa_ms, resp_hz
        Respiratory sinus arrhythmia: RMS amplitude (ms) and frequency (Hz), HF band at the
        default 0.25 Hz.
    lf_ms
        RMS amplitude of a 0.1 Hz Mayer-wave sinusoid (LF band), ms.
    noise_ms
        Standard deviation of 1/f noise shaped over 0.0005-0.5 Hz, ms.
    jitter_ms
        Standard deviation of the per-beat white jitter, ms.

    Returns
    -------
    numpy.ndarray
        RR intervals, ms (float64, not rounded).

    Notes
    -----
    Unlike :func:`simulate_rr` there are no phases, lags or clamping, so the band powers are
    known in closed form (RMS² of each sinusoid); see ``shared/notes/perf-baseline.md`` §1.
    Bands: Task Force of the ESC/NASPE (1996) *Circulation* 93:1043.
    """
    rng = np.random.default_rng(seed)
    fs = 4.0
    n = int(duration_s * fs) + 64
    # 1/f noise by spectral shaping of white noise
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    shape = np.zeros_like(f)
    band = (f >= 0.0005) & (f <= 0.5)
    shape[band] = 1.0 / np.sqrt(f[band])
    pink = np.fft.irfft(spec * shape, n)
    pink *= noise_ms / pink.std()
    tt = np.arange(n) / fs
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    sig = (
        mean_ms
        + rsa_ms * np.sqrt(2) * np.sin(2 * np.pi * resp_hz * tt + ph1)
        + lf_ms * np.sqrt(2) * np.sin(2 * np.pi * 0.1 * tt + ph2)
        + pink
    )
    out: list[float] = []
    t = 0.0
    while t < duration_s:
        rr = float(np.interp(t, tt, sig)) + rng.normal(0.0, jitter_ms)
        out.append(rr)
        t += rr / 1000.0
    return np.asarray(out)
