"""Artefact correction of RR series (time-preserving, Lipponen & Tarvainen 2019 classes).

Correction works on beat times like neurokit2: an *extra* beat is deleted (its two
intervals merge), a *missed* beat is inserted halfway, and an *ectopic* or *long/short*
beat is fixed by the one local change that best restores the rhythm (moving it or a
neighbour to the midpoint of its neighbours, or deleting it; see ``_fix_misaligned``).
Detection + correction repeat until the number of detected artefacts stops decreasing
(neurokit2's ``iterative=True``). The result counts *beats corrected* (Kubios' measure of
artefact events), and no peak is moved by less than the beat-time resolution.

Reference
---------
Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
artefact correction using novel beat classification. J Med Eng Technol 2019;43(3):173-181.
doi:10.1080/03091902.2019.1640306
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from biofeedback.hrv._types import FloatArray
from biofeedback.hrv.artifacts import Detection, detect_artifacts, redetect_artifacts


def _fix_misaligned(
    p: FloatArray, mis: list[int], min_shift_s: float, fixed: list[int]
) -> tuple[FloatArray, int]:
    """Fix the peaks flagged ectopic or long/short, one local decision per flag.

    Sequential and local, not simultaneous: neurokit2 moves every flagged peak at once to
    the midpoint of its *original* neighbours, but an ectopic beat usually flags both the
    displaced peak and a correct neighbour, so the correct one gets moved too (RMSSD +36 %
    on simulated ectopy). Here, for each flagged peak j, the one change that best restores
    the local rhythm (sum of |interval − local median| over the peaks j-3..j+3) is applied,
    or none if nothing improves it. The changes tried are moving peak j-1, j or j+1 to the
    midpoint of its neighbours, and deleting peak j or j+1: an extra beat that splits an
    interval unevenly (e.g. 40/60) passes the Lipponen ectopic test before its extra-beat
    test, and no move can repair it. Moves within ``min_shift_s`` are not tried. ``fixed``
    are peaks this pass already deleted or inserted next to: flags beside them belong to
    the same event. Returns the peaks and the number of peaks changed here.
    """
    # Plain Python floats: the windows hold at most 15 peaks, where numpy's per-call
    # overhead is ~20x the arithmetic (7 d of beats: 3.2 s -> 0.3 s). Every value is
    # computed with the same operations in the same order as the numpy form, so the
    # corrected peaks are bit-identical.
    pl: list[float] = p.tolist()
    n = len(pl)
    alive = [True] * n
    touched: set[int] = set(fixed)

    def cost(ts: list[float], local: float) -> float:
        return sum(abs((b - a) - local) for a, b in itertools.pairwise(ts))

    for j in mis:
        # one displaced beat flags the intervals on both of its sides: once a peak next to
        # j has changed, j belongs to the same event (a further artefact next to it is
        # caught by the next detection pass)
        if not 1 <= j < n - 1 or not alive[j] or touched & {j - 1, j, j + 1}:
            continue
        near = [pl[i] for i in range(max(0, j - 7), min(n - 1, j + 7) + 1) if alive[i]]
        local = _median([b - a for a, b in itertools.pairwise(near)])
        w = [i for i in range(max(0, j - 3), min(n - 1, j + 3) + 1) if alive[i]]
        win = [pl[i] for i in w]
        best_cost = cost(win, local)
        best: tuple[str, int, float] | None = None
        for c in (j - 1, j, j + 1):
            if c in touched or c not in w:
                continue
            k = w.index(c)
            if not 0 < k < len(w) - 1:
                continue
            mid = win[k - 1] + (win[k + 1] - win[k - 1]) / 2.0
            if c != j - 1:
                drop = cost(win[:k] + win[k + 1 :], local)
                if drop < best_cost - 1e-9:
                    best_cost, best = drop, ("drop", c, mid)
            if abs(mid - win[k]) <= min_shift_s:
                continue
            cst = cost([*win[:k], mid, *win[k + 1 :]], local)
            if cst < best_cost - 1e-9:
                best_cost, best = cst, ("move", c, mid)
        if best is None:
            continue
        how, c, mid = best
        if how == "drop":
            alive[c] = False
        else:
            pl[c] = mid
        touched.add(c)
    out = np.asarray(pl, dtype=np.float64)[np.asarray(alive, dtype=bool)]
    return out, len(touched) - len(set(fixed))


def _median(v: list[float]) -> float:
    """``np.median`` of a short list, same value (mean of the two middle values as a+b / 2)."""
    s = sorted(v)
    h = len(s) // 2
    return s[h] if len(s) % 2 else (s[h - 1] + s[h]) / 2.0


def _correct_once(
    peaks_s: FloatArray, det: Detection, min_shift_s: float = 0.0
) -> tuple[FloatArray, int]:
    """Apply one round of neurokit2-style corrections to beat times (seconds).

    ``peaks_s[0]`` is the start of the first interval, so interval ``k`` ends at peak
    ``k + 1``. A peak is moved only when the move exceeds ``min_shift_s`` (the
    quantisation noise of a difference of two beat times): a smaller move corrects nothing
    the recording could resolve. Returns the new peaks and the number of beats corrected
    (deleted, inserted or moved).
    """
    p = peaks_s.copy()
    extra = (det.extra + 1).tolist()
    missed = (det.missed + 1).tolist()
    mis = sorted((det.ectopic + 1).tolist() + (det.longshort + 1).tolist())

    def deleted(src: list[int], upd: list[int]) -> list[int]:
        # each index drops by the number of deleted peaks before it (neurokit2 0.2.13
        # compares the already-shifted indices with the unshifted ones, so with several
        # extra beats a later missed beat is inserted into the wrong interval)
        s_arr = np.asarray(sorted(src), dtype=np.int64)
        u_arr = np.asarray(upd, dtype=np.int64)
        return sorted(set((u_arr - np.searchsorted(s_arr, u_arr, "left")).tolist()))

    def inserted(src: list[int], upd: list[int]) -> list[int]:
        # np.insert puts a new peak before index s: every peak at or after s moves up one
        s_arr = np.asarray(sorted(src), dtype=np.int64)
        u_arr = np.asarray(upd, dtype=np.int64)
        return sorted(set((u_arr + np.searchsorted(s_arr, u_arr, "right")).tolist()))

    changed = 0
    fixed: list[int] = []
    if extra:
        changed += len(extra)
        p = np.delete(p, extra)
        missed = deleted(extra, missed)
        mis = deleted(extra, [m for m in mis if m not in set(extra)])
        fixed = deleted(extra, extra)  # the peaks that now close the merged intervals
    if missed:
        mi = np.asarray([j for j in missed if 1 <= j < p.size], dtype=np.int64)
        if mi.size:
            changed += int(mi.size)
            p = np.insert(p, mi, p[mi - 1] + (p[mi] - p[mi - 1]) / 2.0)
            mis = inserted(mi.tolist(), mis)
            fixed = inserted(mi.tolist(), fixed) + (mi + np.arange(mi.size)).tolist()
    if mis:
        p, n_fixed = _fix_misaligned(p, mis, min_shift_s, fixed)
        changed += n_fixed
    return p, changed


@dataclass(frozen=True, slots=True)
class Correction:
    """Corrected RR run plus what the first detection pass found on the original beats.

    ``beats_corrected`` counts artefact *events*, as Kubios reports "beats corrected":
    beats deleted (extra), inserted (missed) or moved (ectopic, long/short), summed over the
    passes. One ectopic beat flags up to three intervals but is one corrected beat.
    """

    rr_ms: FloatArray
    first_pass: Detection
    passes: int
    beats_corrected: int = 0
    extra_counts: dict[str, int] = field(default_factory=dict)


def correct_artifacts(
    rr_ms: FloatArray, *, iterative: bool = True, resolution_ms: float = 0.0
) -> Correction:
    """Detect and correct artefacts in one contiguous RR run (time-preserving).

    Parameters
    ----------
    rr_ms
        Contiguous RR intervals, ms.
    iterative
        Repeat detection + correction until the artefact count stops decreasing.
    resolution_ms
        Time resolution of the beat times, ms (see :func:`detect_artifacts`); peaks are
        never moved by less than it.

    Returns
    -------
    Correction
        ``rr_ms`` is the corrected series (its sum equals the input's sum up to
        float rounding); ``first_pass`` holds the flags on the original intervals.
    """
    rr = np.asarray(rr_ms, dtype=np.float64)
    det = detect_artifacts(rr, resolution_ms=resolution_ms)
    first = det
    peaks = np.concatenate(([0.0], np.cumsum(rr) / 1000.0))
    min_shift_s = max(resolution_ms, 0.0) / 1000.0
    passes = 0
    changed = 0
    if det.count:
        peaks, changed = _correct_once(peaks, det, min_shift_s)
        n_changed = changed
        passes = 1
        # a pass that changed no beat leaves the series as it was, so detecting again
        # would find the same artefacts and stop: stop now
        prev_rr = rr
        while iterative and passes < 20 and n_changed:
            cur_rr = np.diff(peaks) * 1000.0
            if cur_rr.size == prev_rr.size:
                # only moves: detect again near the moved beats only (same flags)
                moved = np.flatnonzero(cur_rr != prev_rr)
                new = redetect_artifacts(cur_rr, det, moved, resolution_ms=resolution_ms)
            else:
                new = detect_artifacts(cur_rr, resolution_ms=resolution_ms)
            prev_rr = cur_rr
            if new.count == 0 or new.count >= det.count:
                break
            det = new
            peaks, n_changed = _correct_once(peaks, det, min_shift_s)
            changed += n_changed
            passes += 1
    out = np.diff(peaks) * 1000.0
    if out.size == rr.size:
        # intervals the correction did not touch keep their exact input value (the round
        # trip through cumulative beat times adds ~1e-10 ms of float noise otherwise)
        same = np.abs(out - rr) < 1e-6
        out[same] = rr[same]
    return Correction(rr_ms=out, first_pass=first, passes=passes, beats_corrected=changed)
