"""A synthetic designation call for tests: firms of the four sectors (most meet the recognition
criteria), a call file, reviewers with declared affiliations, and score sheets from a latent quality
plus reviewer bias."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from huiqi.firms import Firm
from huiqi.firms.synth import synth_firms

SECTORS = ["integrated_circuits", "biomedicine", "artificial_intelligence", "digital_economy"]
DISTRICTS = ["Pudong", "Xuhui", "Minhang", "Jing'an", "Yangpu"]

CALL_FILE = """\
call: hq-2023-1
programme: shanghai.hq.designation
grant_programme: shanghai.hq.startup-grant
batch: {en: "2023, first batch", zh: "2023年第一批"}
date: 2023-12-05
rubric:
  - {id: innovation, label: {en: Innovation, zh: 创新能力}, weight: 30, scale: {min: 0, max: 10}}
  - {id: rd-intensity, label: {en: R&D intensity, zh: 研发强度}, weight: 25, scale: {min: 0, max: 10}}
  - {id: growth, label: {en: Growth, zh: 成长性}, weight: 20, scale: {min: 0, max: 10}}
  - {id: hq-functions, label: {en: HQ functions, zh: 总部功能}, weight: 15, scale: {min: 0, max: 10}}
  - {id: ip, label: {en: Intellectual property, zh: 知识产权}, weight: 10, scale: {min: 0, max: 10}}
review:
  reviewers_per_application: 3
  recent_employment_years: 3
quotas:
  total: 40
  sector: {integrated_circuits: 10, biomedicine: 10, artificial_intelligence: 10, digital_economy: 10}
  district: {Yangpu: 6}
budget:
  amount: 100000000.00
  rank_within: sector
  bands:
    - {from: 1, to: 3, amount: 5000000.00}
    - {from: 4, to: 6, amount: 3000000.00}
    - {from: 7, amount: 1000000.00}
tranches:
  - {share: 0.5, milestone: designation, due: 2023-12-31}
  - {share: 0.5, milestone: HQ functions confirmed a year on, due: 2023-12-31}
reserve: {per_sector: 3}
"""


def firms(n: int = 400, seed: int = 7) -> list[Firm]:
    """``n`` firms, a quarter per sector; every tenth fails the IP criterion, every fifth is too old
    for the grant."""
    base = synth_firms(n, seed)
    out = []
    for i, f in enumerate(base):
        sector = SECTORS[i % 4]
        fails_ip = i % 10 == 9
        old = i % 5 == 3
        sales = Decimal(200_000_000 + 1_000_000 * (i % 37))
        data: dict[str, Any] = f.model_dump(mode="json")
        data.update(
            sector=sector,
            service_subsector=None,
            enterprise_type="industrial",
            district=DISTRICTS[i % len(DISTRICTS)],
            registration_city="Shanghai",
            registration_date="2019-06-01" if old else "2022-03-01",
            hq_move_in_date=None,
            registered_capital="300000000.00",
            paid_in_capital="200000000.00",
            total_assets="500000000.00",
            market_value=None,
            sales={"2021": str(sales), "2022": str(sales)},
            rd_spending={"2022": str(sales * Decimal("0.08"))},
            rd_spending_in_china={"2022": str(sales * Decimal("0.07"))},
            employees=500,
            rd_staff=120,
            ip={"invention_patents": 3 if fails_ip else 20, "ic_layout_designs": 0, "software_copyrights": 0},
            innovative_drug_or_device=False,
            branches_outside_city=3,
            hq_functions={"rd": True, "sales": True, "settlement": True},
            designations=[],
            incentives=[],
            credit_events=[],
            contracts=[
                {
                    "id": "HQ-1",
                    "kind": "model_use",
                    "counterparty": "上海市发展和改革委员会",
                    "value": "5000000.00",
                    "signed": "2023-01-10",
                }
            ],
        )
        out.append(Firm.model_validate(data))
    return out


def reviewers(firms_: list[Firm], per_sector: int = 6) -> list[dict[str, Any]]:
    """Reviewers for each sector; a few are affiliated with, or recently employed by, an applicant."""
    out = []
    for s, sector in enumerate(SECTORS):
        for j in range(per_sector):
            rid = f"R{s}{j}"
            affiliations = [firms_[s + 4 * j].uscc] if j < 2 else []
            former = [{"uscc": firms_[s + 4 * (j + 10)].uscc, "until": "2022-06-30"}] if j == 2 else []
            out.append(
                {
                    "reviewer_id": rid,
                    "name": f"专家{s}{j}",
                    "fields": [sector],
                    "affiliations": affiliations,
                    "former_employers": former,
                }
            )
    return out


def sheet(quality: float, bias: float, rng: random.Random, criteria: list[str]) -> dict[str, str]:
    """A reviewer's scores: the firm's quality shifted by the reviewer's bias, with noise, on 0..10."""
    return {c: str(max(0, min(10, round(quality + bias + rng.gauss(0, 0.8))))) for c in criteria}


OPENS = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
CLOSES = dt.datetime(2023, 4, 30, tzinfo=dt.UTC)


def open_hq_call(session: Any, call_id: str, firms_: list[Firm]) -> None:
    """The HQ start-up grant pool (120 million yuan), a ranked designation call on it, and one application
    a firm (5 million yuan each, a minute apart from the opening); the caller commits."""
    from huiqi.applications import service as apps
    from huiqi.ledger import service as ledger

    ledger.create_pool(
        session=session,
        pool_id="hq-startup",
        name="HQ start-up grants",
        size="120000000.00",
        period_start=dt.date(2023, 1, 1),
        period_end=dt.date(2023, 12, 31),
        actor="test",
        idempotency_key="pool:hq",
    )
    apps.open_call(
        session=session,
        call_id=call_id,
        programme_id="shanghai.hq.designation",
        programme_version="2023.1",
        pool_id="hq-startup",
        opens_at=OPENS,
        closes_at=CLOSES,
        allocation_mode="ranked",
        actor="test",
    )
    for i, f in enumerate(firms_):
        apps.submit(
            session=session,
            call_id=call_id,
            firm=f,
            claims=[apps.Claim("HQ-1", Decimal("5000000.00"))],
            actor="firm",
            now=OPENS + dt.timedelta(minutes=i),
        )
