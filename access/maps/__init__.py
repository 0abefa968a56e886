"""Maps and reports: Folium coverage maps, an index page and report.html.

Every text value from input files is made inert (access.maps.text.inert)
before it reaches HTML or a template.
"""

from access.maps.folium_map import change_map, coverage_map
from access.maps.offline import render_map, save_map
from access.maps.index import index_page
from access.maps.report import write_report

__all__ = ["change_map", "coverage_map", "save_map", "render_map", "index_page", "write_report"]
