"""PDF report: the print variant of the HTML report, printed by headless Chromium.

Route: :func:`biofeedback.reports.html.render_html` with ``print_mode=True`` (static plotly
figures sized for the paper, ``@page`` size A4 or Letter, page breaks per session) is written
to a temporary file and printed with ``chromium --headless --print-to-pdf``. Why this route
rather than kaleido images in a separate PDF layout: the PDF then has *exactly* the HTML
report's content and look; the figures stay vector graphics; Chromium's PDF backend (Skia)
embeds subsets of every font it uses; and it costs one browser launch (~1.5-2 s) where
kaleido needs a browser too (it drives the same Chromium through choreographer) plus a
second layout engine. Nothing is downloaded: the page is a local file with plotly.js inline.

The browser is looked up in ``BIOFEEDBACK_CHROMIUM``, then ``BROWSER_PATH`` (the variable
kaleido/choreographer honour), then ``chromium``, ``chromium-browser``, ``google-chrome``,
``google-chrome-stable`` and ``chrome`` on ``PATH``. Without one, the CLI says so in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from biofeedback.errors import UserError
from biofeedback.reports.html import PAPER_SIZES, render_html
from biofeedback.reports.model import ReportBundle

__all__ = ["BROWSER_NAMES", "PdfError", "find_chromium", "html_to_pdf", "write_pdf"]

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: Upper bound for one print job, seconds (a 24 h report prints in a few seconds).
PRINT_TIMEOUT_S = 120.0


class PdfError(UserError):
    """The PDF could not be produced (no browser, browser failed)."""


def find_chromium(env: dict[str, str] | None = None) -> str | None:
    """Path of a Chromium/Chrome executable, or ``None``."""
    e = os.environ if env is None else env
    for var in ("BIOFEEDBACK_CHROMIUM", "BROWSER_PATH"):
        v = e.get(var)
        if v and Path(v).is_file() and os.access(v, os.X_OK):
            return v
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html_path: Path, pdf_path: Path, *, browser: str | None = None) -> None:
    """Print a local HTML file to PDF with headless Chromium (page size from CSS ``@page``)."""
    exe = browser or find_chromium()
    if exe is None:
        raise PdfError(
            f"{pdf_path}: PDF output needs Chromium or Chrome (install the 'chromium' package, "
            "or set BIOFEEDBACK_CHROMIUM to the browser); --format html works without it"
        )
    with tempfile.TemporaryDirectory(prefix="biofeedback-pdf-") as profile:
        cmd = [
            exe,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--hide-scrollbars",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            # Let plotly's scripts finish drawing before the page is printed.
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=20000",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with the sandbox
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise PdfError(
                f"{pdf_path}: {exe} did not finish within {PRINT_TIMEOUT_S:.0f} s"
            ) from None
        except OSError as exc:
            raise PdfError(f"{pdf_path}: cannot run {exe}: {exc.strerror}") from None
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PdfError(
            f"{pdf_path}: {exe} failed to print the report (exit {proc.returncode}: {tail})"
        )


def write_pdf(bundle: ReportBundle, path: Path, *, paper: str = "a4") -> list[Path]:
    """Render the print HTML for ``paper`` (``a4``/``letter``) and print it to ``path``."""
    if paper not in PAPER_SIZES:
        raise UserError(f"--paper: expected one of {', '.join(PAPER_SIZES)}, got {paper!r}")
    page = render_html(bundle, print_mode=True, paper=paper)
    with tempfile.TemporaryDirectory(prefix="biofeedback-report-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page, encoding="utf-8")
        out = Path(tmp) / "report.pdf"
        html_to_pdf(src, out)
        shutil.move(str(out), path)
    return [path]
