"""The real-BlueZ scenarios, run inside the QEMU guest (see ``run_vm.sh``).

Real dbus-daemon, real bluetoothd, two ``btvirt`` LE controllers attached through
/dev/vhci (hci0: the computer, hci1: the strap), a strap served by bluetoothd itself
(``virt_strap.py``) fed from a bundled capture, and the project's CLI and API on top.
Each scenario's outcome and measurements go to OUT/results.json as soon as it ends, so a
guest cut off by the time budget still reports what it did.

usage: guest_main.py OUT
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(sys.argv[1])
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
CAPTURE = REPO / "recordings" / "resting-clean.jsonl"
STRAP = "Polar H10 VIRT0001"
N_CONNECTS = int(os.environ.get("BIOFEEDBACK_VM_CONNECTS", "20"))
N_DROPS = int(os.environ.get("BIOFEEDBACK_VM_DROPS", "5"))
BUS = "unix:path=/run/dbus/system_bus_socket"
os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = BUS
T0 = time.monotonic()
RESULTS: dict[str, Any] = {"scenarios": {}, "started": time.time()}

DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
"""
# TemporaryTimeout: BlueZ forgets a disconnected, unseen device after this many seconds
# (default 30); short here so the removal scenario does not wait half a minute.
MAIN_CONF = "[General]\nTemporaryTimeout = 3\n[Policy]\nAutoEnable = true\n"


def note(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def save() -> None:
    RESULTS["elapsed_s"] = time.monotonic() - T0
    tmp = OUT / "results.json.tmp"
    tmp.write_text(json.dumps(RESULTS, indent=1, default=str), encoding="utf-8")
    tmp.replace(OUT / "results.json")


def record(name: str, **data: Any) -> None:
    RESULTS["scenarios"][name] = data
    note(f"{name}: {json.dumps(data, default=str)[:400]}")
    save()


def bg(name: str, cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """Start a background process logging to OUT/NAME.log (the child keeps the file open)."""
    with open(OUT / f"{name}.log", "wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)


def wait_log(name: str, text: str, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        p = OUT / f"{name}.log"
        if p.exists() and text in p.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> dict[str, Any]:
    t = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "biofeedback", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd="/run",
        env={**os.environ, **(env or {})},
    )
    return {
        "args": list(args),
        "rc": r.returncode,
        "stdout": r.stdout[-2000:],
        "stderr": r.stderr[-2000:],
        "seconds": round(time.monotonic() - t, 2),
    }


async def bluez_objects() -> dict[str, Any]:
    from dbus_fast import BusType, Message
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        r = await bus.call(
            Message(
                destination="org.bluez",
                path="/",
                member="GetManagedObjects",
                interface="org.freedesktop.DBus.ObjectManager",
            )
        )
        assert r is not None
        return {
            p: {i: {k: v.value for k, v in props.items()} for i, props in ifs.items()}
            for p, ifs in r.body[0].items()
        }
    finally:
        bus.disconnect()


async def set_powered(adapter: str, on: bool) -> None:
    from dbus_fast import BusType, Message, Variant
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    await bus.call(
        Message(
            destination="org.bluez",
            path=f"/org/bluez/{adapter}",
            interface="org.freedesktop.DBus.Properties",
            member="Set",
            signature="ssv",
            body=["org.bluez.Adapter1", "Powered", Variant("b", on)],
        )
    )
    bus.disconnect()


async def wait_adapters(n: int, timeout_s: float) -> list[str]:
    end = time.monotonic() + timeout_s
    powered: list[str] = []
    while time.monotonic() < end:
        objs = await bluez_objects()
        powered = sorted(
            p
            for p, i in objs.items()
            if "org.bluez.Adapter1" in i and i["org.bluez.Adapter1"]["Powered"]
        )
        if len(powered) >= n:
            return powered
        await asyncio.sleep(0.5)
    return powered


class Strap:
    """The virtual strap process, steered through its stdin."""

    def __init__(self) -> None:
        script = str(Path(__file__).with_name("virt_strap.py"))
        cmd = [sys.executable, script, "hci1", str(CAPTURE), STRAP, "0.5"]
        self.proc = bg("strap", cmd, stdin=subprocess.PIPE)

    def advertising_again(self, timeout_s: float = 15.0) -> bool:
        """After a central left: wait until the strap advertises again (a real strap does
        within a fraction of a second; here re-registering takes a D-Bus round trip or two)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            lines = (OUT / "strap.log").read_text(errors="replace").split()
            gone = max((i for i, w in enumerate(lines) if w == "CENTRAL_GONE"), default=-1)
            if "ADV_ON" in lines[gone + 1 :]:
                time.sleep(0.5)  # the controller starts advertising after the reply
                return True
            time.sleep(0.1)
        return False

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()


def source(**cfg: Any) -> Any:
    from devices.ble import BleHeartRateSource
    from devices.supervisor import SupervisorConfig

    base = {"deadline_s": 60.0, "silence_s": 5.0, "scan_timeout_s": 10.0, "connect_timeout_s": 20.0}
    return BleHeartRateSource(STRAP, config=SupervisorConfig(**{**base, **cfg}))


async def one_connect(i: int) -> dict[str, Any]:
    """Start a stream, time the first frame, stop."""
    from devices.records import HrFrame, LinkEvent, LinkState

    src = source(deadline_s=30.0)
    t0 = time.monotonic()
    first: float | None = None
    events: list[str] = []

    async def consume() -> None:
        nonlocal first
        async for it in src.stream():
            if isinstance(it, HrFrame) and first is None:
                first = time.monotonic() - t0
                src.stop()
            elif isinstance(it, LinkEvent) and it.state is not LinkState.END:
                events.append(f"{time.monotonic() - t0:.2f} {it.state.value} {it.detail}")

    try:
        await asyncio.wait_for(consume(), 45)
    except TimeoutError:
        src.stop()
    return {
        "i": i,
        "first_frame_s": first,
        "race_retries": src._driver.race_retries,
        "race_repairs": src._driver.race_repairs,
        "attempts": src.supervisor.attempts,
        "events": events[-6:],
    }


async def link_losses(strap: Strap) -> dict[str, Any]:
    """One stream; the strap drops the link N_DROPS times; time from each DISCONNECTED to
    the next frame (rescan, reconnect, rediscover, resubscribe)."""
    from devices.records import HrFrame, LinkEvent, LinkState

    src = source(backoff_initial_s=1.0)
    st: dict[str, Any] = {"up_frames": 0, "asked": None, "down": None, "resends": 0}
    back: list[float] = []
    events: list[str] = []

    async def consume() -> None:
        async for it in src.stream():
            now = time.monotonic()
            if isinstance(it, LinkEvent):
                if it.state is LinkState.DISCONNECTED:
                    st["down"], st["asked"] = now, None
                if it.state is not LinkState.END:
                    events.append(f"{now - T0:.2f} {it.state.value} {it.detail}")
                continue
            if not isinstance(it, HrFrame):
                continue
            if st["down"] is not None:
                back.append(now - st["down"])
                st["down"], st["up_frames"] = None, 0
            st["up_frames"] += 1
            if len(back) >= N_DROPS:
                src.stop()
            elif st["asked"] is None and st["up_frames"] >= 3:
                st["asked"] = now
                strap.send("drop")
            elif st["asked"] is not None and now - st["asked"] > 6.0:
                st["asked"], st["resends"] = now, st["resends"] + 1
                strap.send("drop")

    try:
        await asyncio.wait_for(consume(), 60 + 30 * N_DROPS)
    except TimeoutError:
        src.stop()
    return {
        "reconnect_s": back,
        "drops_asked": N_DROPS,
        "drop_resends": st["resends"],
        "race_retries": src._driver.race_retries,
        "race_repairs": src._driver.race_repairs,
        "gaps": src.summary().gaps,
        "events": events[-12:],
    }


async def removal(strap: Strap) -> dict[str, Any]:
    """Drop the link, keep the strap quiet until BlueZ removes the device, then let it
    advertise: the stream must come back (a removed device is found by rescanning)."""
    from devices.records import HrFrame, LinkEvent, LinkState

    src = source(deadline_s=60.0)
    state: dict[str, Any] = {"frames_before": 0, "frames_after": 0, "removed": False}
    t_quiet = 0.0

    async def watch_removal(path_prefix: str) -> None:
        while True:
            objs = await bluez_objects()
            if not any(
                p.startswith(path_prefix) and "org.bluez.Device1" in i for p, i in objs.items()
            ):
                state["removed"] = True
                state["removed_after_s"] = round(time.monotonic() - t_quiet, 2)
                return
            await asyncio.sleep(0.5)

    async def consume() -> None:
        nonlocal t_quiet
        watcher: asyncio.Task[None] | None = None
        async for it in src.stream():
            if isinstance(it, LinkEvent) and it.state is LinkState.DISCONNECTED and watcher:
                state["dropped"] = True
            if not isinstance(it, HrFrame):
                continue
            if watcher is None:
                state["frames_before"] += 1
                if state["frames_before"] == 3:
                    t_quiet = time.monotonic()
                    strap.send("quiet 10")
                    strap.send("drop")
                    addr = src.info.address.replace(":", "_")
                    watcher = asyncio.get_running_loop().create_task(
                        watch_removal(f"/org/bluez/hci0/dev_{addr}")
                    )
            elif state.get("dropped"):
                state["frames_after"] += 1
                state.setdefault("back_after_s", round(time.monotonic() - t_quiet, 2))
                if state["frames_after"] >= 3:
                    src.stop()

    try:
        await asyncio.wait_for(consume(), 90)
    except TimeoutError:
        src.stop()
    return state


async def scenarios() -> None:
    (OUT / "dbus.conf").write_text(DBUS_CONF)
    (OUT / "main.conf").write_text(MAIN_CONF)
    os.makedirs("/run/dbus", exist_ok=True)
    bg("dbus-daemon", ["dbus-daemon", "--nofork", "--nopidfile", f"--config-file={OUT}/dbus.conf"])
    while not os.path.exists("/run/dbus/system_bus_socket"):
        time.sleep(0.05)
    bg("bluetoothd", ["/usr/libexec/bluetooth/bluetoothd", "-n", "-d", "-f", f"{OUT}/main.conf"])
    await asyncio.sleep(2)

    r = cli("scan", "--timeout", "1")
    record("no_adapter", scan=r, record=cli("record", "--device", STRAP, "--quiet"))

    bg("btvirt", ["btvirt", "-s"])
    wait_log("btvirt", "emulator", 20)
    await asyncio.sleep(1)
    bg("relay0", [sys.executable, str(Path(__file__).with_name("vhci_relay.py")), "relay0"])
    a = await wait_adapters(1, 60)
    bg("relay1", [sys.executable, str(Path(__file__).with_name("vhci_relay.py")), "relay1"])
    a = await wait_adapters(2, 60)
    note(f"adapters {a}")
    strap = Strap()
    ready = wait_log("strap", "READY", 60)
    record("setup", adapters=a, strap_ready=ready)
    if len(a) < 2 or not ready:
        return

    seeds = {
        s: cli("scan", "--timeout", "6", "--json", env={"PYTHONHASHSEED": s}) for s in ("0", "2")
    }
    own = cli("scan", "--timeout", "6", "--json", "--adapter", "hci1")
    record("scan_two_adapters", seeds=seeds, strap_adapter=own)

    connects = []
    for i in range(N_CONNECTS):
        connects.append(await one_connect(i))
        RESULTS["connects"] = connects
        save()
        # time a connect to an advertising strap, not the virtual strap's re-registration
        await asyncio.to_thread(strap.advertising_again)
    ok = [c for c in connects if c["first_frame_s"] is not None and c["first_frame_s"] <= 10.0]
    times = sorted(c["first_frame_s"] for c in connects if c["first_frame_s"] is not None)
    record(
        "connects",
        n=len(connects),
        streamed=len(times),
        within_10s=len(ok),
        median_first_frame_s=statistics.median(times) if times else None,
        max_first_frame_s=times[-1] if times else None,
        race_retries=sum(c["race_retries"] for c in connects),
    )

    record("link_loss", **await link_losses(strap))
    await asyncio.sleep(1.0)
    record("removal", **await removal(strap))

    for ad in ("hci0", "hci1"):
        await set_powered(ad, False)
    await asyncio.sleep(1.0)
    record(
        "powered_off",
        scan=cli("scan", "--timeout", "1"),
        record=cli("record", "--device", STRAP, "--quiet"),
    )


def main() -> None:
    try:
        asyncio.run(scenarios())
    except BaseException as exc:  # the host must see why the guest stopped
        RESULTS["error"] = repr(exc)
        raise
    finally:
        RESULTS["finished"] = True
        save()


if __name__ == "__main__":
    main()
