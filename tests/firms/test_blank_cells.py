"""``bulk._may_be_blank`` (which cells of a CSV file's first column the blank-row pattern is asked about)
names every cell the pattern matches (null, empty, or of spaces only, as Python's ``str.strip`` knows
them), in a column sliced anywhere; so ``csv_rows`` skips and refuses the rows it did when it asked the
pattern of every cell.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms import bulk

PIECES = ["", " ", "\t", "\x0b", "\x1c", "\x85", "\xa0", "\u3000", "\u2028", "a", "é", "9", "'", "\x7f"]
CELL = st.one_of(st.none(), st.lists(st.sampled_from(PIECES), max_size=3).map("".join))


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(CELL, min_size=1, max_size=15), cut=st.integers(0, 3))
def test_every_cell_the_pattern_matches_is_asked_about(cells: list[str | None], cut: int) -> None:
    col = pa.array(cells, pa.string()).slice(min(cut, len(cells) - 1))
    matched = pc.match_substring_regex(pc.fill_null(col, ""), bulk._BLANKISH).to_numpy(zero_copy_only=False)
    asked = bulk._may_be_blank(col)
    assert len(asked) == len(col)
    assert not (matched & ~asked).any()
    for i, v in enumerate(col.to_pylist()):  # (and the pattern is whitespace as str.strip knows it)
        assert bool(matched[i]) == (v is None or not v.strip())


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=10))
def test_csv_rows_skips_empty_rows_and_leaves_rows_of_spaces_to_the_row_reader(
    rows: list[tuple[str | None, str | None]],
) -> None:
    columns = [pa.array([r[k] for r in rows], pa.string()) for k in range(2)]
    out = bulk.csv_rows(columns, 2)
    blank = [all(c is None or not c.strip() for c in r) for r in rows]
    empty = [all(c is None for c in r) for r in rows]
    if any(b and not e for b, e in zip(blank, empty, strict=True)):
        assert out is None
        return
    assert out is not None
    kept, numbers = out
    assert numbers.tolist() == [i + 2 for i, e in enumerate(empty) if not e]
    assert [c.to_pylist() for c in kept] == [
        [r[k] for r, e in zip(rows, empty, strict=True) if not e] for k in range(2)
    ]
    assert np.all(np.diff(numbers) > 0)
