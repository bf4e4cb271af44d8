"""Live HRV: O(1) per-beat running metrics and periodic spectral metrics.

:class:`LiveHrv` keeps, for each window (default 60 s and 300 s), running sums over a
time-based deque of accepted beats: Σ(RR−K), Σ(RR−K)² and Σ(ΔRR)² over successive pairs
that are both accepted and in the same segment. Each push is O(1) amortised (each beat
enters and leaves each window once); the sums are recomputed from scratch every
``RESUM_EVERY`` beats to stop float drift. The shift K is the first RR of a window that was
empty and moves to the window mean at every recomputation, so Σ(RR−K)² avoids the
cancellation a fixed offset gives when RR sits far from it (a constant 2000 ms rhythm read
as SDNN 1e-5 ms with a fixed K of 850 ms).
Measured cost: see ``benchmarks/bench_hrv.py`` (target ≤ 50 µs per beat).

Artefacts: a beat outside the plausible band (200-3000 ms, :data:`biofeedback.beats.RR_MIN_MS`,
always), passed with ``artifact=True``, or failing the built-in O(1) gate (> 20 % from the
median of the last 11 accepted RR, the "20 % rule") is not added to the windows and breaks
the successive-difference chain.

Each window value carries its window length and a ``warming_up`` flag, true until the window
has been covered by accepted beats for its whole length since the last reset/segment start.

Spectral metrics (LF/HF, HF peak, breathing rate, coherence) are computed by the pure
function :func:`live_spectral` on a :meth:`LiveHrv.spectral_input` snapshot, so they can run
off the event loop: ``await hrv.spectral_async()`` uses ``loop.run_in_executor``.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from biofeedback.beats import RR_MAX_MS, RR_MIN_MS
from biofeedback.hrv._types import FloatArray

RESUM_EVERY = 2000
GATE_REL = 0.20
GATE_MEDIAN_N = 11
RR_RANGE_MS = (RR_MIN_MS, RR_MAX_MS)


@dataclass(frozen=True, slots=True)
class LiveWindowStats:
    """Running metrics over one window ending at the latest beat.

    ``None`` values mean not enough beats (fewer than 2, or no successive pair).
    """

    window_s: float
    warming_up: bool
    n_beats: int
    mean_rr_ms: float | None
    mean_hr_bpm: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """State after one beat: the beat itself and one :class:`LiveWindowStats` per window."""

    t_s: float
    rr_ms: float
    hr_bpm: float | None  # None for an out-of-range RR
    artifact: bool
    windows: tuple[LiveWindowStats, ...]

    def window(self, window_s: float) -> LiveWindowStats:
        """Stats of the window of this length."""
        for w in self.windows:
            if w.window_s == window_s:
                return w
        raise KeyError(window_s)


@dataclass(frozen=True, slots=True)
class SpectralInput:
    """A copy of the last ``window_s`` of accepted beats (for :func:`live_spectral`)."""

    t_s: FloatArray
    rr_ms: FloatArray
    window_s: float
    covered_s: float


@dataclass(frozen=True, slots=True)
class LiveSpectral:
    """Periodic spectral metrics on the last ``window_s`` seconds.

    ``coherence`` is the HeartMath-style ratio (see
    :func:`biofeedback.hrv.frequency.coherence_ratio`); ``breaths_per_min`` is the dominant
    peak in 0.07-0.5 Hz × 60 (:func:`biofeedback.hrv.frequency.breathing_rate_per_min`), not
    the HF peak, which cannot follow breathing slower than 9/min.
    All values are ``None`` while fewer than 120 s of data exist (LF needs ≥ 2 min,
    Task Force 1996); ``warming_up`` stays true until the whole window is covered.
    """

    window_s: float
    warming_up: bool
    covered_s: float
    lf_ms2: float | None
    hf_ms2: float | None
    lfhf: float | None
    hf_peak_hz: float | None
    breaths_per_min: float | None
    coherence: float | None


class _Window:
    __slots__ = ("k", "n_diff", "q", "s1", "s2", "sd", "span_start", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        # entries: (t_s, rr_ms, diff_sq or -1.0 when the beat has no valid predecessor)
        self.q: deque[tuple[float, float, float]] = deque()
        self.k = 0.0  # shift of s1/s2 (ms)
        self.s1 = 0.0
        self.s2 = 0.0
        self.sd = 0.0
        self.n_diff = 0
        self.span_start: float | None = None

    def push(self, t: float, rr: float, dsq: float) -> None:
        q = self.q
        if not q:
            self.k, self.s1, self.s2 = rr, 0.0, 0.0
        q.append((t, rr, dsq))
        x = rr - self.k
        self.s1 += x
        self.s2 += x * x
        if dsq >= 0.0:
            self.sd += dsq
            self.n_diff += 1
        lim = t - self.window_s
        while q and q[0][0] <= lim:
            _, orr, od = q.popleft()
            ox = orr - self.k
            self.s1 -= ox
            self.s2 -= ox * ox
            if od >= 0.0:
                self.sd -= od
                self.n_diff -= 1

    def resum(self) -> None:
        if self.q:
            self.k = math.fsum(e[1] for e in self.q) / len(self.q)
        self.s1 = math.fsum(e[1] - self.k for e in self.q)
        self.s2 = math.fsum((e[1] - self.k) ** 2 for e in self.q)
        ds = [e[2] for e in self.q if e[2] >= 0.0]
        self.sd = math.fsum(ds)
        self.n_diff = len(ds)

    def stats(self, t_now: float) -> LiveWindowStats:
        n = len(self.q)
        warming = self.span_start is None or (t_now - self.span_start) < self.window_s
        if n == 0:
            return LiveWindowStats(self.window_s, True, 0, None, None, None, None)
        mean_x = self.s1 / n
        mean_rr = mean_x + self.k
        sdnn = None
        if n > 1:
            var = (self.s2 - n * mean_x * mean_x) / (n - 1)
            sdnn = math.sqrt(var) if var > 0 else 0.0
        rmssd = math.sqrt(max(self.sd, 0.0) / self.n_diff) if self.n_diff else None
        return LiveWindowStats(self.window_s, warming, n, mean_rr, 60000.0 / mean_rr, sdnn, rmssd)


class LiveHrv:
    """Per-beat running HRV over several time windows.

    Parameters
    ----------
    windows_s
        Window lengths in seconds (default 60 and 300).
    gate
        Apply the built-in O(1) artefact gate in addition to the caller's flag.
    """

    def __init__(self, windows_s: tuple[float, ...] = (60.0, 300.0), gate: bool = True) -> None:
        self._wins = [_Window(w) for w in windows_s]
        self._gate = gate
        self._recent: list[float] = []  # sorted last accepted RR, for the median gate
        self._recent_fifo: deque[float] = deque()
        self._prev_rr: float | None = None
        self._prev_seg: int | None = None
        self._pushes = 0
        self._spec_t: deque[float] = deque()
        self._spec_rr: deque[float] = deque()
        self._spec_window_s = max(windows_s)
        self._spec_span_start: float | None = None

    def reset(self) -> None:
        """Forget everything (e.g. a new session)."""
        self.__init__(tuple(w.window_s for w in self._wins), self._gate)  # type: ignore[misc]

    def _gate_fail(self, rr: float) -> bool:
        r = self._recent
        if len(r) < 5:
            return False
        med = r[len(r) // 2] if len(r) % 2 else 0.5 * (r[len(r) // 2 - 1] + r[len(r) // 2])
        return abs(rr - med) > GATE_REL * med

    def push(
        self, beat_t_s: float, rr_ms: float, artifact: bool = False, segment: int = 0
    ) -> LiveSnapshot:
        """Add one beat (its time in s and the RR ending at it in ms); O(1) amortised.

        Parameters
        ----------
        beat_t_s
            Time of the beat, s (non-decreasing).
        rr_ms
            Interval ending at this beat, ms.
        artifact
            Caller's artefact flag; flagged beats are kept out of the windows.
        segment
            Segment id (from :class:`biofeedback.beats.Beat`); a change starts a new
            successive-difference chain and restarts the warming-up clock.
        """
        if self._prev_seg is not None and segment != self._prev_seg:
            self._prev_rr = None
            for w in self._wins:
                w.span_start = None
            self._spec_span_start = None
        self._prev_seg = segment
        # An implausible RR (a strap's 0 or 65535-tick glitch) is never a beat, gate or not.
        oor = not (RR_RANGE_MS[0] <= rr_ms <= RR_RANGE_MS[1])
        bad = oor or artifact or (self._gate and self._gate_fail(rr_ms))
        if bad:
            self._prev_rr = None
        else:
            start = beat_t_s - rr_ms / 1000.0
            prev = self._prev_rr
            dsq = (rr_ms - prev) * (rr_ms - prev) if prev is not None else -1.0
            for w in self._wins:
                if w.span_start is None:
                    w.span_start = start
                w.push(beat_t_s, rr_ms, dsq)
            self._prev_rr = rr_ms
            fifo = self._recent_fifo
            fifo.append(rr_ms)
            bisect.insort(self._recent, rr_ms)
            if len(fifo) > GATE_MEDIAN_N:
                old = fifo.popleft()
                del self._recent[bisect.bisect_left(self._recent, old)]
            self._spec_t.append(beat_t_s)
            self._spec_rr.append(rr_ms)
            if self._spec_span_start is None:
                self._spec_span_start = start
            lim = beat_t_s - self._spec_window_s
            while self._spec_t and self._spec_t[0] <= lim:
                self._spec_t.popleft()
                self._spec_rr.popleft()
            self._pushes += 1
            if self._pushes % RESUM_EVERY == 0:
                for w in self._wins:
                    w.resum()
        return LiveSnapshot(
            beat_t_s,
            rr_ms,
            None if oor else 60000.0 / rr_ms,
            bad,
            tuple(w.stats(beat_t_s) for w in self._wins),
        )

    def spectral_input(self) -> SpectralInput:
        """Copy of the accepted beats of the longest window (cheap; call on the loop)."""
        t = np.fromiter(self._spec_t, dtype=np.float64, count=len(self._spec_t))
        rr = np.fromiter(self._spec_rr, dtype=np.float64, count=len(self._spec_rr))
        covered = 0.0
        if t.size and self._spec_span_start is not None:
            covered = float(t[-1] - max(self._spec_span_start, t[-1] - self._spec_window_s))
        return SpectralInput(t, rr, self._spec_window_s, covered)

    async def spectral_async(self, executor: Executor | None = None) -> LiveSpectral:
        """:func:`live_spectral` on the current window, computed in ``executor``."""
        snap = self.spectral_input()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, live_spectral, snap)


def live_spectral(inp: SpectralInput, *, min_s: float = 120.0) -> LiveSpectral:
    """LF, HF, LF/HF, HF peak, breathing rate and coherence of a live window.

    Same Welch pipeline as the offline analysis (4 Hz cubic, Hann, mean removed); the
    window is one Welch segment. Pure function, safe to run in a thread or process.
    """
    from biofeedback.hrv.frequency import (
        band_metrics,
        breathing_rate_per_min,
        coherence_ratio,
        welch_spectrum,
    )

    warming = inp.covered_s < inp.window_s - 1e-6
    none = LiveSpectral(inp.window_s, warming, inp.covered_s, None, None, None, None, None, None)
    if inp.t_s.size < 8 or inp.covered_s < min_s:
        return none
    # a beat whose start is > 0.5 s after the previous accepted beat (artefacts removed, or
    # a gap) starts a new run: never interpolate across missing beats
    cut = np.flatnonzero(np.diff(inp.t_s) - inp.rr_ms[1:] / 1000.0 > 0.5) + 1
    runs = [
        (t, r)
        for t, r in zip(np.split(inp.t_s, cut), np.split(inp.rr_ms, cut), strict=True)
        if t.size >= 8
    ]
    spec = welch_spectrum(runs, window_s=inp.window_s) if runs else None
    if spec is None:
        return none
    bm = band_metrics(spec)

    def fin(v: float) -> float | None:
        return v if math.isfinite(v) else None

    hf_peak = fin(bm["HF_peak_Hz"])
    return LiveSpectral(
        inp.window_s,
        warming,
        inp.covered_s,
        fin(bm["LF_ms2"]),
        fin(bm["HF_ms2"]),
        fin(bm["LFHF"]),
        hf_peak,
        breathing_rate_per_min(spec.freq_hz, spec.psd_ms2_hz),
        fin(coherence_ratio(spec)),
    )
