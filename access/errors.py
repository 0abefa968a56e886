"""Errors and warnings a planner can act on.

Every message names the file, the row or column and the fix, so that bad
input never surfaces as a traceback from deep inside a library.
"""

from __future__ import annotations

import sys
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
    """Emit an :class:`InputWarning`, shown once per process however many steps find it.

    Python keeps one "already shown" registry per calling line; a check run
    by ``access validate`` and again inside ``access run`` comes from two
    lines, so the registry here is one for the package (cleared by Python
    whenever the warning filters change, e.g. in ``pytest.warns``).
    """
    warnings.warn_explicit(message, InputWarning, "access", 0, module="access", registry=_SHOWN)


#: the package's "already shown" registry (the role of a module's ``__warningregistry__``)
_SHOWN: dict = {}


def format_warning(message, category, filename=None, lineno=None, line=None) -> str:
    """One clean line for an :class:`InputWarning`: ``warning: <message>``.

    Other warnings keep Python's usual form. Used as ``warnings.formatwarning``
    by the command line, so a planner never sees a Python file, line number
    or source line.
    """
    if isinstance(category, type) and issubclass(category, InputWarning):
        return "warning: " + " ".join(str(message).split()) + "\n"
    return _PY_FORMAT(message, category, filename, lineno, line)


_PY_FORMAT = warnings.formatwarning


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` of the command line: :func:`format_warning` to stderr."""
    stream = file if file is not None else sys.stderr
    try:
        stream.write(format_warning(message, category, filename, lineno, line))
    except OSError:  # stderr closed: nowhere to tell
        pass


def install_warning_format() -> None:
    """Print every :class:`InputWarning` once, as one clean line, on stderr."""
    warnings.formatwarning = format_warning
    warnings.showwarning = show_warning
    warnings.simplefilter("default", InputWarning)
