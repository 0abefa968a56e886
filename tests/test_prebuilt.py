"""Kernels shipped compiled with the package (access.prebuilt) and unpacked into a new cache."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from access import cache, prebuilt
from compile_events import DEMO_COMPILES

ROOT = Path(__file__).resolve().parents[1]

SHIPPED_FOR = sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)


@pytest.mark.skipif(not SHIPPED_FOR, reason="kernels ship for Linux x86_64 and Python 3.11")
def test_the_shipped_archive_matches_these_kernel_sources_and_the_pinned_numba():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pinned = [r for r in deps if r.startswith("numba")]
    assert pinned == [f"numba=={prebuilt.version('numba')}"], "numba is pinned to the version that built the kernels"
    archive = prebuilt.SHELF / prebuilt.archive_name(cache.source_key())
    # fails after a kernel changes until `make kernels` rebuilds the archive
    assert archive.is_file(), f"no {archive.name}; run `make kernels`"
    assert [p.name for p in prebuilt.SHELF.glob("kernels-*.zip")] == [archive.name]


@pytest.mark.skipif(not SHIPPED_FOR, reason="kernels ship for Linux x86_64 and Python 3.11")
def test_a_new_install_elsewhere_runs_the_demo_without_compiling(tmp_path):
    # the package and the demo copied to another folder: numba names its cache
    # folders after the source folders, so this is what a fresh install sees
    root = tmp_path / "install"
    shutil.copytree(ROOT / "access", root / "access", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data" / "demo", root / "data" / "demo")
    env = cache.own_cache_env(tmp_path / "cache")
    env["PYTHONPATH"] = str(root)
    r = subprocess.run([sys.executable, "-c", DEMO_COMPILES, str(tmp_path / "out")], env=env, cwd=root,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == []  # every kernel came from the archive
    folder = tmp_path / "cache" / "numba" / cache.source_key(root / "access")
    assert (folder / cache.MARKER).exists()  # so no compile-ahead helper started
    assert (tmp_path / "out" / "run.json").exists() and (tmp_path / "out" / "coverage.xlsx").exists()


def test_a_cpu_chosen_by_the_user_compiles_for_that_cpu(tmp_path):
    env = cache.own_cache_env(tmp_path, cpu="x86-64")
    code = "import os, access; from numba.core import config; print(config.CPU_NAME, os.listdir(os.environ['NUMBA_CACHE_DIR']))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["x86-64", "[]"]  # nothing unpacked: the shipped code is for another CPU
    env = cache.own_cache_env(tmp_path / "other")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == cache.PORTABLE_CPU


def test_unpack_writes_kernel_files_only_inside_their_folders(tmp_path):
    from numba.core.caching import UserProvidedCacheLocator

    key = "0123456789abcdef"
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    with zipfile.ZipFile(shelf / prebuilt.archive_name(key), "w") as z:
        z.writestr("routing/sums._walk-1.py311.nbi", b"index")
        z.writestr("routing/sums._walk-1.py311.1.nbc", b"code")
        z.writestr("../escape.nbi", b"x")
        z.writestr("routing/../../escape2.nbc", b"x")
        z.writestr("/abs.nbi", b"x")
        z.writestr("routing/notes.txt", b"x")
        z.writestr("nosuchpackage/a.nbi", b"x")
        z.writestr("routing/deeper/a.nbi", b"x")
    folder = tmp_path / "cache" / "numba" / key
    folder.mkdir(parents=True)
    assert prebuilt.unpack(folder, key, shelf)
    sub = UserProvidedCacheLocator.get_suitable_cache_subpath(str(Path(prebuilt.__file__).parent / "routing" / "sums.py"))
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
                     and "shelf" not in p.parts)
    assert written == [f"cache/numba/{key}/{sub}/sums._walk-1.py311.1.nbc", f"cache/numba/{key}/{sub}/sums._walk-1.py311.nbi"]
    assert (folder / sub / "sums._walk-1.py311.nbi").read_bytes() == b"index"


def test_no_archive_for_other_sources_leaves_the_folder_empty(tmp_path):
    assert not prebuilt.unpack(tmp_path, "not-a-key")
    assert list(tmp_path.iterdir()) == []
    broken = tmp_path / "shelf"
    broken.mkdir()
    (broken / prebuilt.archive_name("k")).write_bytes(b"not a zip")
    assert not prebuilt.unpack(tmp_path / "f", "k", broken)
