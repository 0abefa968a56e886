"""Where the package keeps files between runs: downloads and compiled kernels.

The root is ``$ACCESS_CACHE_DIR`` when set, else ``~/.cache/access-planner``.
Compiled numba kernels go to ``<root>/numba/<key>``, where the key hashes
the source of every module of the package that holds compiled kernels: an
installed package never writes into its own (possibly read-only) folder,
and an upgrade, even one that changes only a kernel called from another
file (numba checks only the caller's own file), starts a fresh cache
instead of loading stale machine code. The few most recent keys are kept.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Root folder of the package's caches (downloads, compiled kernels)."""
    env = os.environ.get("ACCESS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "access-planner"


#: file in a kernel folder recording that every kernel of a run is in it
MARKER = "complete"
KEEP = 4  # cache folders of earlier sources kept (several installs may share a home)


#: numba's CPU name for code that runs on every processor of the machine type; the kernels
#: compile for it, so those the package ships (:mod:`access.prebuilt`) load on any such machine
PORTABLE_CPU = "generic"


def source_key(package: Path = PACKAGE) -> str:
    """SHA-256 (16 hex digits) of the package's modules with compiled kernels, in path order."""
    h = hashlib.sha256()
    for path, text in _kernel_sources(package):
        h.update(path.relative_to(package).as_posix().encode())
        h.update(text)
    return h.hexdigest()[:16]


def kernel_modules(package: Path = PACKAGE) -> list[Path]:
    """The package's modules with compiled kernels, in path order."""
    return [path for path, _ in _kernel_sources(package)]


def _kernel_sources(package: Path) -> list[tuple[Path, bytes]]:
    sources = ((path, path.read_bytes()) for path in sorted(package.rglob("*.py")))
    return [(path, text) for path, text in sources if b"njit" in text]


def own_cache_env(root: Path, cpu: str | None = None) -> dict[str, str]:
    """This process's environment for a child with its own cache root (``ACCESS_CACHE_DIR``).

    numba settings this process inherited or :func:`configure_numba_cache`
    set are dropped, so the child chooses its own kernel folder and CPU;
    ``cpu`` sets ``NUMBA_CPU_NAME`` (e.g. this machine's, to compile rather
    than load the shipped kernels).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    env["ACCESS_CACHE_DIR"] = str(root)
    if cpu is not None:
        env["NUMBA_CPU_NAME"] = cpu
    return env


def _prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used sibling cache folders."""
    import shutil

    others = sorted((p for p in folder.parent.iterdir() if p.is_dir() and p != folder),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[keep - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def configure_numba_cache() -> Path | None:
    """Point numba's on-disk cache at ``<cache_dir>/numba/<source_key>``, filled from the shipped kernels.

    Must run before a module with compiled kernels is imported (numba picks
    the folder when a function is decorated). Kernels compile for numba's
    portable CPU (:data:`PORTABLE_CPU`), so the kernels the
    package ships load as they are; a new folder is filled from them
    (:func:`access.prebuilt.unpack`). A ``NUMBA_CACHE_DIR`` set by the user
    wins, and so does a ``NUMBA_CPU_NAME`` (numba then compiles every kernel
    for that CPU). Returns the folder used, or None when left to the user.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    folder = cache_dir() / "numba" / source_key()
    try:
        new = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if new:
            _prune(folder)
        else:
            os.utime(folder)  # most recently used
    except OSError:
        return None  # unwritable home: numba falls back to its own locations
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    os.environ.setdefault("NUMBA_CPU_NAME", PORTABLE_CPU)
    portable = os.environ["NUMBA_CPU_NAME"] == PORTABLE_CPU
    # numba reads the variables when first imported; importing it here would only
    # delay the start (and the compile-ahead helper) by the time numba takes to load
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = str(folder)
        config.CPU_NAME = os.environ["NUMBA_CPU_NAME"]
        if portable:
            config.CPU_FEATURES = ""
    marker = folder / MARKER
    if portable and not marker.exists() and _unpack(folder):
        try:
            marker.touch()  # every kernel of a run is there: no compile-ahead helper
        except OSError:
            pass
    return folder


def _unpack(folder: Path) -> bool:
    # imported only for a new folder: the archive code and its imports cost a start-up 50 ms
    from access import prebuilt

    return prebuilt.unpack(folder, folder.name)
