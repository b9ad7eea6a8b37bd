"""A test read with unknown as false: filled once, not again when it cannot be unknown."""

from __future__ import annotations

import ibis
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rules.test_engine_reads import FIRM, ON, PACK

from huiqi.firms import firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules.batch import duckdb_sql, duckdb_tables
from huiqi.rules.compiler import compile_pack, known

CON = ibis.duckdb.connect()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=8),
    fill=st.one_of(st.none(), st.booleans()),
)
def test_known_is_the_test_with_unknown_as_false(values: list[bool | None], fill: bool | None) -> None:
    """Over any column filled with anything (unknown too): the same values as filling with false again."""
    t = ibis.memtable(pa.table({"a": pa.array(values, pa.bool_())}))
    filled = t.a.fill_null(ibis.literal(fill, type="boolean"))
    got = CON.to_pyarrow(t.select(x=known(filled), y=filled.fill_null(False)))
    assert got["x"].to_pylist() == got["y"].to_pylist()
    assert None not in got["x"].to_pylist()


def test_a_pack_fills_no_test_twice() -> None:
    """The bundled pack's any/all tests (offices, contracts, credit events...) are one COALESCE each."""
    tables = firms_to_tables([firm_from_data(FIRM)])
    compiled = compile_pack(PACK, duckdb_tables(tables), ON)
    sql = duckdb_sql(compiled.table)
    assert "COALESCE(COALESCE(" not in sql
    assert "COALESCE(" in sql
