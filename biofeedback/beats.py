"""Frames → beats: RR intervals with beat times on the stream clock.

Straps send about one notification a second carrying 0..n RR intervals, and the summed RR
drifts from the arrival times (buffered RR after connecting, missed notifications). Beat
times are therefore the cumulative RR, anchored to the arrival time of the notification that
starts a *segment*. A new segment starts after a link gap, a loss of skin contact, or when
cumulative time and arrival time disagree by more than ``resync_tol_s``; a gap is never
bridged with an interpolated beat. Downstream code computes successive differences only
within a segment.

Every RR is kept as the strap sent it, even 0 or 65535 ticks: plausibility is judged at the
analysis edge with the one definition below (:data:`RR_MIN_MS`-:data:`RR_MAX_MS`), which the
offline engine, live HRV, stress index and importers all use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket, StreamItem

TICKS_PER_S = 1024.0

# Plausible RR for a human heart, ms: the one definition, used by the offline engine
# (out-of-range artefacts), live HRV, the live stress index and the importers' unit check.
# These are physiological extremes, not typical values, so that real beats (missed beats
# at a slow resting rate included) stay with the Lipponen-Tarvainen classifier, which
# corrects them, and only values no heart produces are dropped:
# * 200 ms = 300 bpm, above any sinus rate (HRmax ~ 208 - 0.7 x age bpm; Tanaka H, Monahan
#   KD, Seals DR. J Am Coll Cardiol 2001;37:153-156), with room for 1:1 conducted flutter;
# * 3000 ms = 20 bpm: a pause of 3 s or more is the clinical threshold of a pathological
#   sinus pause (Kusumoto FM et al. 2018 ACC/AHA/HRS bradycardia guideline, Circulation
#   2019;140:e382-e482).
# Narrower software defaults exist (RHRV FilterNIHR 25-200 bpm = 300-2400 ms; Vila J et al.
# IEEE Eng Med Biol Mag 1997;16:119-125) but would drop, not correct, a missed beat below
# 50 bpm. Strap glitches (RR 0 or 65535 ticks = 64 s) fall far outside either band.
RR_MIN_MS = 200.0
RR_MAX_MS = 3000.0

#: Most beats in one reading, for every reader and the engine (about 3 weeks at 70 bpm; the
#: engine's full set needs ~0.5 KB per beat, so this stays below 1 GiB). Larger input is
#: refused in one line before it is parsed or analysed.
MAX_BEATS = 2_000_000


def rr_out_of_range(rr_ms: float) -> bool:
    """True when one RR (ms) is not a plausible human interval (or not a finite number)."""
    return not (RR_MIN_MS <= rr_ms <= RR_MAX_MS)


@dataclass(frozen=True, slots=True)
class Beat:
    """One RR interval ending at ``t_s``.

    Attributes
    ----------
    t_s
        Time of the beat that ends this interval, seconds on the stream clock.
    rr_ms
        Interval length in milliseconds (exact conversion of ``rr_1024``).
    rr_1024
        The raw interval in 1/1024 s ticks as the strap sent it (``None`` if imported as ms).
    segment
        Index of the contiguous run this beat belongs to; it changes at every gap.
    """

    t_s: float
    rr_ms: float
    rr_1024: int | None
    segment: int


class BeatAssembler:
    """Turn a stream of frames and link events into beats (stateful, one per stream).

    Parameters
    ----------
    resync_tol_s
        When the cumulative beat time and the arrival time of the notification disagree by
        more than this many seconds, the assembler starts a new segment anchored to the
        arrival time (default 3 s: more than a notification's worth of buffered beats).
    """

    def __init__(self, resync_tol_s: float = 3.0) -> None:
        self.resync_tol_s = resync_tol_s
        self._segment = -1
        self._t_last: float | None = None
        self.dropped_no_contact = 0
        self.resyncs = 0

    def gap(self) -> None:
        """Mark a break: the next beat opens a new segment."""
        self._t_last = None

    def push(self, frame: HrFrame) -> list[Beat]:
        """Beats carried by one frame (possibly none)."""
        m = frame.measurement
        if m.contact is False:
            # No skin contact breaks the segment whether or not RR came with it (straps
            # usually send none then): RR reported without contact are noise and are dropped.
            self.dropped_no_contact += len(m.rr_1024)
            self.gap()
            return []
        if frame.rr_rejected is not None:
            # The frame's beats were in a malformed RR part: they are missing, so the next
            # interval is not the successor of the last one.
            self.gap()
            return []
        if not m.rr_1024:
            return []
        total_s = sum(m.rr_1024) / TICKS_PER_S
        if self._t_last is not None:
            drift = self._t_last + total_s - frame.t_s
            if abs(drift) > self.resync_tol_s:
                self.resyncs += 1
                self._t_last = None
        if self._t_last is None:
            self._segment += 1
            self._t_last = frame.t_s - total_s
        out: list[Beat] = []
        t = self._t_last
        for tick in m.rr_1024:
            t += tick / TICKS_PER_S
            out.append(
                Beat(t_s=t, rr_ms=tick * 1000.0 / TICKS_PER_S, rr_1024=tick, segment=self._segment)
            )
        self._t_last = t
        return out

    def feed(self, item: StreamItem) -> list[Beat]:
        """Handle any stream item: frames give beats, link losses break the segment."""
        if isinstance(item, HrFrame):
            return self.push(item)
        if isinstance(item, LinkEvent) and item.state in (
            LinkState.DISCONNECTED,
            LinkState.RECONNECTING,
            LinkState.GAVE_UP,
        ):
            self.gap()
        elif isinstance(item, RejectedPacket):
            pass
        return []


def beats_from_items(items: Iterable[StreamItem], resync_tol_s: float = 3.0) -> list[Beat]:
    """All beats of a finished stream (convenience for captures and tests)."""
    asm = BeatAssembler(resync_tol_s)
    out: list[Beat] = []
    for it in items:
        out.extend(asm.feed(it))
    return out
