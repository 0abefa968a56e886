"""Write PySAL ``access`` results as test expectations for access.siting.fca.

PySAL's accessibility package is published on PyPI as ``access`` -- the same
import name as this project -- so it cannot live in the project venv. It runs
in a separate venv that has only PySAL's package, by default ``.venv-pysal``
in the repository root::

    python3 -m venv .venv-pysal
    .venv-pysal/bin/pip install access==1.1.10.post3 pyarrow
    .venv/bin/python benchmarks/pysal_access_expectations.py [--pysal-python PATH] [--out DIR]

Started with any other interpreter (e.g. the project venv), the script
re-runs itself with ``--pysal-python`` (default
``<repo>/.venv-pysal/bin/python``); it stops with a message, writing
nothing, when that interpreter is missing. It never imports this project's
``access`` for the PySAL run: the repository is taken off ``sys.path`` and the
script checks that ``access`` is PySAL's.

It writes to ``tests/data/siting/`` (or ``--out``):

* ``pysal_pairs.parquet``   -- inputs: case, origin (cell), dest (facility), cost
* ``pysal_nodes.parquet``   -- inputs: case, kind (demand/supply), id, value
* ``pysal_expected.parquet``-- outputs: case, method, cell, value (PySAL raw,
  NaN where PySAL leaves a cell out)
* ``pysal_cases.json``      -- per case and method the PySAL call that was made

Cases
-----
(a) PySAL's own published test cases (its sdist ``access/tests``): the
    four-scenario hospital example (``test_hospital_example.py``: 2SFCA and
    3SFCA, gravity weight ``1/t``, ``max_cost=61``) and the 5x5 Euclidean grid
    tests (``test_floating_catchment_area.py`` and
    ``test_weighted_catchment.py``). PySAL's Chicago example datasets are
    downloaded from a CDN at run time (``access.datasets``), they are not in
    the wheel or sdist, so they are not used.
(b) Three random cases with fixed seeds (10,000+ pairs each), in seconds:
    cumulative opportunities, 2SFCA, enhanced 2SFCA (Luo & Qi steps), Gaussian
    2SFCA (Dai 2010 weight passed to PySAL as ``weight_fn``), 3SFCA with the
    Dai weight and 3SFCA with PySAL's own ``weights.gaussian`` (non-zero past
    ``max_cost``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "tests" / "data" / "siting"
PYSAL_PY = HERE.parent / ".venv-pysal" / "bin" / "python"


def _args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pysal-python", default=str(PYSAL_PY),
                    help="interpreter of a venv with PySAL access==1.1.10.post3 and pyarrow "
                         "(default: %(default)s)")
    ap.add_argument("--out", default=str(OUT), help="output folder (default: %(default)s)")
    return ap.parse_args()


ARGS = _args()
# never import this project's `access` by accident
sys.path = [p for p in sys.path if Path(p or ".").resolve() not in (HERE.parent, HERE)]

try:
    import access  # noqa: E402
except ImportError:
    access = None
if not hasattr(access, "Access"):
    py = Path(ARGS.pysal_python)
    if not py.exists():
        raise SystemExit(f"PySAL venv not found at {py}: nothing written. Create it with\n"
                         f"  python3 -m venv {py.parent.parent}\n"
                         f"  {py.parent}/pip install access==1.1.10.post3 pyarrow\n"
                         "or pass --pysal-python.")
    if Path(sys.executable).absolute() == py.absolute():
        raise SystemExit(f"`access` in {py} is not PySAL's package; "
                         "pip install access==1.1.10.post3 there.")
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])

from access import Access, weights  # noqa: E402


def dai(d0):
    e = math.exp(-0.5)
    return lambda t: (math.exp(-0.5 * (t / d0) ** 2) - e) / (1 - e) if t <= d0 else 0.0


def run(case, demand, supply, cost, calls, pairs, nodes, expected, meta):
    """Run each PySAL call on one case; demand/supply: Series indexed by id."""
    pairs.append(cost.assign(case=case))
    nodes.append(pd.DataFrame({"case": case, "kind": "demand", "id": demand.index, "value": demand.values}))
    nodes.append(pd.DataFrame({"case": case, "kind": "supply", "id": supply.index, "value": supply.values}))
    meta[case] = {}
    for method, fn, kwargs in calls:
        a = Access(
            demand_df=demand.rename("pop").rename_axis("geoid").reset_index(),
            demand_index="geoid", demand_value="pop",
            supply_df=supply.rename("doc").rename_axis("geoid").reset_index(),
            supply_index="geoid", supply_value="doc",
            cost_df=cost.copy(), cost_origin="origin", cost_dest="dest", cost_name="cost",
        )
        out = getattr(a, fn)(name="x", **{k: v for k, v in kwargs.items() if k != "describe"})
        col = out["x_doc"].reindex(demand.index)
        expected.append(pd.DataFrame({"case": case, "method": method, "cell": demand.index,
                                      "value": col.to_numpy(float)}))
        meta[case][method] = {"pysal": fn, **{k: v for k, v in kwargs.items() if k == "describe"}}


def hospital(pairs, nodes, expected, meta):
    tr = pd.DataFrame({"geoid": [1, 2, 3], "pop": [100, 50, 10], "doc": [15, 20, 100]}).set_index("geoid")
    scen = {  # (1->3, 2->3, 3->1, 3->2, 1<->2) from test_hospital_example.py
        0: (40, 40, 40, 40, 80), 1: (20, 20, 40, 40, 80),
        2: (40, 40, 20, 20, 80), 3: (20, 20, 20, 20, 40),
    }
    for n, (a13, a23, a31, a32, x) in scen.items():
        cost = pd.DataFrame({
            "origin": [1, 2, 3, 1, 2, 3, 3, 1, 2], "dest": [1, 2, 3, 3, 3, 1, 2, 2, 1],
            "cost": [1, 1, 1, a13, a23, a31, a32, x, x]}).astype({"cost": float})
        g = weights.gravity(1, -1)
        run(f"hospital_s{n}", tr["pop"], tr["doc"], cost, [
            ("2sfca", "two_stage_fca", {"weight_fn": g, "max_cost": 61,
                                        "describe": "gravity(1,-1) both steps, max_cost 61"}),
            ("3sfca", "three_stage_fca", {"weight_fn": g, "max_cost": 61,
                                          "describe": "gravity(1,-1), G over all pairs, max_cost 61"}),
        ], pairs, nodes, expected, meta)


def grid(n, random_values=False, seed=44):
    """PySAL tests/util.py create_nxn_grid + euclidean create_cost_matrix."""
    import random
    random.seed(seed)
    rows, i = [], 0
    for x in range(n):
        for y in range(n):
            i += 1
            rows.append((i, x, y, random.randint(1, 200) if random_values else 1))
    g = pd.DataFrame(rows, columns=["id", "x", "y", "value"]).set_index("id")
    o, d = np.meshgrid(g.index, g.index, indexing="ij")
    xy = g[["x", "y"]].to_numpy(float)
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    cost = pd.DataFrame({"origin": o.ravel(), "dest": d.ravel(), "cost": dist.ravel()})
    return g["value"], cost


def grids(pairs, nodes, expected, meta):
    value, cost = grid(5)
    demand5 = value.sample(5, random_state=7)  # PySAL samples without a seed; fixed here
    s25 = weights.step_fn({10: 25})
    calls = [
        ("2sfca_large", "two_stage_fca", {}),
        ("2sfca_small", "two_stage_fca", {"max_cost": 0.9}),
        ("2sfca_zero", "two_stage_fca", {"max_cost": -1}),
        ("e2sfca_large", "enhanced_two_stage_fca", {"describe": "default step_fn 10/20/30 -> 1/.68/.22"}),
        ("e2sfca_small", "enhanced_two_stage_fca", {"max_cost": 0.9}),
        ("3sfca_large", "three_stage_fca", {"weight_fn": s25, "describe": "step_fn({10: 25})"}),
        ("3sfca_small", "three_stage_fca", {"weight_fn": s25, "max_cost": 0.9}),
    ]
    run("grid5_sample5", demand5, value, cost, calls, pairs, nodes, expected, meta)
    run("grid5_full", value, value, cost, [
        ("catchment_gravity", "weighted_catchment", {"weight_fn": weights.gravity(scale=60, alpha=1),
                                                     "describe": "gravity(60, 1), no max_cost"}),
        ("catchment_step_small", "weighted_catchment", {"weight_fn": weights.step_fn({0.5: 0.5})}),
        ("catchment_step_large", "weighted_catchment", {"weight_fn": weights.step_fn({10: 1})}),
    ], pairs, nodes, expected, meta)
    rv, rcost = grid(6, random_values=True)
    run("grid6_random", rv, (rv % 7 + 1).astype(float), rcost, [
        ("2sfca_r2", "two_stage_fca", {"max_cost": 2.0}),
        ("e2sfca_steps", "enhanced_two_stage_fca", {"weight_fn": weights.step_fn({1: 1, 2: 0.68, 3: 0.22}),
                                                    "max_cost": 3}),
        ("3sfca_gauss", "three_stage_fca", {"weight_fn": weights.gaussian(1.5), "max_cost": 3}),
    ], pairs, nodes, expected, meta)


def random_case(seed, n_cells, n_fac, pairs_per_cell):
    rng = np.random.default_rng(seed)
    cell = np.repeat(np.arange(n_cells), pairs_per_cell)
    fac = np.concatenate([rng.choice(n_fac, pairs_per_cell, replace=False) for _ in range(n_cells)])
    cost = pd.DataFrame({"origin": cell + 100_000, "dest": fac + 900_000,
                         "cost": rng.uniform(0, 3600, len(cell)).round(1)})
    demand = pd.Series(rng.integers(1, 5000, n_cells).astype(float), index=np.arange(n_cells) + 100_000)
    supply = pd.Series(rng.integers(0, 40, n_fac).astype(float), index=np.arange(n_fac) + 900_000)
    return demand, supply, cost


def randoms(pairs, nodes, expected, meta):
    for seed, (nc, nf, k) in zip((101, 202, 303), ((2500, 300, 5), (4000, 500, 3), (1500, 800, 9))):
        d, s, c = random_case(seed, nc, nf, k)
        run(f"random_{seed}", d, s, c, [
            ("cumulative_1800", "weighted_catchment", {"max_cost": 1800}),
            ("2sfca_1800", "two_stage_fca", {"max_cost": 1800}),
            ("e2sfca_luoqi", "enhanced_two_stage_fca",
             {"weight_fn": weights.step_fn({600: 1, 1200: 0.68, 1800: 0.22}), "max_cost": 1800}),
            ("g2sfca_1800", "two_stage_fca", {"weight_fn": dai(1800.0), "max_cost": 1800,
                                              "describe": "Dai 2010 Gaussian d0=1800"}),
            ("3sfca_dai_1800", "three_stage_fca", {"weight_fn": dai(1800.0), "max_cost": 1800}),
            ("3sfca_gauss600_1800", "three_stage_fca", {"weight_fn": weights.gaussian(600), "max_cost": 1800,
                                                        "describe": "PySAL gaussian(600)"}),
        ], pairs, nodes, expected, meta)


def main():
    out = Path(ARGS.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs, nodes, expected, meta = [], [], [], {}
    hospital(pairs, nodes, expected, meta)
    grids(pairs, nodes, expected, meta)
    randoms(pairs, nodes, expected, meta)
    pd.concat(pairs, ignore_index=True)[["case", "origin", "dest", "cost"]].to_parquet(
        out / "pysal_pairs.parquet", index=False, compression="zstd")
    pd.concat(nodes, ignore_index=True).to_parquet(out / "pysal_nodes.parquet", index=False, compression="zstd")
    pd.concat(expected, ignore_index=True).to_parquet(out / "pysal_expected.parquet", index=False,
                                                      compression="zstd")
    meta["_source"] = f"PySAL access {access.__version__ if hasattr(access, '__version__') else '1.1.10.post3'}"
    (out / "pysal_cases.json").write_text(json.dumps(meta, indent=1))
    for f in sorted(out.glob("pysal_*")):
        print(f"{f.name}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
