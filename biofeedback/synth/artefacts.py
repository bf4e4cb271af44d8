"""Stage 2 of the simulator: ectopic, missed and extra beats injected with ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from biofeedback.synth.physiology import FloatArray

# --------------------------------------------------------------------------- artefacts


class ArtefactKind(StrEnum):
    """Beat-detection artefacts, in the Lipponen & Tarvainen (2019) vocabulary."""

    ECTOPIC = "ectopic"
    MISSED = "missed"
    EXTRA = "extra"


@dataclass(frozen=True, slots=True)
class InjectedArtefact:
    """Ground truth of one injected artefact.

    Attributes
    ----------
    kind
        What was injected.
    indices
        Indices into the *output* RR array of the intervals that differ from the clean
        series: ectopic → (short, long); missed → (merged,); extra → (first, second part).
    source_index
        Index into the *input* RR array where it was applied.
    t_s
        Time of the R peak ending the first affected output interval, seconds.
    """

    kind: ArtefactKind
    indices: tuple[int, ...]
    source_index: int
    t_s: float


@dataclass(frozen=True, slots=True, eq=False)
class ArtefactInjection:
    """RR with artefacts (``rr_ms``, peak-end times ``t_s``) and the ground truth."""

    rr_ms: FloatArray
    t_s: FloatArray
    artefacts: tuple[InjectedArtefact, ...]
    start_s: float = 0.0

    @property
    def peaks_s(self) -> FloatArray:
        """All R-peak times, seconds."""
        return np.concatenate([[self.start_s], self.t_s])

    @property
    def artefact_indices(self) -> tuple[int, ...]:
        """Every affected output index, sorted."""
        return tuple(sorted(i for a in self.artefacts for i in a.indices))


def random_artefact_sites(
    n_beats: int,
    rng: np.random.Generator,
    *,
    n_ectopic: int = 0,
    n_missed: int = 0,
    n_extra: int = 0,
    min_gap: int = 8,
    margin: int = 5,
) -> list[tuple[ArtefactKind, int]]:
    """Pick non-overlapping sites (input indices) at least ``min_gap`` beats apart."""
    kinds = (
        [ArtefactKind.ECTOPIC] * n_ectopic
        + [ArtefactKind.MISSED] * n_missed
        + [ArtefactKind.EXTRA] * n_extra
    )
    if not kinds:
        return []
    lo, hi = margin, n_beats - margin - 2
    if hi - lo < len(kinds) * min_gap:
        raise ValueError(f"{len(kinds)} artefacts do not fit in {n_beats} beats")
    chosen: list[int] = []
    while len(chosen) < len(kinds):
        c = int(rng.integers(lo, hi))
        if all(abs(c - o) >= min_gap for o in chosen):
            chosen.append(c)
    order = rng.permutation(len(kinds))
    return sorted(zip((kinds[i] for i in order), chosen, strict=True), key=lambda s: s[1])


def _apply_artefact(
    out: list[float], src: FloatArray, kind: ArtefactKind, i: int, fraction: float
) -> tuple[tuple[int, ...], int]:
    """Append to ``out`` the interval(s) that replace ``src[i]`` under artefact ``kind``.

    ``fraction`` is the share of ``src[i]`` moved into the compensatory pause (ectopic) or
    the first part of the split (extra); unused for missed. Returns the indices into ``out``
    of the changed intervals and the next input index to copy.
    """
    o = len(out)
    if kind is ArtefactKind.ECTOPIC:
        d = float(src[i]) * fraction
        out += [float(src[i]) - d, float(src[i + 1]) + d]
        return (o, o + 1), i + 2
    if kind is ArtefactKind.MISSED:
        out.append(float(src[i]) + float(src[i + 1]))
        return (o,), i + 2
    out += [float(src[i]) * fraction, float(src[i]) * (1.0 - fraction)]
    return (o, o + 1), i + 1


def _inject_planned(
    src: FloatArray, plan: Sequence[tuple[ArtefactKind, int, float]], start_s: float
) -> ArtefactInjection:
    """Apply ``(kind, input index, fraction)`` artefacts (sorted by index) to ``src``."""
    out: list[float] = []
    truth: list[InjectedArtefact] = []
    prev = -2
    j = 0  # next input index to copy
    for kind, i, fraction in plan:
        if i < j or i - prev < 2 or i < 0 or i >= src.size:
            raise ValueError(f"artefact site {i} overlaps another or is out of range")
        if kind in (ArtefactKind.ECTOPIC, ArtefactKind.MISSED) and i + 1 >= src.size:
            raise ValueError(f"{kind} artefact at {i} needs a following beat")
        out.extend(src[j:i].tolist())
        o = len(out)
        idx, j = _apply_artefact(out, src, kind, i, fraction)
        t_end = start_s + (sum(out[: o + 1])) / 1000.0
        truth.append(InjectedArtefact(kind=kind, indices=idx, source_index=i, t_s=t_end))
        prev = i
    out.extend(src[j:].tolist())
    arr = np.asarray(out, dtype=np.float64)
    return ArtefactInjection(
        rr_ms=arr, t_s=start_s + np.cumsum(arr) / 1000.0, artefacts=tuple(truth), start_s=start_s
    )


def inject_artefacts(
    rr_ms: FloatArray,
    sites: Sequence[tuple[ArtefactKind, int]],
    rng: np.random.Generator,
    *,
    start_s: float = 0.0,
) -> ArtefactInjection:
    """Apply artefacts at input indices ``sites``; other beat times stay unchanged.

    * ectopic at ``i``: a premature beat shortens ``rr[i]`` by 20-35 % and the compensatory
      pause lengthens ``rr[i+1]`` by the same amount (sum preserved);
    * missed at ``i``: the R peak ending ``rr[i]`` is not detected, ``rr[i] + rr[i+1]``
      become one interval;
    * extra at ``i``: a spurious detection splits ``rr[i]`` at 30-60 %.

    Sites must be increasing and at least 2 apart; an ectopic or missed site needs ``i + 1``.
    """
    src = np.asarray(rr_ms, dtype=np.float64)
    plan: list[tuple[ArtefactKind, int, float]] = []
    # Draw in site order, one draw per ectopic/extra site and none for missed, so the
    # random stream (and the committed recordings) match the original generator.
    for kind, i in sorted(sites, key=lambda s: s[1]):
        if kind is ArtefactKind.ECTOPIC:
            fraction = float(rng.uniform(0.20, 0.35))
        elif kind is ArtefactKind.EXTRA:
            fraction = float(rng.uniform(0.30, 0.60))
        else:
            fraction = 0.0
        plan.append((kind, i, fraction))
    return _inject_planned(src, plan, start_s)


#: Truth labels of :func:`inject_artefacts_at_rate`, one per output interval.
LABEL_CLEAN, LABEL_ECTOPIC, LABEL_MISSED, LABEL_EXTRA = 0, 1, 2, 3
_LABEL_OF_KIND = {
    ArtefactKind.ECTOPIC: LABEL_ECTOPIC,
    ArtefactKind.MISSED: LABEL_MISSED,
    ArtefactKind.EXTRA: LABEL_EXTRA,
}


@dataclass(frozen=True, slots=True, eq=False)
class RateInjection:
    """Result of :func:`inject_artefacts_at_rate`.

    Attributes
    ----------
    rr_ms
        RR intervals with artefacts, ms.
    labels
        Truth label of every output interval (``LABEL_CLEAN``, ``LABEL_ECTOPIC``,
        ``LABEL_MISSED`` or ``LABEL_EXTRA``).
    n_events
        Number of injected artefact events.
    injection
        The same result as :func:`inject_artefacts` returns (per-event truth, peak times).
    """

    rr_ms: FloatArray
    labels: NDArray[np.int64]
    n_events: int
    injection: ArtefactInjection


def inject_artefacts_at_rate(
    rr_ms: FloatArray,
    *,
    rate: float,
    seed: int,
    kinds: Sequence[ArtefactKind | str] = (
        ArtefactKind.ECTOPIC,
        ArtefactKind.MISSED,
        ArtefactKind.EXTRA,
    ),
    prematurity: float = 0.7,
) -> RateInjection:
    """Inject artefact events at ``rate`` per beat with fixed sizes, cycling through ``kinds``.

    Parameters
    ----------
    rr_ms
        Clean RR intervals, ms.
    rate
        Events per input beat; ``round(rate * len(rr_ms))`` events, capped by the number of
        candidate sites.
    seed
        Seed of the ``numpy.random.default_rng`` stream that picks the sites (the only
        random draw: one ``Generator.choice`` without replacement).
    kinds
        Artefact kinds, assigned to the sites in time order, cycling.
    prematurity
        Ectopic beats shorten ``rr[i]`` to ``prematurity * rr[i]``; the compensatory pause
        lengthens ``rr[i+1]`` by the same amount.

    Returns
    -------
    RateInjection
        RR with artefacts and one truth label per output interval.

    Notes
    -----
    Unlike :func:`inject_artefacts` the sizes are fixed (ectopic by ``prematurity``, extra
    split 40/60, missed merges two intervals) and sites lie on a 5-beat grid, never in the
    first 5 or last 6 beats, so events are at least 5 beats apart. The per-kind interval
    arithmetic is shared with :func:`inject_artefacts`. Artefact vocabulary: Lipponen &
    Tarvainen (2019) *J. Med. Eng. Technol.* 43:173.
    """
    rng = np.random.default_rng(seed)
    src = np.asarray(rr_ms, dtype=np.float64)
    n = src.size
    n_ev = round(rate * n)
    cand = np.arange(5, n - 6, 5)
    pos = np.sort(rng.choice(cand, size=min(n_ev, cand.size), replace=False))
    cycle = [ArtefactKind(k) for k in kinds]
    plan: list[tuple[ArtefactKind, int, float]] = []
    for e, p in enumerate(pos):
        kind = cycle[e % len(cycle)]
        fraction = 1.0 - prematurity if kind is ArtefactKind.ECTOPIC else 0.4
        plan.append((kind, int(p), fraction))
    inj = _inject_planned(src, plan, 0.0)
    labels = np.full(inj.rr_ms.size, LABEL_CLEAN, dtype=np.int64)
    for a in inj.artefacts:
        labels[list(a.indices)] = _LABEL_OF_KIND[a.kind]
    return RateInjection(rr_ms=inj.rr_ms, labels=labels, n_events=len(inj.artefacts), injection=inj)
