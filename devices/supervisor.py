"""Link supervisor: scan → connect → stream → backoff, as pure logic (no bleak import).

The supervisor owns *when* to (re)connect; a :class:`LinkDriver` owns *how* (bleak in
:mod:`devices.ble`, a scripted fake in the tests). Time comes only from the injected
:class:`devices.clock.Clock`, so backoff, the overall deadline and the silence watchdog can be
tested in virtual time.

Behaviour
---------
* Each attempt scans for the target (a strap may change its address or be dropped from the
  OS cache, so it is found afresh every time), then opens a *new* session on what was found.
* A connect that fails because the device object vanished (:class:`PeerGoneError`) is
  rescanned at once, up to ``immediate_rescans`` times in a row, before backing off.
* A failed attempt waits an exponential backoff with jitter, ``backoff_initial_s`` × 2ⁿ, capped
  at ``backoff_max_s``; a successful connection resets it. The first retry after a link that
  *was* streaming is immediate (a dropped strap usually comes straight back).
* ``deadline_s`` bounds how long the supervisor keeps trying without data: counted from the
  start of the stream for the first connection and from the moment the link went down for a
  reconnect. When it is spent the stream yields ``GAVE_UP`` then ``END`` and stops.
* The silence watchdog: a session that delivers no notification for ``silence_s`` seconds is
  closed and treated as a lost link (a strap taken off often stays connected but silent).
* The driver's lost-link callback only sets an event; all reconnect work happens here.
* Every gap appears in the stream as ``DISCONNECTED(reason)``, then ``RECONNECTING``,
  ``SCANNING``, ``CONNECTING`` and ``CONNECTED`` once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from devices.clock import Clock, SystemClock
from devices.records import DeviceInfo, LinkEvent, LinkState

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "Backoff",
    "LinkDriver",
    "LinkSession",
    "LinkUnavailableError",
    "Notification",
    "PeerGoneError",
    "Supervisor",
    "SupervisorConfig",
    "SupervisorState",
    "clock_timeout",
]


class SupervisorState(StrEnum):
    """Where the supervisor is in its cycle."""

    IDLE = "idle"
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    GAVE_UP = "gave_up"
    STOPPED = "stopped"


class LinkUnavailableError(RuntimeError):
    """The radio stack itself is unusable (no adapter, no BlueZ, no D-Bus, permission).

    Raised out of the stream when this happens before any connection succeeded: retrying
    cannot help, the user has to act. ``str()`` is a one-line explanation.
    """


class PeerGoneError(RuntimeError):
    """The peer handle from the last scan is stale: the OS removed the device (BlueZ drops a
    disconnected device and its GATT tree after a while). Scanning again finds it afresh, so
    the supervisor rescans at once instead of backing off (``immediate_rescans`` times)."""


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    """Reconnect policy; all times in seconds of the supervisor's clock."""

    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    backoff_factor: float = 2.0
    jitter_frac: float = 0.2
    deadline_s: float | None = 120.0
    silence_s: float = 5.0
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    close_timeout_s: float = 5.0
    immediate_rescans: int = 3

    def __post_init__(self) -> None:
        if self.backoff_initial_s < 0 or self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("need 0 <= backoff_initial_s <= backoff_max_s")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be >= 1")
        if not 0 <= self.jitter_frac < 1:
            raise ValueError("jitter_frac must be in [0, 1)")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s must be > 0 (or None for no deadline)")
        for name in ("silence_s", "scan_timeout_s", "connect_timeout_s", "close_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.immediate_rescans < 0:
            raise ValueError("immediate_rescans must be >= 0")


class Backoff:
    """Exponential backoff with multiplicative jitter, capped.

    Delay n (from 0) is ``min(max, initial × factor**n) × (1 + jitter × (2u − 1))`` with
    ``u = random()`` in [0, 1), then capped at ``max`` again so jitter never exceeds the cap.
    """

    def __init__(
        self, config: SupervisorConfig, random: Callable[[], float] = _random.random
    ) -> None:
        self._c = config
        self._random = random
        self._n = 0

    @property
    def failures(self) -> int:
        """Delays handed out since the last reset."""
        return self._n

    def next_s(self) -> float:
        c = self._c
        # Cap the exponent too: factor**n would overflow a float after ~1000 failures.
        base = min(c.backoff_max_s, c.backoff_initial_s * c.backoff_factor ** min(self._n, 64))
        self._n += 1
        jittered = base * (1.0 + c.jitter_frac * (2.0 * self._random() - 1.0))
        return max(0.0, min(c.backoff_max_s, jittered))

    def reset(self) -> None:
        self._n = 0


@dataclass(frozen=True, slots=True)
class Notification:
    """Raw notification bytes and their arrival time on the stream clock."""

    t_s: float
    data: bytes


class LinkSession(Protocol):
    """One open connection (a fresh one per attempt)."""

    @property
    def info(self) -> DeviceInfo:
        """What the connection learned about the strap (reads are optional)."""
        ...

    async def close(self) -> None:
        """Disconnect; must be safe to call after the peer already dropped."""
        ...


class LinkDriver(Protocol):
    """How to find and open the strap; the supervisor decides when."""

    async def find(self, timeout_s: float) -> Any | None:
        """Scan up to ``timeout_s``; return a peer handle or ``None`` if not seen."""
        ...

    async def open(
        self,
        peer: Any,
        *,
        on_notify: Callable[[bytes], None],
        on_lost: Callable[[], None],
        timeout_s: float,
    ) -> LinkSession:
        """Connect and subscribe; ``on_notify``/``on_lost`` may be called from then on."""
        ...

    def fatal_reason(self, exc: BaseException) -> str | None:
        """A one-line reason if ``exc`` means the radio stack is unusable, else ``None``."""
        ...


async def clock_timeout(clock: Clock, aw: Awaitable[T], timeout_s: float) -> tuple[bool, T | None]:
    """Await ``aw`` for at most ``timeout_s`` of ``clock`` time: (finished, result)."""
    main: asyncio.Future[T] = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(max(0.0, timeout_s)))
    both: set[asyncio.Future[Any]] = {main, timer}
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        main.cancel()
        timer.cancel()
        await asyncio.gather(main, timer, return_exceptions=True)
        raise
    timer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await timer
    if main.done():
        return True, main.result()
    main.cancel()
    # Let the cancelled operation clean up (bleak disconnects a half-open link).
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await main
    return False, None


class _Stopped(Exception):
    pass


class Supervisor:
    """Keep one strap streaming; yields :class:`Notification` and :class:`LinkEvent` items.

    Parameters
    ----------
    driver
        Finds and opens the strap.
    target
        Name or address, only used in event details.
    clock
        Time source for arrival stamps, backoff, deadline and watchdog.
    config
        Reconnect policy.
    random
        Jitter source returning floats in [0, 1) (inject a seeded one in tests).
    """

    def __init__(
        self,
        driver: LinkDriver,
        target: str,
        *,
        clock: Clock | None = None,
        config: SupervisorConfig | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._driver = driver
        self._target = target
        self._clock: Clock = clock or SystemClock()
        self.config = config or SupervisorConfig()
        self._backoff = Backoff(self.config, random)
        self.state = SupervisorState.IDLE
        self.info: DeviceInfo | None = None
        self.attempts = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._start = 0.0
        self._last_t = 0.0
        self._last_error = ""

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the stream to end (it yields ``END`` and closes the link)."""
        self._stop.set()
        self._wake.set()

    # -- helpers ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.monotonic() - self._start

    def _event(self, state: LinkState, detail: str = "", t_s: float | None = None) -> LinkEvent:
        # Stream times never go backwards, so a capture written from the stream stays valid.
        t = self._now() if t_s is None else t_s
        self._last_t = max(self._last_t, t)
        return LinkEvent(self._last_t, state, detail)

    def _remaining(self, since: float) -> float:
        d = self.config.deadline_s
        if d is None:
            return float("inf")
        left = d - (self._now() - since)
        # A sliver below a microsecond is "spent": sleeping it may not move a float clock.
        return left if left > 1e-6 else 0.0

    async def _guard(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> tuple[bool, T | None]:
        """Run ``coro`` under a clock timeout, abandoning it if ``stop()`` is called."""
        if self._stop.is_set():
            coro.close()
            raise _Stopped
        stop_task = asyncio.ensure_future(self._stop.wait())
        main = asyncio.ensure_future(clock_timeout(self._clock, coro, timeout_s))
        try:
            try:
                await asyncio.wait({main, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                # We are being cancelled (Ctrl-C): asyncio.wait does not cancel what it
                # waits on, so stop the scan/connect here instead of leaving an orphan task.
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await main
                raise
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await main
                raise _Stopped
            return main.result()
        finally:
            stop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop_task

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the clock; raise ``_Stopped`` at once if ``stop()`` is called."""
        await self._guard(self._clock.sleep(seconds), seconds + 1.0)

    async def _close(self, session: LinkSession | None) -> None:
        if session is None:
            return
        try:
            async with asyncio.timeout(self.config.close_timeout_s):
                await session.close()
        except Exception as exc:  # a dead link may refuse a clean disconnect; that is fine
            log.debug("closing the link failed: %r", exc)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> AsyncGenerator[Notification | LinkEvent, None]:
        """The supervised stream. Ends after ``GAVE_UP``/``END``, or on ``stop()``."""
        cfg = self.config
        self._start = self._clock.monotonic()
        self._last_t = 0.0
        outage_since = 0.0
        ever_connected = False
        pending_delay = 0.0
        rescans = 0
        last_error = "none"
        session: LinkSession | None = None
        try:
            while True:
                if pending_delay > 0:
                    self.state = SupervisorState.BACKOFF
                    await self._sleep(min(pending_delay, max(0.0, self._remaining(outage_since))))
                if self._stop.is_set():
                    raise _Stopped
                if self._remaining(outage_since) <= 0:
                    self.state = SupervisorState.GAVE_UP
                    yield self._event(
                        LinkState.GAVE_UP,
                        f"no data for {self._now() - outage_since:.1f} s after "
                        f"{self.attempts} attempt(s); last error: {last_error}",
                    )
                    yield self._event(LinkState.END, "gave up")
                    return

                self.attempts += 1
                self.state = SupervisorState.SCANNING
                yield self._event(
                    LinkState.SCANNING, f"looking for {self._target} (attempt {self.attempts})"
                )
                peer: Any = None
                err = f"{self._target} not found"
                try:
                    budget = min(cfg.scan_timeout_s, self._remaining(outage_since))
                    _, peer = await self._guard(self._driver.find(budget), budget + 1.0)
                except _Stopped:
                    raise
                except Exception as exc:
                    fatal = self._driver.fatal_reason(exc)
                    if fatal is not None and not ever_connected:
                        self.state = SupervisorState.GAVE_UP
                        yield self._event(LinkState.GAVE_UP, fatal)
                        raise LinkUnavailableError(fatal) from exc
                    err = fatal or f"scan failed: {exc!r}"
                if peer is None:
                    last_error = err
                    pending_delay = self._retry(last_error)
                    yield self._event(LinkState.RECONNECTING, self._retry_detail(pending_delay))
                    continue

                self.state = SupervisorState.CONNECTING
                yield self._event(LinkState.CONNECTING, f"connecting to {self._target}")
                queue: deque[Notification] = deque()
                lost = asyncio.Event()
                generation = self.attempts

                def on_notify(
                    data: bytes,
                    gen: int = generation,
                    q: deque[Notification] = queue,
                    gone: asyncio.Event = lost,
                ) -> None:
                    # Late callbacks from an older session are ignored.
                    if gen == self.attempts and not gone.is_set():
                        q.append(Notification(self._now(), bytes(data)))
                        self._wake.set()

                def on_lost(gen: int = generation, gone: asyncio.Event = lost) -> None:
                    if gen == self.attempts:
                        gone.set()
                        self._wake.set()

                try:
                    budget = cfg.connect_timeout_s
                    ok, session = await self._guard(
                        self._driver.open(
                            peer, on_notify=on_notify, on_lost=on_lost, timeout_s=budget
                        ),
                        budget + 1.0,
                    )
                    if not ok:
                        raise TimeoutError(f"connect timed out after {budget:g} s")
                except _Stopped:
                    raise
                except Exception as exc:
                    fatal = self._driver.fatal_reason(exc)
                    if fatal is not None and not ever_connected:
                        self.state = SupervisorState.GAVE_UP
                        yield self._event(LinkState.GAVE_UP, fatal)
                        raise LinkUnavailableError(fatal) from exc
                    last_error = fatal or f"connect failed: {exc}"
                    if isinstance(exc, PeerGoneError) and rescans < cfg.immediate_rescans:
                        rescans += 1
                        pending_delay = 0.0
                        self._last_error = last_error
                        yield self._event(
                            LinkState.RECONNECTING, f"{last_error}; scanning again now"
                        )
                        continue
                    pending_delay = self._retry(last_error)
                    yield self._event(LinkState.RECONNECTING, self._retry_detail(pending_delay))
                    continue
                assert session is not None

                # Connected and subscribed.
                ever_connected = True
                rescans = 0
                self._backoff.reset()
                self.info = session.info
                self.state = SupervisorState.STREAMING
                # Stamp CONNECTED no later than the first frame that arrived during the reads.
                first_t = queue[0].t_s if queue else self._now()
                info = session.info
                yield self._event(LinkState.CONNECTED, f"{info.name} ({info.address})", t_s=first_t)
                if info.battery_pct is not None:
                    yield self._event(LinkState.BATTERY, str(info.battery_pct), t_s=self._last_t)
                last_data = self._last_t
                reason = ""
                while True:
                    while queue:
                        n = queue.popleft()
                        last_data = n.t_s
                        self._last_t = max(self._last_t, n.t_s)
                        yield Notification(self._last_t, n.data)
                    if self._stop.is_set():
                        raise _Stopped
                    if lost.is_set():
                        reason = "link lost"
                        break
                    quiet = self._now() - last_data
                    if quiet >= cfg.silence_s:
                        reason = f"no notification for {cfg.silence_s:g} s"
                        break
                    self._wake.clear()
                    await clock_timeout(self._clock, self._wake.wait(), cfg.silence_s - quiet)
                # The deadline counts from the last data, not from when the loss was noticed.
                outage_since = last_data
                # Anything that arrived before the loss was noticed still belongs to the stream.
                while queue:
                    n = queue.popleft()
                    self._last_t = max(self._last_t, n.t_s)
                    yield Notification(self._last_t, n.data)
                yield self._event(LinkState.DISCONNECTED, reason)
                await self._close(session)
                session = None
                last_error = reason
                pending_delay = 0.0
                yield self._event(LinkState.RECONNECTING, f"{reason}; reconnecting now")
        except _Stopped:
            self.state = SupervisorState.STOPPED
            await self._close(session)
            session = None
            yield self._event(LinkState.END, "stopped")
        finally:
            await self._close(session)
            if self.state not in (SupervisorState.GAVE_UP, SupervisorState.STOPPED):
                self.state = SupervisorState.STOPPED

    def _retry(self, error: str) -> float:
        log.info("link to %s: %s", self._target, error)
        self._last_error = error
        return self._backoff.next_s()

    def _retry_detail(self, delay_s: float) -> str:
        return f"attempt {self.attempts} failed ({self._last_error}); retrying in {delay_s:.1f} s"
