"""``biofeedback sessions``: list the stored sessions."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from biofeedback.cli.options import db_missing, db_path, shown
from biofeedback.sessions.store import SessionInfo, SessionReader
from biofeedback.terminal import printable


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )
    p.add_argument("--tag", default=None, help="only sessions with this tag")
    p.add_argument("--protocol", default=None, help="only sessions of this protocol")
    p.add_argument("--participant", default=None, metavar="CODE", help="only this participant")
    p.add_argument("--study", default=None, metavar="LABEL", help="only this study")
    p.add_argument(
        "--no-artifacts",
        action="store_true",
        help="skip the artefact-rate column (faster on many long sessions)",
    )


def artifact_rate(reader: SessionReader, session_id: int) -> float | None:
    """Fraction of beats flagged as artefacts (Lipponen & Tarvainen 2019), per segment.

    ``None`` when the HRV engine is not available or the session has fewer than 3 beats.
    """
    try:
        from biofeedback.hrv.artifacts import detect_artifacts
    except ImportError:
        return None
    import numpy as np

    beats = reader.beats(session_id)
    if len(beats) < 3:
        return None
    flagged = 0
    for _, seg in beats.groupby("segment", sort=False):
        flagged += detect_artifacts(seg["rr_ms"].to_numpy(dtype=np.float64)).count
    return flagged / len(beats)


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def _local(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def _duration(s: float) -> str:
    s_int = round(s)
    h, rem = divmod(s_int, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def as_json(info: SessionInfo, rate: float | None) -> dict[str, object]:
    """One session as the JSON object printed by ``sessions --json``."""
    return {
        "id": info.id,
        "uuid": info.uuid,
        "participant": info.participant,
        "study": info.study,
        "title": info.title,
        "started_at": _iso(info.started_at),
        "ended_at": None if info.ended_at is None else _iso(info.ended_at),
        "duration_s": round(info.duration_s, 3),
        "protocol": info.protocol,
        "status": info.status.value,
        "source": info.source,
        "device": info.device_name,
        "device_address": info.device_address,
        "device_model": info.device_model,
        "tags": list(info.tags),
        "notes": info.notes,
        "n_beats": info.n_beats,
        "n_gaps": info.n_gaps,
        "artifact_rate": None if rate is None else round(rate, 5),
    }


def run(args: argparse.Namespace) -> int:
    path = db_path(args)
    if db_missing(path):
        if args.json:
            print("[]")
        else:
            print(f"no sessions yet (no database at {path})")
        return 0
    with SessionReader(path) as reader:
        infos = reader.list_sessions(
            tag=args.tag, protocol=args.protocol, participant=args.participant, study=args.study
        )
        rates = {i.id: (None if args.no_artifacts else artifact_rate(reader, i.id)) for i in infos}
    if args.json:
        json.dump([as_json(i, rates[i.id]) for i in infos], sys.stdout, indent=2)
        print()
        return 0
    if not infos:
        print(f"no sessions in {shown(path)}")
        return 0
    # Study and participant columns only where some session has a label.
    labelled = any(i.study or i.participant for i in infos)
    head: tuple[str, ...] = ("ID", "START", "DURATION", "PROTOCOL", "DEVICE", "STATUS", "ARTEF")
    head = (*head, "STUDY", "PART", "TITLE") if labelled else (*head, "TITLE")
    rows = [head]
    for i in infos:
        rate = rates[i.id]
        labels = (i.study or "", i.participant or "") if labelled else ()
        rows.append(
            (
                str(i.id),
                _local(i.started_at),
                _duration(i.duration_s),
                i.protocol,
                i.device_name or "",
                i.status.value,
                "" if rate is None else f"{100 * rate:.1f}%",
                *labels,
                " ".join([i.title, *(f"#{t}" for t in i.tags)]).strip(),
            )
        )
    # One cell, one line: a title with line breaks cannot forge rows.
    cells = [[printable(v, newlines=False) for v in r] for r in rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(head))]
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0
