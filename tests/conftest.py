"""Shared fixtures: paths to ../shared/data, skipped cleanly where absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def shared_path(relative: str) -> Path:
    """Path to a file in ``../shared/data``; skips the test if it is absent.

    These files are for tests and benchmarks only and are never committed.
    """
    p = SHARED / relative
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture
def shared():
    """The :func:`shared_path` helper as a fixture."""
    return shared_path
