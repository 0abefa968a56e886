"""access: spatial service-accessibility planner.

Data flows one way: ``sources`` (readers) -> ``network`` (graphs, snapping)
-> ``routing`` (travel times) -> ``coverage`` (circles, gaps, equity)
-> ``siting`` (supply ratios, new sites) -> ``maps`` (maps and reports).
"""

from access.cache import configure_numba_cache

__version__ = "0.1.0"

# compiled kernels are cached per version of their sources, outside the package
configure_numba_cache()
