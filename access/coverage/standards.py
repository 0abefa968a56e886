"""Planning standards as data: living circles and per-township rules.

Each definition carries its source and clause. Where a number is the
project's assumption rather than a cited clause, ``assumption`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
_KG = ("kindergarten", "central_kindergarten")

# Keys are stable: scenarios refer to them by name.
CIRCLES: dict[str, Circle] = {
    c.name: c
    for c in (
        Circle(
            name="gb50180_15min",
            mode="walk",
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
            source=f"{_GB}, 2.0.3 and 3.0.4 (walking distance 800-1000 m), Appendix B.0.1",
            assumption="Upper bound 1000 m used; one sports-ground category stands for the large multi-use ground.",
        ),
        Circle(
            name="gb50180_10min",
            mode="walk",
            metres=500.0,
            requirements={
                "primary_school": ("primary_school",),
                "sports": ("sports_ground",),
                "food_market": ("food_market",),
            },
            label_zh="10分钟生活圈",
            label_en="10-minute living circle",
            source=f"{_GB}, 2.0.4 and 3.0.4 (walking distance 500 m), Appendix B.0.1",
        ),
        Circle(
            name="gb50180_5min",
            mode="walk",
            metres=300.0,
            requirements={
                "kindergarten": _KG,
                "community_health_station": ("community_health_station", "community_health_centre"),
                "elderly_day_care": ("elderly_day_care",),
                "sports": ("sports_ground",),
            },
            label_zh="5分钟生活圈",
            label_en="5-minute living circle",
            source=f"{_GB}, 2.0.5 and 3.0.4 (walking distance 300 m), Appendix B.0.2",
            assumption="A community health centre also serves as a station; a central kindergarten is a kindergarten.",
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
            source="Fujian provincial health plans: 30分钟基层医疗服务圈 (issue #4)",
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
            source="Jiaxing health-service plan: community health centre within 20 minutes (issue #4)",
            assumption="Mode is driving; a township health centre is the rural community health centre.",
        ),
        Circle(
            name="elderly_15min",
            mode="walk",
            minutes=15.0,
            requirements={"elderly_care": ("elderly_care_centre", "elderly_day_care")},
            label_zh="一刻钟养老服务圈",
            label_en="15-minute elderly-care circle",
            source="Ministry of Civil Affairs: 一刻钟居家养老服务圈 (community home-care service circle)",
            assumption="Walking at the walk mode's speed.",
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
            source="学前教育 plans: 每个乡镇至少办好一所公办中心幼儿园 (issue #4)",
        ),
        TownshipRule(
            name="township_health_centre",
            categories=("township_health_centre",),
            rural_only=True,
            label_zh="每个乡镇一所政府办卫生院",
            label_en="One township health centre per township",
            source="基层医疗卫生服务体系: 每个乡镇办好一所标准化卫生院 (issue #4)",
        ),
    )
}
