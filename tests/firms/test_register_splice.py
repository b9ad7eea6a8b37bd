"""The stored register's tables with some firms' rows replaced (huiqi.firms.splice: merged as the stored
files are read, or sorted by DuckDB when they are not in order) are the files ``write_register`` writes of
the same register: rows, order (a firm's rows keep theirs), types, row groups and manifest."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiqi.firms import splice
from huiqi.firms.bulk import by_credit_code
from huiqi.firms.frames import table_years
from huiqi.firms.register import MANIFEST, ROW_GROUP, TABLES, write_register
from huiqi.firms.synth import synth_register


def _spliced_and_whole(tmp: Path, firms: int, seed: int, every: int, stored_sorted: bool = True) -> None:
    """A register of ``firms`` firms with every ``every``-th firm's rows replaced and new firms added,
    spliced and written whole: the same files. ``stored_sorted``: the stored files in credit-code order
    (as imports write them) or in reverse (a register written otherwise: DuckDB sorts it)."""
    base = synth_register(firms, seed)
    order = (
        (lambda t: by_credit_code(t))
        if stored_sorted
        else (lambda t: t.take(pc.sort_indices(t, sort_keys=[("uscc", "descending")])))
    )
    write_register({name: order(t) for name, t in base.items()}, tmp / "base")
    codes = base["firms"]["uscc"].combine_chunks()
    dropped = codes.filter(pa.array([i % every == 0 for i in range(len(codes))]))
    others = synth_register(5, seed + 1000)  # new firms
    new = {}
    for name in TABLES:
        mine = base[name].filter(pc.is_in(base[name]["uscc"], value_set=dropped))
        if name == "offices":  # a firm's child rows in another order
            mine = mine.take(pa.array(range(mine.num_rows - 1, -1, -1), pa.int64()))
        new[name] = pa.concat_tables([mine, others[name].cast(mine.schema)])
    dropped = pa.concat_arrays([dropped, others["firms"]["uscc"].combine_chunks()])
    whole = {
        name: by_credit_code(
            pa.concat_tables(
                [base[name].filter(pc.invert(pc.is_in(base[name]["uscc"], value_set=dropped))), new[name]]
            )
        )
        for name in TABLES
    }
    files = {name: tmp / "base" / f"{name}.parquet" for name in TABLES}
    new_sorted = {name: by_credit_code(t) for name, t in new.items()}
    firms = splice.write_spliced(files, dropped, new_sorted, tmp / "spliced", table_years(base["firms"]))
    write_register(whole, tmp / "whole")
    assert firms == whole["firms"].num_rows
    for name in TABLES:
        got, want = tmp / "spliced" / f"{name}.parquet", tmp / "whole" / f"{name}.parquet"
        assert pq.read_table(got).replace_schema_metadata(None).equals(pq.read_table(want)), name
        groups = [  # (an empty table: DuckDB writes no row group, Arrow one of no rows)
            [n for n in (m.row_group(i).num_rows for i in range(m.num_row_groups)) if n]
            for m in (pq.read_metadata(got), pq.read_metadata(want))
        ]
        assert groups[0] == groups[1], name
    manifest = json.loads((tmp / "spliced" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == json.loads((tmp / "whole" / MANIFEST).read_text(encoding="utf-8"))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 50), every=st.integers(1, 9))
def test_a_spliced_register_is_the_register_written_whole(
    seed: int, every: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _spliced_and_whole(tmp_path_factory.mktemp("splice"), 40, seed, every)


def test_stored_files_not_in_order_are_spliced_in_order(tmp_path: Path) -> None:
    _spliced_and_whole(tmp_path, 40, 5, 4, stored_sorted=False)


def test_a_large_spliced_table_has_the_row_groups_of_a_whole_one(tmp_path: Path) -> None:
    _spliced_and_whole(tmp_path, 3 * ROW_GROUP + 1500, 7, 3)


def test_the_spill_directory_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored files not in order are sorted by DuckDB, which spills to a directory beside the new one
    (made here beforehand, as a spill past the memory limit would make it): it is removed."""
    base = synth_register(10, 3)
    descending = {n: t.take(pc.sort_indices(t, sort_keys=[("uscc", "descending")])) for n, t in base.items()}
    write_register(descending, tmp_path / "base")
    monkeypatch.setattr(splice.uuid, "uuid4", lambda: SimpleNamespace(hex="test"))
    (tmp_path / ".spill-test").mkdir()
    (tmp_path / ".spill-test" / "spilled.tmp").write_bytes(b"x")
    files = {name: tmp_path / "base" / f"{name}.parquet" for name in TABLES}
    empty = {name: base[name].slice(0, 0) for name in TABLES}
    splice.write_spliced(
        files, pa.array([], pa.string()), empty, tmp_path / "out", table_years(base["firms"])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "out"]
    assert pq.read_table(tmp_path / "out" / "firms.parquet").num_rows == 10


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 50), every=st.integers(1, 9), batch=st.integers(1, 30))
def test_a_register_read_a_few_rows_at_a_time_is_spliced_the_same(
    seed: int,
    every: int,
    batch: int,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stored files read in batches of a few rows (new rows falling at a batch's edges, before the
    first stored firm and after the last): the same files as the register written whole."""
    monkeypatch.setattr(splice, "BATCH_ROWS", batch)
    _spliced_and_whole(tmp_path_factory.mktemp("batches"), 40, seed, every)


def test_a_stored_file_that_cannot_be_read_is_refused_and_the_reader_stops(tmp_path: Path) -> None:
    """A stored table file cut short: the splice raises Arrow's error (the reading thread hands it over
    and ends), it does not hang or write a register."""
    import threading

    base = synth_register(30, 4)
    write_register({n: by_credit_code(t) for n, t in base.items()}, tmp_path / "base")
    files = {name: tmp_path / "base" / f"{name}.parquet" for name in TABLES}
    whole = files["firms"].read_bytes()
    files["firms"].write_bytes(whole[: len(whole) // 2])
    empty = {name: base[name].slice(0, 0) for name in TABLES}
    with pytest.raises((pa.ArrowInvalid, OSError)):
        splice.write_spliced(
            files, pa.array([], pa.string()), empty, tmp_path / "out", table_years(base["firms"])
        )
    assert not (tmp_path / "out" / MANIFEST).exists()
    assert not [t for t in threading.enumerate() if t.name == "splice reader"]


@given(st.lists(st.one_of(st.text(max_size=20), st.from_regex(r"[0-9A-Y]{18}", fullmatch=True)), max_size=30))
def test_codes_are_searched_in_arrows_order(codes: list[str]) -> None:
    """``searchable``: the codes' order as NumPy compares them is Arrow's (UTF-8 bytes) order."""
    arr = pa.array(codes, pa.string())
    found = splice.searchable(arr)
    want = pc.sort_indices(arr).to_pylist()
    got = [int(i) for i in np.argsort(found, kind="stable")]
    assert [codes[i] for i in got] == [codes[i] for i in want]
