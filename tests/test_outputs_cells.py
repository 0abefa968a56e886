"""cells.parquet as written: narrowed times, text as text, every row in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from access.outputs import write_cells


def test_cells_parquet_narrows_times_only_and_keeps_every_row(tmp_path):
    t = np.array([0.0, 59.999, 1799.0004, np.nan, 16_000.123])  # seconds; NaN = no route
    table = pd.DataFrame({
        "cell_id": np.arange(5, dtype=np.int64) + 10,
        "x": [500_000.123456, 500_100.0, 500_200.0, 500_300.0, 500_400.0],
        "population": [1.25, 0.0001, 7.0, 3.0, 2.0],
        "township": pd.array(["350101", "350101", "350102", None, "350102"], dtype="str"),
        "t_walk_clinic": t,
        "in_c": [True, True, False, False, False],
        "missing_c": pd.Categorical.from_codes([0, 0, 1, 2, -1], categories=["", "clinic", "clinic,school"]),
    })
    path = write_cells(table, tmp_path / "cells.parquet", rows=2)  # three row groups
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    schema = pq.ParquetFile(path).schema_arrow
    assert str(schema.field("t_walk_clinic").type) == "float"  # 32-bit seconds
    assert str(schema.field("x").type) == "double" and str(schema.field("population").type) == "double"
    assert str(schema.field("missing_c").type) == "large_string"  # text, not a coded field
    back = pd.read_parquet(path)
    assert back["cell_id"].tolist() == [10, 11, 12, 13, 14]
    assert back["x"].tolist() == table["x"].tolist() and back["population"].tolist() == table["population"].tolist()
    got = back["t_walk_clinic"].to_numpy(float)
    assert np.isnan(got[3]) and np.all(np.abs(got[[0, 1, 2, 4]] - t[[0, 1, 2, 4]]) < 1e-3)  # within 1 ms
    assert back["in_c"].tolist() == [True, True, False, False, False]
    assert back["missing_c"].tolist()[:4] == ["", "", "clinic", "clinic,school"] and pd.isna(back["missing_c"][4])
    assert back["township"].tolist()[:3] == ["350101", "350101", "350102"] and pd.isna(back["township"][3])
