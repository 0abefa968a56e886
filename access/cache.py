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


KEEP = 4  # cache folders of earlier sources kept (several installs may share a home)


def source_key(package: Path = PACKAGE) -> str:
    """SHA-256 (16 hex digits) of the package's modules with compiled kernels, in path order."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if b"njit" in text:
            h.update(path.relative_to(package).as_posix().encode())
            h.update(text)
    return h.hexdigest()[:16]


def _prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used sibling cache folders."""
    import shutil

    others = sorted((p for p in folder.parent.iterdir() if p.is_dir() and p != folder),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[keep - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def configure_numba_cache() -> Path | None:
    """Point numba's on-disk cache at ``<cache_dir>/numba/<source_key>``.

    Must run before a module with compiled kernels is imported (numba picks
    the folder when a function is decorated). A ``NUMBA_CACHE_DIR`` set by
    the user wins. Returns the folder used, or None when left to the user.
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
    # numba reads the variable when first imported; importing it here would only
    # delay the start (and the compile-ahead helper) by the time numba takes to load
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = str(folder)
    return folder
