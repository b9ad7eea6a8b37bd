"""Firm digests (huiqi.firms.digests): one firm's change changes its digest only, child rows count in any
order, and the tables in memory and their Parquet files give the same digests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms.digests import firm_digests
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register

TABLES = synth_register(60, 4)


def _by_code(digests: pa.Table) -> dict[str, str]:
    return dict(zip(digests["uscc"].to_pylist(), digests["digest"].to_pylist(), strict=True))


BEFORE = _by_code(firm_digests(TABLES))


def _changed(after: dict[str, pa.Table]) -> set[str]:
    now = _by_code(firm_digests(after))
    assert set(now) == set(BEFORE)
    return {u for u in now if now[u] != BEFORE[u]}


def test_matching_computes_the_same_digests() -> None:
    """Matching compares its runs' digests with the ones the import stores: the same function."""
    from huiqi.matching import run

    assert _by_code(run.firm_digests(TABLES)) == BEFORE


def test_every_firm_has_one_digest_and_the_files_give_the_same(tmp_path: Path) -> None:
    assert len(BEFORE) == TABLES["firms"].num_rows == len(set(BEFORE.values()))
    write_register(TABLES, tmp_path / "r")
    files = {name: tmp_path / "r" / f"{name}.parquet" for name in TABLES}
    assert _by_code(firm_digests(files)) == BEFORE


@settings(max_examples=25, deadline=None)
@given(row=st.integers(0, 59), column=st.sampled_from(["employees", "name_zh", "registration_date"]))
def test_a_changed_field_changes_that_firms_digest_only(row: int, column: str) -> None:
    firms = TABLES["firms"]
    values = firms[column].to_pylist()
    if column == "employees":
        values[row] = (values[row] or 0) + 1
    elif column == "name_zh":
        values[row] = f"{values[row]}x"
    else:  # a date cleared, or set when it was empty
        values[row] = None if values[row] is not None else dt.date(2020, 1, 1)
    col = pa.array(values, firms.schema.field(column).type)
    after = dict(TABLES, firms=firms.set_column(firms.column_names.index(column), column, col))
    assert _changed(after) == {firms["uscc"][row].as_py()}


def test_child_rows_count_in_any_order_but_a_changed_or_removed_row_counts() -> None:
    offices = TABLES["offices"]
    assert _changed(dict(TABLES, offices=offices.take(pc.sort_indices(offices["district"])))) == set()
    first = offices["uscc"][0].as_py()
    area = offices["area_m2"].to_pylist()
    area[0] = (area[0] or 0) + 1
    bigger = offices.set_column(
        offices.column_names.index("area_m2"), "area_m2", pa.array(area, offices.schema.field("area_m2").type)
    )
    assert _changed(dict(TABLES, offices=bigger)) == {first}
    assert _changed(dict(TABLES, offices=offices.slice(1))) == {first}
