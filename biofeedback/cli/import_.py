"""``biofeedback import FILE``: store an RR file or a capture as a session.

* A capture (``biofeedback-capture`` JSONL) is replayed as fast as possible through the same
  pipeline as ``record`` (decoder → beat assembler → `SessionRecorder` → store): frames,
  rejected packets, link events and beats are all kept. When its header lists ``phases``
  (as the bundled synthetic recordings do) they become the session's protocol, so the phase
  markers come back; otherwise the protocol is ``free``. ``started_at`` is the header's
  (if it is missing or unreadable: the file's modification time minus the capture length).
* An RR file (one ms value per line, CSV with an RR column, Kubios RR export, Polar Sensor
  Logger / Polar Flow / Elite HRV / HRV Logger exports, EDF+ or ECG CSV; read by
  `biofeedback.importers.read_with_meta`) becomes a session of beats only, protocol ``free``,
  with the reader's segments, ``rr_1024`` empty. ``started_at`` is the file's own start time
  when the format carries one, else its modification time minus the recording length.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.beats import Beat
from biofeedback.cli.options import db_path
from biofeedback.errors import UserError
from biofeedback.sessions.protocols import Protocol, ProtocolError, parse_protocol
from biofeedback.sessions.store import NewSession, SessionStatus, Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="RR text (one ms value per line), CSV with an RR column, Kubios RR .txt, "
        "or a capture (.jsonl)",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )
    p.add_argument("--title", default=None, help="session title (default: the file name)")
    p.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag the session (repeatable)"
    )


if TYPE_CHECKING:
    from biofeedback.importers import ImportedRR

#: Imports are not live: commit in large batches (a crash mid-import leaves an
#: ``interrupted`` session that can be deleted and imported again).
IMPORT_FLUSH_INTERVAL_S = 300.0


def _started_at(text: str) -> float | None:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def protocol_from_header(extra: dict[str, Any], where: str) -> Protocol | None:
    """The protocol a capture header describes (``protocol`` + ``phases``), if any."""
    phases = extra.get("phases")
    if not phases:
        return None
    if not isinstance(phases, list):
        raise ProtocolError(f"{where}: header field 'phases' must be a list")
    name = extra.get("protocol") or "capture"
    data = {
        "name": str(name),
        "phases": [
            {k: p.get(k) for k in ("name", "kind", "duration_s") if isinstance(p, dict)}
            for p in phases
        ],
    }
    return parse_protocol(data, f"{where} header")


def import_capture(path: Path, store: Store, *, title: str, tags: tuple[str, ...]) -> int:
    """Replay a capture into ``store``; returns the new session id."""
    from biofeedback.sessions.protocols import load_protocol
    from biofeedback.sessions.service import Recording
    from devices.capture import CaptureError, read_capture
    from devices.clock import VirtualClock
    from devices.replay import CaptureReplaySource

    try:
        capture = read_capture(path)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    protocol = protocol_from_header(capture.header.extra, str(path)) or load_protocol("free")
    started = _started_at(capture.header.started_at)
    if started is None:
        # Like an RR file: the file's modification time minus the recording length (a
        # wall clock starting at 0 would date the session 1970).
        started = path.stat().st_mtime - capture.duration_s
    clock = VirtualClock(wall_start_s=started)
    source = CaptureReplaySource(capture, clock=clock)
    meta = NewSession(
        source="import",
        protocol=protocol.name,
        device=capture.header.device,
        title=title,
        tags=tags,
        started_at=started,
    )
    recording = Recording(
        store, meta, source, clock, protocol, flush_interval_s=IMPORT_FLUSH_INTERVAL_S
    )
    # `run` caches the analysis of either kind of import once, after this returns.
    result = asyncio.run(recording.run(analyse=False))
    return result.session_id


def import_rr(
    path: Path,
    store: Store,
    *,
    title: str,
    tags: tuple[str, ...],
    imported: ImportedRR | None = None,
) -> int:
    """Store an RR file's beats as a session (``imported``: the file already read)."""
    if imported is None:
        from biofeedback.importers import read_with_meta

        imported = read_with_meta(path)
    series = imported.series
    duration = float(series.t_s[-1]) if series.n_beats else 0.0
    if imported.started_at is not None:
        # aware → exact; naive means the app wrote local time, which .timestamp() assumes.
        started = imported.started_at.timestamp()
    else:
        started = path.stat().st_mtime - duration
    writer = store.begin_session(
        NewSession(
            source="import",
            protocol="free",
            title=title,
            tags=tags,
            notes="\n".join(imported.notes),
            started_at=started,
        ),
        flush_interval_s=IMPORT_FLUSH_INTERVAL_S,
    )
    writer.add_beats(
        Beat(t_s=float(t), rr_ms=float(rr), rr_1024=None, segment=int(seg))
        for t, rr, seg in zip(series.t_s, series.rr_ms, series.segment, strict=True)
    )
    writer.finish(SessionStatus.COMPLETE, ended_at=started + duration)
    return writer.session_id


def run(args: argparse.Namespace) -> int:
    from devices.capture import looks_like_capture

    path = Path(args.file)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    db = db_path(args)
    if not args.db:
        db.parent.mkdir(parents=True, exist_ok=True)
    title = args.title if args.title is not None else path.name
    tags = tuple(args.tag)
    is_capture = path.is_file() and looks_like_capture(path)
    imported = None
    if not is_capture:
        # Parse before opening the store so a bad file leaves no empty session behind.
        from biofeedback.importers import read_with_meta

        imported = read_with_meta(path)
    with Store(db) as store:
        if imported is None:
            sid = import_capture(path, store, title=title, tags=tags)
        else:
            sid = import_rr(path, store, title=title, tags=tags, imported=imported)
        from biofeedback.sessions.compare import cache_analysis

        cache_analysis(store, sid)
    from biofeedback.sessions.store import SessionReader

    with SessionReader(db) as reader:
        info = reader.session(sid)
    print(
        f"imported {path.name} as session {sid}: {info.n_beats} beats, "
        f"{info.duration_s:.1f} s, protocol {info.protocol}, into {db}"
    )
    return 0
