"""Colours and the planner's wording of numbers on maps.

Everything returned here is plain text; :func:`popup_html` is the one
function that builds markup, and it passes every piece through
:func:`access.maps.text.inert`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from access.maps import labels as L
from access.maps.text import inert

# Share classes for the choropleth: red = large gap, green = well served
# (ColorBrewer RdYlGn, 5 classes, colour-blind safe in its red-green ends
# thanks to the lightness ramp).
SHARE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SHARE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
NO_DATA_COLOUR = "#bdbdbd"
GAP_COLOUR = "#7a0177"
PROPOSED_COLOUR = "#ffd700"

# Qualitative colours for facility categories (stable per category key).
CATEGORY_COLOURS: dict[str, str] = {
    "community_health_centre": "#e41a1c",
    "community_health_station": "#fb8072",
    "township_health_centre": "#b2182b",
    "village_clinic": "#f4a582",
    "hospital": "#67001f",
    "clinic": "#d6604d",
    "kindergarten": "#ff7f00",
    "central_kindergarten": "#a65628",
    "primary_school": "#377eb8",
    "junior_middle_school": "#08519c",
    "elderly_care_centre": "#984ea3",
    "elderly_day_care": "#c2a5cf",
    "cultural_station": "#4daf4a",
    "sports_ground": "#1b7837",
    "food_market": "#e7298a",
}
_FALLBACK_COLOURS = ("#666666", "#8c510a", "#01665e", "#762a83", "#35978f")


def _missing(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not np.isfinite(value))


def share_colour(share: float | None) -> str:
    """Fill colour for a population share in 0..1 (grey when missing)."""
    if _missing(share):
        return NO_DATA_COLOUR
    share = min(max(float(share), 0.0), 1.0)
    for upper, colour in zip(SHARE_BREAKS[1:], SHARE_COLOURS):
        if share < upper:
            return colour
    return SHARE_COLOURS[-1]


def category_colour(category: str) -> str:
    """Marker colour for a category; unknown keys get a stable fallback."""
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    return _FALLBACK_COLOURS[sum(map(ord, str(category))) % len(_FALLBACK_COLOURS)]


def fmt_persons(value, lang: str) -> str:
    """Persons as a whole number with separators, e.g. ``12,345 人``."""
    if _missing(value):
        return "—"
    return f"{float(value):,.0f} {L.ui('persons', lang)}"


def fmt_share(value) -> str:
    """Share 0..1 as a whole percentage (``45%``).

    Rounding never shows a gap as closed or an empty circle as reached:
    0 < share < 0.5 % reads ``<1%`` and 99.5 % <= share < 100 % reads ``>99%``.
    """
    if _missing(value):
        return "—"
    pct = 100.0 * float(value)
    if 0.0 < pct < 0.5:
        return "<1%"
    if 99.5 <= pct < 100.0:
        return ">99%"
    return f"{pct:.0f}%"


def fmt_time(value, lang: str) -> str:
    """Seconds -> whole minutes; ``inf`` -> "unreachable"; text is shown as given."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, numbers.Real) and not np.isfinite(value):
        return L.ui("no_road_access", lang)
    return f"{float(value) / 60.0:.0f} {L.ui('minutes', lang)}"


def fmt_number(value) -> str:
    """A capacity or count as a whole number; text is shown as given."""
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):  # None, pd.NA
        return "—"
    return f"{v:,.0f}" if np.isfinite(v) else "—"


def fmt_missing(value, lang: str, circle=None) -> str:
    """Missing services (keys joined by ``,`` ``;`` or ``|``) in the planner's words."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (list, tuple, set)):
        parts = [str(v) for v in value]
    else:
        text = str(value)
        for sep in ("，", ";", "|", "、"):
            text = text.replace(sep, ",")
        parts = [p.strip() for p in text.split(",")]
    sep = "、" if lang == "zh" else ", "
    return sep.join(L.service_label(p, lang, circle) for p in parts if p)


def popup_html(title, rows: Iterable[tuple[str, str]]) -> str:
    """A small popup table; every piece of text is made inert here."""
    body = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in rows)
    return f"<div class='access-popup'><b>{inert(title)}</b><table>{body}</table></div>"


__all__ = [
    "SHARE_BREAKS", "SHARE_COLOURS", "NO_DATA_COLOUR", "GAP_COLOUR", "PROPOSED_COLOUR", "CATEGORY_COLOURS",
    "share_colour", "category_colour", "fmt_persons", "fmt_share", "fmt_time", "fmt_number", "fmt_missing",
    "popup_html",
]
