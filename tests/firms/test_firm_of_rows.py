"""``bulk.firm_of_rows`` takes a column of good 18-byte codes without a null as it is (no pattern, nothing
converted): each row's firm is what the general path (the pattern, then the conversion and the check of
each doubtful cell) gives, and a column with any other cell goes the general way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms import bulk
from huiqi.firms.importing import header_rules
from huiqi.firms.uscc import make_uscc

GOOD = [make_uscc(f"91310110{i:09d}") for i in range(10)]
CELLS = st.one_of(
    st.sampled_from(GOOD),
    st.sampled_from([GOOD[0].lower(), GOOD[1][:17], " " + GOOD[2][1:], GOOD[3][:17] + "0", None]),
)


def _firms(values: list[str | None]) -> list[str | None]:
    col = pa.array(values, pa.string())
    n = len(values)
    cells = bulk.Cells("designations.csv", ["uscc"], {"uscc": col}, np.arange(2, n + 2), csv=True)
    rules = header_rules("designations", ["uscc"], None, "designations.csv")
    out: list[str | None] = bulk.firm_of_rows(cells, rules, "designations").to_pylist()
    return out


@settings(max_examples=60, deadline=None)
@given(values=st.lists(CELLS, min_size=1, max_size=12))
def test_good_codes_are_taken_as_the_general_path_reads_them(values: list[str | None]) -> None:
    general = _firms([*values, "not a code"])[:-1]  # one bad cell: the pattern's way for every cell
    assert _firms(values) == general
    if all(v in GOOD for v in values):
        assert general == values
