"""Fixtures and helpers for the fake-BlueZ tests (a pytest plugin, see ``conftest.py``).

``dbus_daemon`` is one private system bus per test module; ``make_bluez`` serves a
:class:`tests.support.fake_bluez.FakeBluez` on it for one test (closed at the end: a stale
connection would keep owning ``org.bluez``); ``bluez`` is the default one (one adapter, the
resting capture's strap, a mouse). :class:`Consumer` runs a source's stream in a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.records import HrFrame, LinkEvent, LinkState, StreamItem
from devices.stream import HeartRateSource
from tests.support.fake_bluez import DbusDaemon, DbusUnavailable, FakeBluez, VirtualStrap

REPO = Path(__file__).resolve().parents[2]
CAPTURE = REPO / "recordings" / "resting-clean.jsonl"

MakeBluez = Callable[..., Awaitable[FakeBluez]]


@pytest.fixture(scope="module")
def dbus_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbusDaemon]:
    try:
        daemon = DbusDaemon(tmp_path_factory.mktemp("dbus"))
    except DbusUnavailable as exc:
        pytest.skip(str(exc))
    yield daemon
    daemon.close()


@pytest.fixture
async def make_bluez(
    dbus_daemon: DbusDaemon, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeBluez]:
    # bleak connects to DBUS_SYSTEM_BUS_ADDRESS (one manager per event loop, so per test).
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", dbus_daemon.address)
    made: list[FakeBluez] = []

    async def make(strap: VirtualStrap | str | None = "default", **kw: Any) -> FakeBluez:
        s = VirtualStrap(CAPTURE) if strap == "default" else strap
        assert not isinstance(s, str)
        fake = await FakeBluez(dbus_daemon.address, s, **kw).start()
        made.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in made:
            await fake.close()


@pytest.fixture
async def bluez(make_bluez: MakeBluez) -> FakeBluez:
    return await make_bluez()


class Consumer:
    """Runs ``source.stream()`` in a task; tests wait for items matching a condition."""

    def __init__(self, source: HeartRateSource) -> None:
        self.source = source
        self.items: list[StreamItem] = []
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for item in self.source.stream():
            await self._queue.put(item)

    async def until(self, pred: Callable[[list[StreamItem]], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not pred(self.items):
                self.items.append(await self._queue.get())

    async def finish(self) -> None:
        self.source.stop()  # type: ignore[attr-defined]
        async with asyncio.timeout(5.0):
            await self._task
        while not self._queue.empty():
            self.items.append(self._queue.get_nowait())

    def frames(self) -> list[bytes]:
        return [i.raw for i in self.items if isinstance(i, HrFrame)]

    def links(self) -> list[LinkEvent]:
        return [i for i in self.items if isinstance(i, LinkEvent)]


def count(state: LinkState, n: int = 1) -> Callable[[list[StreamItem]], bool]:
    return lambda items: sum(isinstance(i, LinkEvent) and i.state is state for i in items) >= n


def n_frames(n: int) -> Callable[[list[StreamItem]], bool]:
    return lambda items: sum(isinstance(i, HrFrame) for i in items) >= n
