"""The bulk import's quick paths give what the general ones give (issue 16, 3 M firms):

- ``bulk._codes`` checks a column of 18-byte codes without a null on Arrow's buffer; with a null (or
  another length) it takes the pattern first: the same codes, problems and compact forms, each as
  ``validate_uscc`` judges it;
- ``bulk._check_keys`` checks every child table against one set of the import's codes (the register's
  looked up for the rows not found there): the problems are those of a table-by-table check, in order;
- ``textual.table_digests``: a firm's digest is that of its rows in their order, whatever the order of
  the firms in the file (the firms listed in their first rows' order);
- ``textual.as_stored`` / ``kept`` compare the raw digests row by row when the stored ones name the same
  firms in the same order: the same firms as the join finds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms import bulk, textual
from huiqi.firms.importing import RowProblem
from huiqi.firms.table import CHILD_TABLES
from huiqi.firms.uscc import UsccError, fixed_codes, make_uscc, validate_uscc

GOOD = [make_uscc(f"91310110{i:09d}") for i in range(40)]
FORMS = st.sampled_from(["good", "wrong", "lower", "spaced", "letter", "head", "short", "wide", "blank"])


def _code(i: int, form: str) -> str | None:
    code = GOOD[i % len(GOOD)]
    if form == "wrong":  # another check character
        return code[:17] + ("0" if code[17] != "0" else "1")
    if form == "lower":
        return code.lower()
    if form == "spaced":
        return f" {code[:9]}{code[9:]}"[:18]
    if form == "letter":  # a letter not in the alphabet, 18 bytes still
        return "I" + code[1:]
    if form == "head":  # a letter of the alphabet among the first eight (digits only), its check right
        return make_uscc("A" + code[1:17])
    if form == "short":
        return code[:17]
    if form == "wide":  # a full-width digit: 18 characters, 20 bytes
        return "\uff19" + code[1:]
    return None if form == "blank" else code


@settings(max_examples=80, deadline=None)
@given(forms=st.lists(st.tuples(st.integers(0, 39), FORMS), min_size=1, max_size=30))
def test_codes_on_the_buffer_are_those_of_the_pattern(forms: list[tuple[int, str]]) -> None:
    values = [_code(i, f) for i, f in forms]
    col = pa.array(values, pa.string())
    fast, fast_bad = bulk._codes(col)
    slow, slow_bad = bulk._codes(pa.concat_arrays([col, pa.array([None], pa.string())]))  # the pattern's
    assert fast.to_pylist() == slow.to_pylist()[:-1]
    assert fast_bad == slow_bad[:-1]
    bad = {i for i, _, _ in fast_bad}
    for i, v in enumerate(values):  # each as validate_uscc judges it
        try:
            want = None if v is None else validate_uscc(v)
        except UsccError:
            want = None
        assert (i not in bad) == (want is not None)
        assert want is None or fast[i].as_py() == want


def test_a_column_of_good_codes_is_checked_without_the_pattern() -> None:
    col = pa.array(GOOD, pa.string())
    assert fixed_codes(col) is not None
    out, bad = bulk._codes(col)
    assert out.equals(col) and bad == []
    wrong = pa.array([*GOOD[:3], GOOD[3][:17] + ("0" if GOOD[3][17] != "0" else "1")], pa.string())
    assert [i for i, _, _ in bulk._codes(wrong)[1]] == [3]


def _part(table: str, codes: list[str]) -> bulk.Part:
    n = len(codes)
    cells = bulk.Cells(f"{table}.csv", ["uscc"], {"uscc": pa.array(codes)}, np.arange(2, n + 2))
    return bulk.Part(table, cells, pa.table({"uscc": pa.array(codes, pa.string())}), np.arange(n))


def _expected(
    firms: list[str], children: dict[str, list[str]], known: list[str]
) -> tuple[list[RowProblem], dict[str, list[str]]]:
    """The keys' problems and the rows kept, checked one table and one row at a time."""
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    kept: dict[str, list[str]] = {"firms": []}
    for j, code in enumerate(firms):
        if code in seen:
            problems.append(
                RowProblem(
                    "firms", "firms.csv", j + 2, "uscc", code, f"a credit code once (also row {seen[code]})"
                )
            )
        else:
            seen[code] = j + 2
            kept["firms"].append(code)
    for table in CHILD_TABLES:
        if table not in children:
            continue
        kept[table] = []
        for j, code in enumerate(children[table]):
            if code in seen or code in known:
                kept[table].append(code)
            else:
                problems.append(
                    RowProblem(
                        table, f"{table}.csv", j + 2, "uscc", code, "a firm of this import or the register"
                    )
                )
    return problems, kept


CODES = st.sampled_from(GOOD[:12])


@settings(max_examples=60, deadline=None)
@given(
    firms=st.lists(CODES, max_size=10),
    children=st.dictionaries(st.sampled_from(sorted(CHILD_TABLES)), st.lists(CODES, max_size=8)),
    known=st.lists(CODES, max_size=4, unique=True),
)
def test_one_set_for_every_child_table_finds_what_each_table_alone_finds(
    firms: list[str], children: dict[str, list[str]], known: list[str]
) -> None:
    batch = bulk.BulkBatch("src")
    batch.parts["firms"] = _part("firms", firms)
    for table, codes in children.items():
        batch.parts[table] = _part(table, codes)
    bulk._check_keys(batch, pa.array(known, pa.string()) if known else None)
    problems, kept = _expected(firms, children, set(known))
    assert batch.problems == problems
    assert {t: p.data["uscc"].to_pylist() for t, p in batch.parts.items()} == kept
    assert len(batch.rejected) == len(problems)


def _digests(codes: list[str | None], cells: list[str]) -> dict[str, int]:
    out = textual.table_digests([pa.array(cells, pa.string())], pa.array(codes, pa.string()))
    return dict(zip(out["uscc"].to_pylist(), out["raw"].to_pylist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from([*GOOD[:6], None]), st.text(max_size=3)), max_size=25),
    seed=st.integers(0, 2**16),
)
def test_a_file_read_firm_by_firm_has_the_digests_of_any_order_of_firms(
    rows: list[tuple[str | None, str]], seed: int
) -> None:
    firms = list(dict.fromkeys(c for c, _ in rows))
    np.random.default_rng(seed).shuffle(firms)  # the firms in another order, each firm's rows in theirs
    grouped = [r for f in firms for r in rows if r[0] == f]
    a = _digests([c for c, _ in rows], [t for _, t in rows])
    b = _digests([c for c, _ in grouped], [t for _, t in grouped])
    assert a == b
    assert list(_digests([c for c, _ in grouped], [t for _, t in grouped])) == [f for f in firms if f]


def _raw(pairs: list[tuple[str, int]]) -> pa.Table:
    return pa.table(
        {
            "uscc": pa.array([c for c, _ in pairs], pa.string()),
            "raw": pa.array([r for _, r in pairs], pa.uint64()),
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    digests=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    changed=st.sets(st.integers(0, 11)),
    dropped=st.sets(st.integers(0, 11)),
)
def test_stored_raw_digests_in_the_same_order_give_what_the_join_gives(
    digests: list[int], changed: set[int], dropped: set[int]
) -> None:
    codes = GOOD[: len(digests)]
    new = _raw([(c, d) for c, d in zip(codes, digests, strict=True)])
    old = [(c, d + (i in changed)) for i, (c, d) in enumerate(zip(codes, digests, strict=True))]
    same_order = textual.RawDigests("r", _raw(old))
    other_order = textual.RawDigests("r", _raw([*old[::-1], (GOOD[30], 1)]))  # (a firm not in ``new``)
    fast = textual.as_stored(new, same_order, "r").to_pylist()
    slow = textual.as_stored(new, other_order, "r").to_pylist()
    assert sorted(fast) == sorted(slow) == sorted(c for i, c in enumerate(codes) if i not in changed)
    gone = pa.array([codes[i] for i in sorted(dropped) if i < len(codes)], pa.string())
    kept_fast = textual.kept(new, same_order, "r", gone).to_pylist()
    kept_slow = [d for d in textual.kept(new, other_order, "r", gone).to_pylist() if d["uscc"] != GOOD[30]]
    key = lambda d: d["uscc"]  # noqa: E731
    assert sorted(kept_fast, key=key) == sorted(kept_slow, key=key)
    assert sorted(d["uscc"] for d in kept_fast) == sorted(c for c in codes if c not in gone.to_pylist())
