"""Figures: one builder per figure, shared by the reports, the dashboard and the live view.

Every builder is a pure function: a `biofeedback.sessions.view.SessionView` (or plain arrays,
for the array-level ``*_figure`` variants the live view and tests use) and an injected
`Style` in, a plotly figure out. The reports pass `REPORT_STYLE`, the dashboard
`DASH_STYLE`; `dark` turns either into its dark variant.

* :mod:`biofeedback.plots.style` — the looks (`Style`, palettes, `dark`);
* :mod:`biofeedback.plots.common` — decimation, segments, phase/gap/mark shapes, time axes;
* :mod:`biofeedback.plots.session` — tachogram, heart rate, rolling RMSSD, Poincaré, PSD;
* :mod:`biofeedback.plots.compare` — metric per phase across sessions, differences with CIs;
* :mod:`biofeedback.plots.trends` — resting HRV against the personal normal range, practice;
* :mod:`biofeedback.plots.live` — the Live page's practice chart and tachogram.

plotly is imported at module level in the submodules: import them lazily (never from
``biofeedback --help`` nor from ``import dashboards``).
"""
