"""Datum check both ways: facilities and boundaries against the roads (and other layers), as given and as converted."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

from access.errors import InputWarning
from access.network import osm
from access.sources.chinacoords import gcj02_to_wgs84, wgs84_to_gcj02
from access.sources.datum import datum_warning, fit_inside, fit_to_points, road_lines, under_datum
from access.sources.facilities import read_facilities
from conftest import shared_path

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
UTM50 = "EPSG:32650"
GEOD = Geod(ellps="WGS84")


@contextmanager
def no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        yield


def test_under_datum_round_trips():
    lon, lat = np.array([119.3, 121.47]), np.array([26.08, 31.23])
    glon, glat = wgs84_to_gcj02(lon, lat)
    # positions read as GCJ-02 (converted) are the truth; as WGS84 they are the GCJ numbers themselves
    wl, wt = gcj02_to_wgs84(glon, glat)
    back_lon, back_lat = under_datum(wl, wt, "gcj02", "wgs84")
    assert np.allclose(back_lon, glon, atol=1e-8) and np.allclose(back_lat, glat, atol=1e-8)
    again = under_datum(glon, glat, "wgs84", "gcj02")
    assert np.allclose(again[0], wl, atol=1e-8) and np.allclose(again[1], wt, atol=1e-8)


# ------------------------------------------------------------------ synthetic street grid
@pytest.fixture
def grid():
    """WGS84 streets every 1000 m around Fuzhou (vertices every 20 m) and 30 facilities on them."""
    t = Transformer.from_crs(4326, 32650, always_xy=True)
    x0, y0 = t.transform(119.30, 26.08)
    gx, gy = np.meshgrid(np.arange(-3000, 3001, 20.0), np.arange(-3000, 3001, 20.0))
    on = (np.abs(gx) % 1000 == 0) | (np.abs(gy) % 1000 == 0)
    road = np.column_stack([gx[on] + x0, gy[on] + y0])
    pick = road[np.random.default_rng(3).choice(len(road), 30, replace=False)]
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(pick[:, 0], pick[:, 1])
    blocks = [shapely.box(x0 + i, y0 + j, x0 + i + 1000, y0 + j + 1000)
              for i in range(-3000, 3000, 1000) for j in range(-3000, 3000, 1000)]
    return road, np.asarray(lon), np.asarray(lat), gpd.GeoDataFrame(geometry=blocks, crs=UTM50)


def write(tmp_path, lon, lat, name="fac.csv"):
    p = tmp_path / name
    pd.DataFrame({"name": [f"{i}小学" for i in range(len(lon))], "category": "小学", "lon": lon, "lat": lat}).to_csv(p, index=False)
    return p


def test_gcj02_file_read_as_wgs84_warns_with_both_figures(tmp_path, grid):
    road, lon, lat, _ = grid
    offset = np.median(GEOD.inv(lon, lat, *wgs84_to_gcj02(lon, lat))[2])  # the GCJ-02 shift here, metres
    p = write(tmp_path, *wgs84_to_gcj02(lon, lat))
    fac, _ = read_facilities(p, UTM50, coords="wgs84")
    fit = fit_to_points(fac, road, "wgs84", "fac.csv")
    assert fit.values["gcj02"] < 1.0  # converted, they sit on the streets again
    assert 0.1 * offset < fit.values["wgs84"] <= offset
    with pytest.warns(InputWarning) as rec:
        assert datum_warning(fit)
    msg = str(rec[0].message)
    assert f"within {fit.values['wgs84']:.0f} m of the roads for three quarters" in msg
    assert "but within 0 m read as GCJ-02" in msg
    assert 'look like GCJ-02' in msg and 'Fix: set facility_coords = "gcj02"' in msg and "\n" not in msg
    ok, _ = read_facilities(p, UTM50, coords="gcj02")
    with no_warning():
        assert not datum_warning(fit_to_points(ok, road, "gcj02", "fac.csv"))


def test_wgs84_file_read_as_gcj02_warns_the_other_way(tmp_path, grid):
    road, lon, lat, _ = grid
    p = write(tmp_path, lon, lat)
    fac, _ = read_facilities(p, UTM50, coords="gcj02")  # converted although already WGS84
    fit = fit_to_points(fac, road, "gcj02", "fac.csv")
    assert fit.values["wgs84"] < 1.0 and fit.values["gcj02"] > 100
    with pytest.warns(InputWarning, match=r'look like WGS84 already.*Fix: set facility_coords = "wgs84"'):
        assert datum_warning(fit)
    right, _ = read_facilities(p, UTM50, coords="wgs84")
    with no_warning():
        assert not datum_warning(fit_to_points(right, road, "wgs84", "fac.csv"))


def test_boundaries_along_streets_both_ways(grid):
    road, *_ , blocks = grid
    to_ll = Transformer.from_crs(UTM50, 4326, always_xy=True)
    from_ll = Transformer.from_crs(4326, UTM50, always_xy=True)

    def shifted(fn):
        def move(xy):
            lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
            return np.column_stack(from_ll.transform(*fn(np.asarray(lon), np.asarray(lat))))
        return blocks.set_geometry(shapely.transform(blocks.geometry.to_numpy(), move), crs=UTM50)

    as_gcj = shifted(wgs84_to_gcj02)
    fit = fit_to_points(as_gcj, road, "wgs84", "towns.geojson", setting="boundary_coords")
    assert fit.values["gcj02"] < 1.0 and fit.values["wgs84"] > 100
    with pytest.warns(InputWarning, match=r'towns.geojson: boundaries lie within \d+ m of the roads for three quarters of their vertices as read.* Fix: set boundary_coords = "gcj02"'):
        assert datum_warning(fit)
    twice = shifted(gcj02_to_wgs84)  # converted although WGS84
    fit = fit_to_points(twice, road, "gcj02", "towns.geojson", setting="boundary_coords")
    assert fit.values["wgs84"] < 1.0
    with pytest.warns(InputWarning, match=r'boundary_coords = "wgs84"'):
        assert datum_warning(fit)
    with no_warning():
        assert not datum_warning(fit_to_points(blocks, road, "wgs84", "towns.geojson", setting="boundary_coords"))


# ------------------------------------------------------------------ the demo's real OSM roads
@pytest.fixture(scope="module")
def demo_roads():
    edges = osm.read_network(DEMO / "roads.osm.pbf")
    return road_lines(edges.projected(UTM50)[1], edges.offsets)


def test_demo_facilities_shifted_both_ways(tmp_path, demo_roads):
    raw = pd.read_csv(DEMO / "facilities.csv", encoding="utf-8-sig")
    as_given, _ = read_facilities(DEMO / "facilities.csv", UTM50)
    base = fit_to_points(as_given, demo_roads, "wgs84", "facilities.csv")
    # the demo places every facility 10-35 m beside a road (data/demo/README.md); shifted, many land far off
    assert base.values["wgs84"] <= 35.5 and base.values["gcj02"] > 2 * base.values["wgs84"]
    with no_warning():
        assert not datum_warning(base)

    glon, glat = wgs84_to_gcj02(raw["lon"].to_numpy(), raw["lat"].to_numpy())
    p = tmp_path / "gcj.csv"
    raw.assign(lon=glon, lat=glat).to_csv(p, index=False)
    fac, _ = read_facilities(p, UTM50, coords="wgs84")
    fit = fit_to_points(fac, demo_roads, "wgs84", "gcj.csv")
    assert fit.values["gcj02"] == pytest.approx(base.values["wgs84"], abs=0.5)
    with pytest.warns(InputWarning, match=r'gcj.csv: .*Fix: set facility_coords = "gcj02"'):
        assert datum_warning(fit)

    twice, _ = read_facilities(DEMO / "facilities.csv", UTM50, coords="gcj02")
    fit = fit_to_points(twice, demo_roads, "gcj02", "facilities.csv")
    assert fit.values["wgs84"] == pytest.approx(base.values["wgs84"], abs=0.5)
    with pytest.warns(InputWarning, match=r'look like WGS84 already.*facility_coords = "wgs84"'):
        assert datum_warning(fit)


def test_demo_study_records_the_fit_without_warning():
    from access.study import Study

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", InputWarning)
        study = Study.read(DEMO / "scenario.toml", quiet=True)
    assert not [w for w in rec if "datum" in str(w.message) or "look like" in str(w.message)]
    notes = next(a.notes for a in study.accounts if a.source == "datum check")
    assert any("facilities.csv vs roads, distance (m) to the nearest road" in n for n in notes)
    assert any("townships.geojson vs roads" in n for n in notes)
    t = study.categories
    assert t["count"].sum() == len(pd.read_csv(DEMO / "facilities.csv"))


# ------------------------------------------------------------------ real Shanghai POIs
def test_shanghai_pois_against_districts():
    """No Shanghai roads exist here: the district layer (WGS84) is the other layer.

    Read as given, no hospital POI falls outside Shanghai's districts; converted
    from GCJ-02 (a second time, if they are already WGS84) several land in the
    sea or beyond the border: the dump is WGS84 already, and the check says so.
    """
    districts = gpd.read_file(shared_path("shanghai/districts/shanghai_districts.shp"))
    p = shared_path("shanghai/amap_poi/shanghai_hospital.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        given, _ = read_facilities(p, "EPSG:32651", coords="wgs84")
        converted, _ = read_facilities(p, "EPSG:32651", coords="gcj02")
    # independent count with shapely
    area = districts.to_crs(32651).union_all()
    outside_given = int((~given.within(area)).sum())
    outside_conv = int((~converted.within(area)).sum())
    fit = fit_inside(given, districts, "wgs84", p.name, "districts")
    assert round(fit.values["wgs84"] * fit.n) == outside_given
    assert round(fit.values["gcj02"] * fit.n) == outside_conv
    assert outside_given < outside_conv
    with no_warning():
        assert not datum_warning(fit)
    fit = fit_inside(converted, districts, "gcj02", p.name, "districts")
    with pytest.warns(InputWarning, match=r'outside the districts for \d+ of \d+ as read .*look like WGS84 already'):
        assert datum_warning(fit)
