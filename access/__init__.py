"""access: spatial service-accessibility planner.

Data flows one way: ``sources`` (readers) -> ``network`` (graphs, snapping)
-> ``routing`` (travel times) -> ``coverage`` (circles, gaps, equity)
-> ``siting`` (supply ratios, new sites) -> ``maps`` (maps and reports).
"""

__version__ = "0.1.0"
