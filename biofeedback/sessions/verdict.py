"""The verdict in words: what the differences from baseline say, and what they cannot.

A difference is called *within noise* when its CI contains zero, or when it is smaller than
the user's smallest worthwhile change (once known). With fewer than 3 windows in a group
there is no CI: no change is claimed and the verdict says the phase is too short to tell.

Breathing rate is the dominant spectral peak in 0.07-0.5 Hz (4.2-30 breaths/min) of the
phase's PSD. Slow breathing raises RMSSD and moves respiratory power from HF into LF by
itself (Task Force 1996; Shaffer & Ginsberg 2017), so when breathing rate changes by more
than ``BREATHING_SHIFT_PER_MIN`` the verdict says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from biofeedback.sessions.analysis import PhaseMetrics
from biofeedback.sessions.stats import WINDOW_S, Difference

BREATHING_SHIFT_PER_MIN = 3.0

#: Verdict wording when a group has fewer than 3 windows: no CI, so neither "a change" nor
#: "within noise" can be claimed.
_NO_CI = (
    f"phase too short to tell a change from noise (fewer than 3 {WINDOW_S:.0f}-s windows, "
    "no confidence interval)"
)
CAVEAT_LINE = (
    "HRV is a proxy for stress physiology, not a diagnosis; CIs over 30-s windows "
    "ignore serial correlation and may be somewhat narrow."
)


def _quality_lines(by_kind: Mapping[str, PhaseMetrics]) -> tuple[list[str], bool]:
    """Data-quality lines from the engine's grades: withheld (or too short) blocks a
    verdict; poor is stated as a caution."""
    lines: list[str] = []
    quality_ok = True
    for kind, pm in by_kind.items():
        if not pm.reliable:
            quality_ok = False
            why = "; ".join(pm.reasons) if pm.grade else "too short"
            lines.append(
                f"Data quality too poor during {kind} for a verdict (grade withheld: {why})."
                if pm.grade
                else f"Data quality too poor during {kind} for a verdict ({why})."
            )
        elif pm.grade == "poor":
            lines.append(
                f"Data quality during {kind} is poor ({'; '.join(pm.reasons)}): read what "
                "follows with caution."
            )
    return lines, quality_ok


def _hrv_line(ln: Difference, during: str) -> str:
    assert ln.estimate is not None
    pct = 100.0 * (math.exp(ln.estimate) - 1.0)
    if ln.ci_low is None or ln.ci_high is None:
        return f"HRV (RMSSD) {during}: {pct:+.0f} %, {_NO_CI}."
    ci = (
        f" (95 % CI {100 * (math.exp(ln.ci_low) - 1):+.0f} to "
        f"{100 * (math.exp(ln.ci_high) - 1):+.0f} %)"
    )
    if ln.within_noise and ln.ci_low <= 0.0 <= ln.ci_high:
        return f"HRV (RMSSD) {during}: {pct:+.0f} %{ci}, within noise."
    if ln.within_noise:  # CI excludes zero; only the personal SWC makes it noise
        return (
            f"HRV (RMSSD) {during}: {pct:+.0f} %{ci}, smaller than your smallest "
            "worthwhile change, so within your normal variation."
        )
    word = "rose" if ln.estimate > 0 else "fell"
    meaning = (
        "consistent with calmer, more parasympathetic activity"
        if ln.estimate > 0
        else "consistent with more arousal"
    )
    return f"HRV (RMSSD) {word} {during}: {pct:+.0f} %{ci}, {meaning}."


def _hr_line(hr: Difference, during: str) -> str:
    assert hr.estimate is not None
    has_ci = hr.ci_low is not None and hr.ci_high is not None
    ci = f" (95 % CI {hr.ci_low:+.1f} to {hr.ci_high:+.1f})" if has_ci else ""
    state = (
        _NO_CI
        if not has_ci
        else "within noise"
        if hr.within_noise
        else ("lower" if hr.estimate < 0 else "higher")
    )
    return f"Heart rate {during}: {hr.estimate:+.1f} bpm{ci}, {state}."


def _breathing_line(
    br_a: float | None, br_b: float | None, ln: Difference | None, during: str
) -> str | None:
    if br_a is None or br_b is None or abs(br_b - br_a) < BREATHING_SHIFT_PER_MIN:
        return None
    direction = "slowed" if br_b < br_a else "sped up"
    claimed = ln is not None and ln.ci_low is not None and not ln.within_noise
    why = (
        "so part or all of the HRV change may be breathing rather than stress"
        if claimed
        else "so read differences in those between the phases as breathing before stress"
    )
    return (
        f"Breathing {direction} from about {br_a:.0f} to {br_b:.0f} breaths/min "
        f"{during}: a change this size moves RMSSD, HF and LF/HF by itself, {why}."
    )


def verdict(
    by_kind: Mapping[str, PhaseMetrics], diffs: Sequence[Difference], swc_ln: float | None
) -> tuple[list[str], bool]:
    """The verdict's lines and whether the data quality allows one (``quality_ok``)."""
    lines, quality_ok = _quality_lines(by_kind)
    if "baseline" not in by_kind:
        lines.append("No baseline phase: nothing to compare against.")
        return lines, quality_ok
    base = by_kind["baseline"].metrics
    for contrast in ("practice-baseline", "recovery-baseline"):
        kind = contrast.split("-")[0]
        if kind not in by_kind or not by_kind[kind].reliable:
            continue
        during = "during the practice" if kind == "practice" else "in recovery"
        d = {x.metric: x for x in diffs if x.contrast == contrast}
        ln, hr = d.get("lnRMSSD"), d.get("MeanHR_bpm")
        if ln is not None and ln.estimate is not None:
            lines.append(_hrv_line(ln, during))
        if hr is not None and hr.estimate is not None:
            lines.append(_hr_line(hr, during))
        br = _breathing_line(
            base.get("BreathingRate_per_min"),
            by_kind[kind].metrics.get("BreathingRate_per_min"),
            ln,
            during,
        )
        if br is not None:
            lines.append(br)
    graded = [f"{kind} {pm.grade}" for kind, pm in by_kind.items() if pm.grade]
    if graded:
        lines.append(f"Data quality: {', '.join(graded)}.")
    if swc_ln is not None:
        lines.append(
            f"Your smallest worthwhile change in resting lnRMSSD is {swc_ln:.3f} "
            f"(≈ {100 * (math.exp(swc_ln) - 1):.0f} %); smaller changes count as noise."
        )
    lines.append(CAVEAT_LINE)
    return lines, quality_ok
