"""BleHeartRateSource through bleak's front end with the capture-fed replay backend.

The whole BLE path (scan filter, a fresh ``BleakClient`` per attempt, subscription, optional
reads, decoder, supervisor) runs against `devices.replay_backend`, in virtual time.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from devices.ble import BleHeartRateSource, open_strap_source, scan_straps
from devices.capture import read_capture
from devices.clock import VirtualClock
from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket, StreamItem
from devices.replay import CaptureReplaySource
from devices.replay_backend import ReplayBleakClient, ReplayBleakScanner, ReplayPeer
from devices.supervisor import SupervisorConfig

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"


def _frames(items: list[StreamItem]) -> list[tuple[str, bytes]]:
    return [(type(i).__name__, i.raw) for i in items if isinstance(i, HrFrame | RejectedPacket)]


def _source(path: Path, clock: VirtualClock, **kw: object) -> tuple[BleHeartRateSource, ReplayPeer]:
    peer = ReplayPeer(path, clock=clock)
    src = BleHeartRateSource(
        peer.name,
        clock=clock,
        backend=ReplayBleakClient,
        scanner_backend=ReplayBleakScanner,
        scanner_kwargs={"peers": [peer]},
        **kw,  # type: ignore[arg-type]
    )
    return src, peer


@pytest.mark.parametrize("name", ["hostile.jsonl", "self-compassion-break.jsonl"])
async def test_ble_source_yields_exactly_the_capture_frames(name: str) -> None:
    path = RECORDINGS / name
    cap = read_capture(path)
    n_disconnects = sum(e.kind == "disconnect" for e in cap.events)
    assert n_disconnects >= 1  # the point: the supervisor must get across them

    clock = VirtualClock()
    src, peer = _source(path, clock)
    items = [i async for i in src.stream()]
    reference = [i async for i in CaptureReplaySource(path, clock=VirtualClock()).stream()]

    assert _frames(items) == _frames(reference)
    assert len(_frames(items)) == sum(e.kind == "notify" for e in cap.events)
    assert peer.sent == [raw for kind, raw in _frames(items)]
    # one connection per capture segment, each with a fresh client
    assert peer.connections == n_disconnects + 1
    states = [i.state for i in items if isinstance(i, LinkEvent)]
    assert states.count(LinkState.CONNECTED) == n_disconnects + 1
    lost = [i for i in items if isinstance(i, LinkEvent) and i.state is LinkState.DISCONNECTED]
    assert [e.detail for e in lost[:n_disconnects]] == ["link lost"] * n_disconnects
    # the capture runs out: the strap goes silent, the watchdog trips, the deadline ends it
    assert states[-2:] == [LinkState.GAVE_UP, LinkState.END]
    # the same decoder counts as the replay source
    assert src.summary().frames == sum(isinstance(i, HrFrame) for i in reference)
    assert src.summary().rejected == sum(isinstance(i, RejectedPacket) for i in reference)
    ts = [i.t_s for i in items]
    assert ts == sorted(ts)


async def test_first_segment_keeps_capture_timing_and_info_is_read() -> None:
    path = RECORDINGS / "self-compassion-break.jsonl"
    cap = read_capture(path)
    clock = VirtualClock()
    src, _ = _source(path, clock)
    first_drop = next(e.t_s for e in cap.events if e.kind == "disconnect")
    want = [e.t_s for e in cap.events if e.kind == "notify" and e.t_s < first_drop]
    got: list[float] = []
    async for item in src.stream():
        if isinstance(item, LinkEvent) and item.state is LinkState.DISCONNECTED:
            src.stop()
        elif isinstance(item, HrFrame | RejectedPacket):
            got.append(item.t_s)
    assert got == pytest.approx(want, abs=1e-6)
    dev = cap.header.device
    assert src.info.model == dev.model
    assert src.info.manufacturer == dev.manufacturer
    assert src.info.firmware == dev.firmware
    assert src.info.body_location == dev.body_location
    assert src.info.battery_pct == dev.battery_pct


async def test_open_strap_source_passes_supervisor_options() -> None:
    path = RECORDINGS / "resting-clean.jsonl"
    clock = VirtualClock()
    peer = ReplayPeer(path, clock=clock)
    src = open_strap_source(
        peer.address,
        clock=clock,
        backend=ReplayBleakClient,
        scanner_backend=ReplayBleakScanner,
        scanner_kwargs={"peers": [peer]},
        deadline_s=7.0,
        silence_s=2.0,
    )
    assert src.supervisor.config.deadline_s == 7.0
    items = [i async for i in src.stream()]
    end = [i for i in items if isinstance(i, LinkEvent)]
    last_frame = max(i.t_s for i in items if isinstance(i, HrFrame))
    disc = next(e for e in end if e.state is LinkState.DISCONNECTED)
    assert disc.t_s == pytest.approx(last_frame + 2.0)
    gave_up = next(e for e in end if e.state is LinkState.GAVE_UP)
    assert gave_up.t_s == pytest.approx(last_frame + 7.0)


async def test_scan_filters_on_heart_rate_service() -> None:
    peer = ReplayPeer(RECORDINGS / "resting-clean.jsonl", rssi_dbm=-71)
    found = await scan_straps(0.01, backend=ReplayBleakScanner, peers=[peer])
    assert [(r.name, r.address, r.rssi_dbm) for r in found] == [(peer.name, peer.address, -71)]
    assert found[0].device.details is peer  # the BLEDevice travels with the result


def test_client_refuses_a_device_without_a_peer() -> None:
    from bleak import BleakClient
    from bleak.backends.device import BLEDevice
    from bleak.exc import BleakError

    with pytest.raises(BleakError, match="ReplayPeer"):
        BleakClient(BLEDevice("AA:BB", "x", details=None), backend=ReplayBleakClient)


def test_canary_bleak_backend_internals() -> None:
    """bleak documents its backend API as unstable; fail loudly when what we use changes."""
    from bleak.backends.characteristic import BleakGATTCharacteristic
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.descriptor import BleakGATTDescriptor
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
    from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection

    assert BaseBleakClient.__abstractmethods__ == {
        "mtu_size", "connect", "disconnect", "pair", "unpair", "is_connected",
        "read_gatt_char", "read_gatt_descriptor", "write_gatt_char", "write_gatt_descriptor",
        "start_notify", "stop_notify",
    }  # fmt: skip
    assert BaseBleakScanner.__abstractmethods__ == {"start", "stop"}
    assert not ReplayBleakClient.__abstractmethods__
    assert not ReplayBleakScanner.__abstractmethods__

    def params(f: object) -> list[str]:
        return list(inspect.signature(f).parameters)  # type: ignore[arg-type]

    assert params(BleakGATTServiceCollection.__init__) == ["self"]
    assert params(BleakGATTService.__init__) == ["self", "obj", "handle", "uuid"]
    assert params(BleakGATTCharacteristic.__init__) == [
        "self", "obj", "handle", "uuid", "properties", "max_write_without_response_size",
        "service",
    ]  # fmt: skip
    assert params(BleakGATTDescriptor.__init__) == [
        "self",
        "obj",
        "handle",
        "uuid",
        "characteristic",
    ]
    assert params(BaseBleakClient.__init__)[:2] == ["self", "address_or_ble_device"]
    assert params(BaseBleakScanner.__init__) == ["self", "detection_callback", "service_uuids"]
    assert params(BaseBleakScanner.create_or_update_device) == [
        "self", "key", "address", "name", "details", "adv",
    ]  # fmt: skip
    assert list(AdvertisementData._fields) == [
        "local_name", "manufacturer_data", "service_data", "service_uuids", "tx_power", "rssi",
        "platform_data",
    ]  # fmt: skip
    assert BleakGATTServiceCollection().get_characteristic("2a37") is None
    # devices.bluez.connect_past_the_race feeds BlueZ's missing signal to bleak's manager
    from bleak.backends.bluezdbus.manager import BlueZManager

    assert params(BlueZManager._parse_msg) == ["self", "message"]
    assert params(BlueZManager.is_connected) == ["self", "device_path"]


def test_config_defaults_are_the_documented_policy() -> None:
    cfg = SupervisorConfig()
    assert (cfg.backoff_initial_s, cfg.backoff_max_s, cfg.silence_s) == (1.0, 30.0, 5.0)
