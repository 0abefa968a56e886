"""Maps and reports: Folium coverage maps, an index page and report.html.

Every text value from input files is escaped before it reaches HTML.
"""

from access.maps.folium_map import change_map, coverage_map
from access.maps.offline import render_map, save_map
from access.maps.report import index_page, write_report

__all__ = ["change_map", "coverage_map", "save_map", "render_map", "index_page", "write_report"]
