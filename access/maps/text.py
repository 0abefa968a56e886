"""Input text made inert for every HTML output: the one place it happens.

Maps are rendered by Folium and branca through Jinja2, and some pieces are
rendered twice: a ``MacroElement``'s output (layer names, GeoJSON
properties serialised with ``tojson``) is wrapped in a new ``Element`` whose
template *is* that output. ``html.escape`` leaves ``{{ }}``, ``{% %}`` and
``{# #}`` alone, so a facility called ``{{ cycler.__init__.__globals__.os
...}}`` would run when the map is written, and ``人民医院{%分院`` would stop
the writing with a template syntax error.

:func:`inert` therefore escapes for HTML *and* writes ``{``, ``}``, ``%``
and ``#`` as numeric character references. Its output holds no template
delimiter, so it stays inert however many times Jinja renders it, and
browsers decode it back: the name displays exactly as typed (in text,
attributes, ``<title>``, and wherever Leaflet sets ``innerHTML``: popups,
tooltips, layer names). Every input-derived string bound for HTML, or for
JavaScript that puts it into HTML, goes through :func:`inert`.

Our own page fragments (styles, scripts, legend markup) never become
template source either: :class:`RawHtml` carries them as a template
*variable*, which Jinja inserts without evaluating.
"""

from __future__ import annotations

import json
import math

from branca.element import Element, Figure
from jinja2 import Template

# One pass over the text: HTML's special characters and those that open or
# close a Jinja construct ({{ }}, {% %}, {# #}) become character references.
_INERT = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    "{": "&#123;", "}": "&#125;", "%": "&#37;", "#": "&#35;",
})


def inert(value) -> str:
    """Input text -> HTML that no template engine or browser will execute.

    Parameters
    ----------
    value : object
        Any value; ``None`` and NaN give an empty string.

    Returns
    -------
    str
        HTML-escaped text (``& < > " '``) with ``{ } % #`` as character
        references, e.g. ``inert("a{%b")`` -> ``"a&#123;&#37;b"``. Browsers
        display it as the original text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).translate(_INERT)


def script_json(obj) -> str:
    """``obj`` as JSON that can sit inside an inline ``<script>`` element.

    ``<``, ``>``, ``&`` and the JavaScript line separators are escaped, so no
    string can close the script element; strings in ``obj`` that came from
    input files must already be :func:`inert`.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


class RawHtml(Element):
    """A fragment of our own HTML (or JavaScript) inserted verbatim.

    The fragment is a template variable, never template source, so braces in
    CSS or scripts cannot be read as Jinja and nothing in it is evaluated.
    """

    _template = Template("{{ this.fragment }}")

    def __init__(self, fragment: str):
        super().__init__()
        self._name = "RawHtml"
        self.fragment = fragment


class PageFigure(Figure):
    """A branca ``Figure`` whose ``<html>`` element declares the page language.

    ``lang="zh-CN"`` makes browsers pick Chinese (not Japanese) glyphs for
    CJK text.
    """

    _template = Template(
        "<!DOCTYPE html>\n"
        "<html lang=\"{{ this.lang }}\">\n"
        "<head>\n"
        "    {{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        "<body>\n"
        "    {{ this.html.render(**kwargs) }}\n"
        "</body>\n"
        "<script>\n"
        "    {{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</html>\n"
    )

    def __init__(self, lang: str = "zh"):
        super().__init__()
        self.lang = "zh-CN" if lang == "zh" else "en"


__all__ = ["inert", "script_json", "RawHtml", "PageFigure"]
