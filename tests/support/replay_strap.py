"""A BLE strap source over a replayed capture: bleak's client API served by the replay backend."""

from __future__ import annotations

from pathlib import Path

from devices.ble import BleHeartRateSource
from devices.clock import VirtualClock
from devices.replay_backend import ReplayBleakClient, ReplayBleakScanner, ReplayPeer
from devices.supervisor import SupervisorConfig


def replay_strap_source(
    capture: Path, clock: VirtualClock, *, deadline_s: float = 3.0, silence_s: float = 2.0
) -> BleHeartRateSource:
    """`BleHeartRateSource` for the strap in ``capture``, found and streamed by name."""
    peer = ReplayPeer(capture, clock=clock)
    return BleHeartRateSource(
        peer.name,
        clock=clock,
        backend=ReplayBleakClient,
        scanner_backend=ReplayBleakScanner,
        scanner_kwargs={"peers": [peer]},
        config=SupervisorConfig(deadline_s=deadline_s, silence_s=silence_s),
    )
