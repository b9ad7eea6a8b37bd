"""What a compiled pack asks the engine to read: no more of the register than its programmes use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from huiqi.firms import firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules.batch import duckdb_sql, duckdb_tables, execute
from huiqi.rules.compiler import compile_pack
from huiqi.rules.loader import load_pack

PACK = load_pack()
ON = dt.date(2025, 7, 28)
FIRM = {
    "uscc": "91110108MA01A1B202",
    "name_zh": "北京智算未来科技有限公司",
    "sector": "artificial_intelligence",
    "district": "Haidian",
    "registration_city": "Beijing",
    "registration_date": dt.date(2021, 5, 10),
    "registered_capital": 20_000_000,
    "paid_in_capital": 10_000_000,
    "total_assets": 60_000_000,
    "employees": 50,
    "rd_staff": 35,
    # 2010: a year no programme of the pack indexes on ON
    "sales": {2010: "5.00", 2024: "7.00"},
}


def compiled_sql(keep: tuple[str, ...] = ()) -> tuple[str, dict[str, object]]:
    """The SQL of the bundled pack over one firm with a year no programme reads, and its row."""
    tables = firms_to_tables([firm_from_data(FIRM)])
    compiled = compile_pack(PACK, duckdb_tables(tables), ON, keep=keep)
    return duckdb_sql(compiled.table), execute(compiled.table).to_pylist()[0]


def test_a_year_no_programme_indexes_is_not_read() -> None:
    sql, _ = compiled_sql()
    assert "sales_2010" not in sql
    assert "sales_2024" in sql  # read by a programme of the pack on ON


def test_a_kept_year_comes_through_with_its_value() -> None:
    sql, row = compiled_sql(keep=("sales_2010",))
    assert "sales_2010" in sql
    assert row["sales_2010"] == Decimal("5.00")
