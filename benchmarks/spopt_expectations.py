"""Write spopt's optimal objectives on its San Francisco instance as test expectations.

spopt (PySAL) ships the instance in its wheel under
``spopt/tests/test_locate/data/``: 205 census-tract centroids (demand,
``POP2000``), 16 candidate stores and their network distances (metres). This
script builds the cost matrix exactly as spopt's own ``TestRealWorldLocate``
tests do (pivot by DestinationName x store name, both sorted; weights
``POP2000`` of the tracts sorted by NAME; service distance 5000 m; p = 4),
solves LSCP, MCLP, p-median and p-center with spopt's default CBC solver
(PuLP's bundled CBC), and writes

* ``tests/data/siting/sf_instance.csv.gz`` -- long table demand, candidate,
  seconds (here metres), weight
* ``tests/data/siting/sf_spopt_expected.json`` -- objectives and chosen sites,
  plus runs with predefined (existing) facilities.

Run with the project venv (``pip install spopt``)::

    /work/venv/bin/python benchmarks/spopt_expectations.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pulp
import spopt
from spopt.locate import LSCP, MCLP, PCenter, PMedian

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "siting"
DATA = Path(spopt.__file__).parent / "tests" / "test_locate" / "data"
SERVICE = 5000.0
P = 4


def instance():
    nd = pd.read_csv(DATA / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    piv = nd.pivot_table(values="distance", index="DestinationName", columns="name")
    dem = pd.read_csv(DATA / "SF_demand_205_centroid_uniform_weight.csv").sort_values("NAME").reset_index()
    assert (dem["NAME"].astype(str).to_numpy() == piv.index.astype(str).to_numpy()).all()
    return piv, dem["POP2000"].to_numpy()


def solve(model):
    t = time.perf_counter()
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    secs = time.perf_counter() - t
    assert model.problem.status == pulp.LpStatusOptimal
    sites = [j for j, y in enumerate(model.fac_vars) if y.value() > 0.5]
    return {"objective": float(pulp.value(model.problem.objective)), "sites": sites, "cbc_seconds": secs}


def main():
    piv, ai = instance()
    cm = piv.to_numpy()
    out = {"service_distance": SERVICE, "p": P, "spopt": spopt.__version__,
           "candidates": list(piv.columns), "solver": "PULP_CBC_CMD (spopt default)"}
    out["lscp"] = solve(LSCP.from_cost_matrix(cm, SERVICE))
    out["mclp"] = solve(MCLP.from_cost_matrix(cm, ai, SERVICE, P))
    out["pmedian"] = solve(PMedian.from_cost_matrix(cm, ai, P))
    out["pcenter"] = solve(PCenter.from_cost_matrix(cm, P))
    # existing facilities: stores 0 and 5 already open (spopt "predefined"),
    # p counts them, so 2 new sites for p = 4
    pre = np.zeros(cm.shape[1], dtype=int)
    pre[[0, 5]] = 1
    out["predefined"] = [0, 5]
    out["mclp_predefined"] = solve(MCLP.from_cost_matrix(cm, ai, 3000.0, P, predefined_facilities_arr=pre))
    out["mclp_predefined"]["service_distance"] = 3000.0
    out["pmedian_predefined"] = solve(PMedian.from_cost_matrix(cm, ai, P, predefined_facilities_arr=pre))
    out["pcenter_predefined"] = solve(PCenter.from_cost_matrix(cm, P, predefined_facilities_arr=pre))
    out["lscp_predefined"] = solve(LSCP.from_cost_matrix(cm, SERVICE, predefined_facilities_arr=pre))
    out["lscp_predefined"]["service_distance"] = SERVICE
    OUT.mkdir(parents=True, exist_ok=True)
    d, c = np.meshgrid(np.arange(cm.shape[0]), np.arange(cm.shape[1]), indexing="ij")
    pd.DataFrame({"demand": d.ravel(), "candidate": c.ravel(), "seconds": cm.ravel(),
                  "weight": ai[d.ravel()]}).to_csv(OUT / "sf_instance.csv.gz", index=False)
    (OUT / "sf_spopt_expected.json").write_text(json.dumps(out, indent=1))
    for k, v in out.items():
        if isinstance(v, dict):
            print(k, v["objective"], v["sites"], f"{v['cbc_seconds']:.3f}s")


if __name__ == "__main__":
    main()
