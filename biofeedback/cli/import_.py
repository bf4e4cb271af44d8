"""``biofeedback import FILE``: store an RR file or a capture as a session.

* A capture (``biofeedback-capture`` JSONL) is replayed as fast as possible through the same
  pipeline as ``record`` (decoder → beat assembler → `SessionRecorder` → store): frames,
  rejected packets, link events and beats are all kept. When its header lists ``phases``
  (as the bundled synthetic recordings do) they become the session's protocol, so the phase
  markers come back; otherwise the protocol is ``free``. ``started_at`` is the header's
  (if it is missing or unreadable: the file's modification time minus the capture length).
  A capture that runs past the end of its header's phases is refused (the recorder would
  stop at the protocol's end and drop the rest) unless ``--no-phases`` imports it whole as
  ``free``; a capture without beats is refused.
* An RR file (one ms value per line, CSV with an RR column, Kubios RR export, Polar Sensor
  Logger RR/PPI, Polar Flow, Polar .hrm, Elite HRV, HRV Logger, EDF+, WFDB or ECG CSV; read
  by `biofeedback.files.read_readings`) becomes a session of beats only, protocol ``free``,
  with the reader's segments, ``rr_1024`` empty. A folder or zip of readings gives one
  session per reading. ``started_at`` is the reading's own start time when the format
  carries one, else the file's modification time minus the recording length (with a
  warning).
* Every file passes the same validation as ``analyze`` (`biofeedback.files.validate`)
  before the store is opened, so a refused file leaves nothing behind and a stored session
  is readable by every view. Importing what is already stored (an ``import`` session with
  the same start time and beats) is refused unless ``--allow-duplicate``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biofeedback.beats import Beat
from biofeedback.cli.options import (
    add_label_arguments,
    db_missing,
    db_path,
    make_default_folder,
    shown,
)
from biofeedback.errors import UserError
from biofeedback.sessions.protocols import Protocol, ProtocolError, parse_protocol
from biofeedback.sessions.store import NewSession, SessionStatus, Store, StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="RR text (one ms value per line), CSV with an RR column, Kubios RR .txt, "
        "or a capture (.jsonl)",
    )
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        default=None,
        help="session database (default: $BIOFEEDBACK_DB, else the user data folder)",
    )
    p.add_argument("--title", default=None, help="session title (default: the file name)")
    add_label_arguments(p)
    p.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag the session (repeatable)"
    )
    p.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="store the file even if the same recording was imported before",
    )
    p.add_argument(
        "--no-phases",
        action="store_true",
        help="capture: ignore the header's phases (import every beat as a free session)",
    )


if TYPE_CHECKING:
    from biofeedback.files import ImportedRR

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


def import_capture(
    path: Path,
    store: Store,
    *,
    title: str,
    tags: tuple[str, ...],
    phases: bool = True,
    participant: str | None = None,
    study: str | None = None,
) -> int:
    """Replay a capture into ``store``; returns the new session id."""
    from biofeedback.sessions.protocols import load_protocol
    from biofeedback.sessions.recorder import END_TOLERANCE_S
    from biofeedback.sessions.service import Recording
    from devices.capture import CaptureError, read_capture
    from devices.clock import VirtualClock
    from devices.replay import CaptureReplaySource

    try:
        capture = read_capture(path)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    header_protocol = protocol_from_header(capture.header.extra, str(path)) if phases else None
    protocol = header_protocol or load_protocol("free")
    if header_protocol is not None and capture.duration_s > protocol.total_s + END_TOLERANCE_S:
        raise UserError(
            f"{path}: capture runs {capture.duration_s:.0f} s but its header's phases end at "
            f"{protocol.total_s:.0f} s; the beats after it would be lost (--no-phases imports "
            "every beat as a free session)"
        )
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
        participant=participant,
        study=study,
    )
    recording = Recording(
        store, meta, source, clock, protocol, flush_interval_s=IMPORT_FLUSH_INTERVAL_S
    )
    # `run` caches the analysis of either kind of import once, after this returns.
    try:
        result = asyncio.run(recording.run(analyse=False))
    except StoreError:
        recording.writer.discard()  # all or nothing: a half-imported file is no session
        raise
    return result.session_id


def import_rr(
    path: Path,
    store: Store,
    *,
    title: str,
    tags: tuple[str, ...],
    imported: ImportedRR | None = None,
    participant: str | None = None,
    study: str | None = None,
) -> int:
    """Store an RR reading's beats as a session (``imported``: the file already read)."""
    if imported is None:
        from biofeedback.files import read_with_meta

        imported = read_with_meta(path)
    series = imported.series
    started = reading_start_s(path, imported)
    duration = float(series.t_s[-1]) if series.n_beats else 0.0
    writer = store.begin_session(
        NewSession(
            source="import",
            protocol="free",
            title=title,
            tags=tags,
            notes="\n".join(imported.notes),
            started_at=started,
            participant=participant,
            study=study,
        ),
        flush_interval_s=IMPORT_FLUSH_INTERVAL_S,
    )
    try:
        writer.add_beats(
            Beat(t_s=float(t), rr_ms=float(rr), rr_1024=None, segment=int(seg))
            for t, rr, seg in zip(series.t_s, series.rr_ms, series.segment, strict=True)
        )
        writer.finish(SessionStatus.COMPLETE, ended_at=started + duration)
    except StoreError:
        writer.discard()  # all or nothing: a half-imported file would look like a session
        raise
    return writer.session_id


def reading_start_s(path: Path, imported: ImportedRR) -> float:
    """Unix start time of a reading: its own, else the file's modification time minus the
    recording length (see :func:`undated_warning`)."""
    series = imported.series
    duration = float(series.t_s[-1]) if series.n_beats else 0.0
    if imported.started_at is not None:
        # aware → exact; naive means the app wrote local time, which .timestamp() assumes.
        return imported.started_at.timestamp()
    return path.stat().st_mtime - duration


def undated_warning(imported: ImportedRR) -> str | None:
    """The warning for a reading whose file carries no wall-clock time."""
    if imported.started_at is not None:
        return None
    return (
        f"{imported.series.source}: the file has no wall-clock time; dated from its "
        "modification time minus the recording length"
    )


def _duplicate(store_db: str | Path, started: float, n_beats: int) -> int | None:
    """Id of an imported session with the same start time and number of beats, if any."""
    from biofeedback.sessions.store import SessionReader

    if db_missing(store_db):
        return None
    with SessionReader(store_db) as reader:
        for info in reader.list_sessions():
            same = info.n_beats == n_beats and abs(info.started_at - started) < 1e-3
            if info.source == "import" and same:
                return info.id
    return None


def run(args: argparse.Namespace) -> int:
    import sys

    from biofeedback.files import detect_format, read_readings
    from biofeedback.sessions.analysis import cache_analysis
    from biofeedback.sessions.store import SessionReader

    path = Path(args.file)
    # Read and validate everything before the store is opened: a refused file (or one
    # reading of an export) leaves no session behind.
    fmt = detect_format(path)
    readings = read_readings(path, fmt)
    db = db_path(args)
    if not args.db:
        make_default_folder(db)
    starts = [_capture_start_s(path) if fmt == "capture" else reading_start_s(path, r)
              for r in readings]  # fmt: skip
    if not args.allow_duplicate:
        for r, started in zip(readings, starts, strict=True):
            n = _duplicate(db, started, r.n_beats) if started is not None else None
            if n is not None:
                raise UserError(
                    f"{r.series.source}: already imported as session {n} (same start and "
                    "beats); --allow-duplicate stores it again"
                )
    tags = tuple(args.tag)
    ids: list[int] = []
    labels = {"participant": args.participant, "study": args.study}
    with Store(db) as store:
        for r in readings:
            for w in (*r.warnings, undated_warning(r) if fmt != "capture" else None):
                if w:
                    print(f"warning: {w}", file=sys.stderr)
            name = Path(r.series.source.rsplit("!", 1)[-1]).name if len(readings) > 1 else path.name
            title = args.title if args.title is not None else name
            if fmt == "capture":
                sid = import_capture(path, store, title=title, tags=tags,
                                     phases=not args.no_phases, **labels)  # fmt: skip
            else:
                sid = import_rr(path, store, title=title, tags=tags, imported=r, **labels)
            cache_analysis(store, sid)
            ids.append(sid)
    with SessionReader(db) as reader:
        for sid, r in zip(ids, readings, strict=True):
            info = reader.session(sid)
            name = Path(r.series.source.rsplit("!", 1)[-1]).name
            print(
                f"imported {name} as session {sid}: {info.n_beats} beats, "
                f"{info.duration_s:.1f} s, protocol {info.protocol}, into {shown(db)}"
            )
    return 0


def _capture_start_s(path: Path) -> float | None:
    """The start a capture import will get (header time; ``None``: from the file)."""
    from devices.capture import CaptureError, read_capture

    try:
        cap = read_capture(path)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    started = _started_at(cap.header.started_at)
    return started if started is not None else path.stat().st_mtime - cap.duration_s
