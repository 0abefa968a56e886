"""The embedded synthetic demo county 示范县 (synthetic demo county).

All data in ``data/demo`` is invented by :func:`access.demo.synth.generate`;
regenerate it with ``python -m access.demo.synth data/demo``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "demo_path", "generate"]

#: ``data/demo`` in a source checkout (the committed demo files).
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"


def demo_path(name: str = "scenario.toml") -> Path:
    """Path of a committed demo file, e.g. ``demo_path("roads.osm.pbf")``."""
    return DATA_DIR / name


def generate(out_dir, seed: int = 2026) -> dict:
    """Write the synthetic county into ``out_dir``; see :func:`access.demo.synth.generate`."""
    from access.demo.synth import generate as _generate

    return _generate(out_dir, seed=seed)
