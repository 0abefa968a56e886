"""Who uses a service: demand groups and scopes, as data with their sources.

A *demand group* is the part of the population a service is for (persons
60+ for elderly care, ages 3-5 for kindergartens ...). Cells carry one
column of persons per group: ``population`` for ``all`` and
``pop_<group>`` for the others (see
:func:`access.sources.population.add_groups`). A *scope* says which cells a
circle applies to: ``urban``, ``rural`` or ``all`` (the ``urban`` column of
the cells, see :func:`access.coverage.units.mark_urban`).

Which persons count for a circle whose services serve different groups
(e.g. the 15-minute circle: a junior middle school for ages 12-14, a health
centre for everyone): the circle's group is the services' common group when
they all share one, otherwise ``all`` — a complete circle is a property of
the place where a household lives, so every resident counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from access.coverage.standards import Circle

ALL = "all"
SCOPES = ("urban", "rural", "all")


#: Canonical demand groups: key -> (zh, en, ages, source).
GROUPS: dict[str, dict[str, str]] = {
    "all": {"zh": "全体居民", "en": "Everyone", "ages": "all ages",
            "source": "Health, culture, sports and markets serve every resident."},
    "elderly": {"zh": "老年人(60岁及以上)", "en": "Elderly (60+)", "ages": "60+",
                "source": "中华人民共和国老年人权益保障法 第二条: 老年人是指六十周岁以上的公民. "
                          "The bands listed in [inputs.groups] decide it (list only 65+ bands "
                          "for a 65+ definition)."},
    "age_3_5": {"zh": "学前儿童(3-5岁)", "en": "Pre-school children (3-5)", "ages": "3-5",
                "source": "幼儿园工作规程 第二条: 幼儿园是对三周岁以上学龄前幼儿实施保育和教育的机构 "
                          "(three years of kindergarten before school entry at 6)."},
    "age_6_11": {"zh": "小学学龄儿童(6-11岁)", "en": "Primary-school age (6-11)", "ages": "6-11",
                 "source": "中华人民共和国义务教育法 第十一条 (school entry at six) and the six-year "
                           "primary stage."},
    "age_12_14": {"zh": "初中学龄(12-14岁)", "en": "Junior-middle-school age (12-14)", "ages": "12-14",
                  "source": "The three-year junior middle stage of the nine-year compulsory "
                            "education (义务教育法) after six primary years."},
}

#: Default group of each facility category; categories not listed serve ``all``.
CATEGORY_GROUPS: dict[str, str] = {
    "elderly_care_centre": "elderly",
    "elderly_day_care": "elderly",
    "kindergarten": "age_3_5",
    "central_kindergarten": "age_3_5",
    "primary_school": "age_6_11",
    "junior_middle_school": "age_12_14",
}


def group_column(group: str) -> str:
    """Cell column holding the persons of ``group``: ``population`` for ``all``."""
    return "population" if group == ALL else f"pop_{group}"


def demand_map(available, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Category -> demand group actually used.

    Parameters
    ----------
    available : iterable of str
        Groups with persons per cell (``all`` is always available).
    overrides : dict, optional
        Scenario ``[demand]`` entries, category -> group.

    Returns
    -------
    dict covering every category of :data:`CATEGORY_GROUPS` and the
    overrides. A default whose group has no persons falls back to ``all``
    (the tables then say ``all``); an override must name an available group.
    """
    avail = set(available) | {ALL}
    out = {c: (g if g in avail else ALL) for c, g in CATEGORY_GROUPS.items()}
    out.update(dict(overrides or {}))
    return out


def missing_groups(circles, available, overrides: Mapping[str, str] | None = None) -> list[str]:
    """Default groups the circles' categories would use but that have no persons.

    Their services then count everyone (see :func:`demand_map`); a run with
    some groups given warns about the others.
    """
    avail = set(available) | {ALL}
    used = {k for c in circles for k in c.categories if k not in (overrides or {})}
    return sorted({g for k, g in CATEGORY_GROUPS.items() if k in used and g not in avail})


def category_group(category: str, demand: Mapping[str, str] | None) -> str:
    """The group of one category (``all`` without a demand map)."""
    return (demand or {}).get(category, ALL)


def service_groups(circle: Circle, demand: Mapping[str, str] | None) -> dict[str, str]:
    """Service -> group: the common group of its categories, else ``all``."""
    out = {}
    for s, cats in circle.requirements.items():
        gs = {category_group(c, demand) for c in cats}
        out[s] = gs.pop() if len(gs) == 1 else ALL
    return out


def circle_group(circle: Circle, demand: Mapping[str, str] | None) -> str:
    """The circle's group: its services' common group, else ``all`` (see module notes)."""
    gs = set(service_groups(circle, demand).values())
    return gs.pop() if len(gs) == 1 else ALL


def group_persons(cells: pd.DataFrame, group: str) -> np.ndarray:
    """Persons of ``group`` per cell (float; NaN -> 0)."""
    col = group_column(group)
    if col not in cells.columns:
        raise KeyError(f"cells have no column {col!r} for demand group {group!r}")
    return np.nan_to_num(cells[col].to_numpy(dtype=float))


def in_scope(cells: pd.DataFrame, scope: str) -> np.ndarray:
    """Cells a circle of ``scope`` applies to (bool per cell).

    Without an ``urban`` column (no townships and no urban areas given) the
    two parts cannot be told apart and every cell is in scope.
    """
    n = len(cells)
    if scope == ALL or "urban" not in cells.columns:
        return np.ones(n, dtype=bool)
    urban = cells["urban"].fillna(False).to_numpy(dtype=bool)
    return urban if scope == "urban" else ~urban
