"""Session reports and exports: CSV, JSON, Kubios RR text, HTML and PDF.

:func:`write_report` is the entry point (the ``report`` command calls it): it reads the
sessions through a `biofeedback.sessions.store.SessionReader`, analyses them once
(:func:`biofeedback.reports.model.build_report`) and writes the chosen format. Heavy modules
(pandas, scipy, plotly) are imported inside the functions, so importing this package is cheap.

Formats (one file each unless said):

* ``csv`` — beats (``PATH``) and a metrics table (``PATH`` with ``.metrics.csv``);
  :mod:`biofeedback.reports.csv_export`;
* ``json`` — everything, schema ``session.schema.json``; :mod:`biofeedback.reports.json_export`;
* ``kubios`` — one RR (ms) per line for Kubios HRV; one session; :mod:`biofeedback.reports.kubios`;
* ``html`` — self-contained, opens offline; :mod:`biofeedback.reports.html`;
* ``pdf`` — the HTML printed by headless Chromium, A4 or Letter; :mod:`biofeedback.reports.pdf`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from biofeedback.reports.model import AnalysisSettings, ReportBundle
    from biofeedback.sessions.store import SessionReader

__all__ = ["FORMATS", "PAPERS", "render", "write_report"]

FORMATS: tuple[str, ...] = ("html", "pdf", "csv", "json", "kubios")
PAPERS: tuple[str, ...] = ("a4", "letter")


def render(bundle: ReportBundle, fmt: str, path: Path, *, paper: str = "a4") -> list[Path]:
    """Write an already built report in ``fmt`` to ``path``; returns the files written."""
    if fmt == "csv":
        from biofeedback.reports.csv_export import write_csv

        return write_csv(bundle.sessions, path)
    if fmt == "json":
        from biofeedback.reports.json_export import write_json

        return write_json(bundle, path)
    if fmt == "kubios":
        from biofeedback.reports.kubios import write_kubios

        return write_kubios(bundle, path)
    if fmt == "html":
        from biofeedback.reports.atomic import write_atomic
        from biofeedback.reports.html import render_html

        return [write_atomic(path, render_html(bundle))]
    if fmt == "pdf":
        from biofeedback.reports.pdf import write_pdf

        return write_pdf(bundle, path, paper=paper)
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def write_report(
    reader: SessionReader,
    session_ids: Sequence[int],
    fmt: str,
    path: Path,
    *,
    paper: str = "a4",
    settings: AnalysisSettings | None = None,
) -> list[Path]:
    """Build the report of ``session_ids`` and write it as ``fmt`` to ``path``."""
    from biofeedback.reports.model import build_report

    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "kubios" and len(session_ids) == 1:
        # Raw RR only: no analysis needed (24 h: 0.3 s instead of ~8 s).
        from biofeedback.reports.kubios import write_kubios_session

        return write_kubios_session(reader, session_ids[0], path)
    bundle = build_report(reader, session_ids, settings)
    return render(bundle, fmt, path, paper=paper)
