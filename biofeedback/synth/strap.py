"""Stage 3 of the simulator: a BLE chest strap sending ~1 Hz 0x2A37 notifications, with quirks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from biofeedback.synth.physiology import FloatArray
from devices.capture import CaptureEvent
from devices.heart_rate import encode_measurement

# --------------------------------------------------------------------------- strap model


@dataclass(frozen=True, slots=True)
class Window:
    """A time window on the capture clock, seconds."""

    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def contains(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True, slots=True)
class ContactLoss:
    """Electrodes lose skin contact: flags say no contact, HR frozen or zero, no RR."""

    start_s: float
    duration_s: float
    hr: Literal["frozen", "zero"] = "frozen"

    @property
    def window(self) -> Window:
        return Window(self.start_s, self.duration_s)


@dataclass(frozen=True, slots=True)
class Dropout:
    """The link drops at ``start_s`` and reconnects after ``gap_s``; beats in between are lost."""

    start_s: float
    gap_s: float
    reason: str = "link loss"


GarbageKind = Literal[
    "empty",
    "flags_only",
    "truncated_hr16",
    "truncated_energy",
    "rr_flag_no_bytes",
    "odd_rr",
    "trailing_without_rr_flag",
]
GARBAGE_KINDS: tuple[GarbageKind, ...] = get_args(GarbageKind)


@dataclass(frozen=True, slots=True)
class GarbagePacket:
    """A malformed notification (the decoder must reject it).

    ``replaces_frame``: it takes the place of the next real notification, whose RR are lost;
    otherwise it arrives as an extra packet at ``t_s``.
    """

    t_s: float
    kind: GarbageKind
    replaces_frame: bool = False


def garbage_bytes(kind: GarbageKind, hr_bpm: int = 70) -> bytes:
    """The raw bytes of a malformed Heart Rate Measurement of the given kind."""
    hr = max(0, min(hr_bpm, 255))
    if kind == "empty":
        return b""
    if kind == "flags_only":  # uint8 HR announced, nothing follows
        return bytes([0x16])
    if kind == "truncated_hr16":  # uint16 HR announced, one byte follows
        return bytes([0x17, hr])
    if kind == "truncated_energy":  # energy expended announced, one byte follows
        return bytes([0x0E, hr, 0x12])
    if kind == "rr_flag_no_bytes":  # RR flag set, no RR bytes
        return bytes([0x16, hr])
    if kind == "odd_rr":  # a half RR interval at the end
        return encode_measurement(hr, [int(60 * 1024 / max(hr, 1))]) + b"\x03"
    if kind == "trailing_without_rr_flag":  # RR bytes present but the RR flag is clear
        return bytes([0x06, hr, 0x00, 0x04])
    raise ValueError(f"unknown garbage kind {kind!r}")


@dataclass(frozen=True, slots=True)
class StrapConfig:
    """How the simulated strap behaves (all times in seconds on the capture clock).

    Attributes
    ----------
    notify_period_s
        Notification period (HRS: "approximately 1 time per second").
    latency_s, jitter_s
        Mean radio/host latency and its standard deviation, added to arrival times.
    skip_prob
        Chance a notification is not sent; its RR ride on the next one (so 0-3 RR/frame).
    settle_s
        After the first connect, no RR until electrodes settle; beats that start earlier are
        not reported. The first ``settle_no_contact_s`` also flag no contact and HR 0.
    resettle_s
        Same after each reconnect.
    hr_window_s
        The HR field is ``60000 / mean RR`` over the beats of the last ``hr_window_s``
        (strap-style smoothing), rounded to an integer.
    clock_ppm
        Strap crystal error: RR ticks are measured on the strap clock (parts per million).
    contact_losses, dropouts, garbage
        Scheduled quirks (see the classes).
    uint16_hr, energy, contact_unsupported, bogus_trailing_rr
        Windows in which frames use a uint16 HR field, carry energy expended (kJ), flag
        contact as unsupported, or get a Garmin HRM-Dual style bogus trailing RR (20-80
        ticks) appended to frames that have RR.
    battery_pct
        Battery event right after each connect (``None``: none).
    """

    notify_period_s: float = 1.0
    latency_s: float = 0.04
    jitter_s: float = 0.012
    skip_prob: float = 0.02
    settle_s: float = 5.0
    settle_no_contact_s: float = 1.5
    resettle_s: float = 2.0
    hr_window_s: float = 5.0
    clock_ppm: float = 40.0
    contact_losses: tuple[ContactLoss, ...] = ()
    dropouts: tuple[Dropout, ...] = ()
    garbage: tuple[GarbagePacket, ...] = ()
    uint16_hr: tuple[Window, ...] = ()
    energy: tuple[Window, ...] = ()
    contact_unsupported: tuple[Window, ...] = ()
    bogus_trailing_rr: tuple[Window, ...] = ()
    battery_pct: int | None = 87


@dataclass(frozen=True, slots=True)
class StrapStream:
    """What the strap sent, with counts for tests.

    ``reported_peak_index[i]`` is the index (into the peak array the strap saw) of the R
    peak ending the i-th reported RR, excluding bogus trailing values.
    """

    events: tuple[CaptureEvent, ...]
    frames: int
    garbage: int
    rr_reported: int
    rr_bogus: int
    reported_peak_index: tuple[int, ...]


def _in_any(t: float, windows: Sequence[Window]) -> bool:
    return any(w.contains(t) for w in windows)


def _reportable(peaks: FloatArray, n_intervals: int, config: StrapConfig) -> list[bool]:
    """Interval k (peaks[k] → peaks[k+1]) is reportable only if both ends were measurable."""
    down = [Window(d.start_s, d.gap_s) for d in config.dropouts]
    connects = [0.0] + [w.end_s for w in down]
    settle_until = [config.settle_s] + [w.end_s + config.resettle_s for w in down]
    losses = [c.window for c in config.contact_losses]

    def good(t: float) -> bool:
        """Can the strap measure a beat boundary at ``t``?"""
        if _in_any(t, down) or _in_any(t, losses):
            return False
        last_connect = max(i for i, c in enumerate(connects) if c <= t) if t >= 0 else 0
        return t >= settle_until[last_connect]

    good_peak = [good(float(p)) for p in peaks]
    return [good_peak[k] and good_peak[k + 1] for k in range(n_intervals)]


class _StrapRun:
    """The mutable state of one `strap_events` run: where the strap is in the beat list,
    what it last reported, and the events so far. The random stream is consumed in the
    same order as a strap would (per connection: first-notification offset; per
    notification: latency jitter, skip draw, bogus value), so outputs are reproducible."""

    def __init__(
        self, peaks: FloatArray, duration_s: float, config: StrapConfig, rng: np.random.Generator
    ) -> None:
        self.peaks = peaks
        self.duration_s = duration_s
        self.config = config
        self.rng = rng
        # RR ticks are differences of peak times rounded on the strap clock, so rounding
        # does not accumulate (a real strap timestamps beats in its own ticks).
        ticks = np.rint(peaks * (1.0 + config.clock_ppm * 1e-6) * 1024.0).astype(np.int64)
        self.rr_ticks = np.diff(ticks)
        self.rr_s = np.diff(peaks)
        self.reportable = _reportable(peaks, self.rr_ticks.size, config)
        self.replacing = sorted(
            (g for g in config.garbage if g.replaces_frame), key=lambda g: g.t_s
        )
        self.events: list[CaptureEvent] = []
        self.frames = 0
        self.n_rr = 0
        self.n_bogus = 0
        self.reported: list[int] = []
        self.last_hr = 0
        self.last_arrival = 0.0
        self.next_beat = 0  # next interval index not yet handed to a notification

    def hr_at(self, t: float, since: float) -> int:
        """The strap's displayed HR: mean RR of the last ``hr_window_s`` since connecting."""
        lo = max(t - self.config.hr_window_s, since)
        sel = (self.peaks[1:] <= t) & (self.peaks[:-1] >= lo)
        if not sel.any():
            return 0
        return round(60.0 / float(np.mean(self.rr_s[sel])))

    def connection(self, first: bool, t_conn: float, t_end: float) -> None:
        """One connected interval ``[t_conn, t_end)``: connect, battery, notifications."""
        cfg = self.config
        self.events.append(CaptureEvent(round(t_conn, 3), "connect"))
        if cfg.battery_pct is not None:
            self.events.append(
                CaptureEvent(round(t_conn + 0.25, 3), "battery", battery_pct=cfg.battery_pct)
            )
        # Beats that ended while disconnected are gone.
        while self.next_beat < self.rr_ticks.size and self.peaks[self.next_beat + 1] <= t_conn:
            self.next_beat += 1
        s = t_conn + float(self.rng.uniform(0.3, 0.9))
        while s < t_end:
            arrival = s + cfg.latency_s + abs(float(self.rng.normal(0.0, cfg.jitter_s)))
            arrival = max(round(arrival, 3), self.last_arrival)
            skip = float(self.rng.random()) < cfg.skip_prob
            s_now = s
            s += cfg.notify_period_s
            if arrival >= t_end or arrival >= self.duration_s:
                break
            if not skip:
                self.notification(first, t_conn, s_now, arrival)

    def _contact_hr(
        self, first: bool, t_conn: float, s_now: float, carried: list[int]
    ) -> tuple[bool | None, int, list[int]]:
        """Contact flag, HR and the carried intervals after the contact rules."""
        cfg = self.config
        loss = next((c for c in cfg.contact_losses if c.window.contains(s_now)), None)
        contact: bool | None
        if s_now < t_conn + cfg.settle_no_contact_s and first:
            contact, hr, carried = False, 0, []
        elif loss is not None:
            contact, hr, carried = False, (self.last_hr if loss.hr == "frozen" else 0), []
        else:
            contact, hr = True, self.hr_at(s_now, t_conn)
            self.last_hr = hr
        if _in_any(s_now, cfg.contact_unsupported):
            contact = None
        return contact, hr, carried

    def notification(self, first: bool, t_conn: float, s_now: float, arrival: float) -> None:
        """The notification sent at strap time ``s_now``, arriving at ``arrival``."""
        cfg = self.config
        carried: list[int] = []
        while self.next_beat < self.rr_ticks.size and self.peaks[self.next_beat + 1] <= s_now:
            if self.reportable[self.next_beat]:
                carried.append(self.next_beat)
            self.next_beat += 1
        contact, hr, carried = self._contact_hr(first, t_conn, s_now, carried)
        wide = _in_any(s_now, cfg.uint16_hr)
        energy = int(s_now * 0.08) if _in_any(s_now, cfg.energy) else None
        cap = 9 - (1 if wide else 0) - (1 if energy is not None else 0)
        bogus = bool(carried) and _in_any(s_now, cfg.bogus_trailing_rr)
        if bogus:
            cap -= 1
        carried = carried[-cap:]  # the payload holds at most 20 bytes (ATT_MTU 23)
        rr_vals = [int(self.rr_ticks[k]) for k in carried]
        if bogus:
            rr_vals.append(int(self.rng.integers(20, 81)))
            self.n_bogus += 1
        rep = next((g for g in self.replacing if self.last_arrival < g.t_s <= arrival), None)
        self.last_arrival = arrival
        if rep is not None:
            self.replacing.remove(rep)
            data = garbage_bytes(rep.kind, hr)
            self.events.append(CaptureEvent(arrival, "notify", char="2a37", data=data))
            return
        data = encode_measurement(hr, rr_vals, contact=contact, energy_kj=energy, uint16=wide)
        self.events.append(CaptureEvent(arrival, "notify", char="2a37", data=data))
        self.frames += 1
        self.n_rr += len(carried)
        self.reported.extend(carried)


def strap_events(
    peaks_s: FloatArray,
    duration_s: float,
    config: StrapConfig,
    rng: np.random.Generator,
) -> StrapStream:
    """Turn R-peak times into the notification/link events a strap would produce.

    Parameters
    ----------
    peaks_s
        Increasing R-peak times, seconds (the strap measures RR between consecutive ones).
    duration_s
        Length of the capture, seconds; the connection is up from 0.
    config
        Strap behaviour and scheduled quirks.
    rng
        Random stream for latency, skipped notifications and bogus values.
    """
    run = _StrapRun(np.asarray(peaks_s, dtype=np.float64), duration_s, config, rng)
    down = [Window(d.start_s, d.gap_s) for d in config.dropouts]
    connects = [0.0] + [w.end_s for w in down]
    for ci, t_conn in enumerate(connects):
        if t_conn >= duration_s:
            break
        run.connection(ci == 0, t_conn, down[ci].start_s if ci < len(down) else duration_s)
        if ci < len(down) and down[ci].start_s < duration_s:
            reason = config.dropouts[ci].reason
            run.events.append(CaptureEvent(round(down[ci].start_s, 3), "disconnect", detail=reason))
    extra_garbage = sorted((g for g in config.garbage if not g.replaces_frame), key=lambda g: g.t_s)
    for g in extra_garbage:
        data = garbage_bytes(g.kind, run.last_hr or 70)
        run.events.append(CaptureEvent(round(g.t_s, 3), "notify", char="2a37", data=data))
    n_garbage = len(config.garbage) - len(run.replacing)
    # Stable sort: events at the same instant keep their generation order.
    run.events.sort(key=lambda e: e.t_s)
    return StrapStream(
        events=tuple(run.events),
        frames=run.frames,
        garbage=n_garbage,
        rr_reported=run.n_rr,
        rr_bogus=run.n_bogus,
        reported_peak_index=tuple(k + 1 for k in run.reported),
    )
