"""Compile a run's numba kernels in a second process, ahead of the run.

On the first run after an install or upgrade the kernel cache
(:mod:`access.cache`) is empty, and each kernel compiles when the run first
calls it, one after the other on one core. :func:`start` launches a helper
process that runs the same scenario on a small sample (a few hundred cells,
a few facilities per category). It calls every kernel with the argument
types of the real run, so numba compiles them and writes them to the shared
cache while the run reads its inputs, snaps and routes on the other core; the
run then loads each kernel it reaches from the cache, or compiles it itself
when it gets there first. Past the all-node search the run needs right after
snapping, the helper starts from the run's far end (supply and capacity, the
costliest kernels; see :func:`_main`), so the two meet in the middle rather
than compile the same kernels side by side. Either way the machine code is
the same, and numba writes cache files atomically, so a helper that fails or
is stopped half way costs nothing but its own time. The helper writes nothing
else.

A marker file in the cache folder records that a run or a helper completed
with this version's kernels: later runs start no helper.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

#: cells and facilities per category of the sample the helper runs
SAMPLE_CELLS = 400
SAMPLE_FACILITIES = 3
MARKER = "complete"


def _marker() -> Path | None:
    """The marker of this version's kernel folder; None when numba caches elsewhere (``NUMBA_CACHE_DIR``)."""
    from access.cache import cache_dir

    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder or Path(folder).parent != cache_dir() / "numba":
        return None
    return Path(folder) / MARKER


def _cpu_times() -> tuple[float, float]:
    """(idle, total) jiffies of all cores from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [float(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v[:8])  # idle + iowait; user..steal (guest time is inside user)


def idle_cores(before: tuple[float, float], after: tuple[float, float], cores: int) -> float:
    """Cores idle between two :func:`_cpu_times` readings."""
    total = after[1] - before[1]
    return cores * (after[0] - before[0]) / total if total > 0 else float(cores)


def _idle_core() -> bool:
    """Whether a core is free for the helper now.

    Measured over a twentieth of a second: the load average trails by a
    minute, so right after an install it still reads the install as busy.
    """
    cores = os.cpu_count() or 1
    try:
        before = _cpu_times()
        time.sleep(0.05)
        return idle_cores(before, _cpu_times(), cores) >= 0.75
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0] <= cores - 1
        except OSError:
            return False


def start(scenario: Path) -> subprocess.Popen | None:
    """The helper process compiling ``scenario``'s kernels, or None.

    None when the cache is complete (see :data:`MARKER`) or no core is idle.
    The helper runs at lower priority, with no output, in its own session
    (a Ctrl-C of the run does not reach it; :func:`stop` ends it).
    """
    marker = _marker()
    if marker is None or marker.exists() or os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return None
    if not _idle_core():
        return None  # on a busy machine the helper would only slow the run down
    try:
        return subprocess.Popen([sys.executable, "-m", "access.precompile", str(scenario)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return None


def stop(helper: subprocess.Popen | None, completed: bool) -> None:
    """End the helper if still running; mark the cache complete after a completed run."""
    if helper is not None and helper.poll() is None:
        helper.terminate()
        try:
            helper.wait(timeout=5)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
    if completed:
        mark_complete()


def mark_complete() -> None:
    """Record that every kernel of a run is in the cache (no helper on later runs)."""
    marker = _marker()
    if marker is not None:
        try:
            marker.touch()
        except OSError:
            pass


def sample(study, n_cells: int = SAMPLE_CELLS, per_category: int = SAMPLE_FACILITIES):
    """A copy of a read study (graphs not built) with cells spread over it and a few facilities per category."""
    from dataclasses import replace

    import numpy as np

    n = len(study.cells)
    rows = np.unique(np.linspace(0, max(n - 1, 0), min(n, n_cells)).astype(np.int64))
    fac = study.facilities
    if "category" in fac.columns:
        fac = fac[fac.groupby("category", sort=False).cumcount().to_numpy() < per_category]
    return replace(study, cells=study.cells.iloc[rows], facilities=fac.reset_index(drop=True),
                   networks={}, accounts=[], timings={}, memo={}, quiet=True)


def _main(scenario: str) -> int:
    """Compile in the order that leaves the run least to compile itself.

    The run compiles the snapping kernels itself (it reaches them while this
    process is still starting), so the helper first takes, from the road
    network alone, the all-node search the run needs right after snapping and
    the service areas' painting kernel (one road node is enough: its argument
    types do not depend on the data); then the costliest kernels, those of
    the supply and capacity steps the run reaches last; then the rest of a
    sample run, without its service areas (tracing them would compile nothing
    more).
    """
    import warnings

    try:
        os.nice(10)  # the run comes first
    except OSError:
        pass
    warnings.simplefilter("ignore")
    from pyproj import CRS

    import numpy as np
    import pandas as pd

    from access.coverage.service_areas import service_areas
    from access.network import osm
    from access.network.build import build_graph
    from access.routing.dijkstra import multi_source_nearest
    from access.routing.queries import reverse_graph
    from access.scenario import load_scenario
    from access.study import Study, _auto_crs, _modes_used

    sc = load_scenario(scenario)
    edges = osm.read_network(sc.network)
    crs = CRS.from_user_input(sc.crs) if sc.crs else _auto_crs(edges)
    # One seed on the reverse graph, as the run searches: the argument types of its call.
    for name in _modes_used(sc):
        graph = build_graph(edges, sc.modes[name], crs)
        g = reverse_graph(graph)
        if g.n_nodes:
            multi_source_nearest(g.indptr, g.indices, g.weights, [0], [0.0], [0], 1.0)
        tails = np.flatnonzero(np.diff(graph.indptr))
        if sc.circles and len(tails):
            service_areas(graph, edges.lines(crs), pd.DataFrame({"source": [0], "node": [int(tails[0])],
                                                                 "seconds": [0.0]}), 60.0)
    del edges

    study = sample(Study.read(sc, quiet=True)).build_networks()
    fac, snaps = study.snap_facilities(study.facilities)
    study._supply(study.cells.copy(), fac, snaps)
    study._capacity(study.cells.copy(), fac, snaps)
    study.run(service_areas=False)
    mark_complete()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
