"""What the first ``access demo`` after install costs, compilation included.

Each run is a fresh process with its own cache folder (``ACCESS_CACHE_DIR``).
The cold run starts from an empty one, as after an install: the package
unpacks the kernels it ships (:mod:`access.prebuilt`) into it. The warm run
that follows reuses that folder, as a second ``access demo`` does. The two
compiling runs show what a machine without a matching archive pays (another
numba or Python, or a kernel edited since the archive was built; simulated
with ``NUMBA_CPU_NAME`` set to this machine's CPU): every numba kernel on the
demo path compiles, by the run or ahead of it by the helper process of
:mod:`access.precompile`; the peer compiles without the helper, all on one
core. Prints per run the wall and CPU seconds (user + system, the helper's
included), peak RSS, the seconds the run itself spent compiling kernels (CPU
of the compiling thread, summed over top-level compiles) with the costliest
kernels, and each step's share of the wall time (``timings_s`` of
``run.json``). The load average is printed because the machine is shared.

    .venv/bin/python benchmarks/bench_cold_start.py [--repeat 1] [--kernels 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from access import prebuilt, precompile
from access.cache import own_cache_env, source_key

ROOT = Path(__file__).resolve().parents[1]

# Runs ``access demo`` in this process with a listener on numba's compile
# events; writes the compile seconds per kernel next to the outputs.
_CHILD = r"""
import json, sys, threading, time
from numba.core import event

class Compiles(event.Listener):
    def __init__(self):
        self.local = threading.local()
        self.done = []
    def on_start(self, ev):
        self.local.__dict__.setdefault("stack", []).append(time.thread_time())
    def on_end(self, ev):
        stack = self.local.stack
        t0 = stack.pop()
        if not stack:  # top level: nested compiles are inside it
            f = ev.data["dispatcher"].py_func
            self.done.append([f"{f.__module__}.{f.__qualname__}", time.thread_time() - t0])

listener = Compiles()
event.register("numba:compile", listener)
from access.cli import main
rc = main(["demo", "--out", sys.argv[1], "--quiet"])
json.dump(listener.done, open(sys.argv[2], "w"))
sys.exit(rc)
"""


def run_demo(cache: Path, out: Path, compile: bool = False, helper: bool = True) -> dict:
    """One ``access demo`` in a fresh process; wall, CPU, RSS, compiles and step timings.

    ``compile``: for this machine's CPU, so the shipped kernels do not apply.
    """
    from llvmlite import binding

    env = own_cache_env(cache, cpu=binding.get_host_cpu_name() if compile else None)
    if not helper:
        folder = cache / "numba" / source_key()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / precompile.MARKER).touch()
    compiles = out.with_name(out.name + "-compiles.json")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(compiles)], env=env, cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"access demo failed ({proc.returncode}):\n{err}")
    steps = json.loads((out / "run.json").read_text(encoding="utf-8"))["timings_s"]
    kernels = json.loads(compiles.read_text())
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "compile": sum(s for _, s in kernels), "kernels": kernels, "steps": steps}


def report(label: str, r: dict, n_kernels: int) -> None:
    steps = r["steps"]
    outside = r["wall"] - sum(steps.values())
    print(f"{label}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, peak RSS {r['rss_mb']:.0f} MB, "
          f"compiling {r['compile']:.1f} s CPU in {len(r['kernels'])} kernels")
    for name, s in sorted(r["kernels"], key=lambda k: -k[1])[:n_kernels]:
        print(f"    compile {s:6.2f} s  {name}")
    for name, s in sorted(steps.items(), key=lambda kv: -kv[1]):
        if s >= 0.1:
            print(f"    {name:<24} {s:6.2f} s  {100 * s / r['wall']:5.1f} %")
    print(f"    {'(start-up, other)':<24} {outside:6.2f} s  {100 * outside / r['wall']:5.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="cold + warm pairs, each with a new cache folder")
    ap.add_argument("--kernels", type=int, default=8, help="costliest kernels listed per run")
    args = ap.parse_args()
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="access-cold-") as tmp:
            tmp = Path(tmp)
            load = os.getloadavg()[0]
            helped = precompile._idle_core()
            key = source_key()
            cold = run_demo(tmp / "cache", tmp / "cold")
            warm = run_demo(tmp / "cache", tmp / "warm")
            compiled = run_demo(tmp / "cache-compile", tmp / "compiled", compile=True)
            serial = run_demo(tmp / "cache-serial", tmp / "serial", compile=True, helper=False)
            print(f"run {i + 1} (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, "
                  f"{os.cpu_count()} cores)")
            if source_key() != key:
                print("  kernel sources changed during the run (a new cache folder): the figures do not compare")
            shipped = (prebuilt.SHELF / prebuilt.archive_name(key)).is_file()
            report("  cold (empty cache, as after an install: shipped kernels)" if shipped else
                   "  cold (empty cache; no shipped kernels match these sources: `make kernels`)", cold, args.kernels)
            report("  warm (same cache as the first)", warm, args.kernels)
            report("  compiling, kernels compiled ahead by the helper" if helped else
                   "  compiling (machine busy, so no helper)", compiled, args.kernels)
            report("  compiling without the helper (peer)", serial, args.kernels)
            print(f"  cold/warm {cold['wall'] / warm['wall']:.2f}; compilation adds {compiled['wall'] - warm['wall']:.1f} s "
                  f"wall with the helper, {serial['wall'] - warm['wall']:.1f} s without")

if __name__ == "__main__":
    main()
