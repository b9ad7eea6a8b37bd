"""One firm's rows of a sorted register table (huiqi.firms.lookup): the same rows as a full scan's filter,
for firms present or not, at row-group edges, in unsorted files, and after a file is replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms.lookup import firm_rows

CODES = st.text(alphabet="0123456789ABC", min_size=1, max_size=3)


def _write(path: Path, codes: list[str], group: int) -> pa.Table:
    schema = pa.schema([("uscc", pa.string()), ("n", pa.int64())])
    table = pa.table({"uscc": codes, "n": list(range(len(codes)))}, schema=schema)
    pq.write_table(table, path, row_group_size=group)
    return table


def _expected(table: pa.Table, uscc: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = table.filter(pc.equal(table["uscc"], uscc)).to_pylist()
    return rows


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(CODES, max_size=60), group=st.integers(1, 9), asked=CODES, sort=st.booleans())
def test_a_lookup_finds_exactly_the_rows_a_full_filter_finds(
    tmp_path_factory: object, codes: list[str], group: int, asked: str, sort: bool
) -> None:
    path = Path(str(tmp_path_factory.mktemp("lookup"))) / "t.parquet"  # type: ignore[attr-defined]
    table = _write(path, sorted(codes) if sort else codes, group)
    for uscc in {asked, *codes[:3]}:
        assert firm_rows(path, uscc).to_pylist() == _expected(table, uscc)


def test_a_firm_spanning_row_groups_is_found_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table = _write(path, ["A", "B", "B", "B", "B", "B", "C"], 2)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    assert [r["n"] for r in firm_rows(path, "B").to_pylist()] == [1, 2, 3, 4, 5]
    assert firm_rows(path, "D").num_rows == 0 and firm_rows(path, "0").num_rows == 0
    assert firm_rows(path, "D").schema == table.schema


def test_a_file_replaced_in_place_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _write(path, ["A", "B"], 1)
    assert firm_rows(path, "B").to_pylist() == [{"uscc": "B", "n": 1}]
    fresh = tmp_path / "new.parquet"
    _write(fresh, ["B", "B", "C"], 1)
    os.replace(fresh, path)  # as an import renames its new files into place
    assert firm_rows(path, "B").to_pylist() == [{"uscc": "B", "n": 0}, {"uscc": "B", "n": 1}]
