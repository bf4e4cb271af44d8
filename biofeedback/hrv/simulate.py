"""Seeded synthetic RR series and artefact injection (for tests, benchmarks and demos).

The RR model follows ``shared/notes/perf-baseline.md`` §1: mean 850 ms, respiratory sinus
arrhythmia (40 ms at 0.25 Hz), a 0.1 Hz Mayer-wave component (25 ms), 1/f noise (30 ms SD)
and 5 ms white jitter, sampled beat by beat (integral pulse frequency style).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biofeedback.hrv._types import FloatArray, IntArray

#: Truth labels of :func:`inject_artifacts` (per output interval).
CLEAN, INJ_ECTOPIC, INJ_MISSED, INJ_EXTRA = 0, 1, 2, 3


def simulate_rr(
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
    """Clean synthetic RR intervals (ms) covering ``duration_s`` seconds."""
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


@dataclass(frozen=True, slots=True)
class Injected:
    """RR with injected artefacts and the truth label of every interval."""

    rr_ms: FloatArray
    labels: IntArray
    n_events: int


def inject_artifacts(
    rr_ms: FloatArray,
    *,
    rate: float,
    seed: int,
    kinds: tuple[str, ...] = ("ectopic", "missed", "extra"),
    prematurity: float = 0.7,
) -> Injected:
    """Inject artefact *events* at ``rate`` per beat, cycling through ``kinds``.

    * ectopic: interval k shortened to ``prematurity``·RR and the next lengthened by the
      same amount (compensatory pause); both intervals labelled;
    * missed: intervals k and k+1 merged (one beat lost), the merged interval labelled;
    * extra: interval k split 40/60 by a spurious beat, both parts labelled.

    Events are at least 4 beats apart and never in the first/last 5 beats.
    """
    rng = np.random.default_rng(seed)
    rr = np.asarray(rr_ms, dtype=np.float64)
    n = rr.size
    n_ev = round(rate * n)
    cand = np.arange(5, n - 6, 5)
    pos = np.sort(rng.choice(cand, size=min(n_ev, cand.size), replace=False))
    out: list[float] = []
    lab: list[int] = []
    i = 0
    ev = 0
    posset = {int(p): kinds[j % len(kinds)] for j, p in enumerate(pos)}
    while i < n:
        kind = posset.get(i)
        if kind == "ectopic":
            d = (1 - prematurity) * rr[i]
            out += [rr[i] - d, rr[i + 1] + d]
            lab += [INJ_ECTOPIC, INJ_ECTOPIC]
            i += 2
            ev += 1
        elif kind == "missed":
            out.append(rr[i] + rr[i + 1])
            lab.append(INJ_MISSED)
            i += 2
            ev += 1
        elif kind == "extra":
            out += [0.4 * rr[i], 0.6 * rr[i]]
            lab += [INJ_EXTRA, INJ_EXTRA]
            i += 1
            ev += 1
        else:
            out.append(rr[i])
            lab.append(CLEAN)
            i += 1
    return Injected(np.asarray(out), np.asarray(lab, dtype=np.int64), ev)
