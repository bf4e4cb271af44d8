"""The whole simulated capture: physiology → artefacts → strap, with its header and truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biofeedback.synth.artefacts import ArtefactInjection, inject_artefacts, random_artefact_sites
from biofeedback.synth.physiology import (
    GENERATOR_NAME,
    GENERATOR_VERSION,
    Phase,
    Physiology,
    SimulatedBeats,
    simulate_rr,
)
from biofeedback.synth.strap import StrapConfig, StrapStream, strap_events
from devices.capture import CaptureEvent, CaptureHeader, CaptureOrigin
from devices.records import DeviceInfo

# --------------------------------------------------------------------------- whole capture


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedCapture:
    """A synthetic capture and the truth behind it."""

    header: CaptureHeader
    events: tuple[CaptureEvent, ...]
    beats: SimulatedBeats
    injection: ArtefactInjection
    strap: StrapStream


def simulate_capture(
    phases: Sequence[Phase],
    seed: int,
    *,
    strap: StrapConfig | None = None,
    physiology: Physiology | None = None,
    n_ectopic: int = 0,
    n_missed: int = 0,
    n_extra: int = 0,
    device: DeviceInfo | None = None,
    started_at: str = "2026-11-24T09:00:00+00:00",
    notes: str = "",
    extra: dict[str, Any] | None = None,
) -> SimulatedCapture:
    """Simulate RR, inject artefacts, run the strap model and build the capture header.

    The header's ``extra`` gets ``phases`` ([{name, kind, start_s, duration_s}]) and
    ``truth`` (artefacts, contact losses, dropouts, garbage packets), plus ``extra``.
    """
    cfg = strap or StrapConfig()
    beats = simulate_rr(phases, seed, physiology)
    # Separate child streams so changing the strap config does not change the physiology.
    art_rng, strap_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    # Keep artefacts out of the first seconds, when the strap reports no RR anyway.
    margin = int(np.searchsorted(beats.t_s, cfg.settle_s + 5.0)) + 1
    sites = random_artefact_sites(
        beats.rr_ms.size,
        art_rng,
        n_ectopic=n_ectopic,
        n_missed=n_missed,
        n_extra=n_extra,
        margin=margin,
    )
    inj = inject_artefacts(beats.rr_ms, sites, art_rng)
    stream = strap_events(inj.peaks_s, beats.duration_s, cfg, strap_rng)
    dev = device or DeviceInfo(
        name="Polar H10 5A1B2C3D",
        address="SIM:00:00:00:00:01",
        model="H10",
        manufacturer="Polar Electro Oy (simulated)",
        firmware="3.1.1",
        body_location="chest",
        battery_pct=cfg.battery_pct,
    )
    phase_list = [
        {"name": p.name, "kind": p.kind, "start_s": s, "duration_s": p.duration_s}
        for p, s in zip(beats.phases, beats.phase_starts_s, strict=True)
    ]
    reported = set(stream.reported_peak_index)
    truth: dict[str, Any] = {
        "artefacts": [
            {
                "kind": str(a.kind),
                "t_s": round(a.t_s, 3),
                # False when it fell in a contact loss, a dropout or a replaced frame.
                "reported": all(k + 1 in reported for k in a.indices),
            }
            for a in inj.artefacts
        ],
        "contact_losses": [
            {"start_s": c.start_s, "duration_s": c.duration_s} for c in cfg.contact_losses
        ],
        "dropouts": [{"start_s": d.start_s, "gap_s": d.gap_s} for d in cfg.dropouts],
        "garbage": [
            {"t_s": g.t_s, "kind": g.kind, "replaces_frame": g.replaces_frame} for g in cfg.garbage
        ],
        "settle_s": cfg.settle_s,
    }
    header = CaptureHeader(
        device=dev,
        started_at=started_at,
        origin=CaptureOrigin(
            kind="synthetic",
            generator=f"{GENERATOR_NAME} {GENERATOR_VERSION}",
            seed=seed,
            notes=notes
            or "Simulated RR (RSA, Mayer, VLF, 1/f, per-phase HR) through a modelled strap.",
        ),
        extra={"phases": phase_list, "truth": truth, **(extra or {})},
    )
    return SimulatedCapture(
        header=header, events=stream.events, beats=beats, injection=inj, strap=stream
    )
