"""The engine alone writes its wide results to Parquet (``backends.copy_to_parquet``): the unmet lists as
ENUMs of every list a programme can give (so the writer is handed the dictionary), from the strings or
straight from the failed tests' bits (``as_bits``), the amounts as DECIMAL(18, 2). The file must hold
exactly what the compiled table holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms.synth import synth_register
from huiqi.rules import backends
from huiqi.rules.batch import duckdb_tables, execute
from huiqi.rules.compiler import UNMET_BITS, compile_pack, unmet_lists
from huiqi.rules.loader import load_pack

PACK = load_pack()


@pytest.mark.parametrize("on", [dt.date(2025, 7, 28), dt.date(2023, 1, 1)])
def test_enum_columns_write_the_same_strings(tmp_path: Path, on: dt.date) -> None:
    tables = synth_register(3_000, 5)
    compiled = compile_pack(PACK, duckdb_tables(tables), on, with_unmet=True)
    unmet = [compiled.columns[pid][2] for pid in compiled.programmes]
    assert sorted(compiled.unmet_values) == sorted(unmet), "every bundled programme's unmet list is an ENUM"
    assert compiled.as_bits is not None, "DuckDB looks the unmet lists up"
    plain, enums, bits = (tmp_path / f"{name}.parquet" for name in ("plain", "enums", "bits"))
    assert backends.copy_to_parquet(compiled.table, plain) == 3_000
    assert backends.copy_to_parquet(compiled.table, enums, enums=compiled.unmet_values) == 3_000
    assert backends.copy_to_parquet(compiled.as_bits, bits, enums=compiled.unmet_values) == 3_000
    expected = execute(compiled.table).sort_by("uscc")
    for path in (plain, enums, bits):
        got = pq.read_table(path).sort_by("uscc")
        assert got.column_names == expected.column_names
        for name in expected.column_names:
            column = got[name].cast(pa.string()) if name in unmet else got[name]
            assert column.to_pylist() == expected[name].to_pylist(), f"{path.name}: {name}"
        for pid in compiled.programmes:
            assert got.schema.field(compiled.columns[pid][1]).type == pa.decimal128(18, 2)
    # many different lists were written, not one a programme
    lists = {v for name in unmet for v in expected[name].to_pylist()}
    assert len(lists) > 2 * len(unmet)


@settings(max_examples=50, deadline=None)
@given(
    ids=st.lists(st.text("abc-", min_size=1, max_size=4), min_size=1, max_size=UNMET_BITS, unique=True),
    prefix=st.sampled_from([[], ["in-force"]]),
    failed=st.data(),
)
def test_an_unmet_list_sits_at_its_failed_tests_bits(
    ids: list[str], prefix: list[str], failed: st.DataObject
) -> None:
    lists = unmet_lists(prefix, ids)
    assert len(lists) == 2 ** len(ids)
    which = failed.draw(st.lists(st.sampled_from(range(len(ids))), unique=True))
    mask = sum(1 << i for i in which)
    assert lists[mask] == ",".join(prefix + [ids[i] for i in sorted(which)])
