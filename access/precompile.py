"""Compile a run's numba kernels in a second process, ahead of the run.

On the first run after an install or upgrade the kernel cache
(:mod:`access.cache`) is empty, and each kernel compiles when the run first
calls it, one after the other on one core. :func:`start` launches a helper
process that calls every kernel with the argument types of the real run,
first on a few points placed on one road of the scenario's network, then in
the same scenario on a small sample (a few hundred cells, a few facilities
per category), so numba compiles them and writes them to the shared cache
while the run reads its inputs, snaps and routes on the other core; the run
then loads each kernel it reaches from the cache, or compiles it itself when
it gets there first. The helper compiles the costliest kernels, which the
run needs last, first (see :func:`_main`), and the snapping kernels, which
the run reaches while the helper is still starting, last. Either way the machine code is
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

from access.cache import MARKER

#: cells and facilities per category of the sample the helper runs
SAMPLE_CELLS = 400
SAMPLE_FACILITIES = 3


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

    None when the cache is complete (see :data:`access.cache.MARKER`) or no core is idle.
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


def on_one_road(graph):
    """``(facilities, cells)``: three facilities and four cells snapped to the first arc of ``graph``.

    Enough for every supply and capacity kernel to be called with the
    argument types of a run (two facilities share the road, one stands
    alone, cells lie on the same road); the times mean nothing.
    """
    import numpy as np

    from access.network.snap import Snap

    tail = int(np.flatnonzero(np.diff(graph.indptr))[0])
    head = int(graph.indices[graph.indptr[tail]])
    edge = int(graph.arc_edge[graph.indptr[tail]]) if graph.arc_edge is not None else -1

    def snap(ends, pos):
        n = len(pos)
        a = np.array([e[0] for e in ends], np.int64)
        b = np.array([e[1] for e in ends], np.int64)
        secs = 10.0 * np.asarray(pos, np.float64) + 1.0
        return Snap(node_a=a, node_b=b, to_a=secs, to_b=secs[::-1].copy(), from_a=secs.copy(),
                    from_b=secs[::-1].copy(), edge=np.full(n, edge, np.int64), pos=np.asarray(pos, np.float64),
                    dist=np.zeros(n), ok=np.ones(n, bool))

    fac = snap([(tail, head), (tail, head), (head, tail)], [0.2, 0.6, 0.5])
    cells = snap([(tail, head)] * 3 + [(head, tail)], [0.1, 0.4, 0.9, 0.3])
    return fac, cells


def _main(scenario: str) -> int:
    """Compile in the order that leaves the run least to compile itself.

    The run compiles the snapping kernels itself (it reaches them while this
    process is still starting). The helper reads only the road network and
    places a few points on one road (:func:`on_one_road`; the kernels'
    argument types do not depend on the data, so nothing else has to be read
    or snapped first), then compiles the supply and capacity kernels first:
    they are the costliest (the 2SFCA walk alone takes longer to compile
    than the run takes to reach it) and the run needs them late, so compiling
    them here while the run compiles the snapping and nearest-facility
    kernels itself keeps both cores on different work. Then the
    nearest-facility search (in case the run has not got there), the service
    areas' painting kernel, and the rest of a sample run without its service
    areas (tracing them would compile nothing more).
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

    from access.coverage.capacity import allocate_network
    from access.coverage.service_areas import service_areas
    from access.network import osm
    from access.network.build import build_graph
    from access.routing.queries import nearest
    from access.scenario import load_scenario
    from access.siting.supply import per_1000
    from access.study import Study, _auto_crs, _modes_used

    sc = load_scenario(scenario)
    edges = osm.read_network(sc.network)
    crs = CRS.from_user_input(sc.crs) if sc.crs else _auto_crs(edges)
    graphs = [build_graph(edges, sc.modes[name], crs) for name in _modes_used(sc)]
    for graph in (g for g in graphs if g.n_arcs):
        fac, cells = on_one_road(graph)
        ones_f, ones_c = np.ones(len(fac)), np.ones(len(cells))
        per_1000(graph, fac, cells, ones_f, ones_c, 600.0, 60.0)
        allocate_network(graph, fac, cells, ones_f, ones_c, 600.0, 60.0)
        nearest(graph, cells, fac, 600.0, 60.0)  # reverse graph, all-node search, same-edge trips
    for graph in graphs:
        tails = np.flatnonzero(np.diff(graph.indptr))
        if sc.circles and len(tails):
            service_areas(graph, edges.lines(crs), pd.DataFrame({"source": [0], "node": [int(tails[0])],
                                                                 "seconds": [0.0]}), 60.0)
    del edges, graphs

    sample(Study.read(sc, quiet=True)).run(service_areas=False)
    mark_complete()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
