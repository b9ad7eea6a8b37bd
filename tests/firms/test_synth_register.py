"""The synthetic register: deterministic, in the register layout, valid and plausible."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from criteria_estimate import designation_mask, startup_mask

from huiqi.firms import Firm, validate_uscc
from huiqi.firms.frames import tables_to_firms
from huiqi.firms.synth import CHUNK, money_array, money_by_cast, synth_firms, synth_register
from huiqi.firms.table import CHILD_TABLES, MONEY, child_schema, firm_schema, firms_to_tables

N = 20_000
DISTRICTS = {
    "Huangpu", "Xuhui", "Changning", "Jing'an", "Putuo", "Hongkou", "Yangpu", "Minhang", "Baoshan", "Jiading",
    "Pudong New Area", "Jinshan", "Songjiang", "Qingpu", "Fengxian", "Chongming",
}  # fmt: skip


@pytest.fixture(scope="module")
def reg() -> dict[str, pa.Table]:
    return synth_register(N, 2024)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_layout(reg: dict[str, pa.Table]) -> None:
    assert set(reg) == {"firms", *CHILD_TABLES}
    assert reg["firms"].schema == firm_schema(range(2019, 2026))
    assert reg["firms"].num_rows == N
    for name in CHILD_TABLES:
        assert reg[name].schema == child_schema(name), name


def test_deterministic_byte_for_byte(reg: dict[str, pa.Table]) -> None:
    again = synth_register(N, 2024)
    for name, table in reg.items():
        assert table.equals(again[name]), name
        assert _parquet_bytes(table) == _parquet_bytes(again[name]), name


def test_seed_matters(reg: dict[str, pa.Table]) -> None:
    other = synth_register(N, 2025)
    assert not other["firms"].equals(reg["firms"])


def test_several_chunks_unique_codes() -> None:
    tables = synth_register(CHUNK + 1000, 1)
    codes = tables["firms"]["uscc"]
    assert pc.count_distinct(codes).as_py() == CHUNK + 1000
    assert tables["firms"].num_rows == CHUNK + 1000


def test_other_years() -> None:
    tables = synth_register(500, 3, years=range(2021, 2024))
    assert tables["firms"].schema == firm_schema([2021, 2022, 2023])


def test_empty() -> None:
    tables = synth_register(0, 3)
    assert tables["firms"].num_rows == 0
    assert tables["firms"].schema == firm_schema(range(2019, 2026))


def test_codes_unique_and_valid(reg: dict[str, pa.Table]) -> None:
    codes = reg["firms"]["uscc"].to_pylist()
    assert len(set(codes)) == len(codes)
    for code in codes[:3000]:
        assert validate_uscc(code) == code


def test_codes_have_district_regions_and_organisation_check_digits(reg: dict[str, pa.Table]) -> None:
    gb = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    firms = reg["firms"].slice(0, 3000).to_pylist()
    for f in firms:
        code = f["uscc"]
        total = sum(gb.index(c) * w for c, w in zip(code[8:16], (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
        check = (11 - total % 11) % 11
        assert code[16] == ("X" if check == 10 else str(check)), code
        if f["registration_city"] == "Shanghai" and f["hq_move_in_date"] is None:
            assert code[2:6] == "3101", code
    assert any(f["uscc"][2:8] == "310115" and f["district"] == "Pudong New Area" for f in firms)


def test_children_point_at_firms_in_order(reg: dict[str, pa.Table]) -> None:
    position = {code: i for i, code in enumerate(reg["firms"]["uscc"].to_pylist())}
    for name in CHILD_TABLES:
        parents = [position[c] for c in reg[name]["uscc"].to_pylist()]
        assert parents == sorted(parents), name


def test_money_is_exact_decimal(reg: dict[str, pa.Table]) -> None:
    firms = reg["firms"]
    for field in firms.schema:
        if field.type == MONEY:
            col = firms[field.name].combine_chunks()
            assert pc.all(pc.equal(pc.round(col, 2), col)).as_py() in (True, None), field.name
    # decimals built from fen buffers equal those built by a cast
    fen = np.array([0, 1, -1, 99, 100, 123456789, 10**17, -(10**17)], dtype=np.int64)
    arr = money_array(fen)
    assert arr.to_pylist() == [Decimal(int(f)) / 100 for f in fen]
    assert arr.equals(money_by_cast(fen))
    rng = np.random.default_rng(0)
    many = rng.integers(-(10**17), 10**17, 10_000)
    valid = rng.random(10_000) < 0.9
    assert money_array(many, valid).equals(money_by_cast(many, valid))
    with_nulls = money_array(fen, np.array([True, False] * 4))
    assert with_nulls.to_pylist()[1] is None and with_nulls.to_pylist()[2] == Decimal("-0.01")


def test_plausible_firms(reg: dict[str, pa.Table]) -> None:
    f = reg["firms"]
    emp = f["employees"].to_numpy()
    assert (emp >= 1).all()
    assert (f["rd_staff"].to_numpy() <= emp).all()
    assert (f["rd_staff"].to_numpy() >= 0).all()
    assert set(f["district"].drop_null().to_pylist()) == DISTRICTS
    assert set(f["sector"].to_pylist()) == {
        s.value for s in __import__("huiqi.firms", fromlist=["Sector"]).Sector
    }
    strategic = pc.is_in(
        f["sector"],
        pa.array(
            [
                "integrated_circuits",
                "biomedicine",
                "artificial_intelligence",
                "digital_economy",
                "other_strategic",
            ]
        ),
    )
    share = pc.sum(strategic).as_py() / N
    assert 0.15 <= share <= 0.25
    shanghai = pc.sum(pc.equal(f["registration_city"], "Shanghai")).as_py() / N
    assert 0.85 <= shanghai <= 0.98
    reg_dates = f["registration_date"].to_pylist()
    assert min(reg_dates) >= dt.date(1995, 1, 1) and max(reg_dates) <= dt.date(2025, 12, 31)
    moved = f.filter(pc.is_valid(f["hq_move_in_date"]))
    assert moved.num_rows > 0
    assert all(
        m > r
        for m, r in zip(
            moved["hq_move_in_date"].to_pylist(), moved["registration_date"].to_pylist(), strict=True
        )
    )
    assert pc.sum(pc.greater_equal(moved["hq_move_in_date"], pa.scalar(dt.date(2022, 1, 1)))).as_py() > 0
    paid = f["paid_in_capital"].to_pylist()
    registered = f["registered_capital"].to_pylist()
    assert all(p <= r for p, r in zip(paid, registered, strict=True))
    for year in range(2019, 2026):
        sales = f[f"sales_{year}"].to_pylist()
        rd = f[f"rd_spending_{year}"].to_pylist()
        china = f[f"rd_spending_in_china_{year}"].to_pylist()
        for s, r, c in zip(sales, rd, china, strict=True):
            if s is None:
                assert r is None and c is None
            else:
                assert 0 <= c <= r <= s * Decimal("0.31")
    # log-normal capital: a long right tail
    caps = np.array([float(x) for x in registered])
    assert np.median(caps) < caps.mean() < np.percentile(caps, 99)


def test_plausible_children(reg: dict[str, pa.Table]) -> None:
    offices = reg["offices"]
    hq_per_firm = pc.value_counts(offices.filter(offices["hq"])["uscc"]).field("counts")
    assert pc.max(hq_per_firm).as_py() == 1
    area = [float(x) for x in offices["area_m2"].to_pylist()]
    rent = [float(x) for x in offices["rent_per_m2_day"].to_pylist()]
    assert min(area) >= 50 and max(area) <= 5000
    assert min(rent) >= 2 and max(rent) <= 15
    assert pc.sum(pc.equal(offices["tenure"], "rented")).as_py() > offices.num_rows / 2
    per_firm = pc.value_counts(offices["uscc"]).field("counts").to_numpy()
    assert offices.num_rows / N > 0.9 and per_firm.max() <= 3

    c = reg["contracts"].to_pylist()
    assert len(c) > 0
    for row in c:
        assert (
            row["invoiced"] <= row["value"]
            and row["paid"] <= row["invoiced"]
            and row["delivered"] <= row["value"]
        )
        assert Decimal(10_000) <= row["value"] <= Decimal(50_000_000)
        assert dt.date(2023, 1, 1) <= row["signed"] <= dt.date(2026, 12, 31)
    assert {r["kind"] for r in c} == {
        "compute_rental",
        "compute_purchase",
        "compute_selfbuild",
        "model_use",
        "corpus_purchase",
    }
    assert any(r["affiliated"] for r in c) and any(r["claimed"] for r in c)
    ids = [(r["uscc"], r["id"]) for r in c]
    assert len(set(ids)) == len(ids)
    firms = reg["firms"]
    ai = set(firms.filter(pc.equal(firms["sector"], "artificial_intelligence"))["uscc"].to_pylist())
    with_contracts = {r["uscc"] for r in c}
    assert len(with_contracts & ai) / len(ai) > 5 * len(with_contracts - ai) / (N - len(ai))
    assert 0 < reg["credit_events"].num_rows < N * 0.02
    codes = set(reg["designations"]["code"].to_pylist())
    assert "high-tech" in codes
    programmes = set(reg["incentives"]["programme"].to_pylist())
    assert "shanghai.hq.startup-grant" in programmes or "shanghai.hq.operating-award" in programmes


def test_enough_firms_qualify(reg: dict[str, pa.Table]) -> None:
    # at least a few hundred per million: here about 3,800 per million meet the designation criteria
    designated = int(designation_mask(reg["firms"], 2025).sum())
    assert designated >= N * 1000 // 1_000_000
    assert int(startup_mask(reg["firms"], 2025).sum()) >= N * 300 // 1_000_000
    c = reg["contracts"]
    open_new = pc.and_(
        pc.greater_equal(c["signed"], pa.scalar(dt.date(2025, 7, 28))), pc.invert(c["claimed"])
    )
    for kind in ("compute_rental", "model_use", "corpus_purchase"):
        assert pc.sum(pc.and_(open_new, pc.equal(c["kind"], kind))).as_py() >= 20, kind


def test_tables_to_firms_round_trip() -> None:
    tables = synth_register(1500, 11)
    firms = tables_to_firms(tables)
    assert all(isinstance(f, Firm) for f in firms)
    back = firms_to_tables(firms, years=range(2019, 2026))
    for name, table in tables.items():
        assert back[name].equals(table), name


def test_synth_firms_are_the_register_rows() -> None:
    firms = synth_firms(200, 5)
    assert [f.uscc for f in firms] == synth_register(200, 5)["firms"]["uscc"].to_pylist()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synth_register(-1, 0)
    with pytest.raises(ValueError):
        synth_register(10, -1)
