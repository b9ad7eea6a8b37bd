"""``bulk._membership`` (which of an import's codes a register holds, and which of the register's codes
the import names) finds by binary search what ``is_in`` finds both ways, whenever the register's codes
are 18 bytes each, each once and in order (as stored); any other register is looked up by ``is_in``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms import bulk
from huiqi.firms.uscc import make_uscc

CODES = [make_uscc(f"91310110{i:09d}") for i in range(12)]
OTHER = st.sampled_from([*CODES, "short", "\uff19" + CODES[0][1:]])  # (another length: is_in's way)


@settings(max_examples=80, deadline=None)
@given(
    codes=st.lists(OTHER, max_size=8),
    register=st.lists(st.sampled_from(CODES), max_size=10),
    order=st.sampled_from(["sorted", "as drawn", "with another length"]),
)
def test_binary_search_finds_what_is_in_finds(codes: list[str], register: list[str], order: str) -> None:
    if order == "sorted":
        register = sorted(set(register))
    elif order == "with another length":
        register = [*sorted(set(register)), "zz"]
    col, reg = pa.array(codes, pa.string()), pa.array(register, pa.string())
    held, named = bulk._membership(col, reg)
    assert held.to_pylist() == pc.is_in(col, value_set=reg).to_pylist()
    assert named.to_pylist() == pc.is_in(reg, value_set=col).to_pylist()
    chunked = pa.chunked_array([reg[:2], reg[2:]], type=pa.string())
    assert [a.to_pylist() for a in bulk._membership(col, chunked)] == [held.to_pylist(), named.to_pylist()]
