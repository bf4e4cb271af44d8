"""Live page: start a strap or a demo recording, watch HR/RMSSD/phase, mark, stop.

The browser polls once a second (``dcc.Interval``); each poll asks the worker for the beats
after the last one it has (a cursor in a ``dcc.Store``) and appends them with
``extendData``: whole series are never resent. When the worker's run changes (a new
recording, or a fresh tab) the charts are rebuilt once from the worker's ring buffer.

"Scan for straps" asks the worker to scan on its own event-loop thread and returns at once;
a second, short ``dcc.Interval`` (enabled only while a scan runs) polls the outcome and fills
the source dropdown with ``strap:<address>`` entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dash import Dash, Input, Output, State, dcc, html, no_update

from biofeedback.plots import live as live_plots
from biofeedback.sessions.live_state import RunState
from dashboards.pages.live_layout import layout
from dashboards.pages.summary import session_card
from dashboards.ui import alert, fmt_duration

__all__ = ["layout", "live_tick", "register", "start"]

if TYPE_CHECKING:
    from biofeedback.sessions.live import LiveState, LiveWorker
    from dashboards.data import DashboardData

#: Beats kept on the live charts (~4 min at 75 bpm).
LIVE_POINTS = 300

OUTPUTS: tuple[tuple[str, str], ...] = (
    ("live-root", "className"),
    ("live-hr", "children"),
    ("live-hr-sub", "children"),
    ("live-rmssd", "children"),
    ("live-rmssd-sub", "children"),
    ("live-vs", "children"),
    ("live-si", "children"),
    ("live-si-sub", "children"),
    ("live-coh", "children"),
    ("live-coh-sub", "children"),
    ("live-br", "children"),
    ("live-br-sub", "children"),
    ("live-phase", "children"),
    ("live-prompt", "children"),
    ("live-left", "children"),
    ("live-quality", "children"),
    ("live-tacho", "figure"),
    ("live-tacho", "extendData"),
    ("live-rmssd-graph", "figure"),
    ("live-rmssd-graph", "extendData"),
    ("live-cursor", "data"),
    ("pacer-cfg", "data"),
    ("pacer-box", "style"),
    ("pacer-tick", "disabled"),
    ("pacer-rate", "children"),
    ("live-start", "disabled"),
    ("live-mark", "disabled"),
    ("live-stop", "disabled"),
    ("live-after", "children"),
)


#: Seconds without a commit (while rows wait) before the page says the store is locked; the
#: writer commits every 0.5 s and waits up to 5 s for a lock.
STORE_STALL_S = 8.0


def _badge(text: str, level: str, bid: str | None = None) -> html.Span:
    return html.Span(text, className=f"bf-badge {level}", id=bid)


def quality_badges(st: LiveState) -> list[Any]:
    """Signal-quality strip: link, contact, rejected packets, staleness, run state.

    Only a run that holds its source shows link and contact as live (green/red); after the
    end they are greyed, so an ended session never looks connected.
    """
    out: list[Any] = []
    if st.run_id == 0:
        return [_badge("no recording", "", "q-link")]
    if st.running:
        out.extend(_link_badges(st))
    rate = st.artefacts / st.beats if st.beats else 0.0
    level = ("ok" if rate <= 0.05 else "bad") if st.running else ""
    out.append(_badge(f"artefacts: {st.artefacts} ({rate:.1%})", level, "q-artefacts"))
    if st.rejected:
        out.append(_badge(f"rejected packets: {st.rejected}", "warn", "q-rejected"))
    if st.running and st.seconds_since_data is not None and st.seconds_since_data > 5:
        out.append(_badge(f"no data for {st.seconds_since_data:.0f} s", "bad", "q-stale"))
    if st.seconds_since_save is not None and st.seconds_since_save > STORE_STALL_S:
        out.append(
            _badge(
                f"store locked by another program: {st.pending_rows} rows kept in memory, retrying",
                "warn",
                "q-store",
            )
        )
    out.append(_badge(state_label(st), STATE_BADGE[st.state][1], "q-state"))
    out.append(
        html.Span(
            f"{st.source_label} · {st.protocol} · t = {fmt_duration(st.t_s)}", className="bf-muted"
        )
    )
    return out


def _link_badges(st: LiveState) -> list[Any]:
    link = st.link
    out: list[Any] = []
    if link == "connected":
        out.append(_badge("link: connected", "ok", "q-link"))
    elif link in ("disconnected", "reconnecting"):
        out.append(_badge("link lost — reconnecting…", "warn", "q-link"))
    elif link == "gave_up":
        out.append(_badge("strap vanished — gave up reconnecting", "bad", "q-link"))
    elif link == "ended":
        out.append(_badge("source ended", "", "q-link"))
    else:
        out.append(_badge(f"link: {link}", "warn", "q-link"))
    if st.contact is True:
        out.append(_badge("skin contact", "ok", "q-contact"))
    elif st.contact is False:
        out.append(_badge("NO skin contact — moisten the strap", "bad", "q-contact"))
    else:
        out.append(_badge("contact: not reported", "", "q-contact"))
    return out


#: Badge text and level of each run state (ended/failed are greyed: nothing is live).
STATE_BADGE: dict[RunState, tuple[str, str]] = {
    RunState.IDLE: ("no recording", ""),
    RunState.CONNECTING: ("connecting…", "warn"),
    RunState.RECORDING: ("recording", "ok"),
    RunState.ENDING: ("ending — saving…", "warn"),
    RunState.ENDED: ("complete", "done"),
    RunState.FAILED: ("failed", "bad"),
}


def state_label(st: LiveState) -> str:
    """``recording``, ``complete``, ``stopped early``, ``failed``… for the run's state."""
    if st.state is RunState.ENDED and st.status == "stopped_early":
        return "stopped early"
    return STATE_BADGE[st.state][0]


def outcome_message(st: LiveState, data: DashboardData | None = None) -> list[Any]:
    """The one message of the run's outcome (none while it runs); an ended run's message
    carries the end-of-session card (the ``compare`` verdict, links, exports)."""
    if st.state is RunState.FAILED and st.outcome:
        return [alert(st.outcome, "bad", id="live-error")]
    if st.state is not RunState.ENDED or st.session_id is None:
        return []
    sid = st.session_id
    head = html.Span(st.outcome or f"Session #{sid} saved.", id="live-outcome")
    if data is None:
        return [
            alert(
                [
                    head,
                    " ",
                    dcc.Link(
                        "See the comparison of its phases →",
                        href=f"/compare?ids={sid}",
                        id="live-compare-link",
                    ),
                ],
                "info",
            )
        ]
    return [
        alert([head], "info"),
        session_card(
            data, sid, heading=f"Session #{sid}: how it went", link_id="live-compare-link"
        ),
    ]


def live_tick(
    live: LiveWorker | None,
    cursor: dict[str, Any] | None,
    normal_ms: Sequence[float] | None = None,
    data: DashboardData | None = None,
) -> dict[str, Any]:
    """Everything one poll updates, keyed ``"component.prop"`` (see `OUTPUTS`).

    ``normal_ms`` is the personal normal range of resting RMSSD (low, high) drawn as a band.
    """
    out: dict[str, Any] = {f"{c}.{p}": no_update for c, p in OUTPUTS}
    if live is None:
        return out
    cur = cursor or {}
    try:
        st = live.state(since_seq=int(cur.get("seq", 0)), run_id=cur.get("run"))
    except Exception as exc:  # never an error overlay for a display poll
        out["live-quality.children"] = [_badge(f"live state unavailable: {exc}", "bad")]
        return out
    _charts(out, live, st, cur, normal_ms)
    _readouts(out, st, normal_ms)
    out["live-root.className"] = "bf-live running" if st.running else "bf-live"
    out["live-quality.children"] = quality_badges(st)
    _pacer(out, st)
    out["live-start.disabled"] = st.running
    out["live-mark.disabled"] = not st.running
    out["live-stop.disabled"] = not st.running
    after = [st.run_id, str(st.state), st.session_id]
    if after != cur.get("after"):  # built once per outcome, not at every poll
        out["live-after.children"] = outcome_message(st, data)
    out["live-cursor.data"] = {**out["live-cursor.data"], "after": after}
    return out


def _charts(
    out: dict[str, Any],
    live: LiveWorker,
    st: LiveState,
    cur: dict[str, Any],
    normal_ms: Sequence[float] | None,
) -> None:
    """Rebuild the charts when what they frame changed (a new run, a phase, a mark, the
    baseline, the end); otherwise append the new beats with ``extendData``."""
    base = None if st.baseline_rmssd_ms is None else round(st.baseline_rmssd_ms, 1)
    # an empty chart has no trace to extend: it is rebuilt when its first values arrive
    had = cur.get("run") == st.run_id and bool((cur.get("frame") or [0] * 7)[6])
    drawn = [st.beats > 0, st.rmssd60_ms is not None or had]
    frame = [st.run_id, len(st.phases), len(st.mark_times_s), base, st.running, *drawn]
    if frame != cur.get("frame") or st.run_id != cur.get("run"):
        full = st if st.run_id != cur.get("run") else live.state(0, None)
        beats = full.new_beats[-LIVE_POINTS:]
        norm = (float(normal_ms[0]), float(normal_ms[1])) if normal_ms else None
        # the running phase is shaded to its planned end (the chart is rebuilt only when
        # its frame changes, so "now" would freeze the shading at the rebuild)
        planned_end = full.t_s + (full.phase_left_s or 0.0 if full.running else 0.0)
        out["live-tacho.figure"] = live_plots.tachogram_figure(
            beats, full.phases, full.mark_times_s, now_s=planned_end
        )
        out["live-rmssd-graph.figure"] = live_plots.rmssd_figure(
            beats,
            full.phases,
            full.mark_times_s,
            baseline_ms=full.baseline_rmssd_ms,
            normal_ms=norm,
            now_s=planned_end,
        )
        pts = live_plots.live_points(beats)
        seq = full.last_seq
    else:
        pts = live_plots.live_points(st.new_beats, cur.get("t"), cur.get("seg"))
        if pts.x or pts.art_x:
            tacho, rmssd = live_plots.extend_payload(pts, LIVE_POINTS)
            out["live-tacho.extendData"] = tacho
            out["live-rmssd-graph.extendData"] = rmssd
        seq = st.last_seq
    t_last = pts.last_t_s if pts.last_t_s is not None else cur.get("t")
    seg_last = pts.last_segment if pts.last_segment is not None else cur.get("seg")
    out["live-cursor.data"] = {
        "run": st.run_id,
        "seq": seq,
        "t": t_last,
        "seg": seg_last,
        "frame": frame,
    }


def _readouts(out: dict[str, Any], st: LiveState, normal_ms: Sequence[float] | None) -> None:
    out["live-hr.children"] = "—" if st.hr_bpm is None else f"{st.hr_bpm:.0f}"
    out["live-hr-sub.children"] = "bpm (strap)"
    out["live-rmssd.children"] = "—" if st.rmssd60_ms is None else f"{st.rmssd60_ms:.0f}"
    out["live-rmssd-sub.children"] = (
        f"ms RMSSD · warming up {st.rmssd_warm_s:.0f} of 60 s"
        if st.rmssd_warming_up and st.running
        else "ms RMSSD · last 60 s"
    )
    out["live-vs.children"] = vs_text(st, normal_ms)
    out["live-si.children"] = "—" if st.stress_index is None else f"{st.stress_index:.1f}"
    out["live-si-sub.children"] = (
        "√Baevsky SI, last 2 min (normal ≈ 7–12)"
        if st.stress_index is not None
        else "needs 30 beats"
    )
    covered = st.spectral_covered_s
    window = f"{covered:.0f} of {st.spectral_window_s:.0f} s"
    if st.coherence is None:
        out["live-coh.children"] = "—"
        out["live-coh-sub.children"] = (
            f"warming up: {min(covered, 120.0):.0f} of 120 s needed" if st.running else ""
        )
    else:
        out["live-coh.children"] = f"{st.coherence:.1f}"
        out["live-coh-sub.children"] = f"peak power ratio · last {window}"
    if st.breaths_per_min is None:
        out["live-br.children"] = "—"
        out["live-br-sub.children"] = out["live-coh-sub.children"]
    else:
        out["live-br.children"] = f"{st.breaths_per_min:.1f}"
        out["live-br-sub.children"] = f"breaths/min from HRV · last {window}"
    _phase_texts(out, st)


def vs_text(st: LiveState, normal_ms: Sequence[float] | None) -> str:
    """``+6 ms vs this session's baseline (38 ms) · your normal range 28–45 ms``."""
    parts: list[str] = []
    if st.baseline_rmssd_ms is not None and st.rmssd60_ms is not None:
        d = st.rmssd60_ms - st.baseline_rmssd_ms
        parts.append(f"{d:+.0f} ms vs this session's baseline ({st.baseline_rmssd_ms:.0f} ms)")
    elif st.running and st.phase_kind == "baseline":
        parts.append("measuring this session's baseline…")
    if normal_ms:
        parts.append(f"your normal range {normal_ms[0]:.0f}–{normal_ms[1]:.0f} ms")
    return " · ".join(parts)


def _phase_texts(out: dict[str, Any], st: LiveState) -> None:
    if st.phase is not None and st.running:
        n = f" ({(st.phase_index or 0) + 1}/{st.n_phases})" if st.n_phases else ""
        out["live-phase.children"] = f"{st.phase}{n}"
        out["live-left.children"] = f"{fmt_duration(st.phase_left_s)} left in this phase" + (
            f" · {fmt_duration(st.protocol_left_s)} in the session"
            if st.protocol_left_s is not None
            else ""
        )
    elif st.running:
        out["live-phase.children"] = "free session" if st.n_phases == 0 else "starting…"
        out["live-left.children"] = f"t = {fmt_duration(st.t_s)}"
    elif st.run_id:
        # an ended run never shows a countdown as if it were still going
        out["live-phase.children"] = state_label(st)
        out["live-left.children"] = f"session length {fmt_duration(st.t_s)}"
    else:
        out["live-phase.children"] = "Ready when you are"
        out["live-left.children"] = "pick a recording or a strap and a practice, then Start"
    out["live-prompt.children"] = (st.prompt or "") if st.running else ""


def _pacer(out: dict[str, Any], st: LiveState) -> None:
    if st.pacer_bpm and st.running and st.pacer_phase_t0_s is not None:
        out["pacer-cfg.data"] = {
            "period_s": 60.0 / st.pacer_bpm,
            "inhale_ratio": st.pacer_inhale_ratio or 0.4,
            "offset_s": st.t_s - st.pacer_phase_t0_s,
            "speed": st.speed if st.speed > 0 else 1.0,
        }
        out["pacer-box.style"] = {"display": "flex"}
        out["pacer-tick.disabled"] = False
        out["pacer-rate.children"] = f"{st.pacer_bpm:g} breaths/min"
    else:
        out["pacer-cfg.data"] = None
        out["pacer-box.style"] = {"display": "none"}
        out["pacer-tick.disabled"] = True
        out["pacer-rate.children"] = ""


def start(
    live: LiveWorker,
    source: str | None,
    strap: str | None,
    speed: Any,
    protocol: str | None,
    breaths_per_min: Any = None,
) -> Any:
    """Start button: returns the message to show (a refusal says why and starts nothing).

    A successful start clears the previous run's messages: its only message is a
    screen-reader announcement; the run's state strip says the rest.
    """
    src = f"strap:{strap.strip()}" if strap and strap.strip() else source
    if not src:
        return alert("Pick a recording or type a strap name first.", "info")
    if not protocol:
        return alert("Pick a protocol first.", "info")
    sp = _number(speed, 1.0)
    if sp is None:
        return alert(
            f"Speed must be a number (1 real time, 0 as fast as possible), got {speed!r}.",
            "bad",
            id="live-refused",
        )
    bpm = _number(breaths_per_min, None)
    try:
        live.start(src, protocol, speed=sp, breaths_per_min=bpm)
    except Exception as exc:
        return alert(str(exc), "bad", id="live-refused")
    return html.Span(
        f"Recording started ({protocol}).", id="live-started", className="bf-sr-only", role="status"
    )


def _number(value: Any, default: float | None) -> float | None:
    """``value`` as a float, ``default`` when empty, ``None`` when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def scan_click(live: LiveWorker) -> tuple[Any, bool]:
    """Scan button: start a scan on the worker; returns (message, poll-disabled)."""
    try:
        live.scan()
    except Exception as exc:  # never an error overlay
        return alert(f"Cannot scan: {exc}", "bad", id="live-scan-error"), True
    st = live.scan_state()
    return (
        alert(f"Scanning for heart-rate straps ({st.timeout_s:g} s)…", "info", id="live-scanning"),
        False,
    )


def scan_poll(live: LiveWorker, current: str | None) -> tuple[Any, Any, Any, bool]:
    """While a scan runs: nothing; when it ends, (options, value, message, poll-disabled)."""
    st = live.scan_state()
    if st.running:
        return no_update, no_update, no_update, False
    options = [{"label": s.label, "value": s.value} for s in live.sources()]
    if st.error is not None:
        return options, no_update, alert(st.error, "warn", id="live-scan-error"), True
    if not st.straps:
        msg = alert(
            f"No heart-rate strap found in {st.timeout_s:g} s: is it worn, moistened, and not "
            "connected to a phone app? Then scan again.",
            "info",
            id="live-scan-none",
        )
        return options, no_update, msg, True
    n = len(st.straps)
    msg = alert(
        f"Found {n} strap{'s' if n > 1 else ''}; pick one in the list, then press Start.",
        "info",
        id="live-scan-found",
    )
    value = current if any(o.value == current for o in st.straps) else st.straps[0].value
    return options, value, msg, True


PACER_JS = """
function(n, cfg) {
    if (!cfg || !cfg.period_s) { window._bfPacer = null; return [{}, ""]; }
    var ctx = window.dash_clientside.callback_context;
    var trig = (ctx.triggered || []).map(function(t) { return t.prop_id; }).join(",");
    if (!window._bfPacer || trig.indexOf("pacer-cfg") >= 0) {
        window._bfPacer = {cfg: cfg, t: performance.now()};
    }
    var a = window._bfPacer;
    var ts = a.cfg.offset_s + (performance.now() - a.t) / 1000 * a.cfg.speed;
    var x = (ts % a.cfg.period_s) / a.cfg.period_s;
    var r = a.cfg.inhale_ratio;
    var inhale = x < r;
    if (a.inhale !== undefined && a.inhale !== inhale && window.bfSound) {
        window.bfSound.breath(inhale);  /* soft tone at each turn, if sound is on */
    }
    a.inhale = inhale;
    var s = inhale ? x / r : 1 - (x - r) / (1 - r);
    var scale = 0.35 + 0.65 * (0.5 - 0.5 * Math.cos(Math.PI * s));
    return [{transform: "scale(" + scale.toFixed(3) + ")"}, inhale ? "breathe in" : "breathe out"];
}
"""


#: A chime when the phase changes during a recording (if sound is on; see assets/bf.js).
CHIME_JS = """
function(text) {
    var prev = window._bfPhase;
    window._bfPhase = text;
    var running = document.querySelector(".bf-live.running") !== null;
    if (prev !== undefined && prev !== text && running && window.bfSound) {
        window.bfSound.chime();
    }
    return text;
}
"""


def register(app: Dash, live: LiveWorker | None, data: DashboardData | None = None) -> None:
    if live is None:
        return

    @app.callback(
        [Output(c, p) for c, p in OUTPUTS],
        Input("live-tick", "n_intervals"),
        State("live-cursor", "data"),
        State("live-normal", "data"),
    )
    def _tick(_n: Any, cursor: Any, normal: Any) -> list[Any]:
        res = live_tick(live, cursor, normal, data)
        return [res[f"{c}.{p}"] for c, p in OUTPUTS]

    @app.callback(
        Output("live-msg", "children", allow_duplicate=True),
        Output("live-scan-msg", "children", allow_duplicate=True),
        Input("live-start", "n_clicks"),
        State("live-source", "value"),
        State("live-strap", "value"),
        State("live-speed", "value"),
        State("live-protocol", "value"),
        State("live-bpm", "value"),
        prevent_initial_call=True,
    )
    def _start(
        _n: Any, source: Any, strap: Any, speed: Any, protocol: Any, bpm: Any
    ) -> tuple[Any, Any]:
        # a new Start clears every earlier message (scan results included)
        return start(live, source, strap, speed, protocol, bpm), None

    @app.callback(
        Output("live-msg", "children", allow_duplicate=True),
        Output("live-mark-text", "value"),
        Input("live-mark", "n_clicks"),
        Input("live-mark-text", "n_submit"),  # Enter in the label field marks too
        State("live-mark-text", "value"),
        prevent_initial_call=True,
    )
    def _mark(_n: Any, _enter: Any, text: Any) -> tuple[Any, Any]:
        ok = live.mark((text or "").strip())
        if not ok:
            return alert("Nothing is being recorded.", "info"), no_update
        st = live.state(since_seq=1 << 62)
        return alert(f"Marked at {fmt_duration(st.t_s)}.", "info", id="live-marked"), ""

    @app.callback(
        Output("live-msg", "children", allow_duplicate=True),
        Input("live-stop", "n_clicks"),
        prevent_initial_call=True,
    )
    def _stop(_n: Any) -> Any:
        live.stop(wait_s=10.0)
        return None  # the outcome is the run's one message (see `outcome_message`)

    @app.callback(
        Output("live-scan-msg", "children", allow_duplicate=True),
        Output("live-scan-poll", "disabled", allow_duplicate=True),
        Input("live-scan", "n_clicks"),
        prevent_initial_call=True,
    )
    def _scan(_n: Any) -> tuple[Any, bool]:
        return scan_click(live)

    @app.callback(
        Output("live-source", "options"),
        Output("live-source", "value"),
        Output("live-scan-msg", "children", allow_duplicate=True),
        Output("live-scan-poll", "disabled", allow_duplicate=True),
        Input("live-scan-poll", "n_intervals"),
        State("live-source", "value"),
        prevent_initial_call=True,
    )
    def _scan_poll(_n: Any, current: Any) -> tuple[Any, Any, Any, bool]:
        return scan_poll(live, current)

    app.clientside_callback(  # type: ignore[no-untyped-call]
        CHIME_JS, Output("live-chime", "data"), Input("live-phase", "children")
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        PACER_JS,
        Output("pacer-circle", "style"),
        Output("pacer-label", "children"),
        Input("pacer-tick", "n_intervals"),
        Input("pacer-cfg", "data"),
    )
