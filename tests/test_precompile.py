"""Kernels compiled ahead of a run by a helper process (access.precompile)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from access import cache, precompile
from compile_events import DEMO_COMPILES, LISTEN

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "scenario.toml"

# Runs the helper as ``python -m access.precompile`` does and prints each kernel it
# compiles, in order, by qualified name.
_HELPER_ORDER = LISTEN + r"""
import runpy
sys.argv = ["access.precompile", sys.argv[1]]
try:
    runpy.run_module("access.precompile", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(" ".join(seen))
sys.exit(code)
"""


def _env(tmp_path: Path) -> dict:
    from llvmlite import binding

    # for this machine's CPU: the kernels shipped for the portable one (access.prebuilt) do not apply
    return cache.own_cache_env(tmp_path / "cache", cpu=binding.get_host_cpu_name())


def _folder(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "numba" / cache.source_key()


@pytest.mark.skipif(not DEMO.exists(), reason="demo inputs not in this checkout")
def test_after_the_helper_the_demo_compiles_no_kernel(tmp_path):
    env = _env(tmp_path)
    helper = subprocess.run([sys.executable, "-c", _HELPER_ORDER, str(DEMO)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert helper.returncode == 0, helper.stderr
    assert (_folder(tmp_path) / precompile.MARKER).exists()
    # from the road network alone, before any snapping of the sample: the supply and capacity
    # kernels (the costliest, needed last), then the nearest-facility search (reverse graph,
    # all-node search, same-edge trips), then the painting kernel
    order = helper.stdout.split()
    first = {name: order.index(name) for name in set(order)}  # where each kernel first compiles
    snap = min(i for name, i in first.items() if name.startswith("access.network.snap."))
    assert (first["access.routing.sums._walk"] < first["access.coverage.capacity._serve_stream"]
            < first["access.routing.queries._same_edge_min"] < first["access.coverage.service_areas._paint"] < snap)
    run = subprocess.run([sys.executable, "-c", DEMO_COMPILES, str(tmp_path / "out")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    # every kernel of the whole run came from the cache the helper filled
    assert run.stdout.split() == []
    assert (tmp_path / "out" / "run.json").exists()


def test_a_failing_helper_leaves_no_marker(tmp_path):
    env = _env(tmp_path)
    r = subprocess.run([sys.executable, "-m", "access.precompile", str(tmp_path / "missing.toml")], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert not (_folder(tmp_path) / precompile.MARKER).exists()


def test_no_helper_once_the_cache_is_complete(tmp_path, monkeypatch):
    folder = tmp_path / "numba" / "abc"
    folder.mkdir(parents=True)
    monkeypatch.setenv("ACCESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(folder))
    (folder / precompile.MARKER).touch()
    assert precompile.start(DEMO) is None
    # a cache folder the user chose holds no marker of ours
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    precompile.mark_complete()
    assert not (tmp_path / "mine").exists()
    assert precompile.start(DEMO) is None


def test_idle_cores_from_two_readings_by_hand():
    # 2 cores, 100 jiffies passed, 50 of them idle: one core's worth idle
    assert precompile.idle_cores((100.0, 1000.0), (150.0, 1100.0), 2) == pytest.approx(1.0)
    # 4 cores all busy, then all idle
    assert precompile.idle_cores((10.0, 500.0), (10.0, 900.0), 4) == 0.0
    assert precompile.idle_cores((10.0, 500.0), (410.0, 900.0), 4) == pytest.approx(4.0)


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="no /proc/stat")
def test_cpu_times_read_the_kernels_counters():
    idle0, total0 = precompile._cpu_times()
    sum(i * i for i in range(2_000_000))  # some busy time on one core
    idle1, total1 = precompile._cpu_times()
    assert 0 <= idle0 <= total0 and total1 > total0 and idle1 - idle0 <= total1 - total0


def test_points_on_one_road_are_snapped_as_a_run_snaps_them():
    from access.routing.queries import _check_snap, graph_from_arcs, nearest

    # 0 -> 1 (10 s) and 1 -> 0 (10 s), edge 7; node 2 has no arc
    g = graph_from_arcs(3, [0, 1], [1, 0], [10.0, 10.0], arc_edge=[7, 7])
    fac, cells = precompile.on_one_road(g)
    for name, snap in (("facilities", fac), ("cells", cells)):
        _check_snap(snap, g, name)
        assert set(snap.node_a) | set(snap.node_b) == {0, 1}
        assert (snap.edge == 7).all() and snap.ok.all()
    # every cell lies on the facilities' road, legs of at most 11 s: all reach one within 600 s
    sec, row = nearest(g, cells, fac, 600.0)
    assert np.isfinite(sec).all() and (sec <= 22.0).all() and ((row >= 0) & (row < 3)).all()
