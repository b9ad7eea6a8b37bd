"""The five-city comparison against figures worked out by hand from the documents' rates and caps
(cities.md, shanghai-ai.md), for two hand-made plans."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms.io import firm_from_data
from huiqi.firms.profile import Firm
from huiqi.rules.loader import load_pack
from huiqi.simulation.cities import CityComparison, compare_cities, planned_spending

PACK = load_pack()
ON = dt.date(2025, 10, 15)


def profile(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uscc": "91310110MA7C2KW50T",
        "name_zh": "上海测算智能科技有限公司",
        "name_en": "Cesuan AI",
        "sector": "artificial_intelligence",
        "district": "Yangpu",
        "registration_city": "Shanghai",
        "registration_date": "2018-04-01",
        "registered_capital": "20000000",
        "paid_in_capital": "20000000",
        "total_assets": "60000000",
        "employees": 400,
        "rd_staff": 120,
        "offices": [{"district": "Yangpu", "area_m2": "500", "rent_per_m2_day": "5.00", "tenure": "rented"}],
        "contracts": [
            {
                "id": "C1",
                "kind": "compute_rental",
                "counterparty": "某智算中心",
                "value": "2000000",
                "signed": "2025-09-01",
                "term_months": 12,
            },
            {
                "id": "M1",
                "kind": "model_use",
                "counterparty": "某大模型公司",
                "value": "1000000",
                "signed": "2025-09-01",
            },
            {
                "id": "D1",
                "kind": "corpus_purchase",
                "counterparty": "某数据公司",
                "value": "500000",
                "signed": "2025-09-01",
            },
        ],
    }
    base.update(over)
    return base


def amounts(comp: CityComparison) -> dict[str, dict[str, Decimal]]:
    return {c.city.key: {s.programme: s.amount for s in c.subsidies if s.amount} for c in comp.cities}


def D(v: str | int) -> Decimal:
    return Decimal(v).quantize(Decimal("0.01"))


ESTABLISHED = firm_from_data(profile())
# 20 employees, registered 2024-06-01: early and small in Shanghai, a start-up in Shenzhen (< 3 years),
# an SME with yearly compute contracts of at most 500,000 in Hangzhou
STARTUP = firm_from_data(
    profile(
        registration_date="2024-06-01",
        employees=20,
        rd_staff=15,
        offices=[{"area_m2": "100", "rent_per_m2_day": "4.00", "tenure": "rented", "hq": True}],
        contracts=[
            {
                "id": "C1",
                "kind": "compute_rental",
                "counterparty": "某智算中心",
                "value": "400000",
                "signed": "2025-08-01",
                "term_months": 6,
            },
            {
                "id": "M1",
                "kind": "model_use",
                "counterparty": "某大模型公司",
                "value": "100000",
                "signed": "2025-08-01",
            },
        ],
    )
)


def test_established_firm_worked_by_hand() -> None:
    comp = compare_cities(ESTABLISHED, ON, PACK)
    got = amounts(comp)
    # Shanghai: compute 30% x 2,000,000; model 50% x 1,000,000 (cap 5M); corpus 30% x 500,000 (cap 5M)
    assert got["shanghai"] == {
        "shanghai.ai.compute-voucher": D(600_000),
        "shanghai.ai.model-voucher": D(500_000),
        "shanghai.ai.corpus-voucher": D(150_000),
    }
    # Beijing: 20% x 2,000,000 (12-month term, cap 2M a year); no model or corpus voucher
    assert got["beijing"] == {"beijing.ai.compute-voucher": D(400_000)}
    # Shenzhen: 50% x 2,000,000 (cap 10M); 30% x 1,000,000 (cap 1M); 30% x 500,000 (cap 2M)
    assert got["shenzhen"] == {
        "shenzhen.ai.compute-voucher": D(1_000_000),
        "shenzhen.ai.model-voucher": D(300_000),
        "shenzhen.ai.corpus-voucher": D(150_000),
    }
    # Hangzhou: 20% x (2,000,000 compute + 1,000,000 model, paid within the compute voucher); not an SME
    assert got["hangzhou"] == {"hangzhou.ai.compute-voucher": D(600_000)}
    # Chengdu: 60% x 2,000,000 (cap 5M); 30% x 1,000,000 (cap 1M)
    assert got["chengdu"] == {
        "chengdu.ai.compute-voucher": D(1_200_000),
        "chengdu.ai.model-voucher": D(300_000),
    }
    # spending: 2,000,000 + 1,000,000 + 500,000 + 500 m2 x 5.00 x 365 = 912,500
    net = {c.city.key: c.net_cost for c in comp.cities}
    assert all(c.total_spending == D(4_412_500) for c in comp.cities)
    assert net == {
        "shanghai": D(3_162_500),
        "beijing": D(4_012_500),
        "shenzhen": D(2_962_500),
        "hangzhou": D(3_812_500),
        "chengdu": D(2_912_500),
    }
    assert comp.cheapest().city.key == "chengdu"


def test_startup_worked_by_hand() -> None:
    comp = compare_cities(STARTUP, ON, PACK)
    got = amounts(comp)
    # Shanghai: early and small, a 6-month rental at 100%; model 50% x 100,000
    assert got["shanghai"] == {
        "shanghai.ai.compute-voucher": D(400_000),
        "shanghai.ai.model-voucher": D(50_000),
    }
    assert got["beijing"] == {"beijing.ai.compute-voucher": D(80_000)}  # 20% x 400,000
    # Shenzhen: a start-up at 60% x 400,000; model 30% x 100,000
    assert got["shenzhen"] == {
        "shenzhen.ai.compute-voucher": D(240_000),
        "shenzhen.ai.model-voucher": D(30_000),
    }
    # Hangzhou 2025: SME with 400,000 + 100,000 = 500,000 of contracts (not above 500,000): 50%
    assert got["hangzhou"] == {"hangzhou.ai.compute-voucher": D(250_000)}
    assert got["chengdu"] == {"chengdu.ai.compute-voucher": D(240_000), "chengdu.ai.model-voucher": D(30_000)}
    # spending 400,000 + 100,000 + 100 m2 x 4.00 x 365 = 146,000 -> 646,000
    assert {c.city.key: c.net_cost for c in comp.cities} == {
        "shanghai": D(196_000),
        "beijing": D(566_000),
        "shenzhen": D(376_000),
        "hangzhou": D(396_000),
        "chengdu": D(376_000),
    }


def test_dates_matter_beijing_plan_ends_with_2025() -> None:
    comp = compare_cities(STARTUP, dt.date(2026, 1, 15), PACK)
    beijing = next(c for c in comp.cities if c.city.key == "beijing")
    assert beijing.total_subsidy == 0
    assert beijing.subsidies[0].unmet == ["in-force"]
    # Shanghai in 2026: still early (registered 2024-06-01) and small
    assert amounts(comp)["shanghai"]["shanghai.ai.compute-voucher"] == D(400_000)


def test_the_firm_is_moved_not_changed() -> None:
    from huiqi.simulation.cities import CITIES, as_registered_in

    moved = as_registered_in(ESTABLISHED, CITIES[2])
    assert moved.registration_city == "Shenzhen" and moved.district is None
    assert all(o.district is None for o in moved.offices)
    assert moved.contracts == ESTABLISHED.contracts and moved.employees == ESTABLISHED.employees
    assert planned_spending(moved) == planned_spending(ESTABLISHED)


def test_json_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(profile()), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["compare-cities", str(path), "--on", "2025-10-15", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [c["city"] for c in data["cities"]] == ["shanghai", "beijing", "shenzhen", "hangzhou", "chengdu"]
    chengdu = data["cities"][4]
    assert chengdu["net_cost"] == "2912500.00" and data["cheapest"] == "chengdu"
    expl = next(s for s in chengdu["subsidies"] if s["programme"] == "chengdu.ai.compute-voucher")[
        "explanation"
    ]
    assert expl["eligible"] is True and expl["amount"] == "1200000.00"
    out = tmp_path / "out"
    result = runner.invoke(app, ["compare-cities", str(path), "--on", "2025-10-15", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "net cost" in result.output and "Chengdu" in result.output
    assert "== Shenzhen 深圳" in result.output  # explanations per city follow the table
    for name in ("cities.png", "cities.svg", "cities.html"):
        assert (out / name).stat().st_size > 1000
    html = (out / "cities.html").read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html and 'src="http' not in html and "<link" not in html


def test_bad_profile_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(profile(employees=-1)), encoding="utf-8")
    result = CliRunner().invoke(app, ["compare-cities", str(path)])
    assert result.exit_code == 2
    assert "employees" in result.output


@pytest.mark.parametrize("firm", [ESTABLISHED, STARTUP])
def test_net_cost_is_spending_less_subsidies(firm: Firm) -> None:
    for c in compare_cities(firm, ON, PACK).cities:
        assert c.net_cost == c.total_spending - sum(s.amount for s in c.subsidies)
        assert sum(c.subsidy_by_category.values()) == c.total_subsidy
