"""Compiled kernels are cached outside the package, per version of their sources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from access import cache

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_kernels_compile_into_the_user_cache_not_the_package(tmp_path):
    env = {"ACCESS_CACHE_DIR": str(tmp_path)}
    env_clean = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    code = ("import os, numpy as np\n"
            "from access.siting import fca\n"
            "print(os.environ['NUMBA_CACHE_DIR'])\n"
            "print(fca._max_k(np.array([1.0, 5.0, 2.0])))\n")
    r = subprocess.run([sys.executable, "-c", code], env={**env_clean, **env}, capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    folder, value = r.stdout.split()
    assert float(value) == 5.0
    assert Path(folder) == tmp_path / "numba" / cache.source_key()
    # the index and the machine code of the kernel that ran are there
    assert any(Path(folder).rglob("fca._max_k-*.nbi")) and any(Path(folder).rglob("fca._max_k-*.nbc"))


def test_a_numba_cache_dir_set_by_the_user_wins(tmp_path):
    mine = tmp_path / "mine"
    r = _python("import os, access; print(os.environ['NUMBA_CACHE_DIR'])",
                {"ACCESS_CACHE_DIR": str(tmp_path / "ours"), "NUMBA_CACHE_DIR": str(mine)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(mine)
    assert not (tmp_path / "ours").exists()


def test_source_key_follows_kernel_sources_only(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(cache.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    key = cache.source_key(pkg)
    assert key == cache.source_key(cache.PACKAGE)
    # a module without kernels may change freely; a kernel module's change (even one
    # called from another file) gives a new key
    (pkg / "outputs.py").write_text((pkg / "outputs.py").read_text() + "\n# edited\n")
    assert cache.source_key(pkg) == key
    (pkg / "routing" / "dijkstra.py").write_text((pkg / "routing" / "dijkstra.py").read_text() + "\n# edited\n")
    assert cache.source_key(pkg) != key


def test_old_cache_folders_are_pruned(tmp_path, monkeypatch):
    root = tmp_path / "numba"
    for i in range(6):
        (root / f"old{i}").mkdir(parents=True)
        os.utime(root / f"old{i}", (1_000_000 + i, 1_000_000 + i))
    monkeypatch.setenv("ACCESS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    import numba.core.config as config

    before = config.CACHE_DIR
    try:
        folder = cache.configure_numba_cache()
    finally:
        config.CACHE_DIR = before
    kept = sorted(p.name for p in root.iterdir())
    # the new folder and the KEEP - 1 most recently used others
    assert folder.name in kept and len(kept) == cache.KEEP
    assert set(kept) - {folder.name} == {"old5", "old4", "old3"}
