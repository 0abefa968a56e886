"""numba's own compile events as the oracle of what a child process compiled.

Python snippets for ``python -c``: ``LISTEN`` records each access kernel
numba compiles, by qualified name, in ``seen``; ``DEMO_COMPILES`` runs the
demo into ``sys.argv[1]`` and prints the names.
"""

LISTEN = r"""
import sys
from numba.core import event
seen = []
class Listener(event.Listener):
    def on_start(self, ev):
        pass
    def on_end(self, ev):
        f = ev.data["dispatcher"].py_func
        if f.__module__.startswith("access"):
            seen.append(f"{f.__module__}.{f.__qualname__}")
event.register("numba:compile", Listener())
"""

DEMO_COMPILES = LISTEN + r"""
from access.cli import main
rc = main(["demo", "--out", sys.argv[1], "--quiet"])
print(" ".join(seen))
sys.exit(rc)
"""
