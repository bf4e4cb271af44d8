"""Publish heart rate and RR intervals as Lab Streaming Layer (LSL) outlets.

``biofeedback record ... --lsl`` feeds every stream item to :class:`LslPublisher`, which
creates three outlets (irregular rate, so each sample carries its own timestamp):

=====================  ===========  ======== =========  =========================================
name                   type         channels format     sample
=====================  ===========  ======== =========  =========================================
``biofeedback-HR``     ``HR``       1        float32    heart rate the strap reports, bpm
``biofeedback-RR``     ``RR``       1        float32    one RR interval in ms, stamped at the beat
``biofeedback-Events`` ``Markers``  1        string     link events (``connected``, ...)
=====================  ===========  ======== =========  =========================================

Each outlet's ``source_id`` is ``"<source_id>-hr"`` / ``-rr`` / ``-events`` so a recorder (e.g.
LabRecorder) can re-attach after a restart. The channel description carries ``label`` and
``unit`` (the XDF meta-data convention). Sample timestamps are on LSL's clock
(``pylsl.local_clock()``): the offset between the stream clock (``t_s``) and LSL's clock is
measured when a frame arrives, and beat times inside the frame are mapped with it, so an RR
sample is stamped at the beat that ends it, not at the notification.

Frames without skin contact publish no HR (the value is meaningless then); RR without contact
are already dropped by :class:`~biofeedback.beats.BeatAssembler`.

pylsl is an optional extra (``pip install biofeedback[lsl]``); its wheels bundle liblsl on
Linux x86_64, macOS and Windows. Import errors surface as :class:`LslUnavailableError` (a
:class:`~biofeedback.errors.UserError`), so the CLI prints one line.

References
----------
Kothe C. et al. (2024) "The Lab Streaming Layer for synchronized multimodal recording",
bioRxiv 2024.02.13.580071; pylsl documentation (github.com/labstreaminglayer/pylsl).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from biofeedback.beats import Beat, BeatAssembler
from biofeedback.errors import UserError
from devices.records import DeviceInfo, HrFrame, LinkEvent, LinkState, StreamItem
from devices.stream import HeartRateSource, StreamSummary

__all__ = ["LslPublisher", "LslTappedSource", "LslUnavailableError", "load_pylsl", "with_lsl"]


class LslUnavailableError(UserError):
    """pylsl (or the liblsl it bundles) cannot be loaded."""


def load_pylsl() -> ModuleType:
    """Import pylsl lazily; raise :class:`LslUnavailableError` with a one-line reason."""
    try:
        import pylsl  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except (ImportError, OSError, RuntimeError) as exc:  # RuntimeError: liblsl not found
        raise LslUnavailableError(
            f"--lsl needs pylsl with liblsl (pip install 'biofeedback[lsl]'): {exc}"
        ) from None
    mod: ModuleType = pylsl
    return mod


class LslPublisher:
    """Push HR, RR and link events of a live stream to three LSL outlets.

    Parameters
    ----------
    source_id
        Stable identifier of the strap (its address is a good choice); suffixed per outlet.
    device_name
        Human-readable device name stored in each outlet's description.
    pylsl_module
        The pylsl module to use (default: :func:`load_pylsl`); passed in by tests.
    """

    HR_NAME = "biofeedback-HR"
    RR_NAME = "biofeedback-RR"
    EVENTS_NAME = "biofeedback-Events"

    def __init__(
        self,
        source_id: str = "biofeedback",
        device_name: str = "",
        pylsl_module: ModuleType | None = None,
    ) -> None:
        lsl = pylsl_module if pylsl_module is not None else load_pylsl()
        self._lsl = lsl
        self.source_id = source_id
        self.hr_outlet: Any = self._outlet(
            lsl, self.HR_NAME, "HR", lsl.cf_float32, "hr", "HR", "bpm", device_name
        )
        self.rr_outlet: Any = self._outlet(
            lsl, self.RR_NAME, "RR", lsl.cf_float32, "rr", "RR", "ms", device_name
        )
        self.events_outlet: Any = self._outlet(
            lsl, self.EVENTS_NAME, "Markers", lsl.cf_string, "events", "event", "", device_name
        )
        self._assembler: BeatAssembler | None = None
        self.hr_samples = 0
        self.rr_samples = 0
        self.event_samples = 0

    def _outlet(
        self,
        lsl: ModuleType,
        name: str,
        kind: str,
        fmt: int,
        suffix: str,
        label: str,
        unit: str,
        device_name: str,
    ) -> Any:
        # nominal_srate 0 = irregular: every sample carries its own timestamp.
        info = lsl.StreamInfo(name, kind, 1, 0.0, fmt, f"{self.source_id}-{suffix}")
        desc = info.desc()
        desc.append_child_value("manufacturer", "biofeedback")
        if device_name:
            desc.append_child_value("device", device_name)
        ch = desc.append_child("channels").append_child("channel")
        ch.append_child_value("label", label)
        if unit:
            ch.append_child_value("unit", unit)
        ch.append_child_value("type", kind)
        return lsl.StreamOutlet(info)

    def push(self, item: StreamItem, beats: Sequence[Beat] = ()) -> None:
        """Publish one stream item and the beats the caller's assembler got from it.

        Parameters
        ----------
        item
            A frame, link event or rejected packet from the source.
        beats
            Beats that ``item`` completed (from the caller's :class:`BeatAssembler`).
        """
        now = float(self._lsl.local_clock())
        if isinstance(item, HrFrame):
            # Map the stream clock onto LSL's clock at the frame's arrival.
            offset = now - item.t_s
            if item.measurement.contact is not False:
                self.hr_outlet.push_sample([float(item.measurement.hr_bpm)], now)
                self.hr_samples += 1
            for b in beats:
                self.rr_outlet.push_sample([b.rr_ms], b.t_s + offset)
                self.rr_samples += 1
        elif isinstance(item, LinkEvent) and item.state is not LinkState.END:
            text = f"{item.state.value} {item.detail}".strip()
            self.events_outlet.push_sample([text], now)
            self.event_samples += 1

    def consume(self, item: StreamItem) -> list[Beat]:
        """Publish one item, assembling beats with an internal :class:`BeatAssembler`."""
        if self._assembler is None:
            self._assembler = BeatAssembler()
        beats = self._assembler.feed(item)
        self.push(item, beats)
        return beats

    def consume_all(self, items: Iterable[StreamItem]) -> int:
        """Publish every item of an iterable; returns the number of RR samples pushed."""
        for it in items:
            self.consume(it)
        return self.rr_samples

    def close(self) -> None:
        """Drop the outlets (consumers see the streams disappear)."""
        self.hr_outlet = self.rr_outlet = self.events_outlet = None


class LslTappedSource:
    """A `devices.stream.HeartRateSource` that publishes every item it passes on to LSL.

    This is the ``record --lsl`` hook: the record command wraps whatever source it opened
    (strap or replay), so terminal, guided and stored sessions all publish the same way.
    """

    def __init__(self, inner: HeartRateSource, publisher: LslPublisher) -> None:
        self.inner = inner
        self.publisher = publisher

    @property
    def info(self) -> DeviceInfo:
        return self.inner.info

    def summary(self) -> StreamSummary:
        return self.inner.summary()

    @property
    def stop(self) -> Callable[[], None] | None:
        """The wrapped source's clean stop (Ctrl-C), or ``None`` if it has none."""
        stop = getattr(self.inner, "stop", None)
        return stop if callable(stop) else None

    async def stream(self) -> AsyncIterator[StreamItem]:
        try:
            async for item in self.inner.stream():
                self.publisher.consume(item)
                yield item
        finally:
            self.publisher.close()


def with_lsl(source: HeartRateSource, enabled: bool, source_id: str = "") -> HeartRateSource:
    """``source`` itself, or wrapped in an :class:`LslTappedSource` when ``enabled``.

    Raises :class:`LslUnavailableError` (one line, exit 2) when pylsl cannot be loaded.
    """
    if not enabled:
        return source
    info = source.info
    sid = source_id or info.address or info.name or "biofeedback"
    return LslTappedSource(source, LslPublisher(source_id=sid, device_name=info.name))
