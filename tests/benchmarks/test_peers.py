"""The benchmark peers: the exact reference on hand-computed cases, and the OpenFisca peer against it.

A dozen or so firms built as huiqi profiles, each sitting on one threshold, cap or date of the start-up grant
and rent subsidy (benchmarks/peers/exact_hq.py states the rules). The OpenFisca tests skip only when no
interpreter with openfisca-core can be found or made (the reason is printed).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from huiqi.firms.profile import Firm
from huiqi.firms.register import write_register
from huiqi.firms.table import firms_to_tables
from huiqi.firms.uscc import make_uscc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from peers import (
    RENT_SUBSIDY,
    STARTUP_GRANT,
    BenchEnvironmentError,
    PeerResult,
    bench_python,
    count_inexact,
    exact_reference,
    exact_reference_scalar,
    exact_reference_tables,
    float_to_fen,
    run_openfisca,
)

ON = dt.date(2025, 6, 30)  # Y = 2024
YEARS = range(2018, 2027)


def firm(n: int, **changes: Any) -> Firm:
    """A firm that meets every criterion, most of them exactly at the threshold; ``changes`` override."""
    data: dict[str, Any] = {
        "uscc": make_uscc(f"91310115MA1K{n:05d}"),
        "name_zh": f"测试企业{n}",
        "sector": "artificial_intelligence",
        "registration_city": "Shanghai",
        "registration_date": dt.date(2023, 3, 1),
        "registered_capital": "150000000",
        "paid_in_capital": "120000000",
        "total_assets": "200000000",  # >= 200 M: at the threshold
        "sales": {y: "150000000" for y in YEARS},
        "rd_spending": {y: "7500000" for y in YEARS},  # 5 % of sales: at the threshold
        "rd_spending_in_china": {y: "4500000" for y in YEARS},  # 60 %: at the threshold
        "employees": 500,
        "rd_staff": 50,  # 10 %: at the threshold
        "ip": {
            "invention_patents": 5,
            "ic_layout_designs": 5,
            "software_copyrights": 5,
        },  # 15: at the threshold
        "branches_outside_city": 2,  # at the threshold
        "hq_functions": {"rd": True, "sales": True, "settlement": True},
        "offices": [{"area_m2": "1000", "rent_per_m2_day": "8", "tenure": "rented", "hq": True}],  # both caps
    }
    data.update(changes)
    return Firm.model_validate(data)


def office(area: str, rent: str, hq: bool = True) -> list[dict[str, Any]]:
    return [{"area_m2": area, "rent_per_m2_day": rent, "tenure": "rented", "hq": hq}]


G = Decimal("5000000.00")
Z = Decimal("0.00")
FULL_RENT = Decimal("876000.00")  # 0.30 x 1000 x 8 x 365

# name -> (firm, hand-computed (grant, rent) on ON)
CASES: dict[str, tuple[Firm, tuple[Decimal, Decimal]]] = {
    "every threshold met exactly, both caps exactly": (firm(1), (G, FULL_RENT)),
    "paid-in exactly 100,000,000 (needs more than)": (firm(2, paid_in_capital="100000000"), (Z, Z)),
    "paid-in 100,000,000.01": (firm(3, paid_in_capital="100000000.01"), (G, FULL_RENT)),
    "moved in exactly 2022-01-01 (its three rent years ended 2025-01-01)": (
        firm(4, registration_date=dt.date(2015, 3, 3), hq_move_in_date=dt.date(2022, 1, 1)),
        (G, Z),
    ),
    "area and rent above the caps": (firm(26, offices=office("1234.56", "9.99")), (G, FULL_RENT)),
    "registered 2021-12-31": (firm(5, registration_date=dt.date(2021, 12, 31)), (Z, Z)),
    "moved in 2021-12-31 though registered in 2023": (
        firm(6, registration_date=dt.date(2023, 1, 1), hq_move_in_date=dt.date(2021, 12, 31)),
        (Z, Z),
    ),
    "D exactly established + 3 years (rent ends)": (
        firm(7, registration_date=dt.date(2022, 6, 30)),
        (G, Z),
    ),
    "D a day before established + 3 years; rounding half up": (
        firm(8, registration_date=dt.date(2022, 7, 1), offices=office("555.40", "5.55")),
        (G, Decimal("337530.47")),  # 337,530.465 -> .47 (half-even would give .46)
    ),
    "already received the start-up grant": (
        firm(
            9,
            incentives=[{"programme": STARTUP_GRANT, "amount": "5000000", "date": dt.date(2023, 5, 1)}],
            offices=office("333.33", "7.77"),
        ),
        (Z, Decimal("283602.16")),  # 0.3 x 333.33 x 7.77 x 365 = 283,602.16395
    ),
    "an ordinary sector": (firm(10, sector="trade"), (Z, Z)),
    "registered in Beijing": (firm(11, registration_city="Beijing"), (Z, Z)),
    "software: R&D 9.99 % of sales (needs 10 %)": (
        firm(
            12,
            service_subsector="software",
            rd_staff=100,
            rd_spending={2024: "14985000"},
            rd_spending_in_china={2024: "9000000"},
        ),
        (Z, Z),
    ),
    "software: R&D exactly 10 %, R&D staff exactly 20 %": (
        firm(
            13,
            service_subsector="software",
            employees=450,
            rd_staff=90,
            rd_spending={2024: "15000000"},
            rd_spending_in_china={2024: "9000000"},
        ),
        (G, FULL_RENT),
    ),
    "R&D staff 49 of 500 (needs 10 %)": (firm(14, rd_staff=49), (Z, Z)),
    "total assets 199,999,999.99 and no market value": (firm(15, total_assets="199999999.99"), (Z, Z)),
    "total assets short, market value exactly 2,000,000,000": (
        firm(16, total_assets="199999999.99", market_value="2000000000"),
        (G, FULL_RENT),
    ),
    "sales of the latest year missing": (firm(17, sales={2023: "150000000", 2025: "150000000"}), (Z, Z)),
    "sales growth exactly 1.728 over three years": (
        firm(
            18,
            sales={2021: "50000000", 2024: "86400000"},
            rd_spending={2024: "4320000"},
            rd_spending_in_china={2024: "2592000"},
        ),
        (G, FULL_RENT),
    ),
    "sales growth just short": (
        firm(
            19,
            sales={2021: "50000000", 2024: "86399999.99"},
            rd_spending={2024: "4320000"},
            rd_spending_in_china={2024: "2592000"},
        ),
        (Z, Z),
    ),
    "only one branch outside the city": (firm(20, branches_outside_city=1), (Z, Z)),
    "14 core IP items, but an innovative drug": (
        firm(21, ip={"invention_patents": 14}, innovative_drug_or_device=True),
        (G, FULL_RENT),
    ),
    "no settlement function": (firm(22, hq_functions={"rd": True, "sales": True}), (Z, Z)),
    "an office, but not marked hq": (firm(23, offices=office("500", "5", hq=False)), (G, Z)),
    "R&D in China 59.99 %": (firm(24, rd_spending_in_china={2024: "4499250"}), (Z, Z)),
    "established 29 February 2024": (firm(25, hq_move_in_date=dt.date(2024, 2, 29)), (G, FULL_RENT)),
}

#: Where float32 cannot see the threshold: 100,000,000.01, 199,999,999.99 and 86,399,999.99 are each rounded
#: to the threshold itself (float32 is 8 or 16 yuan apart there), so OpenFisca refuses the first firm and
#: accepts the other two.
FLOAT32_BLIND = {
    "paid-in 100,000,000.01",
    "total assets 199,999,999.99 and no market value",
    "sales growth just short",
}


def tables() -> dict[str, pa.Table]:
    return firms_to_tables(f for f, _ in CASES.values())


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_register(tables(), tmp_path_factory.mktemp("register"))


def test_exact_reference_gives_the_hand_computed_amounts(register: Path) -> None:
    exact = exact_reference(register, ON).to_dict()
    scalar = exact_reference_scalar(tables(), ON)
    for name, (f, expected) in CASES.items():
        assert exact[f.uscc] == expected, name
        assert scalar[f.uscc] == expected, name


def test_rent_ends_on_the_third_anniversary_and_29_february_becomes_28() -> None:
    leap = firm(25, hq_move_in_date=dt.date(2024, 2, 29))
    t = firms_to_tables([leap])
    for on, rent in (
        (dt.date(2027, 2, 27), FULL_RENT),
        (dt.date(2027, 2, 28), Z),
        (dt.date(2027, 3, 1), Z),
    ):
        assert exact_reference_tables(t, on).to_dict()[leap.uscc] == (G, rent), on
        assert exact_reference_scalar(t, on)[leap.uscc] == (G, rent), on


def random_tables(n: int, seed: int) -> dict[str, pa.Table]:
    """Random firms around the thresholds, with nulls, written straight as register tables."""
    rng = random.Random(seed)

    def money(centre: int, spread: float = 0.3, null: float = 0.05) -> Decimal | None:
        if rng.random() < null:
            return None
        return Decimal(
            rng.randint(int(centre * (1 - spread) * 100), int(centre * (1 + spread) * 100))
        ).scaleb(-2)

    firms = firms_to_tables([firm(1)])["firms"].schema
    rows = []
    offices = []
    incentives = []
    for i in range(n):
        uscc = f"U{i:08d}"
        sales = money(100_000_000)
        rows.append(
            {
                "uscc": uscc,
                "name_zh": "x",
                "sector": rng.choice(
                    ["artificial_intelligence", "biomedicine", "digital_economy", "trade", None]
                ),
                "service_subsector": rng.choice([None, None, "software"]),
                "registration_city": rng.choice(["Shanghai"] * 10 + ["Beijing", None]),
                "registration_date": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 2000)),
                "hq_move_in_date": rng.choice(
                    [None, dt.date(2021, 6, 1) + dt.timedelta(days=rng.randint(0, 900))]
                ),
                "paid_in_capital": money(110_000_000, 0.1),
                "total_assets": money(210_000_000, 0.05),
                "market_value": money(2_000_000_000, 0.05, null=0.7),
                "employees": rng.randint(100, 600),
                "rd_staff": rng.randint(30, 100),
                "ip_invention_patents": rng.randint(5, 12),
                "ip_ic_layout_designs": rng.randint(0, 5),
                "ip_software_copyrights": rng.randint(0, 5),
                "innovative_drug_or_device": rng.random() < 0.2,
                "branches_outside_city": rng.randint(1, 5),
                "hq_functions_rd": rng.random() < 0.95,
                "hq_functions_sales": True,
                "hq_functions_settlement": True,
                "sales_2020": money(60_000_000),
                "sales_2021": money(60_000_000),
                "sales_2023": sales,
                "sales_2024": sales,  # and 2023 = 2024, so that both dates read a year
                "rd_spending_2024": None if sales is None else money(int(sales * Decimal("0.07"))),
                "rd_spending_in_china_2024": None if sales is None else money(int(sales * Decimal("0.045"))),
                "rd_spending_2023": None if sales is None else money(int(sales * Decimal("0.07"))),
                "rd_spending_in_china_2023": None if sales is None else money(int(sales * Decimal("0.045"))),
            }
        )
        if rng.random() < 0.8:
            offices.append(
                {
                    "uscc": uscc,
                    "area_m2": money(1000, 0.5, 0),
                    "rent_per_m2_day": money(8, 0.5, 0),
                    "hq": True,
                }
            )
        if rng.random() < 0.3:
            offices.append({"uscc": uscc, "area_m2": Decimal(50), "rent_per_m2_day": Decimal(3), "hq": False})
        if rng.random() < 0.1:
            incentives.append({"uscc": uscc, "programme": rng.choice([STARTUP_GRANT, RENT_SUBSIDY])})
    return {
        "firms": pa.Table.from_pylist([{k: r.get(k) for k in firms.names} for r in rows], schema=firms),
        "offices": pa.Table.from_pylist(
            offices,
            schema=pa.schema(
                [
                    ("uscc", pa.string()),
                    ("area_m2", pa.decimal128(18, 2)),
                    ("rent_per_m2_day", pa.decimal128(18, 2)),
                    ("hq", pa.bool_()),
                ]
            ),
        ),
        "incentives": pa.Table.from_pylist(
            incentives, schema=pa.schema([("uscc", pa.string()), ("programme", pa.string())])
        ),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_the_two_exact_references_agree_on_random_firms(seed: int) -> None:
    t = random_tables(3000, seed)
    for on in (ON, dt.date(2024, 12, 31)):
        vectorised = exact_reference_tables(t, on)
        assert vectorised.to_dict() == exact_reference_scalar(t, on)
        assert min(vectorised.awards().values()) > 30  # the random firms do reach both programmes


def test_float_to_fen_is_decimal_quantize_half_up() -> None:
    from decimal import ROUND_HALF_UP

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.uniform(0, 1e6, 20_000).astype(np.float32),
            (rng.integers(0, 10**8, 20_000) / 100).astype(np.float32),
            np.float32([0, 0.005, 0.015, 876000.06, 5e6]),
        ]
    )
    expected = [
        int(Decimal(float(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100) for x in values
    ]
    assert float_to_fen(values).tolist() == expected
    assert float_to_fen(np.float32([np.nan])).tolist() == [-1]


# --- the OpenFisca peer -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openfisca(register: Path) -> PeerResult:
    try:
        bench_python()
    except BenchEnvironmentError as exc:
        print(f"OpenFisca peer skipped: {exc}")
        pytest.skip(f"no interpreter with openfisca-core: {exc}")
    return run_openfisca(register, ON)


def test_openfisca_agrees_on_eligibility(openfisca: PeerResult) -> None:
    position = {u: i for i, u in enumerate(openfisca.uscc.to_pylist())}
    for name, (f, (grant, rent)) in CASES.items():
        i = position[f.uscc]
        got = (bool(openfisca.startup_grant[i] > 0), bool(openfisca.rent_subsidy[i] > 0))
        if name in FLOAT32_BLIND:
            assert got == (grant == 0, rent == 0), name  # float32 cannot see these thresholds
        else:
            assert got == (grant > 0, rent > 0), name
            # and the amounts are within float32's reach of the exact ones
            assert abs(Decimal(float(openfisca.startup_grant[i])) - grant) < Decimal("0.5"), name
            assert abs(Decimal(float(openfisca.rent_subsidy[i])) - rent) < Decimal("0.1"), name


def test_count_inexact_counts_openfisca_errors(openfisca: PeerResult, register: Path) -> None:
    exact = exact_reference(register, ON)
    counts = count_inexact(openfisca, exact)
    assert set(counts) == {STARTUP_GRANT, RENT_SUBSIDY}
    # the three firms float32 misjudges are wrong in both programmes; the other rent amounts (337,530.46875
    # for 337,530.47, say) round back to the right fen
    assert counts == {STARTUP_GRANT: 3, RENT_SUBSIDY: 3}
    assert openfisca.seconds == pytest.approx(openfisca.build_seconds + openfisca.compute_seconds)
    assert openfisca.peak_rss_mib > openfisca.baseline_rss_mib > 0


def test_openfisca_in_process_gives_the_same_amounts(openfisca: PeerResult, register: Path) -> None:
    pytest.importorskip("openfisca_core")
    here = run_openfisca(register, ON, isolated=False)
    assert here.uscc.equals(openfisca.uscc)
    np.testing.assert_array_equal(here.startup_grant, openfisca.startup_grant)
    np.testing.assert_array_equal(here.rent_subsidy, openfisca.rent_subsidy)


def test_openfisca_rent_ends_on_the_third_anniversary(openfisca: PeerResult, tmp_path: Path) -> None:
    leap = firm(25, hq_move_in_date=dt.date(2024, 2, 29))
    register = write_register(firms_to_tables([leap]), tmp_path)
    for on, rent in ((dt.date(2027, 2, 27), 876000.0), (dt.date(2027, 2, 28), 0.0)):
        result = run_openfisca(register, on)
        assert (float(result.startup_grant[0]), float(result.rent_subsidy[0])) == (5e6, rent), on
