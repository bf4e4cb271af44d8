"""``biofeedback sessions``: list the stored sessions."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

from biofeedback.cli.options import db_missing, db_path, shown
from biofeedback.sessions.store import SessionInfo, SessionReader
from biofeedback.terminal import printable

if TYPE_CHECKING:
    from biofeedback.sessions.view import SessionViews


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


def artifact_rate(views: SessionViews, info: SessionInfo) -> float | None:
    """Fraction of beats flagged as artefacts, from the session's saved analysis.

    ``None`` when the session has too few beats to analyse.
    """
    from biofeedback.sessions.analysis import MIN_BEATS

    whole = views.analysis(info.id, info).whole
    return None if whole.n_beats < MIN_BEATS else whole.artifacts.rate


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
        from biofeedback.sessions.view import SessionViews

        # Analyses missing from the store's cache are computed once and saved.
        views = SessionViews(reader)
        infos = reader.list_sessions(
            tag=args.tag, protocol=args.protocol, participant=args.participant, study=args.study
        )
        rates = {i.id: (None if args.no_artifacts else artifact_rate(views, i)) for i in infos}
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
