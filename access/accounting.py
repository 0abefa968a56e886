"""Accounting of every record read: nothing lost, nothing silent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Account:
    """What a reader (or a pipeline step) did with its input.

    Attributes
    ----------
    source : str
        File name or step name the records came from.
    read : int
        Records read (rows, raster cells with data, features).
    kept : int
        Records passed on.
    dropped : dict[str, int]
        Reason -> number of records dropped for that reason.
        ``read == kept + sum(dropped.values())`` always holds.
    population_read, population_kept : float or None
        Persons read and kept, for population inputs.
    population_dropped : dict[str, float]
        Reason -> persons dropped for that reason.
    notes : list[str]
        Human-readable remarks (conversions applied, defaults used).
    """

    source: str
    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    population_read: float | None = None
    population_kept: float | None = None
    population_dropped: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int, population: float | None = None) -> None:
        """Record ``n`` records (and ``population`` persons) dropped for ``reason``."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)
        if population:
            self.population_dropped[reason] = (
                self.population_dropped.get(reason, 0.0) + float(population)
            )

    def check(self) -> None:
        """Raise AssertionError if records or persons are unaccounted for."""
        total = self.kept + sum(self.dropped.values())
        assert total == self.read, f"{self.source}: {self.read} read but {total} accounted"
        if self.population_read is not None and self.population_kept is not None:
            pop = self.population_kept + sum(self.population_dropped.values())
            tol = 1e-6 * max(1.0, abs(self.population_read))
            assert abs(pop - self.population_read) <= tol, (
                f"{self.source}: {self.population_read} persons read but {pop} accounted"
            )

    def to_dict(self) -> dict:
        return asdict(self)
