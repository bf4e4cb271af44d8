"""Self-contained HTML report (opens offline) — also the source of the PDF.

One file: CSS inline, plotly.js embedded **once** (``include_plotlyjs=True`` on the first
figure only, ~4.8 MB), every later figure a ``<div>`` plus a small script. No request leaves
the page (checked in tests with a network-blocking headless Chromium).

Content per session: header (date, device, protocol, duration, status, data quality),
verdict in words (from `biofeedback.sessions.compare`), per-phase metrics table, differences against
the baseline with bootstrap 95 % CIs, tachogram (phases shaded, artefacts marked, link gaps
tinted), rolling RMSSD, Poincaré plot, PSD per phase, notes and marks, methods and settings,
references per metric, and the caveat that HRV is a proxy, not a diagnosis. With several
sessions a comparison section comes first.

:func:`render_print_html` renders the variant the PDF is printed from (:class:`PrintPage`):
no script at all, each figure a placeholder for a static SVG image drawn separately from its
plotly JSON (see :mod:`biofeedback.reports.pdf`), fixed width for the paper, page breaks
before each session, ``@page`` size.

Escaping, in one place (:mod:`biofeedback.reports.markup`): every value put into the page
goes through ``esc`` (``_e`` here), which HTML-escapes it unless it is ``Html``, markup
built from escaped parts.
Text from users, captures or protocol files (titles, notes, tags, phase names, device
names, marks) is therefore always text, never markup or script; plotly escapes ``<`` in
the figure JSON itself. ``tests/reports/test_report_injection.py`` opens reports with hostile text
in real Chromium with a dialog listener.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from biofeedback.hrv.catalog import CATALOG, REFERENCES, format_value, metric
from biofeedback.reports.markup import SLOT as _SLOT
from biofeedback.reports.markup import Html as _Html
from biofeedback.reports.markup import PrintFigure, PrintPage
from biofeedback.reports.markup import esc as _e
from biofeedback.reports.model import CAVEAT, TABLE_METRICS, ReportBundle, SessionReport
from biofeedback.wording import count

__all__ = [
    "PAPER_SIZES",
    "PRINT_MAX_POINTS",
    "SCREEN_MAX_POINTS",
    "render_html",
    "render_print_html",
]

#: Point budget per trace on screen (a 1 h session, ~4-5 k beats, is drawn in full) and on
#: paper (min/max decimation above it; see `biofeedback.plots.common.decimate_minmax`).
SCREEN_MAX_POINTS = 6000
PRINT_MAX_POINTS = 1500

#: Paper name → (CSS @page size, printable width in CSS px at 96 dpi with 14 mm margins).
PAPER_SIZES: dict[str, tuple[str, int]] = {
    "a4": ("A4", 688),  # 210 mm − 2 × 14 mm = 182 mm ≈ 688 px
    "letter": ("letter", 710),  # 8.5 in − 2 × 14 mm ≈ 7.40 in ≈ 710 px
}

_CSS = """
:root { --fg:#212121; --muted:#616161; --line:#e0e0e0; --accent:#00897b; --warn:#d84315; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1000px; padding: 16px 20px; font-size: 13px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 8px;
  border-bottom: 2px solid var(--accent); padding-bottom: 2px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.muted { color: var(--muted); } .warn { color: var(--warn); }
table { border-collapse: collapse; margin: 6px 0 10px; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: right;
         vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f5f5; }
table.kv td { text-align: left; } table.kv td:first-child { width: 32%; color: var(--muted); }
.verdict { border-left: 4px solid var(--accent); background: #f1f8f7; padding: 8px 12px;
           margin: 10px 0; }
.verdict.unreliable { border-color: var(--warn); background: #fbe9e7; }
.caveat { border: 1px solid var(--line); padding: 8px 12px; margin: 14px 0; font-size: 12px; }
.figure { margin: 6px 0 12px; break-inside: avoid; page-break-inside: avoid; }
section.session { margin-top: 18px; }
ol.refs li, ul.warnings li { margin-bottom: 2px; }
footer { margin-top: 24px; font-size: 11px; color: var(--muted); }
"""

_PRINT_CSS = """
@page { size: %(size)s; margin: 14mm; }
body { max-width: none; padding: 0; font-size: 10.5px; }
section.session { break-before: page; page-break-before: always; }
section.session.first { break-before: auto; page-break-before: auto; }
h2, h3 { break-after: avoid; page-break-after: avoid; }
table, .verdict, .caveat { break-inside: avoid; page-break-inside: avoid; }
"""


def _fmt(v: float | None, key: str = "", digits: int | None = None) -> str:
    return format_value(key, v, digits=digits)


def _duration(s: float) -> str:
    m, sec = divmod(round(s), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def _when(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC")


class _Figures:
    """Turns plotly figures into HTML, embedding plotly.js only in the first one; in print
    mode, into placeholders, collecting the figures' JSON in ``specs``."""

    def __init__(self, print_mode: bool, width_px: int) -> None:
        self.print_mode = print_mode
        self.width_px = width_px
        self.count = 0
        self.specs: list[PrintFigure] = []
        # On paper a figure is ~690 px wide: 1500 points (min/max kept) lose nothing
        # visible, and Chromium prints thousands of SVG markers slowly (1 h: 5 s → ~2 s).
        self.max_points = PRINT_MAX_POINTS if print_mode else SCREEN_MAX_POINTS

    def __call__(self, fig: Any, div_id: str) -> str:
        import plotly.io as pio

        if self.print_mode:
            fig.update_layout(width=self.width_px)
            height = int(fig.layout.height or 450)  # plotly's default height
            fig.update_layout(height=height)
            self.specs.append(PrintFigure(pio.to_json(fig), self.width_px, height))
            self.count += 1
            return f'<div class="figure">{_SLOT.format(len(self.specs) - 1)}</div>'
        config: dict[str, Any] = {"displaylogo": False, "responsive": True}
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=self.count == 0,
            config=config,
            div_id=div_id,
            default_width="100%",
        )
        self.count += 1
        return f'<div class="figure">{div}</div>'


def _quality(rep: SessionReport) -> _Html:
    info, ov = rep.info, rep.overall
    a = ov.artifacts
    types = ", ".join(f"{k} {v}" for k, v in a.by_type.items() if v) or "none"
    gap_s = sum(b - a_ for a_, b in rep.gaps)
    state = (
        '<span class="warn">not reliable for HRV</span>'
        if not ov.reliable
        else "good enough for HRV"
    )
    return _Html(
        f"{state}; {info.n_beats} beats, artefacts {a.count} ({a.rate * 100:.1f} %: {_e(types)}), "
        f"irregular successive RR {a.irregular_rate * 100:.1f} %, "
        f"{count(len(rep.gaps), 'link gap')} ({gap_s:.0f} s), "
        f"{count(info.n_rejected, 'rejected packet')}"
    )


def _header(rep: SessionReport) -> str:
    info = rep.info
    dev = " ".join(x for x in (info.device_name, f"({info.device_model})" if info.device_model
                               else None) if x) or "unknown"  # fmt: skip
    rows = [
        ("Date", _when(rep.started_at)),
        ("Device", dev + (f", firmware {info.device_firmware}" if info.device_firmware else "")),
        ("Protocol", info.protocol),
        ("Duration", _duration(info.duration_s)),
        ("Status", f"{info.status} ({info.source})"),
        ("Data quality", _quality(rep)),
    ]
    out = ['<table class="kv">']
    for k, v in rows:
        out.append(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>")
    if info.tags:
        out.append(f"<tr><td>Tags</td><td>{_e(', '.join(info.tags))}</td></tr>")
    out.append("</table>")
    warns = [w for w in rep.overall.warnings if w.startswith("unreliable")]
    if warns:
        out.append('<ul class="warnings warn">' + "".join(f"<li>{_e(w)}</li>" for w in warns))
        out.append("</ul>")
    return "\n".join(out)


def _phase_table(rep: SessionReport) -> str:
    cols: list[tuple[str | _Html, Any, int]] = [("whole session", rep.overall, rep.overall.n_beats)]
    cols += [
        (_Html(f"{_e(p.name)}<br><span class='muted'>{_e(p.kind)}</span>"), p, p.n_beats)
        for p in rep.phases
    ]
    head = "".join(f"<th>{_e(c[0])}</th>" for c in cols)
    out = [f"<table class='metrics'><thead><tr><th>metric</th>{head}</tr></thead><tbody>"]
    out.append("<tr><td>beats</td>" + "".join(f"<td>{n}</td>" for _, _, n in cols) + "</tr>")
    for key in TABLE_METRICS:
        m = metric(key)
        cells = "".join(f"<td>{_fmt(res.metrics.get(key), key)}</td>" for _, res, _ in cols)
        u = f" <span class='muted'>({_e(m.unit)})</span>" if m.unit else ""
        out.append(f"<tr><td title='{_e(m.meaning)}'>{_e(m.label)}{u}</td>{cells}</tr>")
    out.append(
        "<tr><td>reliable</td>"
        + "".join(
            f"<td>{'yes' if res.reliable else '<b class=warn>no</b>'}</td>" for _, res, _ in cols
        )
        + "</tr>"
        + (
            "<tr><td>quality grade</td>"
            + "".join(f"<td>{_e(res.grade or '–')}</td>" for _, res, _ in cols)
            + "</tr>"
            if any(res.grade for _, res, _ in cols)
            else ""
        )
        + "</tbody></table>"
    )
    return "\n".join(out)


def _differences(rep: SessionReport) -> str:
    diffs = rep.comparison.differences
    if not diffs:
        return "<p class='muted'>No baseline to compare with (or no phase of another kind).</p>"
    out = [
        "<table><thead><tr><th>contrast</th><th>metric</th><th>baseline</th><th>other</th>"
        "<th>difference</th><th>95 % CI</th><th>windows</th><th>reading</th></tr></thead><tbody>"
    ]
    for d in diffs:
        ci = "–" if d.ci_low is None or d.ci_high is None else (
            f"{_fmt(d.ci_low, d.metric, 2)} to {_fmt(d.ci_high, d.metric, 2)}")  # fmt: skip
        reading = "within noise" if d.within_noise else "beyond noise"
        out.append(
            f"<tr><td>{_e(d.contrast)}</td><td>{_e(metric(d.metric).header)}</td>"
            f"<td>{_fmt(d.a_value, d.metric, 2)}</td><td>{_fmt(d.b_value, d.metric, 2)}</td>"
            f"<td>{_fmt(d.estimate, d.metric, 2)}</td><td>{ci}</td>"
            f"<td>{d.n_windows_a} / {d.n_windows_b}</td><td>{reading}</td></tr>"
        )
    out.append("</tbody></table>")
    out.append(
        "<p class='muted'>Differences are other − baseline. 95 % CIs: percentile bootstrap over "
        "30-s windows; “within noise” when the CI contains 0 or the change "
        "is below your smallest worthwhile change.</p>"
    )
    return "\n".join(out)


def _figures(rep: SessionReport, fig: _Figures) -> str:
    from biofeedback.plots import session as plots
    from biofeedback.plots.style import REPORT_STYLE

    v, sid, n = rep.view, rep.info.id, fig.max_points
    out = [
        fig(plots.tachogram(v, REPORT_STYLE, max_points=n), f"tachogram-{sid}"),
        fig(plots.rolling_rmssd(v, REPORT_STYLE, max_points=n), f"rmssd-{sid}"),
        # SD1/SD2 from ``metrics`` (not ``withheld_metrics``): an unreliable record prints none.
        fig(plots.poincare(v, REPORT_STYLE, max_points=n), f"poincare-{sid}"),
    ]
    psd = plots.psd(v, REPORT_STYLE)
    if psd is not None:
        out.append(fig(psd, f"psd-{sid}"))
    else:
        out.append("<p class='muted'>No spectrum: less than 60 s of gap-free data.</p>")
    return "\n".join(out)


def _notes(rep: SessionReport) -> str:
    out: list[str] = []
    if rep.info.notes:
        out.append(f"<p>{_e(rep.info.notes)}</p>")
    m = rep.markers
    rows = m[m["kind"].isin(["mark", "note"])]
    if len(rows):
        out.append("<table><thead><tr><th>time</th><th>kind</th><th>phase</th><th>text</th>"
                   "</tr></thead><tbody>")  # fmt: skip
        for t, k, ph, tx in zip(rows["t_s"], rows["kind"], rows["phase"], rows["text"],
                                strict=True):  # fmt: skip
            out.append(
                f"<tr><td>{t:.0f} s</td><td>{_e(k)}</td><td>{_e(ph or '')}</td>"
                f"<td style='text-align:left'>{_e(tx)}</td></tr>"
            )
        out.append("</tbody></table>")
    if rep.gaps:
        gaps = ", ".join(f"{a:.0f}–{b:.0f} s" for a, b in rep.gaps)
        out.append(f"<p class='muted'>Link gaps (no data, never interpolated): {_e(gaps)}.</p>")
    return "\n".join(out) or "<p class='muted'>No notes.</p>"


def _methods(rep: SessionReport) -> str:
    rows = "".join(
        f"<tr><td>{_e(k.replace('_', ' '))}</td><td>{_e(v)}</td></tr>"
        for k, v in rep.settings.describe().items()
    )
    return f"<table class='kv'>{rows}</table>"


def _references() -> str:
    rows = "".join(
        f"<tr><td>{_e(m.header)}</td>"
        f"<td style='text-align:left'>{_e(m.meaning)}</td>"
        f"<td style='text-align:left'>{_e(m.reference)}</td></tr>"
        for m in CATALOG.values()
    )
    refs = "".join(f"<li>{_e(v)}</li>" for v in REFERENCES.values())
    return (
        "<table><thead><tr><th>metric</th><th style='text-align:left'>reflects</th>"
        f"<th style='text-align:left'>reference</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<ol class='refs'>{refs}</ol>"
    )


def _session_section(rep: SessionReport, fig: _Figures, first: bool, multi: bool) -> str:
    cls = "session first" if first else "session"
    title = _e(rep.title)
    vcls = "verdict" if rep.comparison.quality_ok and rep.overall.reliable else "verdict unreliable"
    verdict = "".join(f"<p>{_e(v)}</p>" for v in rep.comparison.verdict) or "<p>–</p>"
    return "\n".join(
        [
            f'<section class="{cls}" id="session-{rep.info.id}">',
            f"<h2>{title} <span class='muted'>#{rep.info.id}</span></h2>" if multi else "",
            _header(rep),
            f'<div class="{vcls}"><b>Verdict.</b> {verdict}</div>',
            "<h3>Metrics per phase</h3>",
            _phase_table(rep),
            "<h3>Differences from the baseline</h3>",
            _differences(rep),
            "<h3>Figures</h3>",
            _figures(rep, fig),
            "<h3>Notes</h3>",
            _notes(rep),
            "</section>",
        ]
    )


def _comparison_section(bundle: ReportBundle, fig: _Figures) -> str:
    from biofeedback.plots.compare import SessionLine, comparison_figure
    from biofeedback.plots.style import REPORT_STYLE

    reps = bundle.sessions
    kinds = ["baseline", "practice", "recovery"]
    names = [f"#{r.info.id} {r.started_at:%Y-%m-%d}" for r in reps]
    rows: list[str] = []
    lines: list[SessionLine] = []
    for r, name in zip(reps, names, strict=True):
        by_kind = {p.kind: p.metrics for p in r.comparison.by_kind}
        vals = [by_kind.get(k, {}).get("RMSSD_ms") for k in kinds]
        lines.append(SessionLine(name, tuple(zip(kinds, vals, strict=True))))
        hr = [by_kind.get(k, {}).get("MeanHR_bpm") for k in kinds]
        rows.append(
            f"<tr><td>{_e(name)} {_e(r.title)}</td>"
            + "".join(f"<td>{_fmt(v, 'RMSSD_ms')}</td>" for v in vals)
            + "".join(f"<td>{_fmt(v, 'MeanHR_bpm')}</td>" for v in hr)
            + f"<td>{'yes' if r.overall.reliable else 'no'}</td></tr>"
        )
    head = "".join(f"<th>RMSSD {k}</th>" for k in kinds) + "".join(
        f"<th>HR {k}</th>" for k in kinds
    )
    summary = "".join(f"<p>{_e(s)}</p>" for s in bundle.summary)
    return "\n".join(
        [
            '<section class="session first" id="comparison">',
            "<h2>Comparison across sessions</h2>",
            f'<div class="verdict">{summary or "<p>–</p>"}</div>',
            f"<table><thead><tr><th>session</th>{head}<th>reliable</th></tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            "<p class='muted'>RMSSD in ms, HR in bpm; each phase kind pools its phases.</p>",
            fig(comparison_figure(lines, "RMSSD_ms", REPORT_STYLE), "compare-rmssd"),
            "</section>",
        ]
    )


def render_html(bundle: ReportBundle) -> str:
    """The complete report as one HTML document (string), interactive figures.

    Parameters
    ----------
    bundle
        What to report (`biofeedback.reports.model.build_report`).
    """
    return _render(bundle, _Figures(False, PAPER_SIZES["a4"][1]), "")


def render_print_html(bundle: ReportBundle, *, paper: str = "a4") -> PrintPage:
    """The PDF's source: the report for ``paper`` (``a4``/``letter``), no script, figures
    as placeholders for :meth:`PrintPage.with_images`."""
    size, width = PAPER_SIZES[paper]
    fig = _Figures(True, width)
    page = _render(bundle, fig, _PRINT_CSS % {"size": size})
    return PrintPage(page, tuple(fig.specs))


def _render(bundle: ReportBundle, fig: _Figures, print_css: str) -> str:
    reps: Sequence[SessionReport] = bundle.sessions
    multi = len(reps) > 1
    title = f"HRV comparison of {len(reps)} sessions" if multi else f"HRV report: {reps[0].title}"
    css = _CSS + print_css
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{_e(reps[0].generator)}">',
        f"<title>{_e(title)}</title><style>{css}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>Generated {_when(bundle.generated_at)} by {_e(reps[0].generator)}.</p>",
        f'<div class="caveat"><b>Please note.</b> {_e(CAVEAT)}</div>',
    ]
    if multi:
        parts.append(_comparison_section(bundle, fig))
    for i, rep in enumerate(reps):
        parts.append(_session_section(rep, fig, first=(i == 0 and not multi), multi=multi))
    parts += [
        '<section class="methods">',
        "<h2>Methods and settings</h2>",
        _methods(reps[0]),
        "<h2>Metrics and references</h2>",
        _references(),
        f'<div class="caveat">{_e(CAVEAT)}</div>',
        "</section>",
        f"<footer>{_e(reps[0].generator)} · self-contained report, no network needed.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
