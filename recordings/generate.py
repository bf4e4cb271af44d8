"""Regenerate the synthetic recordings in this folder, deterministically.

Usage (from the repository root)::

    python recordings/generate.py            # (re)write every recording
    python recordings/generate.py --check    # exit 1 if a committed file differs

Each recording is produced by :func:`biofeedback.synth.simulate_capture` from a fixed seed
and a fixed scenario (phases, strap quirks) defined below, and written with
:class:`devices.capture.CaptureWriter`. This folder ships as the package
``biofeedback.recordings`` (``biofeedback demo`` replays one from there). Nothing here reads the
clock or the network, so the output depends only on this file, the simulator and numpy's
PCG64 stream. See ``recordings/README.md`` for the format and the timelines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    # Runnable as a plain script from a checkout without installing the package.
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from biofeedback.synth import SimulatedCapture


def self_compassion_break() -> SimulatedCapture:
    """12 min: 3 min baseline, three 2-min practice steps, 3 min recovery; realistic quirks."""
    from biofeedback.synth import (
        SELF_COMPASSION_BREAK,
        ContactLoss,
        Dropout,
        GarbagePacket,
        StrapConfig,
        simulate_capture,
    )

    phases = list(SELF_COMPASSION_BREAK)
    strap = StrapConfig(
        contact_losses=(ContactLoss(262.0, 5.0, hr="frozen"),),
        dropouts=(Dropout(455.0, 7.0, reason="link loss"),),
        garbage=(
            GarbagePacket(95.5, "odd_rr"),
            GarbagePacket(611.4, "truncated_hr16"),
        ),
    )
    return simulate_capture(
        phases,
        seed=20261133,
        strap=strap,
        n_ectopic=4,
        n_missed=3,
        notes=(
            "Synthetic self-compassion break (recordings/generate.py): simulated RR with RSA "
            "at the breathing rate (14/min baseline, 8-6.5/min practice), Mayer waves, VLF "
            "drift and 1/f noise; calming during practice, partly persisting in recovery; "
            "4 ectopic and 3 missed beats; strap quirks: no RR for the first 5 s, contact "
            "loss 262-267 s, disconnect 455-462 s, two garbage packets."
        ),
        extra={"protocol": "self-compassion-break", "recording": "self-compassion-break"},
    )


def resting_clean() -> SimulatedCapture:
    """3 min at rest; no quirks but the first seconds without RR."""
    from biofeedback.synth import Phase, StrapConfig, simulate_capture

    return simulate_capture(
        [Phase("rest", "baseline", 180.0, 64.0, 30.0, 12.0)],
        seed=7,
        strap=StrapConfig(skip_prob=0.0),
        notes=(
            "Synthetic clean resting recording (recordings/generate.py): 3 min, HR 64, "
            "breathing 12/min; no artefacts, no quirks except no RR for the first 5 s."
        ),
        extra={"protocol": "free", "recording": "resting-clean"},
    )


def hostile() -> SimulatedCapture:
    """4 min of everything a decoder and beat assembler must survive."""
    from biofeedback.synth import (
        ContactLoss,
        Dropout,
        GarbagePacket,
        Phase,
        StrapConfig,
        Window,
        simulate_capture,
    )
    from devices.records import DeviceInfo

    strap = StrapConfig(
        skip_prob=0.15,
        jitter_s=0.05,
        contact_losses=(
            ContactLoss(25.0, 5.0, hr="zero"),
            ContactLoss(90.0, 8.0, hr="frozen"),
            ContactLoss(160.0, 10.0, hr="zero"),
            ContactLoss(218.0, 4.0, hr="frozen"),
        ),
        dropouts=(
            Dropout(40.0, 6.0, reason="link loss"),
            Dropout(110.0, 12.0, reason="supervision timeout"),
            Dropout(185.0, 3.0, reason="remote user terminated connection"),
        ),
        garbage=(
            GarbagePacket(12.2, "empty"),
            GarbagePacket(18.0, "odd_rr", replaces_frame=True),
            GarbagePacket(33.7, "flags_only"),
            GarbagePacket(52.4, "truncated_hr16"),
            GarbagePacket(66.0, "truncated_energy", replaces_frame=True),
            GarbagePacket(71.3, "rr_flag_no_bytes"),
            GarbagePacket(80.0, "trailing_without_rr_flag", replaces_frame=True),
            GarbagePacket(101.6, "odd_rr"),
            GarbagePacket(128.9, "empty", replaces_frame=True),
            GarbagePacket(142.2, "trailing_without_rr_flag"),
            GarbagePacket(150.5, "truncated_hr16", replaces_frame=True),
            GarbagePacket(176.1, "rr_flag_no_bytes", replaces_frame=True),
            GarbagePacket(200.3, "flags_only"),
            GarbagePacket(207.8, "truncated_energy"),
            GarbagePacket(231.0, "odd_rr", replaces_frame=True),
        ),
        uint16_hr=(Window(55.0, 30.0),),
        energy=(Window(60.0, 45.0), Window(200.0, 15.0)),
        contact_unsupported=(Window(125.0, 32.0),),
        bogus_trailing_rr=(Window(125.0, 32.0),),
        battery_pct=41,
    )
    device = DeviceInfo(
        name="HRM-Dual:0A1B2C",
        address="SIM:00:00:00:00:03",
        model="HRM-Dual",
        manufacturer="Garmin (simulated)",
        firmware="4.10",
        body_location="chest",
        battery_pct=41,
    )
    return simulate_capture(
        [
            Phase("rest", "baseline", 120.0, 78.0, 15.0, 16.0),
            Phase("rest-2", "baseline", 120.0, 82.0, 10.0, 18.0),
        ],
        seed=666,
        strap=strap,
        n_ectopic=6,
        n_missed=4,
        n_extra=3,
        device=device,
        notes=(
            "Synthetic hostile recording (recordings/generate.py): frequent skipped "
            "notifications, 3 disconnects, 4 no-contact stretches, 15 garbage packets of 7 "
            "kinds, uint16 HR and energy-expended frames, contact-unsupported frames with "
            "Garmin HRM-Dual bogus trailing RR, 13 ectopic/missed/extra beats."
        ),
        extra={"protocol": "free", "recording": "hostile"},
    )


RECORDINGS: dict[str, Callable[[], SimulatedCapture]] = {
    "self-compassion-break.jsonl": self_compassion_break,
    "resting-clean.jsonl": resting_clean,
    "hostile.jsonl": hostile,
}


def render(name: str) -> bytes:
    """The exact bytes of recording ``name``."""
    from devices.capture import CaptureWriter

    cap = RECORDINGS[name]()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        with CaptureWriter(path, cap.header) as w:
            for ev in cap.events:
                w.write(ev)
        return path.read_bytes()


def targets(name: str) -> list[Path]:
    """Every path recording ``name`` is written to."""
    return [HERE / name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify the committed files match byte for byte; exit 1 otherwise",
    )
    args = parser.parse_args(argv)
    stale: list[str] = []
    for name in RECORDINGS:
        data = render(name)
        for path in targets(name):
            rel = path.relative_to(ROOT)
            if args.check:
                if not path.is_file() or path.read_bytes() != data:
                    stale.append(str(rel))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {rel} ({len(data)} bytes)")
    if stale:
        print(
            "out of date: " + ", ".join(stale) + " (run: python recordings/generate.py)",
            file=sys.stderr,
        )
        return 1
    if args.check:
        print(f"{sum(len(targets(n)) for n in RECORDINGS)} recordings up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
