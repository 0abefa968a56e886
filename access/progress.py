"""Progress bars for long steps (tqdm), silent when ``quiet``."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm.auto import tqdm


@dataclass
class Progress:
    """Reports steps on stderr so stdout stays clean for data.

    Parameters
    ----------
    quiet : bool
        Print nothing.
    """

    quiet: bool = False

    @contextmanager
    def step(self, what: str, detail: str = "") -> Iterator[None]:
        """Announce a step and its duration in seconds."""
        if self.quiet:
            yield
            return
        label = f"{what} ({detail})" if detail else what
        print(f"• {label} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        yield
        print(f"  done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str, unit: str = "item") -> tqdm:
        """A progress bar to ``update`` by hand (work finishing out of order)."""
        return tqdm(total=total, desc=desc, unit=unit, disable=self.quiet, file=sys.stderr, leave=False)

    def iter(self, items: Iterable, desc: str, unit: str = "item") -> Iterable:
        """Iterate with a progress bar showing counts and units."""
        items = list(items)
        return tqdm(items, desc=desc, unit=unit, disable=self.quiet or not items, file=sys.stderr, leave=False)


@contextmanager
def timer(timings: dict[str, float], key: str) -> Iterator[None]:
    """Add the seconds the block takes to ``timings[key]`` (``run.json``'s ``timings_s``)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
