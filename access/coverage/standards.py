"""Planning standards as data: living circles and per-township rules.

Each definition carries its source and clause. Where a number is the
project's assumption rather than a cited clause, ``assumption`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Circle:
    """A service circle: who can reach every required service within a limit.

    Attributes
    ----------
    name : str
        Key used in column names (``in_<name>``) and scenarios.
    mode : str
        Travel-mode name (``walk``, ``drive`` ...).
    minutes : float or None
        Time limit in minutes; exactly one of ``minutes``/``metres`` is set.
    metres : float or None
        Network-distance limit in metres, converted to time with the mode's
        walking speed.
    requirements : dict[str, tuple[str, ...]]
        Service name -> canonical facility categories any of which satisfies it.
        A cell is inside the circle when *every* service is within the limit.
    label_zh, label_en : str
        Display names.
    source : str
        Standard and clause.
    assumption : str
        What the project assumed where the standard is silent.
    scope : str
        Cells the circle applies to: ``"urban"`` (urban townships such as
        街道 and cells inside the scenario's urban areas), ``"rural"`` (the
        others) or ``"all"``. Shares are computed on the scope's persons.
    """

    name: str
    mode: str
    minutes: float | None = None
    metres: float | None = None
    requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    label_zh: str = ""
    label_en: str = ""
    source: str = ""
    assumption: str = ""
    scope: str = "all"

    def limit_seconds(self, speed_kmh: float | None = None) -> float:
        """The limit in seconds; ``speed_kmh`` converts a metre limit."""
        if self.minutes is not None:
            return float(self.minutes) * 60.0
        if speed_kmh is None:
            raise ValueError(f"circle {self.name!r} is given in metres: pass the mode's speed")
        return float(self.metres) / (speed_kmh / 3.6)

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category named by any requirement, in order, without repeats."""
        seen: dict[str, None] = {}
        for cats in self.requirements.values():
            for c in cats:
                seen[c] = None
        return tuple(seen)


@dataclass(frozen=True)
class TownshipRule:
    """A rule every township (乡镇/街道) must meet, e.g. one central kindergarten.

    Attributes
    ----------
    name : str
    categories : tuple[str, ...]
        Facilities of any of these categories count.
    min_count : int
        At least this many inside the township polygon.
    rural_only : bool
        Apply only to 乡/镇 (not to urban 街道).
    label_zh, label_en, source, assumption : str
    """

    name: str
    categories: tuple[str, ...]
    min_count: int = 1
    rural_only: bool = False
    label_zh: str = ""
    label_en: str = ""
    source: str = ""
    assumption: str = ""


_GB = "GB 50180-2018 城市居住区规划设计标准"
# GB 50180-2018 reading used below (project's reading of the published text):
#   2.0.3 / 2.0.4 / 2.0.5 define the 15-, 10- and 5-minute living-circle
#   residential areas by walking distance 800-1000 m / 500 m / 300 m
#   (residents 50,000-100,000 / 15,000-25,000 / 5,000-12,000);
#   3.0.4 and table 3.0.4 give the grading control scale;
#   5.0.2 and Appendix B list the facilities of each level: table B.0.1
#   (15- and 10-minute levels) and table B.0.2 (5-minute level), "▲" marks
#   facilities that must be provided;
#   Appendix C gives each facility's service radius (初中 <= 1000 m,
#   小学 <= 500 m, 幼儿园 <= 300 m, 社区卫生服务站 <= 300 m, 老年人日间照料
#   中心 <= 300 m, 菜市场/生鲜超市 <= 500 m, large / medium / small
#   multi-use sports grounds <= 1000 / 500 / 300 m).
# The levels are checked each on its own list (not inclusive): a cell in
# the 15-minute circle is not required to be in the 10- or 5-minute one.
_KG = ("kindergarten", "central_kindergarten")
# GB 50180-2018 is the standard for urban residential areas (城市居住区), so
# its circles apply to the urban scope only.
_TDT = "TD/T 1062-2021 社区生活圈规划技术指南"
# TD/T 1062-2021 splits the rural community life circle into two levels,
# 乡集镇 (township seat) and 村/组 (village / village group), and lists the
# service elements of each. It gives walking distances for the urban
# levels only, so the rural times below are marked as assumptions.

# Keys are stable: scenarios refer to them by name.
CIRCLES: dict[str, Circle] = {
    c.name: c
    for c in (
        Circle(
            name="gb50180_15min",
            mode="walk",
            scope="urban",
            metres=1000.0,
            requirements={
                "junior_middle_school": ("junior_middle_school",),
                "community_health_centre": ("community_health_centre",),
                "elderly_care": ("elderly_care_centre",),
                "culture": ("cultural_station",),
                "sports": ("sports_ground",),
            },
            label_zh="15分钟生活圈",
            label_en="15-minute living circle",
            source=f"{_GB}, 2.0.3 and table 3.0.4 (walking distance 800-1000 m); "
            "table B.0.1 (15-minute facilities: 初中, 社区卫生服务中心, 养老院, 文化活动中心, "
            "大型多功能运动场地); Appendix C service radii",
            assumption="Upper bound 1000 m used as the network walking distance; one "
            "sports_ground category stands for the large multi-use ground; 养老院 = "
            "elderly_care_centre, 文化活动中心 = cultural_station. Checked on its own "
            "(not inclusive of the 10/5-minute lists).",
        ),
        Circle(
            name="gb50180_10min",
            mode="walk",
            scope="urban",
            metres=500.0,
            requirements={
                "primary_school": ("primary_school",),
                "sports": ("sports_ground",),
                "food_market": ("food_market",),
            },
            label_zh="10分钟生活圈",
            label_en="10-minute living circle",
            source=f"{_GB}, 2.0.4 and table 3.0.4 (walking distance 500 m); table B.0.1 "
            "(10-minute facilities: 小学, 中型多功能运动场地, 菜市场或生鲜超市); Appendix C",
            assumption="500 m network walking distance; any sports_ground stands for the "
            "medium multi-use ground; a supermarket is not counted as a food market.",
        ),
        Circle(
            name="gb50180_5min",
            mode="walk",
            scope="urban",
            metres=300.0,
            requirements={
                "kindergarten": _KG,
                "community_health_station": ("community_health_station", "community_health_centre"),
                "elderly_day_care": ("elderly_day_care",),
                "sports": ("sports_ground",),
            },
            label_zh="5分钟生活圈",
            label_en="5-minute living circle",
            source=f"{_GB}, 2.0.5 and table 3.0.4 (walking distance 300 m); table B.0.2 "
            "(5-minute facilities: 幼儿园, 社区卫生服务站, 老年人日间照料中心, "
            "小型多功能运动场地); Appendix C (幼儿园 service radius <= 300 m)",
            assumption="300 m network walking distance. A community health centre also "
            "serves as a station; a central kindergarten is a kindergarten.",
        ),
        Circle(
            name="fujian_30min_medical",
            mode="drive",
            minutes=30.0,
            requirements={
                "primary_care": ("township_health_centre", "community_health_centre", "hospital"),
            },
            label_zh="30分钟基层医疗服务圈",
            label_en="30-minute primary medical circle",
            source="Fujian provincial health plans: 30分钟基层医疗服务圈",
            assumption="Driving on the road network; a hospital counts as primary care.",
        ),
        Circle(
            name="jiaxing_20min_chc",
            mode="drive",
            minutes=20.0,
            requirements={
                "community_health_centre": ("community_health_centre", "township_health_centre"),
            },
            label_zh="20分钟社区卫生服务中心可达",
            label_en="20-minute community health centre reach",
            source="Jiaxing health-service plan: community health centre within 20 minutes",
            assumption="Mode is driving; a township health centre is the rural community health centre.",
        ),
        Circle(
            name="tdt1062_township",
            mode="drive",
            minutes=30.0,
            scope="rural",
            requirements={
                "junior_middle_school": ("junior_middle_school",),
                "primary_school": ("primary_school",),
                "central_kindergarten": ("central_kindergarten",),
                "township_health_centre": ("township_health_centre",),
                "elderly_care": ("elderly_care_centre",),
                "culture": ("cultural_station",),
            },
            label_zh="乡集镇层级生活圈",
            label_en="Rural township-seat (乡集镇) level circle",
            source=f"{_TDT}: rural community life circle (乡村社区生活圈), level 乡集镇 "
            "(township seat serving the whole township): 初中, 小学, 中心幼儿园, 卫生院, "
            "养老院/敬老院, 综合文化站",
            assumption="The guide sets no travel time for the rural levels: 30 minutes by "
            "car on the road network is the project's assumption (the span of the county "
            "30-minute primary-care circle). The service list is the project's reading of the "
            "guide's rural service elements; a 集贸市场 is not required.",
        ),
        Circle(
            name="tdt1062_village",
            mode="walk",
            minutes=15.0,
            scope="rural",
            requirements={
                "village_clinic": ("village_clinic", "township_health_centre"),
                "elderly_care": ("elderly_day_care", "elderly_care_centre"),
            },
            label_zh="村/组层级生活圈",
            label_en="Rural village (村/组) level circle",
            source=f"{_TDT}: rural community life circle (乡村社区生活圈), level 村/组 "
            "(services used daily near home): 村卫生室, 养老服务 (日间照料/互助养老)",
            assumption="The guide sets no travel time for the rural levels: a 15-minute "
            "walk is the project's assumption (the reach of the urban 15-minute circle). A "
            "township health centre also serves its village as the clinic; an elderly care "
            "centre also serves as day care.",
        ),
        Circle(
            name="elderly_15min",
            mode="walk",
            scope="urban",
            minutes=15.0,
            requirements={"elderly_care": ("elderly_care_centre", "elderly_day_care")},
            label_zh="一刻钟养老服务圈",
            label_en="15-minute elderly-care circle",
            source="Ministry of Civil Affairs: 一刻钟居家养老服务圈 (community home-care service circle)",
            assumption="Walking at the walk mode's speed. Applied to urban cells: the "
            "community home-care circle is organised by urban neighbourhoods (社区).",
        ),
    )
}

TOWNSHIP_RULES: dict[str, TownshipRule] = {
    r.name: r
    for r in (
        TownshipRule(
            name="central_kindergarten",
            categories=("central_kindergarten",),
            rural_only=True,
            label_zh="每个乡镇至少一所公办中心幼儿园",
            label_en="At least one public central kindergarten per township",
            source="学前教育 plans: 每个乡镇至少办好一所公办中心幼儿园",
        ),
        TownshipRule(
            name="township_health_centre",
            categories=("township_health_centre",),
            rural_only=True,
            label_zh="每个乡镇一所政府办卫生院",
            label_en="One township health centre per township",
            source="基层医疗卫生服务体系: 每个乡镇办好一所标准化卫生院",
        ),
    )
}


def _fmt(x: float) -> str:
    return f"{x:g}"


def standards_table(circles, modes=None, demand=None) -> pd.DataFrame:
    """The circles as a README-ready table.

    Parameters
    ----------
    circles : iterable of Circle (or a dict of them)
    modes : dict[str, TravelMode], optional
        Used to show the seconds a metre limit stands for (presets by
        default).
    demand : dict[str, str], optional
        Category -> demand group (:func:`access.coverage.demand.demand_map`);
        the default groups when absent.

    Returns
    -------
    DataFrame with ``name``, ``zh``, ``en``, ``mode``, ``limit`` (e.g.
    ``"300 m (240 s at 4.5 km/h)"`` or ``"30 min"``), ``scope``,
    ``requirements`` (``"service: category | category; ..."``), ``demand``
    (``"service: group; ..."``), ``source``, ``assumption``.
    """
    from access.coverage import demand as demand_mod  # no import cycle at load time
    from access.coverage.circles import mode_speed_kmh
    from access.network.modes import PRESETS

    if demand is None:
        demand = demand_mod.demand_map(demand_mod.GROUPS)
    if isinstance(circles, dict):
        circles = list(circles.values())
    rows = []
    for c in circles:
        if c.minutes is not None:
            limit = f"{_fmt(c.minutes)} min"
        else:
            mode = (modes or {}).get(c.mode) or PRESETS.get(c.mode)
            if mode is not None and mode.speed_kmh:
                v = mode_speed_kmh(mode)
                limit = f"{_fmt(c.metres)} m ({c.limit_seconds(v):.0f} s at {_fmt(v)} km/h)"
            else:
                limit = f"{_fmt(c.metres)} m"
        req = "; ".join(f"{k}: {' | '.join(v)}" for k, v in c.requirements.items())
        groups = "; ".join(f"{k}: {g}" for k, g in demand_mod.service_groups(c, demand).items())
        rows.append({"name": c.name, "zh": c.label_zh, "en": c.label_en, "mode": c.mode,
                     "limit": limit, "scope": c.scope, "requirements": req, "demand": groups,
                     "source": c.source, "assumption": c.assumption})
    return pd.DataFrame(rows, columns=["name", "zh", "en", "mode", "limit", "scope", "requirements",
                                       "demand", "source", "assumption"])
