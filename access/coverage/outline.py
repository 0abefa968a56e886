"""Polygons along the pixel edges of boolean masks.

A service area's mask on a county-sized 25 m lattice has millions of pixels
but only thousands of boundary pixels. GDAL's polygonize (rasterio
``features.shapes``) scans every pixel through its generic labelling and
returns each vertex as a Python tuple (2 s for the demo's 26 masks of 70
million pixels). Here one compiled pass finds each ring from the 2 x 2
block around every lattice corner and keeps only the corners where the
boundary turns; each hole goes to the innermost shell around it.

Rings are oriented with the set pixels on their left: shells counter-
clockwise, holes clockwise (y up). The first corner of a ring in row-major
order (rows from ``y0`` upwards) is its lowest, leftmost one: a shell
leaves it eastwards along the bottom of the set pixel north-east of it, a
hole northwards with that pixel's south-east neighbour set, a pixel of
the polygon the hole belongs to.
"""

from __future__ import annotations

import numpy as np
import shapely
from numba import njit


def fill_pinches(mask: np.ndarray) -> None:
    """Turn on a pixel of every 2 x 2 block whose two set pixels touch only at a corner.

    In place, on a boolean mask. Such a block would give a ring that touches
    itself or another ring at a point, which GEOS counts as invalid; with one
    more pixel per pinch (and per pinch that pixel makes along a diagonal
    staircase) every polygon is valid as drawn and needs no union to repair
    it, and every corner has at most one boundary edge leaving it.
    """
    while True:
        a, b, c, d = mask[:-1, :-1], mask[:-1, 1:], mask[1:, :-1], mask[1:, 1:]
        falling = a & d & ~b & ~c
        rising = b & c & ~a & ~d
        if not (falling.any() or rising.any()):
            return
        b |= falling  # views: written into the mask
        a |= rising


def _leaving_table() -> np.ndarray:
    """Direction (0 east, 1 north, 2 west, 3 south; -1 none) of the boundary edge leaving a corner, by the
    code ``ne + 2 nw + 4 se + 8 sw`` of the four pixels around it (set pixels kept on the left)."""
    out = np.full(16, -1, np.int64)
    for code in range(16):
        ne, nw, se, sw = (code >> k & 1 for k in range(4))
        if ne and not se:
            out[code] = 0
        elif nw and not ne:
            out[code] = 1
        elif sw and not nw:
            out[code] = 2
        elif se and not sw:
            out[code] = 3
    return out


_LEAVING = _leaving_table()


@njit(cache=True, nogil=True, inline="always")
def _code(pad, i, j):
    """The :func:`_leaving_table` code of corner ``(i, j)``; its north-east pixel is ``pad[j + 1, i + 1]``."""
    return pad[j + 1, i + 1] + 2 * pad[j + 1, i] + 4 * pad[j, i + 1] + 8 * pad[j, i]


@njit(cache=True, nogil=True)
def _rings(pad, leaving):
    """Rings of a pinch-free mask given padded by one unset pixel (uint8): corner columns and rows of their
    turning vertices (closed) and ring offsets."""
    h = pad.shape[0] - 2
    w = pad.shape[1] - 2
    seen = np.zeros((h + 1, w + 1), np.bool_)
    vi = np.empty(1024, np.int64)
    vj = np.empty(1024, np.int64)
    starts = np.empty(64, np.int64)
    n = np.int64(0)
    nr = np.int64(0)
    for j in range(h + 1):
        for i in range(w + 1):
            code = _code(pad, i, j)
            if code == 0 or code == 15 or seen[j, i]:
                continue
            if nr + 1 >= len(starts):
                starts = np.concatenate((starts, np.empty(len(starts), np.int64)))
            starts[nr] = n
            nr += 1
            ci = i
            cj = j
            prev = np.int64(-1)
            while True:
                seen[cj, ci] = True
                d = leaving[_code(pad, ci, cj)]
                if d != prev:
                    if n + 2 >= len(vi):
                        vi = np.concatenate((vi, np.empty(len(vi), np.int64)))
                        vj = np.concatenate((vj, np.empty(len(vj), np.int64)))
                    vi[n] = ci
                    vj[n] = cj
                    n += 1
                    prev = d
                if d == 0:
                    ci += 1
                elif d == 1:
                    cj += 1
                elif d == 2:
                    ci -= 1
                else:
                    cj -= 1
                if ci == i and cj == j:
                    break
            vi[n] = i  # closed
            vj[n] = j
            n += 1
    starts[nr] = n
    return vi[:n], vj[:n], starts[:nr + 1]


def trace(mask: np.ndarray, x0: float, y0: float, res: float) -> list:
    """Polygons of the set pixels of ``mask``, one per 4-connected component.

    Parameters
    ----------
    mask : ndarray of bool, shape (h, w)
        ``mask[j, i]`` is the pixel ``x0 + i res <= x < x0 + (i + 1) res``,
        ``y0 + j res <= y < y0 + (j + 1) res``; pinch-free
        (:func:`fill_pinches`), so components are the same with 4 or 8
        neighbours.
    x0, y0 : float
        South-west corner, metres.
    res : float
        Pixel size, metres.

    Returns
    -------
    list of shapely Polygon, with holes, in the order of their lowest,
    leftmost corner.
    """
    vi, vj, starts = _rings(np.pad(mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8), 1),
                            _LEAVING)
    n_ring = len(starts) - 1
    if n_ring == 0:
        return []
    first = starts[:-1]
    fi, fj = vi[first], vj[first]
    shell = vj[first + 1] == fj  # leaves its first corner eastwards
    order = np.argsort(~shell, kind="stable")  # shells first, in scan order
    lens = np.diff(starts)[order]
    ends = np.cumsum(lens)
    idx = np.arange(ends[-1]) + np.repeat(starts[order] - (ends - lens), lens)  # vertices ring by ring
    xy = np.column_stack([x0 + vi[idx] * res, y0 + vj[idx] * res])
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(n_ring), lens))
    n_shell = int(shell.sum())
    if n_shell == n_ring:
        return list(shapely.polygons(rings))
    # a hole belongs to the innermost shell around the pixel south-east of its first corner
    outer = shapely.polygons(rings[:n_shell])
    holes = order[n_shell:]
    inside = shapely.points(x0 + (fi[holes] + 0.5) * res, y0 + (fj[holes] - 0.5) * res)
    shell_k, hole_k = shapely.STRtree(inside).query(outer, predicate="contains")  # each shell prepared once
    by_area = np.lexsort((shapely.area(outer)[shell_k], hole_k))
    hole_k, shell_k = hole_k[by_area], shell_k[by_area]
    keep = np.r_[True, hole_k[1:] != hole_k[:-1]]  # the smallest shell around each hole
    owner = np.empty(len(holes), np.int64)
    owner[hole_k[keep]] = shell_k[keep]
    poly = np.r_[np.arange(n_shell), owner]
    per = np.argsort(poly, kind="stable")  # per polygon: its shell, then its holes
    return list(shapely.polygons(rings[per], indices=poly[per]))
