"""Connect and reconnect times under the real bluetoothd (the real-BlueZ tier's guest). Not a test.

Boots the QEMU guest of ``tests/real_bluez/run_vm.sh`` (or reads an earlier run with
``--results DIR``) and prints, from its ``results.json``: the share of connects that gave a
first heart-rate frame within 10 s (issue target: >= 95 % of >= 20), time to first frame
(scan + connect + GATT discovery + subscribe + reads), the connect races repaired and retried, and
time to reconnect after a forced link loss, with same-run ratios. The guest is emulated
(QEMU TCG) with btvirt controllers, so absolute times are slower than on real hardware;
the ratios and the success rate are the point.

Run: ``python benchmarks/bench_real_bluez.py [--results DIR]`` (booting needs apt and
QEMU; it takes a few minutes of both cores, so run it alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_SHARE = 0.95
TARGET_S = 10.0


def quantiles(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return (
        f"median {statistics.median(xs):.2f} s, p95 {p95:.2f} s, max {xs[-1]:.2f} s (n={len(xs)})"
    )


def report(r: dict[str, Any]) -> int:
    connects = r.get("connects", [])
    firsts = [c["first_frame_s"] for c in connects if c["first_frame_s"] is not None]
    ok = sum(1 for t in firsts if t <= TARGET_S)
    n = len(connects)
    share = ok / n if n else 0.0
    print(
        f"connects: {ok}/{n} gave a first frame within {TARGET_S:g} s = {100 * share:.0f} % "
        f"(target >= {100 * TARGET_SHARE:.0f} % of >= 20)"
    )
    print(f"time to first frame: {quantiles(firsts)}")
    repairs = sum(c.get("race_repairs", 0) for c in connects)
    print(f"connect race (BlueZ never signalled Connected): repaired {repairs} time(s)")
    races = [c["race_retries"] for c in connects]
    print(
        f"connect-race retries: {sum(races)} over {n} connects "
        f"({sum(1 for x in races if x)} connects needed at least one)"
    )
    loss = r.get("scenarios", {}).get("link_loss", {})
    back = loss.get("reconnect_s", [])
    print(f"time to reconnect after a forced link loss: {quantiles(back)}")
    if firsts and back:
        print(
            f"ratio reconnect / first connect (medians): "
            f"{statistics.median(back) / statistics.median(firsts):.2f}"
        )
    rem = r.get("scenarios", {}).get("removal", {})
    if rem:
        print(
            f"device removal: removed={rem.get('removed')} after {rem.get('removed_after_s')} s "
            f"quiet; stream back {rem.get('back_after_s')} s after the drop"
        )
    print(f"guest run: {r.get('elapsed_s', 0):.0f} s")
    return 0 if n >= 20 and share >= TARGET_SHARE else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, help="judge an earlier guest run's folder")
    args = ap.parse_args()
    out = args.results
    if out is None:
        out = Path.home() / ".cache/biofeedback-real-bluez/bench"
        rc = subprocess.run([str(REPO / "tests/real_bluez/run_vm.sh"), str(out)]).returncode
        if rc == 77:
            print(f"skipped: {(out / 'skip.txt').read_text().strip()}")
            return 0
        if rc:
            return rc
    return report(json.loads((out / "results.json").read_text()))


if __name__ == "__main__":
    sys.exit(main())
