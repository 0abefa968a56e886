"""Supply ratios (floating catchments) and new-site location-allocation.

:mod:`access.siting.fca` turns a sparse (facility, cell, seconds) table into
supply per person (cumulative opportunities, 2SFCA, enhanced, Gaussian, 3SFCA)
and township shortfalls against a target; :mod:`access.siting.locate` chooses
new sites (set covering, maximal covering, p-median, p-center) with existing
facilities kept open; :mod:`access.siting.candidates` builds candidate sites.
"""

from access.siting import candidates, fca, locate
from access.siting.fca import (
    by_township,
    compare_target,
    cumulative,
    enhanced_two_step,
    gaussian_two_step,
    gaussian_weight,
    step_weight,
    supply_needed,
    three_step,
    two_step,
)
from access.siting.locate import Solution, maximal_covering, p_center, p_median, set_covering

__all__ = [
    "Solution",
    "by_township",
    "candidates",
    "compare_target",
    "cumulative",
    "enhanced_two_step",
    "fca",
    "gaussian_two_step",
    "gaussian_weight",
    "locate",
    "maximal_covering",
    "p_center",
    "p_median",
    "set_covering",
    "step_weight",
    "supply_needed",
    "three_step",
    "two_step",
]
