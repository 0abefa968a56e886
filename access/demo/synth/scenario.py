"""The demo scenario file (TOML) of the synthetic county."""

from __future__ import annotations

from pathlib import Path

SCENARIO_TOML = """\
# Scenario for the synthetic demo county (all data invented; see README.md).
[study]
name = "示范县 (synthetic demo county)"
output = "../../maps/demo"
lang = "zh"
synthetic = true

[inputs]
network = "roads.osm.pbf"
population = "population.tif"
facilities = "facilities.csv"
facility_coords = "wgs84"
counties = "counties.geojson"
townships = "townships.geojson"

# persons by demand group (synthetic age bands on the population grid);
# elderly is the sum of two bands
[inputs.groups]
elderly = ["age/pop_60_69.tif", "age/pop_70_plus.tif"]
age_3_5 = ["age/pop_3_5.tif"]
age_6_11 = ["age/pop_6_11.tif"]
age_12_14 = ["age/pop_12_14.tif"]

[inputs.boundary_fields]
code = "code"
name = "name"
parent = "county_code"
urban = "urban"

[snap]
max_distance_m = 500

# the first circle is the one the maps open on; GB 50180 tiers and the
# elderly-care circle apply to urban cells, TD/T 1062 rural tiers to rural
# cells, primary care to everyone (each standard's default scope)
[[circles]]
standard = "fujian_30min_medical"
[[circles]]
standard = "gb50180_15min"
[[circles]]
standard = "gb50180_10min"
[[circles]]
standard = "gb50180_5min"
[[circles]]
standard = "elderly_15min"
[[circles]]
standard = "tdt1062_township"
[[circles]]
standard = "tdt1062_village"

[rules]
township = ["central_kindergarten", "township_health_centre"]

[[targets]]
name = "beds"
categories = ["township_health_centre", "community_health_centre", "hospital"]
capacity_column = "capacity"
per_1000 = 5.0
mode = "drive"
minutes = 30
allocate = true

# primary-care beds (卫生院 and 社区卫生服务中心) at 1.2 per 1,000 persons:
# one bed serves 833 persons within 30 minutes' drive. allocate = true also
# serves the nearest persons first up to each facility's beds
# (capacity_township.csv, capacity_facilities.csv)
[[targets]]
name = "primary_beds"
categories = ["township_health_centre", "community_health_centre"]
capacity_column = "capacity"
per_1000 = 1.2
mode = "drive"
minutes = 30
allocate = true
"""


def write_scenario(path: Path) -> None:
    """Write the demo ``scenario.toml``."""
    path.write_text(SCENARIO_TOML, encoding="utf-8")
