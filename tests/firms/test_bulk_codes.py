"""The bulk import reads each row's credit code once: a table whose codes ``firm_of_rows`` found all
good takes them as its converted credit-code column; the rows, types and problems are those of the
conversion that reads the column again (hypothesis over good, spaced, lower-case, wrong and blank codes)."""

from __future__ import annotations

import csv
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiqi.firms import bulk
from huiqi.firms.importing import header_rules
from huiqi.firms.uscc import make_uscc

GOOD = [make_uscc(f"91310110{i:09d}") for i in range(5)]
FORMS = st.sampled_from(["good", "spaced", "lower", "wrong", "blank"])


def _code(i: int, form: str) -> str:
    code = GOOD[i % len(GOOD)]
    if form == "spaced":
        return f" {code[:9]} {code[9:]} "
    if form == "lower":
        return code.lower()
    if form == "wrong":
        return code[:17] + ("0" if code[17] != "0" else "1")
    return "" if form == "blank" else code


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forms=st.lists(FORMS, min_size=1, max_size=12))
def test_codes_read_once_convert_as_read_again(forms: list[str], tmp_path: Path) -> None:
    path = tmp_path / "offices.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["uscc", "area_m2"], *[[_code(i, m), "12"] for i, m in enumerate(forms)]])
    cells = bulk._fast_csv(path, None)
    assert cells is not None
    rules = header_rules("offices", cells.header, None, cells.label)
    codes = bulk.firm_of_rows(cells, rules, "offices")
    assert codes.null_count == sum(m in ("wrong", "blank") for m in forms)
    again, once = bulk.BulkBatch("again"), bulk.BulkBatch("once")
    whole = bulk._convert(again, "offices", cells, rules, True)
    given_codes = bulk._convert(once, "offices", cells, rules, True, codes)
    assert given_codes.data.equals(whole.data, check_metadata=True)
    assert list(given_codes.index) == list(whole.index)
    assert once.problems == again.problems
    if not codes.null_count:
        assert given_codes.data["uscc"].to_pylist() == [GOOD[i % len(GOOD)] for i in range(len(forms))]


def test_a_blank_code_is_still_refused_when_codes_are_given(tmp_path: Path) -> None:
    path = tmp_path / "offices.csv"
    path.write_text(f"uscc,area_m2\n{GOOD[0]},1\n,2\n", encoding="utf-8")
    cells = bulk._fast_csv(path, None)
    assert cells is not None
    rules = header_rules("offices", cells.header, None, cells.label)
    batch = bulk.BulkBatch("x")
    part = bulk._convert(batch, "offices", cells, rules, True, bulk.firm_of_rows(cells, rules, "offices"))
    assert part.data["uscc"].to_pylist() == [GOOD[0]]
    assert [(p.row, p.column) for p in batch.problems] == [(3, "uscc")]
