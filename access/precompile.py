"""Compile a run's numba kernels in a second process, ahead of the run.

On the first run after an install or upgrade the kernel cache
(:mod:`access.cache`) is empty, and each kernel compiles when the run first
calls it, one after the other on one core. :func:`start` launches a helper
process that runs the same scenario on a small sample (a few hundred cells,
a few facilities per category). It calls every kernel with the argument
types of the real run, so numba compiles them and writes them to the shared
cache while the run reads its inputs, snaps and routes on the other core; the
run then loads each kernel it reaches from the cache, or compiles it itself
when it gets there first. Either way the machine code is the same, and numba
writes cache files atomically, so a helper that fails or is stopped half way
costs nothing but its own time. The helper writes nothing else.

A marker file in the cache folder records that a run or a helper completed
with this version's kernels: later runs start no helper.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


def _idle_core() -> bool:
    """Whether a core is free for the helper (load average of the last minute)."""
    try:
        return os.getloadavg()[0] <= (os.cpu_count() or 1) - 1
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
    import warnings

    try:
        os.nice(10)  # the run comes first
    except OSError:
        pass
    warnings.simplefilter("ignore")
    from access.network.build import build_graph
    from access.routing.dijkstra import multi_source_nearest
    from access.routing.queries import reverse_graph
    from access.study import Study, _modes_used

    study = Study.read(scenario, quiet=True)
    # The all-node search first: the run needs it right after snapping its cells,
    # whose kernels it compiles itself meanwhile. One seed on the reverse graph,
    # as the run searches, gives the argument types of the run's call.
    for name in _modes_used(study.scenario):
        g = reverse_graph(build_graph(study.edges, study.scenario.modes[name], study.crs))
        if g.n_nodes:
            multi_source_nearest(g.indptr, g.indices, g.weights, [0], [0.0], [0], 1.0)
    sample(study).build_networks().run()
    mark_complete()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
