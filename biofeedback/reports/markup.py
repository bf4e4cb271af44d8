"""Markup for the HTML report, escaped in one place.

:func:`esc` is the only way a value enters the report's HTML: it escapes text and passes
:class:`Html` (markup built from escaped parts) through. Text from users, captures and
protocol files therefore never becomes markup or script. :class:`PrintPage` is the print
variant's page (no script) with its figures to draw, shown as SVG images.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SLOT", "Html", "PrintFigure", "PrintPage", "esc"]


class Html(str):
    """Markup built from escaped parts (or constant); :func:`esc` leaves it as is."""

    __slots__ = ()


def esc(s: object) -> Html:
    """``s`` as HTML: escaped text, unless it already is :class:`Html`."""
    if isinstance(s, Html):
        return s
    return Html(html.escape(str(s), quote=True))


@dataclass(frozen=True, slots=True)
class PrintFigure:
    """One figure of the print page: plotly JSON (``<`` escaped by plotly) and its size, px."""

    json: str
    width_px: int
    height_px: int


#: Placeholder of figure N in a print page; escaped text can never contain ``<!--``.
SLOT = "<!--figure:{}-->"
SLOT_RE = re.compile(r"<!--figure:(\d+)-->")
SVG_DATA_URL = "data:image/svg+xml,"


@dataclass(frozen=True, slots=True)
class PrintPage:
    """The print variant of the report: HTML without any script, and its figures to draw."""

    html: str
    figures: tuple[PrintFigure, ...]

    def with_images(self, svg_data_urls: Sequence[str]) -> str:
        """The page with figure N shown as the image ``svg_data_urls[N]``.

        Only ``data:image/svg+xml,`` URLs are accepted: an SVG shown through ``<img>`` can
        neither run script nor load anything (HTML standard, "images" processing model).
        """
        if len(svg_data_urls) != len(self.figures):
            raise ValueError(f"expected {len(self.figures)} images, got {len(svg_data_urls)}")
        for u in svg_data_urls:
            if not u.startswith(SVG_DATA_URL):
                raise ValueError("figure images must be data:image/svg+xml URLs")

        def img(m: re.Match[str]) -> str:
            i = int(m.group(1))
            f = self.figures[i]
            return (
                f'<img src="{esc(svg_data_urls[i])}" width="{f.width_px}" '
                f'height="{f.height_px}" alt="figure {i + 1}">'
            )

        return SLOT_RE.sub(img, self.html)
