"""The committed synthetic recordings: up to date, well-formed, and they replay as described.

The expectations come from the scenarios in ``recordings/generate.py`` (phase timeline and
scheduled quirks, which the header's ``phases``/``truth`` fields restate), not from a dump
of the files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biofeedback.beats import Beat, beats_from_items
from devices.capture import Capture, read_capture
from devices.records import HrFrame, LinkEvent, LinkState, RejectedPacket, StreamItem
from devices.replay import CaptureReplaySource, clock_for_speed

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "recordings"
GENERATE = RECORDINGS / "generate.py"
NAMES = ("self-compassion-break.jsonl", "resting-clean.jsonl", "hostile.jsonl")


def _replay(path: Path) -> tuple[list[StreamItem], CaptureReplaySource]:
    src = CaptureReplaySource(path, clock=clock_for_speed(0))

    async def go() -> list[StreamItem]:
        return [it async for it in src.stream()]

    return asyncio.run(go()), src


def _frames(items: list[StreamItem]) -> list[HrFrame]:
    return [it for it in items if isinstance(it, HrFrame)]


def _run_generate(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_committed_recordings_are_up_to_date() -> None:
    r = _run_generate(GENERATE, "--check")
    assert r.returncode == 0, r.stderr


def test_check_fails_on_a_stale_or_missing_file(tmp_path: Path) -> None:
    # A copy of the script in a scratch tree writes there (paths are relative to the script).
    script = tmp_path / "recordings" / "generate.py"
    script.parent.mkdir()
    shutil.copy(GENERATE, script)
    assert _run_generate(script, "--check").returncode == 1  # nothing generated yet
    assert _run_generate(script).returncode == 0
    for name in NAMES:  # a fresh process reproduces the committed bytes
        assert (script.parent / name).read_bytes() == (RECORDINGS / name).read_bytes()
    assert _run_generate(script, "--check").returncode == 0
    victim = script.parent / "hostile.jsonl"
    victim.write_bytes(victim.read_bytes().replace(b'"kind":"notify"', b'"kind":"notify" ', 1))
    r = _run_generate(script, "--check")
    assert r.returncode == 1
    assert "hostile.jsonl" in r.stderr


def test_demo_recording_is_the_one_in_recordings() -> None:
    # One copy: the folder itself is the package biofeedback.recordings.
    from biofeedback.sessions.bundled import bundled_recording

    assert bundled_recording().resolve() == (RECORDINGS / "self-compassion-break.jsonl").resolve()


@pytest.mark.parametrize("name", NAMES)
def test_headers_parse_and_say_synthetic(name: str) -> None:
    cap = read_capture(RECORDINGS / name)
    origin = cap.header.origin
    assert origin.kind == "synthetic"
    assert origin.generator is not None and origin.generator.startswith("biofeedback.simulate")
    assert origin.seed is not None
    assert origin.notes
    phases = cap.header.extra["phases"]
    ends = [p["start_s"] + p["duration_s"] for p in phases]
    assert [p["start_s"] for p in phases[1:]] == ends[:-1]
    assert cap.duration_s <= ends[-1]
    assert (RECORDINGS / name).stat().st_size < 400_000


def _capture(name: str) -> Capture:
    return read_capture(RECORDINGS / name)


def _rr_ms(beats: list[Beat]) -> np.ndarray:
    return np.array([b.rr_ms for b in beats])


def test_self_compassion_break_timeline_and_quirks() -> None:
    cap = _capture("self-compassion-break.jsonl")
    phases = cap.header.extra["phases"]
    assert [p["name"] for p in phases] == [
        "baseline",
        "mindfulness",
        "common-humanity",
        "self-kindness",
        "recovery",
    ]
    assert [p["kind"] for p in phases] == [
        "baseline",
        "practice",
        "practice",
        "practice",
        "recovery",
    ]
    assert phases[-1]["start_s"] + phases[-1]["duration_s"] == 720.0

    items, src = _replay(cap.path)
    summary = src.summary()
    assert summary.gaps >= 1
    assert 1 <= summary.rejected <= 3
    assert summary.no_contact_frames >= 3
    beats = beats_from_items(items)
    # Beats cover ~12 min: RR start after the settling seconds and run to the end.
    assert 5.0 < beats[0].t_s < 10.0
    assert beats[-1].t_s > 715.0
    # 720 s minus ~6.5 s settling, ~6 s contact loss, ~9 s disconnect and re-settling.
    assert 690.0 < sum(b.rr_ms for b in beats) / 1000.0 < 710.0
    # No RR in the first seconds after connecting.
    assert all(not f.measurement.rr_1024 for f in _frames(items) if f.t_s < 5.0)
    # 0-3 RR per notification.
    assert max(len(f.measurement.rr_1024) for f in _frames(items)) <= 3
    # The disconnect: no frame inside the gap, announced by link events.
    links = [it for it in items if isinstance(it, LinkEvent)]
    drops = [ev.t_s for ev in links if ev.state is LinkState.DISCONNECTED]
    back = [ev.t_s for ev in links if ev.state is LinkState.CONNECTED and ev.t_s > 0]
    assert len(drops) == 1 and len(back) == 1 and 5.0 <= back[0] - drops[0] <= 10.0
    assert not [f for f in _frames(items) if drops[0] < f.t_s < back[0]]
    # Artefacts < 2 % of beats, and visible as RR deviating > 20 % from the local median.
    truth = cap.header.extra["truth"]["artefacts"]
    assert 0 < len(truth) < 0.02 * len(beats)
    rr = _rr_ms(beats)
    med = np.array([np.median(rr[max(0, i - 5) : i + 6]) for i in range(rr.size)])
    odd = np.abs(rr - med) > 0.2 * med
    assert 0 < odd.sum() <= 2 * len(truth)


def test_self_compassion_break_shows_the_calming() -> None:
    cap = _capture("self-compassion-break.jsonl")
    items, _ = _replay(cap.path)
    beats = beats_from_items(items)
    t = np.array([b.t_s for b in beats])
    rr = _rr_ms(beats)
    seg = np.array([b.segment for b in beats])

    def stats(lo: float, hi: float) -> tuple[float, float]:
        sel = (t >= lo) & (t < hi)
        x = rr[sel]
        # Successive differences only inside a segment, and only between plausible beats.
        same = (np.diff(seg[sel]) == 0) & (np.abs(np.diff(x)) < 0.2 * x[:-1])
        return 60000.0 / float(np.median(x)), float(np.sqrt(np.mean(np.diff(x)[same] ** 2)))

    hr_base, rmssd_base = stats(10.0, 180.0)
    hr_prac, rmssd_prac = stats(440.0, 540.0)
    hr_rec, _ = stats(540.0, 720.0)
    assert 4.0 <= hr_base - hr_prac <= 10.0
    assert rmssd_prac > 1.5 * rmssd_base
    assert hr_prac < hr_rec < hr_base


def test_resting_clean_has_no_quirks_but_the_settling() -> None:
    items, src = _replay(RECORDINGS / "resting-clean.jsonl")
    summary = src.summary()
    assert summary.rejected == 0
    assert summary.gaps == 0
    beats = beats_from_items(items)
    assert len({b.segment for b in beats}) == 1
    assert 5.0 < beats[0].t_s < 10.0 and beats[-1].t_s > 175.0
    rr = _rr_ms(beats)
    assert (np.abs(np.diff(rr)) < 0.2 * rr[:-1]).all()
    frames = _frames(items)
    assert all(f.measurement.contact is True for f in frames if f.t_s > 2.0)
    assert max(len(f.measurement.rr_1024) for f in frames) <= 2


def test_hostile_decodes_into_every_quirk() -> None:
    items, src = _replay(RECORDINGS / "hostile.jsonl")
    summary = src.summary()
    assert summary.gaps >= 2
    assert summary.no_contact_frames >= 10
    rejected = [it for it in items if isinstance(it, RejectedPacket)]
    reasons = {r.reason.split(":")[0].split(" ")[0] for r in rejected}
    assert {"empty", "truncated"} <= reasons
    # A malformed RR part costs only the RR: the frame and its heart rate stay.
    salvaged = [f for f in _frames(items) if f.rr_rejected is not None]
    assert {f.rr_rejected.split(":")[0].split(" ")[0] for f in salvaged} == {"odd", "RR"}
    assert summary.rejected + summary.rr_rejected >= 10
    assert summary.rr_rejected == len(salvaged) >= 2
    assert any(r.raw == b"" for r in rejected)
    frames = _frames(items)
    assert any(f.raw[0] & 0x01 for f in frames)  # uint16 HR
    assert any(f.measurement.energy_kj is not None for f in frames)
    assert any(f.measurement.contact is None for f in frames)
    # Garmin-style bogus trailing RR: tiny last value in contact-unsupported frames.
    bogus = [f for f in frames if f.measurement.contact is None and f.measurement.rr_1024]
    assert bogus and all(f.measurement.rr_1024[-1] < 100 for f in bogus)
    # Frames carry more RR after skipped notifications.
    assert max(len(f.measurement.rr_1024) for f in frames) >= 3
    beats = beats_from_items(items)
    assert len({b.segment for b in beats}) >= 4
    assert beats[-1].t_s > 230.0
