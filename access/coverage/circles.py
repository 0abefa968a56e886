"""Which cells lie inside each service circle.

A cell is *in* a circle when every required service is reachable within the
circle's limit by the circle's mode. The 5/10/15-minute GB 50180-2018 levels
are **not** nested here: each is checked on its own list of services.

Inputs are plain tables: ``times`` holds ``t_<mode>_<category>`` (seconds to
the nearest facility of that category, NaN when none within the search limit)
and ``reachable_<mode>`` (the cell was snapped to that mode's network).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from access.coverage.standards import Circle
from access.errors import InputError
from access.network.modes import PRESETS, TravelMode


def mode_speed_kmh(mode: TravelMode) -> float:
    """The speed that turns a metre limit into seconds, km/h.

    The most common value of ``mode.speed_kmh`` (the largest one on a tie).
    For the walk preset every class is 4.5 km/h, so this is 4.5 km/h, the
    pace behind GB 50180-2018's 300/500/1000 m.
    """
    if not mode.speed_kmh:
        raise InputError(f"mode {mode.name!r} has no speeds: give speed_kmh per highway class.")
    speeds = pd.Series(list(mode.speed_kmh.values()), dtype=float)
    return float(speeds.mode().max())


def circle_limit_s(circle: Circle, modes: Mapping[str, TravelMode] | None = None) -> float:
    """The circle's time limit, seconds.

    Minute limits are used as given; metre limits are divided by
    :func:`mode_speed_kmh` of the circle's mode (``modes`` first, then the
    presets).
    """
    if circle.minutes is not None:
        return circle.limit_seconds()
    mode = (modes or {}).get(circle.mode) or PRESETS.get(circle.mode)
    if mode is None:
        raise InputError(f"circle {circle.name!r}: mode {circle.mode!r} is not defined; "
                         "add it to the scenario's modes.")
    return circle.limit_seconds(mode_speed_kmh(mode))


def _circles(circles: Circle | Iterable[Circle]) -> list[Circle]:
    return [circles] if isinstance(circles, Circle) else list(circles)


def requirement_times(times: pd.DataFrame, circle: Circle) -> pd.DataFrame:
    """Seconds to each required service: the minimum over its categories.

    Missing ``t_`` columns (no facility of that category anywhere) count as
    NaN. Returns one column per service, indexed like ``times``.
    """
    out = {}
    for service, cats in circle.requirements.items():
        cols = [f"t_{circle.mode}_{c}" for c in cats]
        present = [c for c in cols if c in times.columns]
        if present:
            arr = times[present].to_numpy(dtype=float)
            with np.errstate(all="ignore"):
                # all-NaN rows stay NaN (nanmin would warn).
                t = np.where(np.isnan(arr).all(axis=1), np.nan,
                             np.nanmin(np.where(np.isnan(arr), np.inf, arr), axis=1))
        else:
            t = np.full(len(times), np.nan)
        out[service] = t
    return pd.DataFrame(out, index=times.index)


def evaluate_circles(times: pd.DataFrame, circles: Circle | Iterable[Circle],
                     modes: Mapping[str, TravelMode] | None = None) -> pd.DataFrame:
    """Per-cell circle membership, missing services and binding time.

    Parameters
    ----------
    times : DataFrame
        One row per cell with ``t_<mode>_<category>`` (seconds, NaN = none
        within the search limit) and ``reachable_<mode>`` (bool; absent =
        every cell reachable).
    circles : Circle or iterable of Circle
    modes : dict[str, TravelMode], optional
        Used to convert metre limits (see :func:`circle_limit_s`); presets by
        default.

    Returns
    -------
    DataFrame, indexed like ``times``, with per circle ``c``:

    ``in_<c>`` : bool
        Reachable and every service within the limit.
    ``missing_<c>`` : categorical of str
        Comma-joined services *not* within the limit ('' when complete; every
        service for unreachable cells); one category per missing set, not a
        string per cell.
    ``t_<c>`` : float
        Binding time, seconds: the largest per-service time; ``inf`` when a
        service has no facility within the search limit or the cell is
        unreachable.
    ``in_<c>__<service>`` : bool
        That service within the limit.
    """
    circles = _circles(circles)
    cols: dict[str, object] = {}
    for c in circles:
        if not c.requirements:
            raise InputError(f"circle {c.name!r} has no requirements; name at least one service.")
        limit = circle_limit_s(c, modes)
        reach_col = f"reachable_{c.mode}"
        reach = (times[reach_col].fillna(False).to_numpy(dtype=bool) if reach_col in times.columns
                 else np.ones(len(times), dtype=bool))
        req = requirement_times(times, c)
        t = req.to_numpy(dtype=float)
        t = np.where(np.isnan(t) | ~reach[:, None], np.inf, t)
        ok = t <= limit
        cols[f"in_{c.name}"] = ok.all(axis=1)
        cols[f"t_{c.name}"] = t.max(axis=1)
        services = np.array(list(c.requirements), dtype=object)
        # Join the names of failing services per row; group identical patterns
        # so the string work is per pattern, not per cell.
        if len(t):
            # failing services as bits of one integer: unique on ints, not on rows
            bits = (~ok).astype(np.int64) @ (np.int64(1) << np.arange(len(services), dtype=np.int64))
            codes, inv = np.unique(bits, return_inverse=True)
            names = [",".join(services[(int(b) >> np.arange(len(services))) & 1 == 1]) for b in codes]
            cols[f"missing_{c.name}"] = pd.Categorical.from_codes(np.asarray(inv).ravel(), categories=names)
        else:
            cols[f"missing_{c.name}"] = pd.Categorical([], categories=[""])
        for j, s in enumerate(services):
            cols[f"in_{c.name}__{s}"] = ok[:, j]
    return pd.DataFrame(cols, index=times.index)
