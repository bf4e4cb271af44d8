"""Injectable clocks so supervisors and replays never sleep in real time under test."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, a cooperative sleep, and the wall clock."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (origin arbitrary)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` of this clock's time."""
        ...

    def wall(self) -> float:
        """Unix time in seconds, for stamping headers and sessions."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def wall(self) -> float:
        return time.time()


class ScaledClock:
    """Real time run ``speed`` times faster (``speed`` > 0); used by ``--replay --speed X``."""

    def __init__(self, speed: float, base: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0; use VirtualClock for as-fast-as-possible")
        self._speed = speed
        self._base = base or SystemClock()
        self._origin = self._base.monotonic()

    def monotonic(self) -> float:
        return self._origin + (self._base.monotonic() - self._origin) * self._speed

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(seconds / self._speed)

    def wall(self) -> float:
        return self._base.wall()


class VirtualClock:
    """Simulated time: ``sleep`` advances the clock at once and yields to the loop.

    Used for ``--speed 0`` and for tests of backoff, deadlines and watchdogs. Concurrent
    sleepers are woken in order of their deadlines, so timeouts race realistically.
    """

    def __init__(self, start_s: float = 0.0, wall_start_s: float = 1_700_000_000.0) -> None:
        self._now = start_s
        self._wall0 = wall_start_s - start_s
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall0 + self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without waking anyone (for synchronous tests)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._seq += 1
        self._waiters.append((self._now + max(0.0, seconds), self._seq, fut))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        try:
            await fut
        finally:
            if not fut.done():
                self._waiters = [w for w in self._waiters if w[2] is not fut]

    async def _drive(self) -> None:
        # Let every runnable task settle before time jumps, so sleepers that are about to be
        # registered are ordered correctly against those already waiting.
        while self._waiters:
            for _ in range(20):
                await asyncio.sleep(0)
            self._waiters = [w for w in self._waiters if not w[2].done()]
            if not self._waiters:
                break
            self._waiters.sort(key=lambda w: (w[0], w[1]))
            due, _, fut = self._waiters.pop(0)
            self._now = max(self._now, due)
            fut.set_result(None)
