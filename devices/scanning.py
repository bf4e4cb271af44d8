"""Finding heart-rate straps: advertisements on 0x180D plus straps already connected.

bleak is imported lazily. Everything takes ``backend=`` (``None`` = the platform backend);
the BlueZ-only parts (adapter choice, connected devices) run only for the platform backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.clock import Clock
from devices.records import HEART_RATE_SERVICE_UUID
from devices.supervisor import clock_timeout

log = logging.getLogger(__name__)

__all__ = [
    "RSSI_NOT_AVAILABLE",
    "ScanResult",
    "connected_straps",
    "find_target",
    "matches_target",
    "rssi_dbm",
    "scan_straps",
    "strongest_first",
]

#: HCI "RSSI not available" (Core spec v5.3 Vol 4 Part E §7.7.65.2, LE Advertising Report:
#: RSSI 127 = not available); BlueZ passes it on as a value.
RSSI_NOT_AVAILABLE = 127


def rssi_dbm(value: int | None) -> int | None:
    """An advertised RSSI in dBm, or ``None`` when the controller had none (127)."""
    if value is None or value == RSSI_NOT_AVAILABLE:
        return None
    return int(value)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One heart-rate strap, seen advertising service 0x180D or already connected to the OS.

    ``device`` is bleak's ``BLEDevice``: connect to *it*, not to the address string (on macOS
    the address is a CoreBluetooth UUID and BlueZ needs the object path it carries).
    ``rssi_dbm`` is ``None`` when unknown (RSSI 127, or a connected strap, which does not
    advertise).
    """

    name: str
    address: str
    rssi_dbm: int | None
    device: Any = field(default=None, compare=False, repr=False)
    body_location: str | None = None
    connected: bool = False


def strongest_first(results: list[ScanResult]) -> list[ScanResult]:
    """Sort by RSSI, strongest first; unknown RSSI last, then by address (stable output)."""
    return sorted(
        results, key=lambda r: (r.rssi_dbm is None, -(r.rssi_dbm or 0), r.address.lower())
    )


def matches_target(target: str, name: str | None, address: str) -> bool:
    """Exact address, exact name, or a name prefix (``"Polar H10"``), case-insensitive."""
    t = target.strip().lower()
    if not t:
        return False
    if address.lower() == t:
        return True
    n = (name or "").lower()
    return bool(n) and (n == t or n.startswith(t))


def _result(dev: Any, adv: Any | None, *, connected: bool = False) -> ScanResult:
    name = (adv.local_name if adv is not None else None) or dev.name or ""
    rssi = rssi_dbm(adv.rssi) if adv is not None else None
    return ScanResult(name, dev.address, rssi, dev, connected=connected)


async def connected_straps(adapter: str | None) -> list[ScanResult]:
    """Heart-rate straps already connected to the OS (bonded, auto-connected): they do not
    advertise, so a scan never sees them. Platform backend only; ``[]`` where the
    platform cannot tell."""
    from bleak import BleakAdapter

    try:
        a = await BleakAdapter.get(bluez={} if adapter is None else {"adapter": adapter})
        devices = await a.get_connected_devices([HEART_RATE_SERVICE_UUID])
    except NotImplementedError:
        return []
    return [_result(d, None, connected=True) for d in devices]


def _scanner_kwargs(
    adapter: str | None, extra: Mapping[str, Any], *, platform: bool
) -> dict[str, Any]:
    kw = dict(extra)
    bluez = dict(kw.get("bluez", {}))
    if adapter is not None:
        bluez["adapter"] = adapter
    if platform:
        # BlueZ signals a known device only when its advertised data *changes*; bleak turns
        # duplicate reports off, so a strap seen before with a steady RSSI (or none: 127)
        # and steady data is never reported again, e.g. when reconnecting after a drop.
        filters = {"DuplicateData": True, **bluez.get("filters", {})}
        bluez["filters"] = filters
    if bluez:
        kw["bluez"] = bluez
    return kw


async def _platform_adapter(backend: type | None, adapter: str | None) -> str | None:
    if backend is not None:
        return adapter  # a custom backend has no BlueZ adapters to choose from
    from devices.bluez import resolve_adapter

    return await resolve_adapter(adapter)


async def scan_straps(
    timeout_s: float = 5.0,
    *,
    adapter: str | None = None,
    backend: type | None = None,
    session_s: float = 2.5,
    **scanner_kwargs: Any,
) -> list[ScanResult]:
    """Scan ``timeout_s`` seconds for straps advertising the Heart Rate service 0x180D.

    Straps already connected to the OS are listed too (``connected=True``, RSSI unknown).
    Discovery restarts every ``session_s`` seconds (see `find_target`).
    Returns them strongest first (`strongest_first`). ``adapter`` (``"hci1"``) picks the
    BlueZ adapter; by default the lowest-numbered powered one. ``backend`` and
    ``scanner_kwargs`` go to ``bleak.BleakScanner``. Errors from the radio stack propagate
    (see `devices.ble.bluetooth_unavailable_reason` to word them).
    """
    from bleak import BleakScanner

    chosen = await _platform_adapter(backend, adapter)
    found: dict[str, ScanResult] = {}
    if backend is None:
        for r in await connected_straps(chosen):
            found[r.address] = r

    def on_adv(dev: Any, adv: Any) -> None:
        if HEART_RATE_SERVICE_UUID not in [u.lower() for u in adv.service_uuids]:
            return
        found[dev.address] = _result(dev, adv)

    scanner = BleakScanner(
        on_adv,
        service_uuids=[HEART_RATE_SERVICE_UUID],
        backend=backend,
        **_scanner_kwargs(chosen, scanner_kwargs, platform=backend is None),
    )
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while (left := end - loop.time()) > 0:
        await scanner.start()
        try:
            # a fresh discovery session now and then: the kernel reports each advertiser
            # once per session, and that one report is sometimes lost
            await asyncio.sleep(min(left, session_s))
        finally:
            await scanner.stop()
    return strongest_first(list(found.values()))


def _signal(r: ScanResult) -> str:
    if r.connected:
        return "connected"
    return "RSSI ?" if r.rssi_dbm is None else f"{r.rssi_dbm} dBm"


def _pick(target: str, hits: dict[str, ScanResult]) -> ScanResult:
    ranked = strongest_first(list(hits.values()))
    if len(ranked) > 1:
        seen = "; ".join(f"{r.name or '?'} {r.address} ({_signal(r)})" for r in ranked)
        log.warning(
            "%d straps match %r: %s; using the strongest, %s (name its address to choose)",
            len(ranked),
            target,
            seen,
            ranked[0].address,
        )
    return ranked[0]


async def find_target(
    target: str,
    timeout_s: float,
    *,
    clock: Clock,
    adapter: str | None = None,
    prefer_address: str | None = None,
    settle_s: float = 1.0,
    session_s: float = 2.5,
    backend: type | None = None,
    scanner_kwargs: Mapping[str, Any] | None = None,
) -> ScanResult | None:
    """Find the strap named ``target`` (name, name prefix or address) within ``timeout_s``.

    An exact address or full-name match, or ``prefer_address`` (the strap this stream was
    using), is taken at once. A name *prefix* match (``"Polar"``) waits ``settle_s`` more for
    other straps matching it, then takes the strongest and warns that the name is ambiguous.
    A matching strap already connected to the OS is taken without scanning (it does not
    advertise). Discovery restarts every ``session_s`` seconds until something matches.
    """
    from bleak import BleakScanner

    chosen = await _platform_adapter(backend, adapter)
    hits: dict[str, ScanResult] = {}
    if backend is None:
        for r in await connected_straps(chosen):
            if matches_target(target, r.name, r.address):
                hits[r.address] = r
    decisive = asyncio.Event()
    first = asyncio.Event()
    t = target.strip().lower()

    def on_adv(dev: Any, adv: Any) -> None:
        if decisive.is_set() or not matches_target(target, adv.local_name or dev.name, dev.address):
            return
        hits[dev.address] = r = _result(dev, adv)
        first.set()
        if exact(r):
            decisive.set()

    def exact(r: ScanResult) -> bool:
        return t in (r.address.lower(), r.name.lower()) or r.address.lower() == prefer

    prefer = (prefer_address or "").lower()
    for r in hits.values():
        if exact(r):
            return r
    if hits:
        return _pick(target, hits)
    scanner = BleakScanner(
        on_adv,
        service_uuids=[HEART_RATE_SERVICE_UUID],
        backend=backend,
        **_scanner_kwargs(chosen, scanner_kwargs or {}, platform=backend is None),
    )
    start = clock.monotonic()
    while True:
        left = timeout_s - (clock.monotonic() - start)
        await scanner.start()
        try:
            # The kernel reports an advertiser once per discovery session; when that one
            # report is lost, only a new session sees the strap again.
            await clock_timeout(clock, first.wait(), min(session_s, max(0.0, left)))
            if first.is_set() and not decisive.is_set():
                left = timeout_s - (clock.monotonic() - start)
                await clock_timeout(clock, decisive.wait(), min(settle_s, max(0.0, left)))
        finally:
            if first.is_set() or clock.monotonic() - start >= timeout_s - 1e-6:
                decisive.set()  # later callbacks (during stop) must not change the answer
            await scanner.stop()
        if decisive.is_set():
            break
    if not hits:
        return None
    for r in hits.values():
        if exact(r):
            return r
    return _pick(target, hits)
