"""The looks of the figures: what differs between reports, the dashboard, light and dark.

The logic (decimation, segments, phase/gap shading, artefact marks) is shared by every
builder; only these looks differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

#: Phase hues by kind (grey rest, teal practice, indigo recovery); see :func:`phase_fill`.
PHASE_RGB: dict[str, tuple[int, int, int]] = {
    "baseline": (120, 120, 120),
    "practice": (0, 150, 136),
    "recovery": (63, 81, 181),
}
RR_COLOR = "#37474f"
RMSSD_COLOR = "#00897b"
HR_COLOR = "#c62828"
ARTEFACT_COLOR = "#d84315"
MARK_COLOR = "#6a1b9a"
IDENTITY_LINE: dict[str, object] = {"color": "#9e9e9e", "dash": "dot", "width": 1}
SERIES_COLORS = ("#00897b", "#3f51b5", "#d84315", "#6d4c41", "#8e24aa", "#f9a825", "#546e7a")


def phase_fill(alpha: float, practice_alpha: float) -> dict[str, str]:
    """Translucent phase fills by kind; practice a little stronger so it stands out."""
    return {
        kind: f"rgba({r}, {g}, {b}, {practice_alpha if kind == 'practice' else alpha:.2f})"
        for kind, (r, g, b) in PHASE_RGB.items()
    }


@dataclass(frozen=True)
class Style:
    """Looks of one output. ``layout`` is merged into every figure; ``title``/``axis`` into
    its title and axes; ``card_layout`` into figures not against time (Poincaré, PSD,
    comparison, trends); ``phase_fill``/``phase_label_color`` are keyed by phase kind;
    ``gap_shape`` is merged into each link-gap rectangle, at least ``gap_min_width_s`` wide;
    ``band_fill`` colours the VLF/LF/HF bands of a PSD."""

    layout: Mapping[str, object]
    card_layout: Mapping[str, object]
    title: Mapping[str, object]
    card_title: Mapping[str, object]
    axis: Mapping[str, object]
    phase_fill: Mapping[str, str]
    phase_label_color: Mapping[str, str] | None
    phase_label_size: int
    #: Phase labels centred over the phase (dashboard) or at its left edge (report).
    phase_label_centered: bool
    gap_shape: Mapping[str, object]
    gap_min_width_s: float
    band_fill: Mapping[str, str]
    #: WebGL traces (fast in the browser); plain SVG for reports (static export).
    webgl: bool
    rr_width: float
    artefact_size: int
    #: Draw at most ``max_points`` artefact marks (the dashboard's JSON budget).
    cap_artefacts: bool
    #: Point budget per trace.
    max_points: int


_REPORT_LAYOUT: dict[str, object] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 16, "t": 66, "b": 44},
    "font": {"family": "DejaVu Sans, Helvetica, Arial, sans-serif", "size": 11},
    # Title on the first line, legend on the second (just above the plot): never overlapping.
    "legend": {"orientation": "h", "y": 1.01, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    "height": 320,
}

#: Report (HTML/PDF) style: SVG, full resolution (a 1 h session, ~4-5 k beats, in full).
REPORT_STYLE = Style(
    layout=_REPORT_LAYOUT,
    card_layout=_REPORT_LAYOUT,
    title={"x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top"},
    card_title={"x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top"},
    axis={},
    phase_fill=phase_fill(0.12, 0.14),
    phase_label_color=None,
    phase_label_size=9,
    phase_label_centered=False,
    gap_shape={"fillcolor": "rgba(216, 67, 21, 0.10)", "line": {"width": 0}, "layer": "below"},
    gap_min_width_s=0.5,
    band_fill={
        "VLF": "rgba(158,158,158,0.18)",
        "LF": "rgba(255,167,38,0.18)",
        "HF": "rgba(0,137,123,0.15)",
    },
    webgl=False,
    rr_width=1.0,
    artefact_size=6,
    cap_artefacts=False,
    max_points=6000,
)

_DASH_LAYOUT: dict[str, object] = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    "hovermode": "x unified",
}
_DASH_TITLE: dict[str, object] = {"x": 0, "font": {"size": 14}}

#: Dashboard style: WebGL, 2 k points a trace (≈ 52 KB of JSON). Figures not against time sit
#: in half-width cards, where a legend on the title's line runs into the title (and one entry
#: per phase wraps onto several rows): the title gets the top margin, the legend the bottom.
DASH_STYLE = Style(
    layout=_DASH_LAYOUT,
    card_layout={
        **_DASH_LAYOUT,
        "hovermode": "closest",
        "margin": {"l": 56, "r": 16, "t": 48, "b": 120},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
    },
    title=_DASH_TITLE,
    card_title={**_DASH_TITLE, "yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 12}},
    axis={"zeroline": False},
    phase_fill=phase_fill(0.10, 0.12),
    phase_label_color={"baseline": "#757575", "practice": "#00897b", "recovery": "#3f51b5"},
    phase_label_size=10,
    phase_label_centered=True,
    gap_shape={
        "fillcolor": "rgba(0,0,0,0)",
        "line": {"width": 1, "color": "#b71c1c", "dash": "dash"},
    },
    gap_min_width_s=0.0,
    band_fill={
        "VLF": "rgba(158,158,158,0.35)",
        "LF": "rgba(255,167,38,0.45)",
        "HF": "rgba(0,137,123,0.45)",
    },
    webgl=True,
    rr_width=1.2,
    artefact_size=8,
    cap_artefacts=True,
    max_points=2000,
)


def dark(style: Style) -> Style:
    """The dark variant of ``style`` (plotly's dark template, brighter phase fills)."""
    layout = {**style.layout, "template": "plotly_dark"}
    card = {**style.card_layout, "template": "plotly_dark"}
    return dataclasses.replace(
        style, layout=layout, card_layout=card, phase_fill=phase_fill(0.22, 0.26)
    )
