"""``textual.import_digests`` (the raw digests of a whole import, its firms' codes hashed once) gives what
the definition gives: per table and firm, its rows' hashes each mixed with the row's rank among the firm's
rows and summed; per firm, each table's sum mixed with the table's name and summed; the firms in the order
of their first rows, table by table in the tables' names' order (the order ``combined`` of the tables'
``table_digests`` gives, so that raw digests stored by earlier imports are compared row by row). A file
written firm by firm is summed without a sort, any other order with one: both give the definition's.
"""

from __future__ import annotations

import zlib

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms import textual
from huiqi.firms.uscc import make_uscc

CODES = [make_uscc(f"91310110{i:09d}") for i in range(8)]
MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    """SplitMix64's finaliser, on a Python int (the definition, written apart from the module's)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _defined(tables: dict[str, tuple[list[str | None], list[str]]]) -> list[tuple[str, int]]:
    """The raw digests by the definition, a row and a firm at a time."""
    order: list[str] = []
    total: dict[str, int] = {}
    for name in sorted(tables):
        codes, cells = tables[name]
        hashes = textual.row_hashes([pa.array(cells, pa.string())]).tolist() if codes else []
        sums: dict[str, int] = {}
        ranks: dict[str, int] = {}
        for code, h in zip(codes, hashes, strict=True):
            if code is None:
                continue
            rank = ranks.get(code, 0)
            ranks[code] = rank + 1
            sums[code] = (sums.get(code, 0) + _mix(h ^ _mix(rank + 1))) & MASK
        salt = _mix(zlib.crc32(name.encode()))
        for code, s in sums.items():
            if code not in total:
                order.append(code)
                total[code] = 0
            total[code] = (total[code] + _mix(s ^ salt)) & MASK
    return [(c, total[c]) for c in order]


TABLE = st.lists(st.tuples(st.sampled_from([*CODES, None]), st.text(max_size=3)), max_size=20)


@settings(max_examples=40, deadline=None)
@given(
    tables=st.dictionaries(st.sampled_from(["firms", "offices", "contracts", "designations"]), TABLE),
    grouped=st.booleans(),
)
def test_import_digests_are_those_of_the_definition(
    tables: dict[str, list[tuple[str | None, str]]], grouped: bool
) -> None:
    if grouped:  # each firm's rows together, as an export writes them (the path without a sort)
        tables = {
            n: sorted(rows, key=lambda r: CODES.index(r[0]) if r[0] else -1) for n, rows in tables.items()
        }
    given_ = {n: ([c for c, _ in rows], [t for _, t in rows]) for n, rows in tables.items()}
    arrays = {
        n: (textual.row_hashes([pa.array(cells, pa.string())]), pa.array(codes, pa.string()))
        for n, (codes, cells) in given_.items()
    }
    out, of_rows = textual.import_digests(arrays)
    want = _defined(given_)
    assert list(zip(out["uscc"].to_pylist(), out["raw"].to_pylist(), strict=True)) == want
    per_table = {
        n: textual.table_digests([pa.array(cells, pa.string())], pa.array(codes, pa.string()))
        for n, (codes, cells) in given_.items()
    }
    if per_table:  # the order and digests ``combined`` gives, as the stored ones were made
        assert textual.combined(per_table).equals(out)
    firms = out["uscc"].to_pylist()
    for n, (codes, _) in given_.items():  # each row's firm, as a row of the result
        assert [firms[i] if i >= 0 else None for i in of_rows[n].tolist()] == codes


def test_a_firm_whose_rows_are_apart_is_summed_as_if_together() -> None:
    cells = ["a", "b", "c", "d", "e"]
    apart = [CODES[0], CODES[1], CODES[0], None, CODES[1]]
    hashes = textual.row_hashes([pa.array(cells, pa.string())])
    out, _ = textual.import_digests({"offices": (hashes, pa.array(apart, pa.string()))})
    want = _defined({"offices": (list(apart), cells)})
    assert list(zip(out["uscc"].to_pylist(), out["raw"].to_pylist(), strict=True)) == want
    # one firm's rows in two runs, every run one row long: not taken for a row a firm
    two: list[str | None] = [CODES[0], CODES[1], CODES[0]]
    out, _ = textual.import_digests({"offices": (hashes[:3], pa.array(two, pa.string()))})
    assert out["raw"].to_pylist() == [r for _, r in _defined({"offices": (two, cells[:3])})]


@settings(max_examples=40, deadline=None)
@given(
    raws=st.lists(st.integers(0, 3), min_size=1, max_size=8),
    changed=st.sets(st.integers(0, 7)),
    same_order=st.booleans(),
)
def test_same_as_stored_is_the_mask_of_as_stored(
    raws: list[int], changed: set[int], same_order: bool
) -> None:
    codes = CODES[: len(raws)]
    new = pa.table({"uscc": pa.array(codes), "raw": pa.array(raws, pa.uint64())})
    old_rows = [(c, r + (i in changed)) for i, (c, r) in enumerate(zip(codes, raws, strict=True))]
    if not same_order:
        old_rows = old_rows[::-1]
    old = pa.table(
        {"uscc": pa.array([c for c, _ in old_rows]), "raw": pa.array([r for _, r in old_rows], pa.uint64())}
    )
    stored = textual.RawDigests("r", old)
    mask = textual.same_as_stored(new, stored, "r")
    assert mask.tolist() == [i not in changed for i in range(len(codes))]
    assert textual.as_stored(new, stored, "r").to_pylist() == [
        c for i, c in enumerate(codes) if i not in changed
    ]
    assert not textual.same_as_stored(new, stored, "another recipe").any()
