"""``bulk.firms_whose_rows_differ`` (which changed firms' child rows to compare as values, found on the
columns) names exactly the firms whose rows, as the history compares them (a firm's rows in order, each
without its empty cells), differ: those with another number of rows, a row changed, or rows reordered;
when the two tables' columns differ it names none and every firm is compared as values.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms.bulk import firms_whose_rows_differ
from huiqi.firms.importing import encode
from huiqi.firms.table import child_schema
from huiqi.firms.uscc import make_uscc

CODES = [make_uscc(f"91310110{i:09d}") for i in range(5)]
SCHEMA = child_schema("incentives")  # text, money and a date, each may be empty
ROW = st.fixed_dictionaries(
    {
        "uscc": st.sampled_from(CODES),
        "programme": st.sampled_from(["a", "b", None]),
        "item": st.sampled_from(["x", "", None]),
        "amount": st.sampled_from([Decimal("1.00"), Decimal("2.50"), None]),
        "date": st.sampled_from([dt.date(2024, 1, 1), dt.date(2025, 6, 30), None]),
    }
)


def _as_history_sees(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        rest = {c: encode(v) for c, v in row.items() if c != "uscc" and v is not None}
        out.setdefault(row["uscc"], []).append(rest)
    return out


@settings(max_examples=80, deadline=None)
@given(old=st.lists(ROW, max_size=12), edits=st.lists(st.tuples(st.integers(0, 11), ROW), max_size=4))
def test_the_firms_named_are_those_whose_rows_differ(
    old: list[dict[str, Any]], edits: list[tuple[int, dict[str, Any]]]
) -> None:
    new = list(old)
    for at, row in edits:  # a row changed, added, or moved to the end (another order)
        if at < len(new) and at % 3 == 0:
            new[at] = row
        elif at < len(new) and at % 3 == 1:
            new.append(new.pop(at))
        else:
            new.insert(min(at, len(new)), row)
    a, b = _as_history_sees(old), _as_history_sees(new)
    want = {c for c in set(a) | set(b) if a.get(c, []) != b.get(c, [])}
    found = firms_whose_rows_differ(pa.Table.from_pylist(old, SCHEMA), pa.Table.from_pylist(new, SCHEMA))
    assert found is not None
    assert sorted(found.to_pylist()) == sorted(want)


def test_tables_of_other_columns_are_compared_as_values() -> None:
    old = pa.Table.from_pylist([{"uscc": CODES[0], "programme": "a"}], SCHEMA)
    assert firms_whose_rows_differ(old, old.drop_columns(["item"])) is None
