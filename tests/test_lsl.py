"""LSL outlets: an inlet in the same process receives HR, RR and link events.

Skips (with the reason) when pylsl or its bundled liblsl cannot be loaded.
"""

from __future__ import annotations

import time
import uuid
from types import ModuleType

import pytest

from biofeedback.lsl import LslPublisher, LslUnavailableError, load_pylsl
from devices.heart_rate import encode_measurement
from devices.records import HeartRateMeasurement, HrFrame, LinkEvent, LinkState


def _pylsl() -> ModuleType:
    try:
        return load_pylsl()
    except LslUnavailableError as exc:
        pytest.skip(f"pylsl/liblsl not loadable: {exc}")


def _frame(t_s: float, hr: int, rr_1024: tuple[int, ...], contact: bool | None = True) -> HrFrame:
    m = HeartRateMeasurement(hr_bpm=hr, rr_1024=rr_1024, contact=contact, energy_kj=None)
    return HrFrame(t_s=t_s, measurement=m, raw=encode_measurement(hr, rr_1024, contact=contact))


def _inlet(lsl: ModuleType, source_id: str) -> object:
    found = lsl.resolve_byprop("source_id", source_id, timeout=5.0)
    assert found, f"no LSL stream with source_id {source_id}"
    inlet = lsl.StreamInlet(found[0])
    inlet.open_stream(timeout=5.0)
    return inlet


def _pull(inlet: object, n: int, timeout_s: float = 5.0) -> list[tuple[list[object], float]]:
    out: list[tuple[list[object], float]] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        sample, ts = inlet.pull_sample(timeout=0.2)  # type: ignore[attr-defined]
        if sample is not None:
            out.append((sample, ts))
    return out


def test_inlet_receives_hr_rr_and_events() -> None:
    lsl = _pylsl()
    sid = f"test-{uuid.uuid4().hex[:8]}"
    pub = LslPublisher(source_id=sid, device_name="Polar H10 TEST", pylsl_module=lsl)
    hr_in = _inlet(lsl, f"{sid}-hr")
    rr_in = _inlet(lsl, f"{sid}-rr")
    ev_in = _inlet(lsl, f"{sid}-events")
    # Give the inlets' data connections time to come up before pushing (LSL drops nothing
    # after open_stream, but the first resolve can race the outlet's TCP server).
    time.sleep(0.3)
    items = [
        LinkEvent(0.0, LinkState.CONNECTED, "Polar H10 TEST"),
        _frame(1.0, 60, ()),  # no RR yet (strap warming up)
        _frame(2.0, 61, (1024,)),  # 1000 ms
        _frame(3.0, 62, (1000, 980)),  # two beats in one notification
        _frame(4.0, 0, (900,), contact=False),  # no contact: no HR, RR dropped
    ]
    for it in items:
        pub.consume(it)

    hr = _pull(hr_in, 3)
    rr = _pull(rr_in, 3)
    ev = _pull(ev_in, 1)
    assert [s[0][0] for s in hr] == [60.0, 61.0, 62.0]
    assert [s[0][0] for s in rr] == pytest.approx([1000.0, 1000 * 1000 / 1024, 980 * 1000 / 1024])
    assert ev[0][0] == ["connected Polar H10 TEST"]
    # RR samples are stamped at their beats: the two beats of the 3 s frame are 980 ticks
    # apart on LSL's clock, not both at the arrival time.
    assert rr[2][1] - rr[1][1] == pytest.approx(980 / 1024, abs=1e-3)
    assert pub.hr_samples == 3 and pub.rr_samples == 3 and pub.event_samples == 1

    info = hr_in.info(timeout=5.0)  # type: ignore[attr-defined]
    assert info.name() == LslPublisher.HR_NAME
    ch = info.desc().child("channels").child("channel")
    assert ch.child_value("unit") == "bpm"
    pub.close()


def test_record_hook_publishes_every_beat_of_a_replay() -> None:
    """`with_lsl` (the ``record --lsl`` hook) on a capture replay: one RR sample per beat."""
    import asyncio
    from pathlib import Path

    from biofeedback.beats import beats_from_items
    from biofeedback.lsl import LslTappedSource, with_lsl
    from devices.clock import VirtualClock
    from devices.replay import CaptureReplaySource

    lsl = _pylsl()
    capture = Path(__file__).resolve().parents[1] / "recordings" / "resting-clean.jsonl"
    src = CaptureReplaySource(capture, clock=VirtualClock())
    assert with_lsl(src, False) is src
    sid = f"replay-{uuid.uuid4().hex[:8]}"
    tapped = with_lsl(src, True, source_id=sid)
    assert isinstance(tapped, LslTappedSource)
    rr_in = _inlet(lsl, f"{sid}-rr")
    time.sleep(0.3)

    async def run() -> list[object]:
        return [it async for it in tapped.stream()]

    items = asyncio.run(run())
    want = [b.rr_ms for b in beats_from_items(items)]
    got = _pull(rr_in, len(want), timeout_s=10.0)
    assert len(want) > 100
    assert [s[0][0] for s in got] == pytest.approx(want, abs=1e-3)  # float32 channel
