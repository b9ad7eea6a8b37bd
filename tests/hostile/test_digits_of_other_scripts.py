"""Only ASCII and full-width digits are digits in a register cell: a superscript, circled or other script's
digit is refused with its row, column and value (NFKC read ``1200²`` as 12002 and ``⑤`` as 5, silently)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from tests.hostile.register_files import firms_csv

from huiqi.firms.importing import ImportRefused, prepare, read_source
from huiqi.firms.numbers import NumberError, parse_amount, parse_count


@pytest.mark.parametrize("text", ["1200²", "⑤", "٣٥", "๕", "१२", "12³⁴", "¹⁰"])
def test_digits_of_other_forms_are_not_numbers(text: str) -> None:
    with pytest.raises(NumberError):
        parse_amount(text)
    with pytest.raises(NumberError):
        parse_count(text)


@pytest.mark.parametrize(
    ("text", "unit", "yuan"),
    [
        ("１，２００．５", 1, "1200.5"),
        ("￥１２", 1, "12"),
        ("－５", 1, "-5"),
        ("１２．５万元", 10_000, "125000"),
    ],
)
def test_full_width_forms_are_still_read(text: str, unit: int, yuan: str) -> None:
    assert parse_amount(text, Decimal(unit)) == Decimal(yuan)


def test_a_superscript_in_a_register_cell_is_refused_by_row_and_column(tmp_path: Path) -> None:
    path = firms_csv(tmp_path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    rows[2][rows[0].index("employees")] = "12²"
    rows[3][rows[0].index("total_assets")] = "1200²"
    path.write_text("".join(",".join(r) + "\r\n" for r in rows).replace("Co., Ltd.", "Co. Ltd."), "utf-16")
    batch = read_source(path.parent)
    with pytest.raises(ImportRefused) as refused:
        prepare(batch, {})
    found = {(p.row, p.column, p.value) for p in refused.value.problems}
    assert {(3, "employees", "12²"), (4, "total_assets", "1200²")} <= found
