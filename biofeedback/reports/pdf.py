"""PDF report: the print variant of the HTML report, printed by a sandboxed headless Chromium.

Route: :func:`biofeedback.reports.html.render_print_html` gives the report for the paper
(``@page`` A4 or Letter, page breaks per session) with **no script** and a placeholder per
figure. One Chromium, driven over the DevTools protocol on a pipe (no port), then

1. draws the figures: a page holding only plotly.js turns each figure's JSON into an SVG
   (``Plotly.toImage``); the figures go in as data, never as page markup;
2. prints the report, with the SVGs as ``<img>`` data URLs (an SVG image runs no script and
   loads nothing), with **JavaScript disabled** (``Emulation.setScriptExecutionDisabled``).

Why this route rather than kaleido images in a separate PDF layout: the PDF has exactly the
HTML report's content and look, figures stay vector graphics, Chromium's PDF backend (Skia)
embeds subsets of every font it uses, and it is one browser launch for both steps.

Isolation (a shared capture's text must not run or phone home): a throwaway profile
(``--user-data-dir`` in a temporary folder); every request the page makes is intercepted
(``Fetch.enable`` on ``*``) and failed unless it is the one local document being loaded;
names resolve nowhere (``--host-resolver-rules``) and any other traffic goes to a closed
loopback port (``--proxy-server``); background networking, component updates, sync, metrics,
domain reliability, field trials and first-run tasks are off. ``tests/reports/
test_pdf_sandbox.py`` runs ``report --format pdf`` under ``strace -e trace=connect`` (no
connect outside loopback or AF_UNIX, no DNS query) and prints hostile pages aimed at a local
listener that must receive nothing.

The browser is looked up in ``BIOFEEDBACK_CHROMIUM``, then ``BROWSER_PATH`` (the variable
kaleido/choreographer honour), then ``chromium``, ``chromium-browser``, ``google-chrome``,
``google-chrome-stable`` and ``chrome`` on ``PATH``. Without one, the CLI says so in one line.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from biofeedback.errors import UserError
from biofeedback.reports.html import PAPER_SIZES, render_print_html
from biofeedback.reports.markup import PrintFigure
from biofeedback.reports.model import ReportBundle

__all__ = [
    "BROWSER_NAMES",
    "ChromiumPrinter",
    "PdfError",
    "find_chromium",
    "html_to_pdf",
    "write_pdf",
]

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: Upper bound for one print job, seconds (a 24 h report prints in a few seconds).
PRINT_TIMEOUT_S = 120.0

#: Flags that keep Chromium off the network and out of the user's profile. The proxy is a
#: closed loopback port (discard, 9): anything that slipped past the interception and the
#: resolver rules would fail there, on this machine.
SANDBOX_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--metrics-recording-only",
    "--no-pings",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
    "DnsOverHttps,AsyncDns,NetworkTimeServiceQuerying,InterestFeedContentSuggestions",
    "--disable-field-trial-config",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)

# Draws every figure of the argument (a JSON list of plotly figures with sizes) as SVG.
_DRAW_FIGURES_JS = """
async (figs) => {
  const out = [];
  for (const f of figs) {
    const fig = JSON.parse(f.json);
    out.push(await Plotly.toImage(fig, {format: 'svg', width: f.width, height: f.height}));
  }
  return out;
}
"""


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


class ChromiumPrinter:
    """One sandboxed headless Chromium driven over ``--remote-debugging-pipe``.

    Use as a context manager; :meth:`draw_figures` and :meth:`print_pdf` may be called any
    number of times on the same browser. ``what`` names the output in error messages.
    """

    def __init__(self, browser: str | None = None, *, what: str = "PDF", timeout_s: float = 0):
        exe = browser or find_chromium()
        if exe is None:
            raise PdfError(
                f"{what}: PDF output needs Chromium or Chrome (install the 'chromium' package, "
                "or set BIOFEEDBACK_CHROMIUM to the browser); --format html works without it"
            )
        self.exe, self.what = exe, what
        self.timeout_s = timeout_s or PRINT_TIMEOUT_S
        self._tmp = tempfile.TemporaryDirectory(prefix="biofeedback-pdf-")
        self._id = 0
        self._buf = b""
        self._allowed: str | None = None
        self._events: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._session = ""

    # -- process and protocol ------------------------------------------------------------

    def __enter__(self) -> ChromiumPrinter:
        profile = Path(self._tmp.name) / "profile"
        cmd = [self.exe, *SANDBOX_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        # The browser reads commands on fd 3 and writes replies on fd 4. Copies above 9 are
        # moved there in the child, so whatever fds 3/4 are in this process stays intact.
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w)]
        for fd in (to_r, from_w):
            os.close(fd)

        def child_fds() -> None:
            os.dup2(hi[0], 3)
            os.dup2(hi[1], 4)

        self._stderr = (Path(self._tmp.name) / "stderr.txt").open("wb")
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                close_fds=False,  # our fds are non-inheritable (PEP 446); 3 and 4 are passed
                preexec_fn=child_fds,  # only two dup2 calls run between fork and exec
            )
        except OSError as exc:
            self._cleanup()
            raise PdfError(f"{self.what}: cannot run {self.exe}: {exc.strerror}") from None
        finally:
            for fd in hi:
                os.close(fd)
        self._w, self._r = to_w, from_r
        self._deadline = time.monotonic() + self.timeout_s
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for method, params in (
            ("Page.enable", {}),
            ("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}),
        ):
            self._call(method, params, page=True)
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                self._send("Browser.close", {}, page=False)
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, PdfError):
                proc.kill()
                proc.wait(5)
        self._cleanup()

    def _cleanup(self) -> None:
        for fd in (getattr(self, "_w", None), getattr(self, "_r", None)):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
        self._tmp.cleanup()

    def _fail(self, why: str) -> PdfError:
        err = Path(self._tmp.name) / "stderr.txt"
        lines = err.read_text(errors="replace").strip().splitlines() if err.exists() else []
        tail = f" ({lines[-1]})" if lines else ""
        return PdfError(f"{self.what}: {self.exe} {why}{tail}")

    def _send(self, method: str, params: dict[str, Any], *, page: bool) -> int:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if page:
            msg["sessionId"] = self._session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._w, data) :]
        except OSError:
            raise self._fail("closed the connection") from None
        return self._id

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"did not finish within {self.timeout_s:.0f} s")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise self._fail("exited unexpectedly")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def _on_event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Fetch.requestPaused":
            p = msg["params"]
            if self._allowed is not None and p["request"]["url"] == self._allowed:
                self._send("Fetch.continueRequest", {"requestId": p["requestId"]}, page=True)
            elif p.get("resourceType") == "Document":
                # A navigation away (meta refresh, frame, link): answered here with 204 No
                # Content, which leaves the current document in place (HTML standard,
                # "navigate": a 204 response aborts the navigation); nothing is sent.
                done = {"requestId": p["requestId"], "responseCode": 204}
                self._send("Fetch.fulfillRequest", done, page=True)
            else:  # everything else the page asks for: refused, never sent
                fail = {"requestId": p["requestId"], "errorReason": "BlockedByClient"}
                self._send("Fetch.failRequest", fail, page=True)
        else:
            self._events.append(msg)

    def _call(self, method: str, params: dict[str, Any], *, page: bool = False) -> Any:
        want = self._send(method, params, page=page)
        while True:
            msg = self._read()
            if "id" not in msg:
                self._on_event(msg)
            elif msg["id"] == want:
                if "error" in msg:
                    raise self._fail(f"refused {method}: {msg['error'].get('message')}")
                return msg.get("result", {})

    def _wait_event(self, method: str) -> None:
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method:
                    del self._events[i]
                    return
            msg = self._read()
            if "id" not in msg:
                self._on_event(msg)

    def _load(self, page: Path) -> None:
        """Navigate to the local file ``page``; only that document may be fetched."""
        self._allowed = page.resolve().as_uri()
        self._events.clear()
        res = self._call("Page.navigate", {"url": self._allowed}, page=True)
        if res.get("errorText"):
            raise self._fail(f"could not open the page ({res['errorText']})")
        self._wait_event("Page.loadEventFired")
        self._allowed = None

    # -- the two jobs ----------------------------------------------------------------------

    def draw_figures(self, figures: Sequence[PrintFigure]) -> list[str]:
        """Each figure as an SVG ``data:`` URL, drawn by plotly.js on a page with nothing
        else (JavaScript on, network still blocked)."""
        if not figures:
            return []
        from plotly.offline import get_plotlyjs

        page = Path(self._tmp.name) / "figures.html"
        page.write_text(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><script>{get_plotlyjs()}'
            "</script></head><body></body></html>",
            encoding="utf-8",
        )
        self._call("Emulation.setScriptExecutionDisabled", {"value": False}, page=True)
        self._load(page)
        arg = [{"json": f.json, "width": f.width_px, "height": f.height_px} for f in figures]
        res = self._call(
            "Runtime.evaluate",
            {
                "expression": f"({_DRAW_FIGURES_JS})({json.dumps(arg)})",
                "awaitPromise": True,
                "returnByValue": True,
            },
            page=True,
        )
        if "exceptionDetails" in res:
            raise self._fail(f"could not draw the figures ({res['exceptionDetails'].get('text')})")
        urls = res["result"]["value"]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise self._fail("returned no figure images")
        return urls

    def print_pdf(self, html_path: Path, pdf_path: Path) -> None:
        """Print the local HTML file to PDF (page size from CSS ``@page``), JavaScript off."""
        self._call("Emulation.setScriptExecutionDisabled", {"value": True}, page=True)
        self._load(html_path)
        res = self._call(
            "Page.printToPDF",
            {"preferCSSPageSize": True, "printBackground": True, "displayHeaderFooter": False},
            page=True,
        )
        data = base64.b64decode(res.get("data", ""))
        if not data.startswith(b"%PDF-"):
            raise self._fail("failed to print the report (no PDF came back)")
        pdf_path.write_bytes(data)


def html_to_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    browser: str | None = None,
    images: Callable[[ChromiumPrinter], None] | None = None,
    what: str = "",
) -> None:
    """Print a local HTML file to PDF in a sandboxed Chromium: JavaScript off, no network,
    throwaway profile (page size from CSS ``@page``). ``images(printer)`` runs first on the
    same browser (e.g. to draw figures); ``what`` names the output in error messages."""
    with ChromiumPrinter(browser, what=what or str(pdf_path)) as c:
        if images is not None:
            images(c)
        c.print_pdf(html_path, pdf_path)


def write_pdf(bundle: ReportBundle, path: Path, *, paper: str = "a4") -> list[Path]:
    """Render the print HTML for ``paper`` (``a4``/``letter``) and print it to ``path``."""
    if paper not in PAPER_SIZES:
        raise UserError(f"--paper: expected one of {', '.join(PAPER_SIZES)}, got {paper!r}")
    page = render_print_html(bundle, paper=paper)
    with tempfile.TemporaryDirectory(prefix="biofeedback-report-") as tmp:
        src = Path(tmp) / "report.html"
        out = Path(tmp) / "report.pdf"

        def draw(c: ChromiumPrinter) -> None:
            src.write_text(page.with_images(c.draw_figures(page.figures)), encoding="utf-8")

        html_to_pdf(src, out, images=draw, what=str(path))
        from biofeedback.reports.atomic import write_atomic

        write_atomic(path, out.read_bytes())
    return [path]
