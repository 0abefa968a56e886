"""Write Folium maps that work without CDNs, or with no network at all.

Folium links Leaflet, jQuery, Bootstrap and awesome-markers from CDNs. Our
maps (see :mod:`access.maps.folium_map`) only need Leaflet and
Leaflet.markercluster, whose release files are vendored in
``access/maps/vendor`` (Leaflet 1.9.4, BSD-2-Clause; Leaflet.markercluster
1.5.3, MIT; licence files alongside, fetched with ``npm pack``).

:func:`save_map` therefore writes:

* ``offline=False`` (default): ``map.html`` plus a ``lib/`` folder beside it
  with the vendored files and a ``layers/`` folder with the layers the page
  loads only when they are switched on (service areas); tiles still come
  from the tile servers, so the map works behind a firewall that blocks
  CDNs, and shows the overlays even when tiles cannot load.
* ``offline=True``: one self-contained HTML file, every script, stylesheet
  and layer inlined (images as data URIs) and no tile layers at all.

Any other resource Folium asks for (jQuery, Bootstrap, fonts ...) is dropped;
our maps do not use them.
"""

from __future__ import annotations

import base64
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import folium
from branca.element import CssLink, JavascriptLink

from access.maps.controls import MapControls

VENDOR = Path(__file__).resolve().parent / "vendor"

# Folium resource name -> vendored file.
VENDOR_JS: dict[str, str] = {
    "leaflet": "leaflet.js",
    "markerclusterjs": "leaflet.markercluster.js",
}
VENDOR_CSS: dict[str, str] = {
    "leaflet_css": "leaflet.css",
    "markerclustercss": "MarkerCluster.css",
    "markerclusterdefaultcss": "MarkerCluster.Default.css",
}
LIB_DIR = "lib"

_SOURCEMAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")


def vendor_text(filename: str) -> str:
    """A vendored file's text, without its source-map comment (no .map is shipped)."""
    return _SOURCEMAP.sub("\n", (VENDOR / filename).read_text(encoding="utf-8"))


def _css_with_data_uris(css: str) -> str:
    """Inline ``url(images/x.png)`` references as data URIs."""

    def repl(mo: re.Match) -> str:
        img = VENDOR / "images" / mo.group(1)
        if not img.exists():
            return mo.group(0)
        data = base64.b64encode(img.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", repl, css)


def _elements(root):
    """Every element in a branca tree, depth first."""
    stack = [root]
    while stack:
        el = stack.pop()
        yield el
        stack.extend(getattr(el, "_children", {}).values())


@contextmanager
def _local_resources(m: folium.Map, *, drop_tiles: bool):
    """Point every element's JS/CSS at ``lib/`` and optionally hide tile layers.

    Instance attributes shadow Folium's class-level lists (which must not be
    mutated: they are shared by every map); everything is restored on exit.
    """
    saved = []
    for el in _elements(m):
        if hasattr(el, "default_js") or hasattr(el, "default_css"):
            saved.append((el, el.__dict__.get("default_js"), el.__dict__.get("default_css")))
            el.default_js = [
                (n, f"{LIB_DIR}/{VENDOR_JS[n]}") for n, _ in getattr(el, "default_js", []) if n in VENDOR_JS
            ]
            el.default_css = [
                (n, f"{LIB_DIR}/{VENDOR_CSS[n]}") for n, _ in getattr(el, "default_css", []) if n in VENDOR_CSS
            ]
    # A Figure keeps what earlier renders wrote (keyed by element name): drop
    # those so that neither CDN links nor hidden tile layers survive.
    root = m.get_root()
    names = {el.get_name() for el in _elements(m)}
    sections = [root.header, root.html, root.script]
    snapshots = [dict(sec._children) for sec in sections]
    for sec in sections:
        for name, child in list(sec._children.items()):
            if name in names or isinstance(child, (JavascriptLink, CssLink)):
                del sec._children[name]
    removed_tiles = {}
    if drop_tiles:
        for name, child in list(m._children.items()):
            if isinstance(child, folium.TileLayer):
                removed_tiles[name] = child
                del m._children[name]
    try:
        yield
    finally:
        for el, js, css in saved:
            for attr, val in (("default_js", js), ("default_css", css)):
                if val is None:
                    el.__dict__.pop(attr, None)
                else:
                    setattr(el, attr, val)
        for sec, snap in zip(sections, snapshots):
            sec._children.clear()
            sec._children.update(snap)
        if removed_tiles:
            # Keep the original order: tiles were added before the overlays.
            rest = dict(m._children)
            m._children.clear()
            m._children.update(removed_tiles)
            m._children.update(rest)


def _controls(m: folium.Map) -> list[MapControls]:
    return [el for el in _elements(m) if isinstance(el, MapControls)]


def render_map(m: folium.Map, *, offline: bool = False, prefix: str = "map") -> str:
    """The map's HTML with vendored resources (linked from ``lib/`` or inlined).

    Parameters
    ----------
    m : folium.Map
    offline : bool
        Inline every script, stylesheet and layer loaded on demand, and drop
        the tile layers.
    prefix : str
        File stem of the map; layers loaded on demand are linked from
        ``layers/<prefix>_*.js`` (see :func:`save_map`).

    Returns
    -------
    str
        A complete HTML document.
    """
    for c in _controls(m):
        c.inline_areas, c.prefix = offline, prefix
    with _local_resources(m, drop_tiles=offline):
        page = m.get_root().render()
    if offline:
        for name, fname in VENDOR_JS.items():
            tag = f'<script src="{LIB_DIR}/{fname}"></script>'
            # The vendored code contains no "</script": checked by the tests.
            page = page.replace(tag, f"<script>/* {fname} (vendored) */\n{vendor_text(fname)}</script>")
        for name, fname in VENDOR_CSS.items():
            tag = f'<link rel="stylesheet" href="{LIB_DIR}/{fname}"/>'
            page = page.replace(tag, f"<style>/* {fname} (vendored) */\n{_css_with_data_uris(vendor_text(fname))}</style>")
        if f'"{LIB_DIR}/' in page:
            raise RuntimeError("offline map still links lib/ files: the link format of branca changed")
    return page


def write_lib(folder: Path) -> Path:
    """Copy the vendored scripts, styles, images and licences to ``folder/lib``."""
    lib = Path(folder) / LIB_DIR
    (lib / "images").mkdir(parents=True, exist_ok=True)
    for fname in list(VENDOR_JS.values()) + list(VENDOR_CSS.values()):
        (lib / fname).write_text(vendor_text(fname), encoding="utf-8")
    for img in (VENDOR / "images").glob("*.png"):
        shutil.copyfile(img, lib / "images" / img.name)
    for lic in VENDOR.glob("LICENSE*"):
        shutil.copyfile(lic, lib / lic.name)
    return lib


def save_map(m: folium.Map, path, offline: bool = False) -> Path:
    """Save a map as HTML that needs no CDN.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`access.maps.coverage_map`.
    path : str or Path
        Output ``.html`` file; parent folders are created.
    offline : bool
        ``False``: write ``lib/`` beside the file and link it (tiles online).
        ``True``: one self-contained file, no tiles, no network at all.

    Returns
    -------
    Path
        The HTML file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_map(m, offline=offline, prefix=path.stem)
    if not offline:
        write_lib(path.parent)
        # Hidden layers, loaded by the page only when switched on.
        for c in _controls(m):
            for rel, text in c.area_files().items():
                (path.parent / rel).parent.mkdir(parents=True, exist_ok=True)
                (path.parent / rel).write_text(text, encoding="utf-8")
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["save_map", "render_map", "write_lib", "VENDOR"]
