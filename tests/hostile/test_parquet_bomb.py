"""A Parquet file of one value repeated tens of millions of times (a few hundred KB: dictionary and
run-length encoding) is refused from its metadata, before it is read: read whole, 50 M rows took 99 s and
6.5 GB to a MemoryError. A register's table in Parquet is read as before."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huiqi.firms.importing import ImportError_, read_source
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register


def test_more_rows_than_bytes_is_refused_before_reading(tmp_path: Path) -> None:
    n = 5_000_000
    codes = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array(["9131011632YN7X019L"])
    )
    path = tmp_path / "firms.parquet"
    pq.write_table(pa.table({"uscc": codes}), path, compression="zstd")
    assert path.stat().st_size < n // 20
    started = time.monotonic()
    with pytest.raises(
        ImportError_, match=rf"firms.parquet: 5,000,000 rows in {path.stat().st_size:,} bytes"
    ):
        read_source(path)
    assert time.monotonic() - started < 5


def test_a_register_table_in_parquet_is_read(tmp_path: Path) -> None:
    tables = synth_register(20, 2)
    out = write_register(tables, tmp_path / "reg")
    batch = read_source(Path(out) / "firms.parquet")
    assert not batch.problems and len(batch.rows["firms"]) == 20
