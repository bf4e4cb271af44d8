"""``biofeedback scan``: list nearby heart-rate straps (advertising service 0x180D)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from biofeedback.errors import UserError
from devices.ble import ScanResult, bluetooth_unavailable_reason, scan_straps


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to listen for advertisements (default 5)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.add_argument(
        "--adapter",
        metavar="hciX",
        default=None,
        help="Linux: the Bluetooth adapter to scan with (default: the lowest-numbered powered one)",
    )


def as_json(r: ScanResult) -> dict[str, object]:
    """One strap as printed by ``scan --json``."""
    return {"name": r.name, "address": r.address, "rssi_dbm": r.rssi_dbm, "connected": r.connected}


def format_table(results: list[ScanResult]) -> str:
    """Name, address and RSSI, strongest first; "?" = RSSI unknown; straps already connected
    to this computer (which do not advertise) are marked."""
    width = max([len("name"), *(len(r.name) for r in results)])
    lines = [f"{'name':<{width}}  {'address':<36}  rssi_dbm"]
    for r in results:
        rssi = "?" if r.rssi_dbm is None else str(r.rssi_dbm)
        note = "  connected to this computer" if r.connected else ""
        lines.append(f"{r.name or '?':<{width}}  {r.address:<36}  {rssi:>8}{note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        raise UserError(f"--timeout: expected a number of seconds > 0, got {args.timeout}")
    try:
        results = asyncio.run(scan_straps(args.timeout, adapter=args.adapter))
    except Exception as exc:
        reason = bluetooth_unavailable_reason(exc)
        if reason is None:
            raise
        raise UserError(reason) from None
    if args.json:
        print(json.dumps([as_json(r) for r in results]))
        return 0
    if not results:
        print(
            f"no heart-rate strap found in {args.timeout:g} s (is it worn, moist and not "
            "connected to another device?)",
            file=sys.stderr,
        )
        return 0
    print(format_table(results))
    return 0
