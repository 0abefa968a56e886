"""Errors and warnings a planner can act on.

Every message names the file, the row or column and the fix, so that bad
input never surfaces as a traceback from deep inside a library.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable


class InputError(ValueError):
    """One or more problems with the inputs, reported together.

    Parameters
    ----------
    problems : iterable of str
        One complete sentence per problem, each naming file, row/column and fix.
    """

    def __init__(self, problems: Iterable[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            msg = f"{len(self.problems)} problems found:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(msg)


class InputWarning(UserWarning):
    """Input that was accepted but looks suspicious (e.g. a GCJ-02 shift)."""


def warn(message: str) -> None:
    """Emit an :class:`InputWarning` attributed to the caller's caller."""
    warnings.warn(message, InputWarning, stacklevel=3)
