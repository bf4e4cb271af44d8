"""The link supervisor in virtual time: backoff, cap, deadline, watchdog, lost link, stop.

The driver here is a small scripted strap (our own test double for the `LinkDriver`
protocol, not a mock of the supervisor): each `open` pops the next scripted behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from devices.clock import VirtualClock
from devices.records import DeviceInfo, LinkEvent, LinkState
from devices.supervisor import (
    Backoff,
    LinkUnavailableError,
    Notification,
    Supervisor,
    SupervisorConfig,
    SupervisorState,
)


@dataclass
class Script:
    """What one connection does: frames at offsets (s), then drop / go silent."""

    frames: list[tuple[float, bytes]] = field(default_factory=list)
    drop_after_s: float | None = None


class _Session:
    def __init__(self, driver: ScriptedDriver) -> None:
        self.driver = driver
        self.closed = False

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(name="Strap", address="AA:BB", battery_pct=50)

    async def close(self) -> None:
        self.closed = True
        self.driver.closes += 1


class ScriptedDriver:
    def __init__(
        self,
        clock: VirtualClock,
        *,
        found: list[bool] | None = None,
        scripts: list[Script] | None = None,
        find_error: BaseException | None = None,
    ) -> None:
        self.clock = clock
        self.found = list(found or [])
        self.scripts = list(scripts or [])
        self.find_error = find_error
        self.finds: list[float] = []
        self.opens: list[float] = []
        self.closes = 0
        self.sessions: list[_Session] = []

    async def find(self, timeout_s: float) -> Any | None:
        self.finds.append(self.clock.monotonic())
        if self.find_error is not None:
            raise self.find_error
        ok = self.found.pop(0) if self.found else True
        if not ok:
            await self.clock.sleep(timeout_s)  # a scan that sees nothing lasts its timeout
            return None
        return "peer"

    async def open(
        self,
        peer: Any,
        *,
        on_notify: Callable[[bytes], None],
        on_lost: Callable[[], None],
        timeout_s: float,
    ) -> _Session:
        self.opens.append(self.clock.monotonic())
        script = self.scripts.pop(0) if self.scripts else Script()
        session = _Session(self)
        self.sessions.append(session)

        import asyncio

        async def play() -> None:
            t0 = self.clock.monotonic()
            for off, data in script.frames:
                await self.clock.sleep(t0 + off - self.clock.monotonic())
                if session.closed:
                    return
                on_notify(data)
            if script.drop_after_s is not None:
                await self.clock.sleep(t0 + script.drop_after_s - self.clock.monotonic())
                if not session.closed:
                    on_lost()

        self._task = asyncio.get_running_loop().create_task(play())
        return session

    def fatal_reason(self, exc: BaseException) -> str | None:
        return str(exc) if isinstance(exc, PermissionError) else None


def count_connected(items: list[Notification | LinkEvent]) -> int:
    return sum(isinstance(i, LinkEvent) and i.state is LinkState.CONNECTED for i in items)


def _events(items: list[Notification | LinkEvent]) -> list[tuple[LinkState, float]]:
    return [(i.state, i.t_s) for i in items if isinstance(i, LinkEvent)]


def test_backoff_sequence_doubles_and_caps() -> None:
    cfg = SupervisorConfig(backoff_initial_s=1.0, backoff_max_s=30.0, jitter_frac=0.2)
    mid = Backoff(cfg, random=lambda: 0.5)  # u = 0.5 → no jitter
    assert [mid.next_s() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    low = Backoff(cfg, random=lambda: 0.0)  # −20 %
    assert [round(low.next_s(), 9) for _ in range(6)] == [0.8, 1.6, 3.2, 6.4, 12.8, 24.0]
    high = Backoff(cfg, random=lambda: 0.999999)  # +20 %, but never above the cap
    seq = [high.next_s() for _ in range(7)]
    assert seq[0] == pytest.approx(1.2, abs=1e-5)
    assert max(seq) == 30.0
    high.reset()
    assert high.next_s() == pytest.approx(1.2, abs=1e-5)
    many = Backoff(cfg, random=lambda: 0.5)
    assert [many.next_s() for _ in range(2000)][-1] == 30.0  # no float overflow


async def test_deadline_gives_up_after_backoff_sequence() -> None:
    clock = VirtualClock()
    cfg = SupervisorConfig(
        backoff_initial_s=1.0, backoff_max_s=4.0, jitter_frac=0.0, deadline_s=30.0,
        scan_timeout_s=2.0,
    )  # fmt: skip
    driver = ScriptedDriver(clock, found=[False] * 100)
    sup = Supervisor(driver, "Strap", clock=clock, config=cfg)
    items = [i async for i in sup.run()]
    states = [s for s, _ in _events(items)]
    assert states[-2:] == [LinkState.GAVE_UP, LinkState.END]
    assert _events(items)[-2][1] == pytest.approx(30.0)
    # scans start at 0, then each after a 2 s scan plus a backoff of 1, 2, 4, 4, ... s
    expected, t, delays = [0.0], 0.0, [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for d in delays:
        t += 2.0 + d
        if t >= 30.0:
            break
        expected.append(t)
    assert driver.finds == pytest.approx(expected)
    assert sup.state is SupervisorState.GAVE_UP
    assert not any(isinstance(i, Notification) for i in items)


async def test_watchdog_trips_on_silence_and_reconnects() -> None:
    clock = VirtualClock()
    cfg = SupervisorConfig(silence_s=5.0, deadline_s=60.0, jitter_frac=0.0)
    frames = [(1.0, b"\x06\x40"), (2.0, b"\x06\x41"), (3.0, b"\x06\x42")]
    driver = ScriptedDriver(clock, scripts=[Script(frames=frames), Script(frames=frames)])
    sup = Supervisor(driver, "Strap", clock=clock, config=cfg)
    items: list[Notification | LinkEvent] = []
    async for item in sup.run():
        items.append(item)
        if sum(isinstance(i, Notification) for i in items) == 6:
            sup.stop()
    ev = _events(items)
    disc = [t for s, t in ev if s is LinkState.DISCONNECTED]
    assert disc == [pytest.approx(3.0 + 5.0)]  # last frame at 3 s, then 5 s of silence
    details = [i.detail for i in items if isinstance(i, LinkEvent)]
    assert "no notification for 5 s" in details
    assert driver.opens == [0.0, pytest.approx(8.0)]  # first reconnect is immediate
    assert driver.sessions[0].closed  # the silent session was disconnected by us
    assert [i.data for i in items if isinstance(i, Notification)] == [f[1] for f in frames] * 2
    assert ev[-1][0] is LinkState.END
    assert driver.closes == 2


async def test_lost_link_gap_is_visible_and_backoff_applies_to_failures() -> None:
    clock = VirtualClock()
    cfg = SupervisorConfig(backoff_initial_s=1.0, jitter_frac=0.0, scan_timeout_s=2.0)
    driver = ScriptedDriver(
        clock,
        found=[True, False, False, True],
        scripts=[Script(frames=[(0.5, b"\x06\x40")], drop_after_s=1.0), Script()],
    )
    sup = Supervisor(driver, "Strap", clock=clock, config=cfg)
    items: list[Notification | LinkEvent] = []
    async for item in sup.run():
        items.append(item)
        if count_connected(items) == 2:
            sup.stop()
    states = [s for s, _ in _events(items)]
    i = states.index(LinkState.DISCONNECTED)
    assert states[i : i + 2] == [LinkState.DISCONNECTED, LinkState.RECONNECTING]
    assert states.count(LinkState.CONNECTED) == 2
    assert states.count(LinkState.BATTERY) == 2
    # lost at 1 s; rescan at once (2 s, nothing), wait 1 s; rescan (2 s, nothing), wait 2 s
    assert driver.finds == pytest.approx([0.0, 1.0, 4.0, 8.0])
    assert driver.opens == pytest.approx([0.0, 8.0])
    lost = next(i for i in items if isinstance(i, LinkEvent) and i.state is LinkState.DISCONNECTED)
    assert lost.detail == "link lost"
    ts = [i.t_s for i in items]
    assert ts == sorted(ts)  # stream time never goes back


async def test_unavailable_radio_ends_the_stream_with_a_reason() -> None:
    clock = VirtualClock()
    driver = ScriptedDriver(clock, find_error=PermissionError("Bluetooth access denied"))
    sup = Supervisor(driver, "Strap", clock=clock)
    items: list[Notification | LinkEvent] = []
    with pytest.raises(LinkUnavailableError, match="access denied"):
        async for item in sup.run():
            items.append(item)
    assert isinstance(items[-1], LinkEvent) and items[-1].state is LinkState.GAVE_UP
    assert len(driver.finds) == 1  # not retried: the user has to act


async def test_ordinary_scan_errors_are_retried() -> None:
    clock = VirtualClock()
    driver = ScriptedDriver(clock, find_error=RuntimeError("adapter busy"))
    cfg = SupervisorConfig(deadline_s=10.0, jitter_frac=0.0)
    items = [i async for i in Supervisor(driver, "Strap", clock=clock, config=cfg).run()]
    assert len(driver.finds) > 2
    gave_up = next(i for i in items if isinstance(i, LinkEvent) and i.state is LinkState.GAVE_UP)
    assert "adapter busy" in gave_up.detail


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SupervisorConfig(backoff_initial_s=5.0, backoff_max_s=1.0)
    with pytest.raises(ValueError):
        SupervisorConfig(silence_s=0)
    with pytest.raises(ValueError):
        SupervisorConfig(deadline_s=-1)


async def test_cancelling_the_stream_during_a_scan_stops_the_scan() -> None:
    """Ctrl-C (task cancellation) while scanning must cancel the scan itself, in that task:
    a scan left running as an orphan keeps the radio busy and its task leaks."""
    import asyncio

    class HangingScan(ScriptedDriver):
        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(clock)
            self.scan_stopped = asyncio.Event()

        async def find(self, timeout_s: float) -> Any | None:
            try:
                await asyncio.Event().wait()  # a scan that never sees the strap
            finally:
                self.scan_stopped.set()  # bleak: scanner.stop()
            return None

    clock = VirtualClock()
    driver = HangingScan(clock)
    sup = Supervisor(driver, "Strap", clock=clock, config=SupervisorConfig(deadline_s=None))
    seen: list[Notification | LinkEvent] = []

    async def consume() -> None:
        async for item in sup.run():
            seen.append(item)

    task = asyncio.ensure_future(consume())
    while not seen:
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.scan_stopped.is_set()
