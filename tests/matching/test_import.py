"""Register import: mapped Chinese headers, units, value maps, every bad row reported, all-or-nothing,
--skip-invalid, re-import with history (database and register directory), xlsx/parquet, export round trip."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbfixtures import Db
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ColumnRule as Rule
from huiqi.firms.importing import (
    ImportRefused,
    convert,
    load_mapping,
    read_source,
    records_from_tables,
    tables_from_records,
)
from huiqi.firms.register import read_register
from huiqi.firms.synth import synth_register
from huiqi.matching import store

A = "91310115MA1K3BTP2B"
B = "91110000600037341L"
MAPPING = """
firms:
  columns:
    统一社会信用代码: uscc
    企业名称: name_zh
    行业: {to: sector, values: {人工智能: artificial_intelligence, 生物医药: biomedicine}}
    注册地: registration_city
    成立日期: {to: registration_date, format: "%Y年%m月%d日"}
    注册资本（万元）: {to: registered_capital, unit: 万元}
    实缴资本（万元）: {to: paid_in_capital, unit: 万元}
    资产总额（元）: {to: total_assets, unit: 元}
    是否创新药械: {to: innovative_drug_or_device, values: {是: true, 否: false}}
    2024年营业收入（万元）: {to: sales_2024, unit: 万元}
offices:
  columns:
    统一社会信用代码: uscc
    所在区: district
    面积: area_m2
    日租金: rent_per_m2_day
    性质: {to: tenure, values: {租赁: rented, 自有: owned}}
"""
HEADER = (
    "统一社会信用代码,企业名称,行业,注册地,成立日期,注册资本（万元）,实缴资本（万元）,"
    "资产总额（元）,是否创新药械,2024年营业收入（万元）"
)


def write(tmp: Path, firms: list[str], offices: list[str] | None = None) -> Path:
    folder = tmp / "src"
    folder.mkdir(exist_ok=True)
    (folder / "firms.csv").write_text("\n".join([HEADER, *firms]) + "\n", encoding="utf-8")
    if offices is not None:
        (folder / "offices.csv").write_text(
            "\n".join(["统一社会信用代码,所在区,面积,日租金,性质", *[o + ",8.5,租赁" for o in offices]])
            + "\n"
        )
    return folder


GOOD = [
    f"{A},甲公司,人工智能,shanghai,2020年01月02日,100,50.5,1234567.89,否,1200.5",
    f"{B},乙公司,生物医药,beijing,2019年05月06日,2000,2000,9000000,是,",
]


def test_mapped_values_are_exact(tmp_path: Path) -> None:
    batch = read_source(write(tmp_path, GOOD, [f"{A},Pudong,120.5"]), load_mapping(_mapping(tmp_path)))
    assert not batch.problems
    a = batch.rows["firms"][0].values
    assert a["registered_capital"] == Decimal("1000000.00")
    assert a["paid_in_capital"] == Decimal("505000.00")
    assert a["total_assets"] == Decimal("1234567.89")
    assert a["sales_2024"] == Decimal("12005000.00")
    assert a["registration_date"] == dt.date(2020, 1, 2)
    assert a["sector"] == "artificial_intelligence" and a["innovative_drug_or_device"] is False
    assert batch.rows["firms"][1].values["innovative_drug_or_device"] is True
    assert batch.rows["offices"][0].values["area_m2"] == Decimal("120.50")


def _mapping(tmp: Path) -> Path:
    p = tmp / "mapping.yaml"
    p.write_text(MAPPING, encoding="utf-8")
    return p


def test_every_bad_row_is_reported_and_nothing_is_written(tmp_path: Path, sqlite_db: Db) -> None:
    bad = [
        GOOD[0],
        "91310115MA1K3BTP2C,丙,人工智能,shanghai,2020-01-02,1,1,1,否,1",  # bad code, bad date format
        f"{B},乙,软件,beijing,2019年05月06日,0.0000001,1,x,也许,1",  # sector, fen, amount, yes/no
    ]
    folder = write(tmp_path, bad)
    batch = read_source(folder, load_mapping(_mapping(tmp_path)))
    seen = {(p.row, p.column) for p in batch.problems}
    assert seen == {
        (3, "统一社会信用代码"),
        (3, "成立日期"),
        (4, "行业"),
        (4, "注册资本（万元）"),
        (4, "资产总额（元）"),
        (4, "是否创新药械"),
    }
    date_problem = next(p for p in batch.problems if p.column == "成立日期")
    assert date_problem.value == "2020-01-02" and "2024年03月09日" in date_problem.expected
    with sqlite_db.session() as s, pytest.raises(ImportRefused) as refused:
        store.import_into_db(s, batch, actor="t")
    assert len(refused.value.problems) == 6
    with sqlite_db.session() as s:
        assert store.known_codes(s) == set()


def test_skip_invalid_imports_the_good_rows_and_writes_the_rejected(tmp_path: Path, sqlite_db: Db) -> None:
    from huiqi.firms.importing import write_rejected

    folder = write(tmp_path, [GOOD[0], f"{B},乙,生物医药,beijing,bad,1,1,1,否,1"], [f"{B},Pudong,1"])
    batch = read_source(folder, load_mapping(_mapping(tmp_path)))
    with sqlite_db.session() as s:
        outcome = store.import_into_db(s, batch, actor="t", skip_invalid=True)
        s.commit()
        assert store.known_codes(s) == {A}
    assert (outcome.added, outcome.rejected) == (1, 2)  # B's firm row and its office row
    text = write_rejected(batch, tmp_path / "rejected.csv").read_text(encoding="utf-8-sig")
    assert "成立日期: 'bad', expected a date like 2024年03月09日" in text
    assert "a firm of this import or the register" in text


def test_reimport_updates_by_credit_code_and_keeps_history(tmp_path: Path, db: Db) -> None:
    mapping = load_mapping(_mapping(tmp_path))
    with db.session() as s:
        store.import_into_db(s, read_source(write(tmp_path, GOOD, [f"{A},Pudong,100"]), mapping), actor="t")
        s.commit()
    changed = [GOOD[0].replace(",1200.5", ",1300"), GOOD[1]]
    second = tmp_path / "second"
    second.mkdir()
    folder = write(second, changed, [f"{A},Pudong,100", f"{A},Xuhui,50"])
    with db.session() as s:
        known = store.known_codes(s)
        outcome = store.import_into_db(s, read_source(folder, mapping, known=known), actor="t")
        s.commit()
        assert (outcome.added, outcome.changed, outcome.unchanged) == (0, 1, 1)
        hist = store.history(s, A)
        fields = [(c.field, c.old, c.new) for c in hist]
        assert ("sales_2024", "12005000.00", "13000000.00") in fields
        assert any(f == "offices" for f, _, _ in fields)
        assert all(c.source.endswith("src") for c in hist[-2:])
        tables = store.load_register(s)
    assert tables["firms"].num_rows == 2 and tables["offices"].num_rows == 2
    sales = dict(
        zip(tables["firms"]["uscc"].to_pylist(), tables["firms"]["sales_2024"].to_pylist(), strict=True)
    )
    assert sales[A] == Decimal("13000000.00") and sales[B] is None


def test_directory_register_import_and_history(tmp_path: Path) -> None:
    mapping = load_mapping(_mapping(tmp_path))
    reg = tmp_path / "reg"
    store.import_into_directory(reg, read_source(write(tmp_path, GOOD), mapping))
    second = tmp_path / "b"
    second.mkdir()
    store.import_into_directory(
        reg, read_source(write(second, [GOOD[0].replace("甲公司", "甲有限公司")]), mapping, known={A, B})
    )
    tables = read_register(reg)
    assert tables["firms"]["name_zh"].to_pylist() == ["乙公司", "甲有限公司"][::-1] or sorted(
        tables["firms"]["name_zh"].to_pylist()
    ) == ["乙公司", "甲有限公司"]
    assert [(r["field"], r["old"], r["new"]) for r in store.directory_history(reg, A)][-1] == (
        "name_zh",
        "甲公司",
        "甲有限公司",
    )


def test_a_workbook_with_a_sheet_per_table_and_export_round_trip(tmp_path: Path) -> None:
    tables = synth_register(40, 5)
    book = write_tables(tables, tmp_path / "register.xlsx")
    assert openpyxl.load_workbook(book, read_only=True).sheetnames[:2] == ["firms", "offices"]
    batch = read_source(book)
    assert not batch.problems, batch.problems[:3]
    reg = tmp_path / "reg"
    store.import_into_directory(reg, batch)
    back = read_register(reg)
    assert records_from_tables(back) == records_from_tables(tables)
    csv_dir = write_tables(tables, tmp_path / "csv")
    assert records_from_tables(tables_from_records(list(records_from_tables(tables).values()))) == (
        records_from_tables(tables)
    )
    batch = read_source(csv_dir)
    assert not batch.problems and len(batch.rows["firms"]) == 40


def test_parquet_source(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    tables = synth_register(10, 1)
    pq.write_table(tables["firms"], tmp_path / "firms.parquet")
    batch = read_source(tmp_path / "firms.parquet")
    assert len(batch.rows["firms"]) == 10 and not batch.problems


@given(fen=st.integers(min_value=0, max_value=10**15), unit=st.sampled_from(["元", "万元"]))
def test_money_is_exact_under_units(fen: int, unit: str) -> None:
    from huiqi.firms.importing import UNITS

    yuan = Decimal(fen) / 100
    text = str(yuan / UNITS[unit])
    rule = Rule("h", "total_assets", unit=UNITS[unit])
    if yuan >= Decimal(10) ** 16:
        return
    assert convert(text, pa.decimal128(18, 2), rule) == yuan.quantize(Decimal("0.01"))
