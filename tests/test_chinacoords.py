"""GCJ-02 / BD-09 conversions against published control points and prcoords."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.sources import chinacoords as cc
from access.sources.crs import utm_crs_for


def metres(lon1, lat1, lon2, lat2):
    """Small-distance approximation, metres."""
    lat = np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2)
    return np.hypot((np.asarray(lon1) - lon2) * 111_320 * np.cos(lat), (np.asarray(lat1) - lat2) * 110_574)


# (wgs lon, wgs lat, gcj lon, gcj lat): googollee/eviltransform, python/test.py
# (TESTS: shanghai, shenzhen, beijing; asserted there to 6 decimals), and
# wandergis/coordtransform README example wgs84togcj02(116.404, 39.915), also
# used in hutool's CoordinateUtilTest.
WGS_GCJ = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


@pytest.mark.parametrize("wlon,wlat,glon,glat", WGS_GCJ)
def test_published_forward_points(wlon, wlat, glon, glat):
    lon, lat = cc.wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-7)
    assert lat == pytest.approx(glat, abs=1e-7)


@pytest.mark.parametrize("wlon,wlat,glon,glat", WGS_GCJ)
def test_published_inverse_points(wlon, wlat, glon, glat):
    lon, lat = cc.gcj02_to_wgs84(glon, glat)
    # eviltransform's exact inverse is asserted to 0.5 m; ours iterates to 1 cm.
    assert metres(lon, lat, wlon, wlat) < 0.05


def test_bd09_published_point():
    # Beijing railway station, GCJ-02 (39.90245, 116.42703) and BD-09
    # (39.90851, 116.43351): example in the R package documentation of
    # bd2gcj (rounded to 5 decimals, ~1 m).
    lon, lat = cc.bd09_to_gcj02(116.43351, 39.90851)
    assert metres(lon, lat, 116.42703, 39.90245) < 2.0
    lon, lat = cc.gcj02_to_bd09(116.42703, 39.90245)
    assert metres(lon, lat, 116.43351, 39.90851) < 2.0


def test_against_prcoords_oracle():
    prcoords = pytest.importorskip("prcoords")
    rng = np.random.default_rng(1)
    lon = rng.uniform(100, 125, 40)
    lat = rng.uniform(20, 45, 40)
    wl, wt = cc.gcj02_to_wgs84(lon, lat)
    bl, bt = cc.bd09_to_wgs84(lon, lat)
    gl, gt = cc.wgs84_to_gcj02(lon, lat)
    for i in range(len(lon)):
        c = prcoords.Coords(lat[i], lon[i])
        w = prcoords.gcj_wgs_bored(c)
        assert metres(wl[i], wt[i], w.lon, w.lat) < 0.1
        b = prcoords.bd_wgs_bored(c)
        assert metres(bl[i], bt[i], b.lon, b.lat) < 0.1
        g = prcoords.wgs_gcj(c)
        assert metres(gl[i], gt[i], g.lon, g.lat) < 1e-3


@settings(max_examples=200, deadline=None)
@given(st.floats(73.5, 134.5), st.floats(18.0, 53.5))
def test_round_trip_under_one_metre(lon, lat):
    glon, glat = cc.wgs84_to_gcj02(lon, lat)
    wlon, wlat = cc.gcj02_to_wgs84(glon, glat)
    assert metres(wlon, wlat, lon, lat) < 1.0
    blon, blat = cc.wgs84_to_bd09(lon, lat)
    wlon, wlat = cc.bd09_to_wgs84(blon, blat)
    assert metres(wlon, wlat, lon, lat) < 1.0


@settings(max_examples=200, deadline=None)
@given(st.floats(102.0, 122.0), st.floats(22.0, 41.0))
def test_shift_magnitude_in_eastern_china(lon, lat):
    glon, glat = cc.wgs84_to_gcj02(lon, lat)
    d = metres(glon, glat, lon, lat)
    assert 100 < d < 700


@pytest.mark.parametrize("lon,lat", [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (100.5, 0.5), (151.2, -33.9)])
def test_no_shift_outside_china(lon, lat):
    assert cc.out_of_china(lon, lat)
    assert cc.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert cc.gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_vectorised_shapes_and_nan():
    lon = np.array([[116.4, np.nan], [121.5, 2.0]])
    lat = np.array([[39.9, 30.0], [31.2, 48.0]])
    w = cc.gcj02_to_wgs84(lon, lat)
    assert w[0].shape == (2, 2) and np.isnan(w[0][0, 1])
    assert w[0][1, 1] == 2.0


def test_to_wgs84_dispatch():
    assert cc.to_wgs84(116.4, 39.9, "wgs84") == (116.4, 39.9)
    assert cc.to_wgs84(116.4, 39.9, "GCJ-02") == cc.gcj02_to_wgs84(116.4, 39.9)
    with pytest.raises(ValueError):
        cc.to_wgs84(1, 2, "mars")


@pytest.mark.parametrize("lon,lat,epsg", [(119.3, 26.08, 32650), (114.3, 30.6, 32650), (121.5, 31.2, 32651),
                                          (-0.1, 51.5, 32630), (151.2, -33.9, 32756), (3.0, 0.0, 32631)])
def test_utm_zone(lon, lat, epsg):
    assert utm_crs_for(lon, lat).to_epsg() == epsg
