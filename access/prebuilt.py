"""Kernels compiled before release and shipped with the package.

numba compiles each kernel the first time a run calls it: 15-25 s of CPU
on the demo, more than the run itself. The package therefore ships the
machine code of its kernels in ``access/kernels/`` (one zip archive), built
by :func:`build` for numba's portable ``generic`` CPU
(:data:`access.cache.PORTABLE_CPU`), the target numba's
documentation names for caches shared between machines (on the benchmarks
it runs as fast as code tuned to the host; ``benchmarks/README.md``). On the
first import with an empty kernel folder (:mod:`access.cache`) the archive
is unpacked into that folder, where numba finds the kernels as if it had
compiled them itself.

An archive is used only when its name matches this version of the kernel
sources (:func:`access.cache.source_key`), numba, Python and machine; numba
itself checks each kernel's source hash, signature and CPU again before it
loads one. Anything else (an edited kernel, another numba, another machine)
finds no archive and compiles as before, helped by :mod:`access.precompile`.

Build the archive after changing a kernel (``tests/test_prebuilt.py``
fails until it matches)::

    make kernels
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path, PurePosixPath


def _package_dir() -> str:
    # as Python imported it (unresolved): numba names a cache folder after the module's path
    return os.path.dirname(os.path.abspath(__file__))


#: the shipped archives (one per key; :func:`build` removes older ones)
SHELF = Path(_package_dir()) / "kernels"


def archive_name(key: str) -> str:
    """File name of the archive for kernel sources ``key`` on this numba, Python and machine."""
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return f"kernels-{key}-numba{version('numba')}-{py}-{sys.platform}-{platform.machine()}.zip"


def _cache_subpath(subpackage: str) -> str:
    """The folder numba gives the kernels of ``access/<subpackage>/*.py`` inside its cache folder."""
    from numba.core.caching import UserProvidedCacheLocator

    return UserProvidedCacheLocator.get_suitable_cache_subpath(os.path.join(_package_dir(), subpackage, "x.py"))


def _kernel_dirs() -> list[str]:
    """Subpackages holding compiled kernels."""
    from access.cache import kernel_modules

    root = Path(_package_dir())
    return sorted({p.parent.name for p in kernel_modules(root) if p.parent.parent == root})


def _member_target(name: str, dirs: dict[str, str]) -> str | None:
    """``<subpackage>/<file>.nbi|.nbc`` -> numba's file name inside the cache folder; None for anything else."""
    parts = PurePosixPath(name).parts
    if len(parts) != 2 or parts[0] not in dirs or PurePosixPath(parts[1]).suffix not in (".nbi", ".nbc"):
        return None
    if parts[1].startswith(".") or "\\" in parts[1]:
        return None
    return os.path.join(dirs[parts[0]], parts[1])


def unpack(folder: Path, key: str, shelf: Path = SHELF) -> bool:
    """Unpack the archive for ``key`` into the kernel folder; False when none ships.

    Each file is written beside its target and renamed over it, so a run
    reading the folder meanwhile (or a second run unpacking the same
    archive) sees whole files only.
    """
    archive = shelf / archive_name(key)
    if not archive.is_file():
        return False
    try:
        dirs = {d: _cache_subpath(d) for d in _kernel_dirs()}
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                target = _member_target(info.filename, dirs)
                if target is None:
                    continue
                path = folder / target
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".unpack-", delete=False) as tmp:
                    tmp.write(z.read(info))
                os.replace(tmp.name, path)
    except (OSError, zipfile.BadZipFile):
        return False  # numba compiles what is missing
    return True


def _compile_everything(out: Path) -> None:
    """Run what a planner runs first, so numba compiles (and caches) every kernel it calls."""
    from access.cli import main
    from access.demo import demo_path
    from access.siting.propose import propose_sites
    from access.study import Study

    if main(["demo", "--out", str(out / "demo"), "--quiet"]) != 0:
        raise SystemExit("the demo failed; no archive built")
    study = Study.load(demo_path(), quiet=True)
    base = study.run(service_areas=False)
    for method in ("auto", "heuristic"):
        propose_sites(study, base, "fujian_30min_medical", p=1, category="township_health_centre", method=method)


def build(shelf: Path = SHELF) -> Path:
    """Compile every kernel for the portable CPU in a fresh cache and pack them; returns the archive.

    The compiling runs in a child process with its own empty cache folder,
    marked complete beforehand so that it neither unpacks an older archive
    nor starts the compile-ahead helper.
    """
    from access.cache import MARKER, own_cache_env, source_key

    key = source_key()
    with tempfile.TemporaryDirectory(prefix="access-kernels-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "numba" / key
        folder.mkdir(parents=True)
        (folder / MARKER).touch()
        subprocess.run([sys.executable, "-c", "import sys, pathlib, access.prebuilt as p; "
                        "p._compile_everything(pathlib.Path(sys.argv[1]))", str(tmp / "out")],
                       env=own_cache_env(tmp), check=True)
        names = {_cache_subpath(d): d for d in _kernel_dirs()}
        shelf.mkdir(parents=True, exist_ok=True)
        archive = shelf / archive_name(key)
        partial = archive.with_name(archive.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(folder.glob("*/*")):
                sub = names.get(path.parent.name)
                if sub is not None and path.suffix in (".nbi", ".nbc"):
                    z.write(path, f"{sub}/{path.name}")
        os.replace(partial, archive)
    for old in shelf.glob("kernels-*.zip"):
        if old != archive:
            old.unlink()
    return archive
