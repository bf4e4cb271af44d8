"""Exports from the dashboard: ``/export/<id>.<format>`` for html, pdf, csv, json, kubios.

The same `biofeedback.reports.write_report` as ``biofeedback report``; the file is built in
a temporary folder and sent as a download (CSV: the beats and the metrics files in one
zip). A bad id or an unknown format is a one-line 404, never a traceback.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from biofeedback.sessions.store import SessionReader

#: format → (download suffix, MIME type, button label)
EXPORTS: dict[str, tuple[str, str, str]] = {
    "html": (".html", "text/html", "HTML report"),
    "pdf": (".pdf", "application/pdf", "PDF report"),
    "csv": (".zip", "application/zip", "CSV (beats + metrics)"),
    "json": (".json", "application/json", "JSON"),
    "kubios": (".txt", "text/plain", "Kubios RR"),
}


def export_href(session_id: int, fmt: str) -> str:
    """The download address of one export."""
    return f"/export/{session_id}.{fmt}"


def build_export(reader: SessionReader, session_id: int, fmt: str) -> tuple[bytes, str]:
    """The bytes and the file name of one export of one session."""
    from biofeedback.reports import write_report

    suffix = EXPORTS[fmt][0]
    name = f"session-{session_id}{suffix}"
    with tempfile.TemporaryDirectory(prefix="biofeedback-export-") as tmp:
        out = Path(tmp) / (f"session-{session_id}.csv" if fmt == "csv" else name)
        written = write_report(reader, [session_id], fmt, out)
        if fmt != "csv":
            return out.read_bytes(), name
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in written:
                z.write(p, p.name)
        return buf.getvalue(), name


def register_exports(server: Flask, reader: SessionReader) -> None:
    """Add the export route to the dashboard's Flask server."""
    from flask import Response

    from biofeedback.sessions.store import SessionReader, StoreError

    def export(session_id: int, fmt: str) -> Any:
        if fmt not in EXPORTS:
            return Response(f"unknown export format {fmt!r}\n", 404, mimetype="text/plain")
        try:
            # a reader of its own: exports run in parallel with the pages' requests
            with SessionReader(reader.path) as r:
                r.session(session_id)
                data, name = build_export(r, session_id, fmt)
        except StoreError as exc:
            return Response(f"{exc}\n", 404, mimetype="text/plain")
        except Exception as exc:  # e.g. no Chromium for the PDF: say so in one line
            return Response(f"export failed: {exc}\n", 500, mimetype="text/plain")
        return Response(
            data,
            mimetype=EXPORTS[fmt][1],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    server.add_url_rule(
        "/export/<int:session_id>.<fmt>", "biofeedback_export", export, methods=["GET"]
    )
