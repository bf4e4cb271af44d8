"""Connect robustness on the fake BlueZ through bleak's real backend: BlueZ's connect race is
retried at once (not after a backoff), and a device object that vanished is rescanned at once.

The race, as seen under real bluetoothd 5.66: ``Connect`` returns while ``Connected`` is still
false (or never turns true), so bleak fails with "failed to discover services, device
disconnected"; the next attempt usually wins."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import pytest

from devices.ble import BleHeartRateSource
from devices.clock import SystemClock
from devices.records import LinkState
from devices.supervisor import SupervisorConfig
from tests.support.bluez_harness import Consumer, count, n_frames
from tests.support.fake_bluez import FakeBluez

pytestmark = [pytest.mark.fake_bluez, pytest.mark.skipif(sys.platform != "linux", reason="BlueZ")]

# A backoff long enough to see: any wait on the backoff path would blow the 2 s budgets below.
SLOW_BACKOFF = SupervisorConfig(
    backoff_initial_s=5.0, backoff_max_s=5.0, jitter_frac=0.0, deadline_s=30.0, silence_s=5.0
)


def _states(c: Consumer) -> list[LinkState]:
    return [e.state for e in c.links()]


async def test_connect_race_is_repaired_without_a_retry(bluez: FakeBluez) -> None:
    """BlueZ says Connected (Properties.Get) but never signalled it: we supply the signal."""
    dev = bluez.device
    assert dev is not None
    dev.drop_connected_signal = 1
    c = Consumer(BleHeartRateSource(bluez.strap.address, config=SLOW_BACKOFF))
    await c.until(count(LinkState.CONNECTED), timeout_s=2.0)
    await bluez.strap.play(3)
    await c.until(n_frames(3))
    await c.finish()
    assert dev.connect_calls == 1
    assert (c.source._driver.race_repairs, c.source._driver.race_retries) == (1, 0)
    assert c.frames() == bluez.strap.sent


async def test_connect_race_is_retried_at_once_without_the_repair(bluez: FakeBluez) -> None:
    dev = bluez.device
    assert dev is not None
    dev.drop_connected_signal = 2  # two attempts lose the race, the third wins
    clock = SystemClock()
    t0 = clock.monotonic()
    src = BleHeartRateSource(
        bluez.strap.address, config=SLOW_BACKOFF, clock=clock, race_repair=False
    )
    c = Consumer(src)
    await c.until(count(LinkState.CONNECTED), timeout_s=2.0)
    assert clock.monotonic() - t0 < 2.0
    await bluez.strap.play(3)
    await c.until(n_frames(3))
    await c.finish()
    assert dev.connect_calls == 3
    assert c.source._driver.race_retries == 2  # the statistic the benchmark prints
    states = _states(c)
    assert LinkState.RECONNECTING not in states[: states.index(LinkState.CONNECTED)]
    assert c.frames() == bluez.strap.sent


async def test_a_race_that_keeps_losing_falls_back_to_the_backoff(bluez: FakeBluez) -> None:
    dev = bluez.device
    assert dev is not None
    dev.drop_connected_signal = 3
    cfg = SupervisorConfig(backoff_initial_s=0.2, backoff_max_s=0.2, jitter_frac=0.0)
    src = BleHeartRateSource(bluez.strap.address, config=cfg, race_retries=1, race_repair=False)
    c = Consumer(src)
    await c.until(count(LinkState.CONNECTED), timeout_s=5.0)
    await c.finish()
    retry = next(e for e in c.links() if e.state is LinkState.RECONNECTING)
    assert "failed to discover services" in retry.detail and "retrying in 0.2 s" in retry.detail
    assert dev.connect_calls == 4  # 2 tries (1 immediate retry), backoff, 2 more: the last wins


async def test_a_vanished_device_is_rescanned_at_once(bluez: FakeBluez) -> None:
    dev = bluez.device
    assert dev is not None
    dev.vanish_on_connect = 1  # BlueZ removed the object between our scan and Connect
    c = Consumer(BleHeartRateSource(bluez.strap.address, config=SLOW_BACKOFF))
    await c.until(count(LinkState.CONNECTED), timeout_s=2.0)
    await c.finish()
    gone = next(e for e in c.links() if e.state is LinkState.RECONNECTING)
    assert gone.detail.endswith("scanning again now") and "vanished" in gone.detail
    assert _states(c).count(LinkState.SCANNING) == 2


async def test_removal_after_a_drop_then_reconnect(bluez: FakeBluez) -> None:
    """~30 s after a disconnect BlueZ removes the device and its GATT tree (here at once);
    the strap advertises again, reappears as a new object and the stream resumes."""
    dev = bluez.device
    assert dev is not None
    dev.remove_after_s = 0.0
    cfg = SupervisorConfig(backoff_initial_s=0.05, backoff_max_s=0.2, deadline_s=5.0)
    c = Consumer(BleHeartRateSource(bluez.strap.address, config=cfg))
    await c.until(count(LinkState.CONNECTED))
    await bluez.strap.play(2)
    await c.until(n_frames(2))
    bluez.drop_link()
    await c.until(count(LinkState.CONNECTED, 2), timeout_s=3.0)
    await bluez.strap.play(2)
    await c.until(n_frames(4))
    await c.finish()
    assert c.frames() == bluez.strap.sent
    assert dev.removals >= 1


def test_dead_bus_write_futures_are_hushed_and_the_rest_passes_through() -> None:
    import errno

    from devices.ble_errors import quiet_dead_bus_writes

    seen: list[dict[str, object]] = []
    handle = quiet_dead_bus_writes(lambda _loop, ctx: seen.append(ctx))
    loop = asyncio.new_event_loop()
    try:
        never = "Future exception was never retrieved"
        handle(loop, {"message": never, "exception": BrokenPipeError(32, "Broken pipe")})
        handle(loop, {"message": never, "exception": OSError(errno.EBADF, "Bad fd")})
        other = {"message": never, "exception": ValueError("a real bug")}
        handle(loop, other)
        broken_elsewhere = {"message": "Task exception", "exception": BrokenPipeError()}
        handle(loop, broken_elsewhere)
    finally:
        loop.close()
    assert seen == [other, broken_elsewhere]


async def test_the_race_path_prints_no_asyncio_errors(
    bluez: FakeBluez, caplog: pytest.LogCaptureFixture
) -> None:
    dev = bluez.device
    assert dev is not None
    dev.drop_connected_signal = 3
    caplog.set_level(logging.ERROR, logger="asyncio")
    src = BleHeartRateSource(bluez.strap.address, config=SLOW_BACKOFF, race_repair=False)
    c = Consumer(src)
    await c.until(count(LinkState.CONNECTED), timeout_s=3.0)
    await c.finish()
    await asyncio.sleep(0.1)
    gc.collect()  # unretrieved future exceptions are reported when the future is collected
    await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def test_a_discovery_session_that_misses_the_strap_is_restarted(bluez: FakeBluez) -> None:
    """The kernel reports an advertiser once per discovery session (btvirt under the real
    daemon lost that one report now and then): a new session must start well before the
    10 s scan window ends."""
    dev = bluez.device
    assert dev is not None
    dev.miss_sessions = 1
    clock = SystemClock()
    t0 = clock.monotonic()
    c = Consumer(BleHeartRateSource(bluez.strap.address, config=SLOW_BACKOFF, clock=clock))
    await c.until(count(LinkState.CONNECTED), timeout_s=8.0)
    assert clock.monotonic() - t0 < 8.0
    await c.finish()
    assert bluez.adapters[0].session >= 2
    assert _states(c).count(LinkState.SCANNING) == 1  # one scan attempt, two sessions


async def test_scan_restarts_discovery_so_a_lost_report_is_not_fatal(bluez: FakeBluez) -> None:
    from devices.ble import scan_straps

    dev = bluez.device
    assert dev is not None
    dev.miss_sessions = 1  # the first session never reports it
    found = await scan_straps(3.0)
    assert [r.address for r in found] == [bluez.strap.address]
    assert bluez.adapters[0].session == 2
