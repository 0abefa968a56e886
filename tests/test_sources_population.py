"""Population readers: raster, points, polygons; persons conserved."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from access.sources import population as popmod
from access.sources.population import (
    read_population,
    read_population_points,
    read_population_raster,
    spread_polygon_population,
)
from access.errors import InputError
from conftest import shared_path

UTM50 = "EPSG:32650"


def write_raster(path, data, crs="EPSG:4326", nodata=-99999.0, origin=(119.2, 26.2), res=0.001):
    h, w = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
        crs=crs, transform=from_origin(origin[0], origin[1], res, res), nodata=nodata,
    ) as dst:
        dst.write(data.astype("float32"), 1)
    return path


@pytest.fixture
def raster(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 50, (40, 30)).astype("float32")
    data[0:3, :] = -99999.0  # nodata
    data[10, 5:9] = 0.0
    return write_raster(tmp_path / "pop.tif", data), data


def test_raster_persons_and_positions(raster):
    path, data = raster
    cells, acc = read_population_raster(path, UTM50)
    valid = data != np.float32(-99999.0)
    expected = float(data[valid].astype("float64").sum())
    assert acc.population_read == pytest.approx(expected, abs=1e-6)
    assert acc.read == int(valid.sum())
    assert acc.dropped == {"zero population": 4}
    assert acc.kept == int((valid & (data > 0)).sum()) == len(cells)
    assert cells["population"].sum() == pytest.approx(expected, abs=1e-6)
    assert cells["cell_id"].dtype == "int64" and cells["population"].dtype == "float64"
    acc.check()
    # Position of one cell, computed independently from the raster transform.
    r, c = 20, 7
    lon, lat = 119.2 + (c + 0.5) * 0.001, 26.2 - (r + 0.5) * 0.001
    x, y = Transformer.from_crs(4326, 32650, always_xy=True).transform(lon, lat)
    row = cells[cells["cell_id"] == r * 30 + c].iloc[0]
    assert row.geometry.x == pytest.approx(x, abs=1e-6) and row.geometry.y == pytest.approx(y, abs=1e-6)
    assert row["population"] == pytest.approx(float(data[r, c]))


def test_raster_blocks_give_same_result(raster, monkeypatch):
    path, _ = raster
    full, acc_full = read_population_raster(path, UTM50)
    monkeypatch.setattr(popmod, "_BLOCK_CELLS", 70)  # ~2 rows per block
    blocked, acc_b = read_population_raster(path, UTM50)
    assert np.array_equal(np.sort(full["cell_id"]), np.sort(blocked["cell_id"]))
    assert acc_b.population_read == pytest.approx(acc_full.population_read, abs=1e-6)


def test_raster_area_filter(raster, monkeypatch):
    path, data = raster
    monkeypatch.setattr(popmod, "_BLOCK_CELLS", 90)
    t = Transformer.from_crs(4326, 32650, always_xy=True)
    ring = [t.transform(lo, la) for lo, la in [(119.205, 26.19), (119.22, 26.19), (119.22, 26.17), (119.205, 26.175)]]
    area = gpd.GeoDataFrame(geometry=[shapely.Polygon(ring)], crs=UTM50)
    cells, acc = read_population_raster(path, UTM50, area=area)
    # Oracle: every valid non-zero cell centre tested with shapely one by one.
    inside_pop, inside_n, out_pop = 0.0, 0, 0.0
    poly = area.geometry.iloc[0]
    for r in range(data.shape[0]):
        for c in range(data.shape[1]):
            v = float(data[r, c])
            if v == -99999.0 or v == 0:
                continue
            x, y = t.transform(119.2 + (c + 0.5) * 0.001, 26.2 - (r + 0.5) * 0.001)
            if poly.intersects(shapely.Point(x, y)):
                inside_pop += v
                inside_n += 1
            else:
                out_pop += v
    assert len(cells) == inside_n
    assert cells["population"].sum() == pytest.approx(inside_pop, abs=1e-4)
    assert acc.population_dropped["outside the study area"] == pytest.approx(out_pop, abs=1e-4)
    total = acc.population_kept + sum(acc.population_dropped.values())
    assert total == pytest.approx(acc.population_read, abs=1e-6)
    acc.check()


def test_raster_in_projected_crs(tmp_path):
    data = np.full((5, 4), 2.5, dtype="float32")
    path = write_raster(tmp_path / "p.tif", data, crs="EPSG:32650", origin=(600000, 2900000), res=100)
    cells, acc = read_population_raster(path, UTM50)
    assert cells["population"].sum() == pytest.approx(50.0)
    assert cells.geometry.x.min() == pytest.approx(600050.0)
    assert cells.geometry.y.max() == pytest.approx(2899950.0)


def test_wuhan_worldpop_conserved():
    path = shared_path("wuhan/worldpop_age_sex/pop_60_f_wuhan.tif")
    boundary = shared_path("wuhan/wuhan-boundary_osm.geojson")
    with rasterio.open(path) as src:
        a = src.read(1, masked=True).astype("float64")
        valid_sum = float(a.sum())
        valid_n = int(a.count())
    area = gpd.read_file(boundary).to_crs(UTM50)
    cells, acc = read_population(path, UTM50, area=area)
    assert acc.read == valid_n
    assert acc.population_read == pytest.approx(valid_sum, rel=1e-9)
    kept_plus_dropped = acc.population_kept + sum(acc.population_dropped.values())
    assert kept_plus_dropped == pytest.approx(valid_sum, abs=1.0)  # to the person
    assert cells["population"].sum() == pytest.approx(acc.population_kept, rel=1e-12)
    assert acc.kept + sum(acc.dropped.values()) == acc.read
    assert acc.population_dropped.get("outside the study area", 0) > 0


def test_points_csv_conserved(tmp_path):
    df = pd.DataFrame({
        "lon": [119.30, 119.31, 119.32, 119.50, 119.33, None],
        "lat": [26.08, 26.09, 26.07, 26.50, 26.08, 26.1],
        "population": [100.5, 0, 30, 12, 7.25, 4],
    })
    p = tmp_path / "pts.csv"
    df.to_csv(p, index=False)
    t = Transformer.from_crs(4326, 32650, always_xy=True)
    ring = [t.transform(lo, la) for lo, la in [(119.25, 26.0), (119.4, 26.0), (119.4, 26.2), (119.25, 26.2)]]
    area = gpd.GeoSeries([shapely.Polygon(ring)], crs=UTM50)
    with pytest.warns(UserWarning, match="rows 7"):
        cells, acc = read_population_points(p, UTM50, area=area)
    assert acc.population_read == pytest.approx(153.75)
    assert acc.population_kept == pytest.approx(100.5 + 30 + 7.25)
    assert acc.population_dropped == pytest.approx({"outside the study area": 12.0, "missing coordinates": 4.0})
    assert acc.dropped == {"zero population": 1, "outside the study area": 1, "missing coordinates": 1}
    assert sorted(cells["cell_id"]) == [2, 4, 6]
    acc.check()


def test_points_geojson(tmp_path):
    g = gpd.GeoDataFrame({"pop": [5.0, 6.0]}, geometry=gpd.points_from_xy([119.3, 119.31], [26.08, 26.09]), crs=4326)
    p = tmp_path / "pts.geojson"
    g.to_file(p)
    cells, acc = read_population(p, UTM50, column="pop")
    assert cells["population"].sum() == pytest.approx(11.0)
    acc.check()


def test_polygons_spread_by_area_share():
    # A: 300 x 200 m rectangle not aligned to the 100 m grid; B: 100 x 100 m.
    a = shapely.box(650, 1020, 950, 1220)
    b = shapely.box(2000, 2000, 2100, 2100)
    polys = gpd.GeoDataFrame({"pop": [600.0, 50.0], "name": ["A", "B"]}, geometry=[a, b], crs=UTM50)
    cells, acc = spread_polygon_population(polys, "pop", 100, UTM50)
    assert cells["population"].sum() == pytest.approx(650.0, abs=1e-6)
    # Cell [700,800]x[1100,1200] lies fully inside A: 600 * 100*100 / (300*200) persons.
    inner = cells[(cells.geometry.x == 750) & (cells.geometry.y == 1150)]
    assert inner["population"].iloc[0] == pytest.approx(100.0)
    # Corner cell [600,700]x[1000,1100]: overlap 50 x 80 m.
    corner = cells[(cells.geometry.x == 650) & (cells.geometry.y == 1050)]
    assert corner["population"].iloc[0] == pytest.approx(600 * 50 * 80 / 60000)
    # Per-polygon conservation: B's cells.
    bcells = cells[(cells.geometry.x > 1500)]
    assert bcells["population"].sum() == pytest.approx(50.0, abs=1e-6)
    acc.check()


def test_polygons_file_with_area(tmp_path):
    polys = gpd.GeoDataFrame(
        {"population": [1000.0, 0.0, 321.5]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(2000, 0, 2500, 500), shapely.box(5000, 0, 5300, 700)],
        crs=UTM50,
    ).to_crs(4326)
    p = tmp_path / "town.gpkg"
    polys.to_file(p)
    area = gpd.GeoSeries([shapely.box(-10, -10, 3000, 3000)], crs=UTM50)
    cells, acc = read_population(p, UTM50, area=area, cell_size_m=100)
    assert acc.population_read == pytest.approx(1321.5)
    assert acc.population_dropped["outside the study area"] == pytest.approx(321.5, abs=1e-3)
    assert acc.population_kept == pytest.approx(1000.0, abs=1e-3)
    assert acc.dropped == {"zero population": 1}
    acc.check()


def _band_sum(files) -> tuple[np.ndarray, dict]:
    """Sum of WorldPop band rasters read with rasterio and numpy (the oracle)."""
    total, profile = None, None
    for f in files:
        with rasterio.open(f) as src:
            a = src.read(1, masked=True).astype("float64").filled(0.0)
            profile = profile or src.profile
        total = a if total is None else total + a
    return total, profile


def test_wuhan_age_bands_sum_to_the_group(tmp_path):
    """Population = every band (20-80+, f and m); elderly = the 60..80 bands.
    Per cell and in total the group equals the sum of its bands exactly."""
    folder = shared_path("wuhan/worldpop_age_sex")
    every = sorted(folder.glob("pop_*_wuhan.tif"))
    elderly = sorted(f for f in every if int(f.name.split("_")[1]) >= 60)
    assert len(every) == 26 and len(elderly) == 10
    total, profile = _band_sum(every)
    old, _ = _band_sum(elderly)
    pop_path = tmp_path / "adults.tif"
    profile.update(dtype="float64", nodata=None, compress="deflate")
    with rasterio.open(pop_path, "w", **profile) as dst:
        dst.write(total, 1)
    cells, _ = read_population(pop_path, UTM50)
    cells, accs = popmod.add_groups(cells, {"elderly": elderly}, pop_path, UTM50)
    ids = cells["cell_id"].to_numpy()
    rows, cols = ids // total.shape[1], ids % total.shape[1]
    np.testing.assert_array_equal(cells["pop_elderly"].to_numpy(), old[rows, cols])
    # every elderly person lies in a cell with adults: nothing dropped
    assert cells["pop_elderly"].sum() == pytest.approx(old.sum(), rel=1e-12)
    (acc,) = accs
    assert acc.population_read == pytest.approx(old.sum(), rel=1e-12)
    assert acc.population_kept == pytest.approx(old.sum(), rel=1e-12)
    assert (cells["pop_elderly"] <= cells["population"] + 1e-9).all()
    assert 0.1 < old.sum() / total.sum() < 0.5  # 60+ among adults, a plausible share


def test_group_rasters_on_another_grid_are_refused(tmp_path):
    folder = shared_path("wuhan/worldpop_age_sex")
    band = folder / "pop_60_f_wuhan.tif"
    with rasterio.open(band) as src:
        a = src.read(1)[:100, :100].astype("float64")
        profile = src.profile
    profile.update(width=100, height=100, dtype="float64", nodata=None)
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", **profile) as dst:
        dst.write(np.where(a < 0, 0.0, a), 1)
    cells, _ = read_population(small, UTM50)
    with pytest.raises(InputError, match="differs from the population raster"):
        popmod.add_groups(cells, {"elderly": [band]}, small, UTM50)


def test_vector_population_groups_by_column(tmp_path):
    df = pd.DataFrame({"lon": [119.30, 119.31, 119.32], "lat": [26.08, 26.09, 26.07],
                       "population": [100.0, 0.0, 30.0], "pop60": [20.0, 5.0, 6.0]})
    p = tmp_path / "pts.csv"
    df.to_csv(p, index=False)
    cells, _ = read_population(p, UTM50)
    with pytest.warns(UserWarning, match="5 persons of group 'elderly'"):
        cells, (acc,) = popmod.add_groups(cells, {"elderly": "pop60"}, p, UTM50)
    # the zero-population row is dropped with its 5 elderly persons, counted
    assert cells["pop_elderly"].tolist() == [20.0, 6.0]
    assert acc.population_read == 31.0 and acc.population_kept == 26.0
    assert sum(acc.population_dropped.values()) == 5.0


def test_point_population_parsed_once_for_its_groups(tmp_path):
    """The groups' columns come from the table parsed for the persons: the file is
    not opened again (here it is gone by then), and the figures are the file's."""
    df = pd.DataFrame({"lon": [119.30, 119.31, 119.32], "lat": [26.08, 26.09, 26.07],
                       "population": [100.0, 0.0, 30.0], "pop60": [20.0, 5.0, 6.0], "kids": [7.0, 0.0, 1.5]})
    p = tmp_path / "pts.csv"
    df.to_csv(p, index=False)
    parsed: dict = {}
    cells, _ = read_population(p, UTM50, tables=parsed)
    p.unlink()
    with pytest.warns(UserWarning, match="5 persons of group 'elderly'"):
        cells, accs = popmod.add_groups(cells, {"elderly": "pop60", "age_3_5": "kids"}, p, UTM50, tables=parsed)
    assert cells["pop_elderly"].tolist() == [20.0, 6.0] and cells["pop_age_3_5"].tolist() == [7.0, 1.5]
    assert [a.population_read for a in accs] == [31.0, 8.5]
