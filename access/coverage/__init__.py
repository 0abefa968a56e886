"""Coverage: living circles, coverage per county/township, gaps, service
areas and equity.

Inputs are plain tables from the routing step (``t_<mode>_<category>``
seconds, ``reachable_<mode>``); outputs are DataFrames/GeoDataFrames.
"""

from access.coverage.circles import circle_limit_s, evaluate_circles, mode_speed_kmh
from access.coverage.demand import CATEGORY_GROUPS, GROUPS, circle_group, demand_map, service_groups
from access.coverage.equity import equity_table, gini, palma, theil_t, urban_rural_gap
from access.coverage.gaps import gap_areas, gaps_table, township_rule_failures
from access.coverage.indicators import completeness, completeness_table, headline
from access.coverage.service_areas import dissolve, dissolve_by_category, service_areas
from access.coverage.standards import CIRCLES, TOWNSHIP_RULES, Circle, TownshipRule, standards_table
from access.coverage.units import assign_units, coverage_table, mark_urban, weighted_quantile

__all__ = [
    "CATEGORY_GROUPS", "GROUPS", "circle_group", "completeness", "completeness_table", "demand_map",
    "gaps_table", "headline", "mark_urban", "service_groups",
    "CIRCLES", "TOWNSHIP_RULES", "Circle", "TownshipRule", "assign_units", "circle_limit_s",
    "coverage_table", "dissolve", "dissolve_by_category", "equity_table", "evaluate_circles",
    "gap_areas", "gini", "mode_speed_kmh", "palma", "service_areas", "standards_table",
    "theil_t", "township_rule_failures", "urban_rural_gap", "weighted_quantile",
]
