"""Live page layout: setup while idle, practice mode while recording.

Practice mode (``.bf-live.running``, set by the poll): the setup card is hidden and a thin
bar keeps only Mark, Stop, sound, theme and full screen; the phase and its prompt come
first, then one large figure (RMSSD against this session's baseline and the personal normal
range) beside a large breathing pacer for paced phases. Readouts, quality and the
tachogram follow below the fold of a phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dash import dcc, html

from biofeedback.plots import live as live_plots
from dashboards.ui import alert

if TYPE_CHECKING:
    from biofeedback.sessions.live import LiveWorker

#: Poll period of the live display (ms) and of a running strap scan.
TICK_MS = 500
SCAN_POLL_MS = 500
#: No toolbar: it covers titles on a phone and is not needed to practise.
GRAPH_CONFIG: Any = {"displayModeBar": False, "displaylogo": False}


def _aria(**attrs: str) -> dict[str, Any]:
    """``aria-*`` attributes (Dash passes them through; its type stubs do not list them)."""
    return {f"aria-{k}": v for k, v in attrs.items()}


def _tile(label: str, vid: str, sub: str) -> html.Div:
    return html.Div(
        [
            html.Div(label, className="bf-label"),
            html.Div("—", id=vid, className="bf-value"),
            html.Div("", id=sub, className="bf-sub"),
        ],
        className="bf-tile",
    )


def _setup(live: LiveWorker, protocols: list[tuple[str, str]]) -> html.Div:
    st = live.state()
    sources = [{"label": s.label, "value": s.value} for s in live.sources()]
    proto_opts = [{"label": f"{title} ({name})", "value": name} for name, title in protocols]
    default_proto = st.protocol or (
        "self-compassion-break"
        if any(n == "self-compassion-break" for n, _ in protocols)
        else (protocols[0][0] if protocols else None)
    )
    return html.Div(
        [
            html.Label("Source", htmlFor="live-source", className="bf-label"),
            dcc.Dropdown(
                id="live-source",
                options=sources,
                value=sources[0]["value"] if sources else None,
                placeholder="recording (demo) or scanned strap",
                className="bf-dd",
                clearable=False,
            ),
            html.Button(
                "Scan for straps",
                id="live-scan",
                title="Look for heart-rate straps nearby (about 5 s)",
            ),
            html.Label("or strap name/address", htmlFor="live-strap", className="bf-sr-only"),
            dcc.Input(
                id="live-strap",
                type="text",
                placeholder="or strap name/address",
                style={"width": "180px"},
            ),
            html.Label("speed ×", htmlFor="live-speed"),
            dcc.Input(
                id="live-speed",
                type="number",
                # what the current run uses (a demo started at 10× says 10), and no min: the
                # browser would turn -3 into "empty" and the run into 1×
                value=st.speed if st.run_id else 1,
                step="any",
                style={"width": "70px"},
            ),
            html.Label("Practice", htmlFor="live-protocol", className="bf-label"),
            dcc.Dropdown(
                id="live-protocol",
                options=proto_opts,
                value=default_proto,
                clearable=False,
                className="bf-dd",
            ),
            html.Label("pacer breaths/min", htmlFor="live-bpm"),
            dcc.Input(
                id="live-bpm",
                type="number",
                placeholder="protocol's",
                step="any",
                style={"width": "90px"},
            ),
            html.Button("Start", id="live-start", className="primary", disabled=st.running),
        ],
        className="bf-controls bf-card bf-setup",
    )


def _bar(running: bool) -> html.Div:
    return html.Div(
        [
            html.Label("mark label", htmlFor="live-mark-text", className="bf-sr-only"),
            dcc.Input(
                id="live-mark-text",
                type="text",
                placeholder="mark label (Enter marks)",
                debounce=False,
            ),
            html.Button("Mark", id="live-mark", disabled=not running),
            html.Button("Stop", id="live-stop", className="danger", disabled=not running),
            html.Button("Sound: off", id="live-sound", **_aria(pressed="false")),
            html.Button("Full screen", id="live-fullscreen"),
        ],
        className="bf-bar",
        role="toolbar",
        **_aria(label="recording controls"),
    )


def _focus() -> list[Any]:
    big = html.Div(
        [
            html.Div(
                [
                    html.Span("—", id="live-rmssd", className="bf-value"),
                    html.Span("", id="live-rmssd-sub", className="bf-sub"),
                ],
                className="bf-big",
            ),
            html.Div("", id="live-vs", className="bf-muted", style={"textAlign": "center"}),
            dcc.Graph(
                id="live-rmssd-graph",
                figure=live_plots.rmssd_figure(()),
                config=GRAPH_CONFIG,
            ),
        ],
        className="bf-card bf-main",
    )
    pacer = html.Div(
        [
            html.Div(id="pacer-circle", className="bf-pacer"),
            html.Div("", id="pacer-label", className="bf-pacer-label", role="status"),
            html.Div("", id="pacer-rate", className="bf-muted"),
        ],
        id="pacer-box",
        className="bf-pacer-box bf-card",
        style={"display": "none"},
    )
    return [
        html.Div(
            [
                html.Div("—", id="live-phase", className="bf-phase"),
                html.Div("", id="live-prompt", className="bf-prompt", **_aria(live="polite")),
                html.Div("", id="live-left", className="bf-muted"),
            ],
            className="bf-focus",
        ),
        html.Div([big, pacer], className="bf-row"),
    ]


def layout(
    live: LiveWorker | None,
    protocols: list[tuple[str, str]],
    normal_ms: Sequence[float] | None = None,
) -> Any:
    if live is None:
        return html.Div(
            [
                html.H1("Live"),
                alert(
                    "Live recording is not available in this server (it was started without a "
                    "recording worker). Use `biofeedback demo` or `biofeedback dashboard`.",
                    "info",
                    id="live-unavailable",
                ),
            ]
        )
    running = live.state().running
    return html.Div(
        [
            html.H1("Live", className="bf-sr-only"),
            _setup(live, protocols),
            _bar(running),
            html.Div(id="live-scan-msg"),
            html.Div(id="live-msg"),
            html.Div(id="live-after"),
            *_focus(),
            html.Div(
                [
                    _tile("Heart rate", "live-hr", "live-hr-sub"),
                    _tile("Coherence", "live-coh", "live-coh-sub"),
                    _tile("Breathing rate", "live-br", "live-br-sub"),
                    _tile("Stress index", "live-si", "live-si-sub"),
                ],
                className="bf-row",
                style={"margin": "12px 0"},
            ),
            html.Div(id="live-quality", className="bf-quality"),
            html.Div(
                dcc.Graph(
                    id="live-tacho", figure=live_plots.tachogram_figure(()), config=GRAPH_CONFIG
                ),
                className="bf-card",
            ),
            dcc.Interval(id="live-tick", interval=TICK_MS),
            dcc.Interval(id="pacer-tick", interval=100, disabled=True),
            dcc.Interval(id="live-scan-poll", interval=SCAN_POLL_MS, disabled=True),
            dcc.Store(id="live-cursor"),
            dcc.Store(id="live-normal", data=list(normal_ms) if normal_ms else None),
            dcc.Store(id="pacer-cfg"),
            dcc.Store(id="live-chime"),
        ],
        id="live-root",
        className="bf-live running" if running else "bf-live",
    )
