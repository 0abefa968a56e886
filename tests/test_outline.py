"""Polygons along pixel edges (access.coverage.outline) against GDAL's polygonize and hand-drawn cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.geometry
from hypothesis import given, settings
from hypothesis import strategies as st

from access.coverage.outline import fill_pinches, trace


def _gdal(mask, x0, y0, res):
    from affine import Affine
    from rasterio import features

    return [shapely.geometry.shape(g) for g, _ in
            features.shapes(mask.view(np.uint8), mask=mask, transform=Affine(res, 0, x0, 0, res, y0), connectivity=8)]


def test_a_square_ring_with_an_island_in_its_hole_by_hand():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True  # 5 x 5 block
    m[2:5, 2:5] = False  # 3 x 3 hole
    m[3, 3] = True  # island in the hole
    polys = trace(m, 100.0, 200.0, 10.0)
    assert len(polys) == 2
    ring, island = polys
    assert shapely.equals(ring, shapely.Polygon([(110, 210), (160, 210), (160, 260), (110, 260)],
                                                [[(120, 220), (120, 250), (150, 250), (150, 220)]]))
    assert shapely.equals(island, shapely.box(130, 230, 140, 240))
    # shells counter-clockwise, holes clockwise; only the corners where the boundary turns
    assert ring.exterior.is_ccw and not ring.interiors[0].is_ccw
    assert len(ring.exterior.coords) == 5 and len(ring.interiors[0].coords) == 5
    assert ring.area == pytest.approx(100.0 * (25 - 9))


def test_pixels_on_the_border_of_the_array_and_an_empty_mask():
    m = np.ones((3, 4), bool)
    assert shapely.equals(trace(m, 0.0, 0.0, 2.0)[0], shapely.box(0, 0, 8, 6))
    assert trace(np.zeros((3, 4), bool), 0.0, 0.0, 2.0) == []
    assert trace(np.zeros((0, 0), bool), 0.0, 0.0, 2.0) == []


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 30), st.floats(0.1, 0.9))
def test_traced_polygons_equal_gdals(seed, h, w, density):
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < density
    fill_pinches(mask)
    ours = trace(mask, -375.0, 1250.0, 25.0)
    theirs = _gdal(mask, -375.0, 1250.0, 25.0)
    assert len(ours) == len(theirs)
    assert all(p.is_valid for p in ours)
    assert sorted(len(p.interiors) for p in ours) == sorted(len(p.interiors) for p in theirs)
    a = shapely.multipolygons(ours) if ours else shapely.Polygon()
    b = shapely.multipolygons(theirs) if theirs else shapely.Polygon()
    assert a.is_valid
    assert a.area == pytest.approx(625.0 * mask.sum())
    assert shapely.symmetric_difference(a, b).area == pytest.approx(0.0, abs=1e-6)
