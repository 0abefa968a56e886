"""Lorenz panels of the report as one SVG image, drawn without a plotting library.

Each panel is a unit square: the line of equality (dashed), the curve and the
area between them. The curve is a polyline in share coordinates (population
share, value share, both 0..1) inside a group whose transform maps the unit
square onto the panel, so the numbers in the file are the cumulative shares
themselves. The browser renders the text, with the page's fonts (Chinese
included), so no font lookup is needed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from access.maps.text import inert

#: panel layout, pixels
SIDE = 210  # plotting square
LEFT, TOP, RIGHT, BOTTOM = 52, 46, 14, 44  # margins around the square: tick labels, title, axis label
COLUMNS = 3
#: a curve of a million units draws the same at this many points
MAX_POINTS = 2001
GREEN = "#1a9641"


@dataclass(frozen=True)
class Panel:
    """One Lorenz curve: cumulative shares from (0, 0) to (1, 1) and its title lines."""

    population_share: np.ndarray
    value_share: np.ndarray
    title: Sequence[str]


def _thinned(p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(p) <= MAX_POINTS:
        return p, v
    grid = np.linspace(0.0, 1.0, MAX_POINTS)
    return grid, np.interp(grid, p, v)


def _points(x: np.ndarray, y: np.ndarray) -> str:
    return " ".join(f"{a:.5g},{b:.5g}" for a, b in zip(x, y))


def _panel(panel: Panel, x0: float, y0: float, x_label: str | None, y_label: str | None) -> list[str]:
    p, v = _thinned(np.asarray(panel.population_share, float), np.asarray(panel.value_share, float))
    # unit square -> pixels, y up
    unit = f"matrix({SIDE} 0 0 {-SIDE} {x0} {y0 + SIDE})"
    out = ["<g class='panel'>"]
    for k, line in enumerate(panel.title):
        weight = " font-weight='bold'" if k == 0 else ""
        out.append(f"<text x='{x0 + SIDE / 2}' y='{y0 - 8 - 14 * (len(panel.title) - 1 - k)}' "
                   f"text-anchor='middle' font-size='12'{weight}>{inert(line)}</text>")
    for t in np.linspace(0.0, 1.0, 6):
        gx, gy = x0 + t * SIDE, y0 + SIDE - t * SIDE
        out.append(f"<line x1='{gx:.1f}' y1='{y0}' x2='{gx:.1f}' y2='{y0 + SIDE}' stroke='#ddd'/>"
                   f"<line x1='{x0}' y1='{gy:.1f}' x2='{x0 + SIDE}' y2='{gy:.1f}' stroke='#ddd'/>"
                   f"<text x='{gx:.1f}' y='{y0 + SIDE + 13}' text-anchor='middle' font-size='9'>{t:.1f}</text>"
                   f"<text x='{x0 - 4}' y='{gy + 3:.1f}' text-anchor='end' font-size='9'>{t:.1f}</text>")
    out.append(f"<rect x='{x0}' y='{y0}' width='{SIDE}' height='{SIDE}' fill='none' stroke='#444'/>")
    out.append(f"<g transform='{unit}'>"
               "<polyline class='equality' points='0,0 1,1' fill='none' stroke='#888' stroke-width='0.8' "
               "stroke-dasharray='4 3' vector-effect='non-scaling-stroke'/>"
               # the area between the curve and the line of equality: the curve, then back along the diagonal
               f"<polygon class='gap' points='{_points(p, v)} 1,1 0,0' fill='{GREEN}' fill-opacity='0.12' "
               "stroke='none'/>"
               f"<polyline class='curve' points='{_points(p, v)}' fill='none' stroke='{GREEN}' "
               "stroke-width='1.6' vector-effect='non-scaling-stroke'/></g>")
    if x_label:
        out.append(f"<text x='{x0 + SIDE / 2}' y='{y0 + SIDE + 32}' text-anchor='middle' "
                   f"font-size='10'>{inert(x_label)}</text>")
    if y_label:
        cx, cy = x0 - 38, y0 + SIDE / 2
        out.append(f"<text x='{cx}' y='{cy}' text-anchor='middle' font-size='10' "
                   f"transform='rotate(-90 {cx} {cy})'>{inert(y_label)}</text>")
    out.append("</g>")
    return out


def lorenz_svg(panels: Sequence[Panel], title: str, x_label: str, y_label: str) -> str:
    """The panels in rows of up to three, one SVG document.

    Parameters
    ----------
    panels : sequence of Panel
    title : str
        Above all panels.
    x_label, y_label : str
        Axis titles, on the bottom row and the left column.

    Returns
    -------
    str
        SVG markup; every text from the inputs is escaped.
    """
    n = len(panels)
    cols = min(COLUMNS, max(n, 1))
    rows = -(-n // cols)
    pw, ph = LEFT + SIDE + RIGHT, TOP + SIDE + BOTTOM
    width, height = cols * pw, rows * ph + 24
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' font-family='sans-serif'>",
           f"<rect width='{width}' height='{height}' fill='white'/>",
           f"<text x='{width / 2}' y='17' text-anchor='middle' font-size='13'>{inert(title)}</text>"]
    for i, panel in enumerate(panels):
        r, c = divmod(i, cols)
        out += _panel(panel, c * pw + LEFT, 24 + r * ph + TOP, x_label if i >= n - cols else None,
                      y_label if c == 0 else None)
    out.append("</svg>")
    return "".join(out)


def svg_data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,...`` of an SVG document (an ``<img>`` source)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
