"""HTTP transfers that never leave a partial or wrong file under its final name.

:func:`download` streams to ``<dest>.part``, resumes an interrupted transfer
with an HTTP ``Range`` request, checks the MD5/SHA-256 checksum when one is
known and what the file must be (a ``verify`` function, see
:mod:`access.sources.download.verify`), and only then renames it into
place. A file that fails is deleted, never cached. When the server cannot
be reached the error says so at once (no long hangs) and names the address
and the local path, so the file can be fetched by hand on another machine.
Only the standard library (``urllib``) is used; the usual
``https_proxy``/``no_proxy`` environment variables are honoured.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from access.cache import cache_dir
from access.errors import InputError, warn
from access.progress import Progress

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


#: Environment variables naming a mirror of each source (planners in China often must use one).
MIRROR_ENV = {"geofabrik": "ACCESS_GEOFABRIK_URL", "worldpop": "ACCESS_WORLDPOP_URL",
              "overpass": "ACCESS_OVERPASS_URL"}


def base_url_for(source: str, given: str | None, default: str | None) -> str | None:
    """The base address of ``source``: ``given``, else ``$ACCESS_<SOURCE>_URL``, else ``default``."""
    url = given or os.environ.get(MIRROR_ENV[source]) or default
    return url.rstrip("/") if url else None


def default_cache_dir() -> Path:
    """Folder for downloaded files shared between studies (:func:`access.cache.cache_dir`)."""
    return cache_dir()


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
             retries: int = 3, progress: bool | Progress = True, hint: str = "",
             verify: Callable[[Path], str | None] | None = None) -> Path:
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
        Fix suggested when the server answers 404 or sends a wrong file.
    verify : callable, optional
        ``verify(path)`` returns None for a good file, else what is wrong
        (see :mod:`access.sources.download.verify`); it catches what HTTP
        cannot show: an HTML error page sent with status 200, a body cut
        off on a connection that announced no length.

    Returns
    -------
    Path
        ``dest``. When ``dest`` already exists, matches the checksums and
        passes ``verify`` it is returned without any network access.

    Raises
    ------
    OfflineError
        The server cannot be reached (offline, DNS failure, refused,
        no answer within ``timeout_s``): fails at once, without retries.
    DownloadError
        HTTP error status, interrupted more than ``retries`` times (the
        ``.part`` is kept for the next run), a checksum mismatch (the
        file is deleted; the message gives the expected and received
        checksums), or a file that fails ``verify`` (deleted).
    """
    dest = Path(dest)
    prog = _as_progress(progress)
    expected = _expected_checksums(md5, sha256, url)
    if dest.exists():
        bad = _mismatches(dest, expected)
        problem = None if bad or verify is None else verify(dest)
        if not bad and problem is None:
            return dest
        if bad:
            algo, (want, got) = next(iter(bad.items()))
            problem = f"its {algo} is {got}, not {want}"
        warn(f"{dest}: already there but {problem}; downloading it again.")
        dest.unlink()
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
        problem = verify(part) if verify is not None else None
        if problem is not None:
            part.unlink()
            raise DownloadError(f"{url}: the server sent {problem}; the downloaded file was deleted. Fix: re-run "
                                f"(a dropped connection); if it fails again check the address{hint and f' ({hint})'}"
                                f" or the mirror (--base-url), or download the file by hand to {dest}.")
        os.replace(part, dest)
    return dest


