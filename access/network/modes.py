"""Travel modes as data.

A mode says which OSM ``highway`` classes it may use, how fast it moves on
each, whether it respects one-way tags and ``maxspeed``, and a fixed penalty
(parking, waiting) added once per trip. Defaults name their source; where a
number is the project's own assumption the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class TravelMode:
    """One way of travelling on the road network.

    Attributes
    ----------
    name : str
        Key used in scenarios and column names (``walk``, ``bike``, ``drive``).
    speed_kmh : dict[str, float]
        OSM ``highway`` value -> speed in km/h. Classes absent here are not usable.
    oneway : bool
        Respect ``oneway`` tags (driving); pedestrians walk both ways.
    use_maxspeed : bool
        Use a way's ``maxspeed`` tag (km/h) when present, capped by nothing.
    penalty_min : float
        Fixed minutes added once per trip (parking, waiting), >= 0.
    access_speed_kmh : float
        Speed of the off-network leg between a point and the road, km/h
        (walking, 4.5 km/h by default).
    source : str
        Where the defaults come from.
    """

    name: str
    speed_kmh: dict[str, float] = field(default_factory=dict)
    oneway: bool = False
    use_maxspeed: bool = False
    penalty_min: float = 0.0
    access_speed_kmh: float = 4.5
    source: str = ""

    def with_overrides(self, **kw) -> "TravelMode":
        """A copy with scenario overrides; ``speed_kmh`` entries are merged."""
        speeds = dict(self.speed_kmh)
        speeds.update(kw.pop("speed_kmh", {}) or {})
        return replace(self, speed_kmh=speeds, **kw)


# Walking 4.5 km/h: the pace GB 50180-2018 uses to turn its 5/10/15-minute
# living circles into 300/500/800-1000 m (about 1.1-1.25 m/s; project reading
# of the standard's explanatory notes). Pedestrians use every street both ways
# but not motorways.
_WALKABLE = [
    "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
    "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road", "track", "footway", "pedestrian", "path", "steps",
    "cycleway", "bridleway",
]
WALK = TravelMode(
    name="walk",
    speed_kmh={h: 4.5 for h in _WALKABLE},
    source="4.5 km/h: GB 50180-2018 living-circle walking pace (project reading)",
)

# Cycling 15 km/h: commonly used urban planning value (project assumption);
# e-bikes 20 km/h, below the 25 km/h design cap of GB 17761-2018.
_RIDEABLE = [h for h in _WALKABLE if h not in ("steps", "footway", "pedestrian", "bridleway")]
BIKE = TravelMode(
    name="bike",
    speed_kmh={h: 15.0 for h in _RIDEABLE},
    oneway=True,
    source="15 km/h: project assumption for conventional bicycles",
)
EBIKE = TravelMode(
    name="ebike",
    speed_kmh={h: 20.0 for h in _RIDEABLE},
    oneway=True,
    source="20 km/h: below the 25 km/h cap of GB 17761-2018 (project assumption)",
)

# Driving: rural Chinese defaults by OSM class. OSM China tags national roads
# (国道) trunk/primary, provincial (省道) primary/secondary, county (县道)
# secondary/tertiary, township (乡道) tertiary/unclassified, village (村道)
# unclassified/residential. 30/40 km/h on roads without a centre line and 50/70
# km/h with one lane per direction follow the Road Traffic Safety Law
# Implementing Regulations, art. 45; expressway 100 km/h is a project
# assumption below the 120 km/h legal maximum to allow for ramps and traffic.
DRIVE = TravelMode(
    name="drive",
    speed_kmh={
        "motorway": 100.0, "motorway_link": 50.0,
        "trunk": 70.0, "trunk_link": 40.0,
        "primary": 60.0, "primary_link": 40.0,
        "secondary": 40.0, "secondary_link": 30.0,
        "tertiary": 30.0, "tertiary_link": 25.0,
        "unclassified": 20.0, "road": 20.0,
        "residential": 20.0, "living_street": 10.0,
        "service": 15.0, "track": 15.0,
    },
    oneway=True,
    use_maxspeed=True,
    source="Road Traffic Safety Law Implementing Regulations art. 45; rural road speeds by class are project defaults",
)

PRESETS: dict[str, TravelMode] = {m.name: m for m in (WALK, BIKE, EBIKE, DRIVE)}
