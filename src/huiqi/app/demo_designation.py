"""The demo's designation call (``huiqi demo``): eight headquarters applicants, a call file, reviewers with
assignments and accounts, so that the reviewer and selection pages have something to show.

The applications are checked by the rules engine (one fails the IP criterion and is rejected), reviewers
are assigned by the review service, and every reviewer but the demo's ``reviewer`` has already declared
no conflict and scored: the demo reviewer's assignments wait in ``/review``, and once they are scored the
officer can normalise and select on ``/officer/selection/{call}``. Every reviewer of the panel has a
reviewer account, so a conflict the demo reviewer declares passes the application to someone who can log
in (or the officer reassigns it on the selection page).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.app import call_files
from huiqi.applications import service as apps
from huiqi.firms import Firm
from huiqi.firms.synth import synth_firms
from huiqi.ledger import service as ledger
from huiqi.review import service as review
from huiqi.review.models import Assignment
from huiqi.rules.programme import Programme
from huiqi.selection import service as selection
from huiqi.workflows import designation as flow

SECTORS = ("integrated_circuits", "biomedicine", "artificial_intelligence", "digital_economy")
DISTRICTS = ("Pudong New Area", "Xuhui", "Minhang", "Yangpu")
PROGRAMME = "shanghai.hq.designation"
GRANT_PROGRAMME = "shanghai.hq.startup-grant"
#: Demo reviewers besides the demo's ``reviewer`` (their sheets are made here; each has a reviewer account).
PANEL = ("expert-wang", "expert-li")


def call_file(call_id: str, today: dt.date) -> str:
    """One designation a sector, two reviewers an application, the start-up grant in two tranches."""
    due = today + dt.timedelta(days=60)
    return f"""\
call: {call_id}
programme: {PROGRAMME}
grant_programme: {GRANT_PROGRAMME}
batch: {{en: "{today.year}, demo batch", zh: "{today.year}年演示批次"}}
date: {(today + dt.timedelta(days=14)).isoformat()}
rubric:
  - {{id: innovation, label: {{en: Innovation, zh: 创新能力}}, weight: 40, scale: {{min: 0, max: 10}}}}
  - {{id: rd-intensity, label: {{en: R&D intensity, zh: 研发强度}}, weight: 30, scale: {{min: 0, max: 10}}}}
  - {{id: growth, label: {{en: Growth, zh: 成长性}}, weight: 30, scale: {{min: 0, max: 10}}}}
review:
  reviewers_per_application: 2
  recent_employment_years: 3
quotas:
  total: 4
  sector: {{{", ".join(f"{s}: 1" for s in SECTORS)}}}
budget:
  amount: 20000000.00
  rank_within: sector
  bands:
    - {{from: 1, amount: 5000000.00}}
tranches:
  - {{share: 0.5, milestone: designation, due: {due.isoformat()}}}
  - {{share: 0.5, milestone: HQ functions confirmed a year on, due: {due.isoformat()}}}
reserve: {{per_sector: 1}}
"""


def applicants(today: dt.date, n: int = 8, seed: int = 11) -> list[Firm]:
    """``n`` headquarters firms, two a sector; the last has too few invention patents (is rejected)."""
    last = today.year - 1
    out = []
    for i, f in enumerate(synth_firms(n, seed)):
        sales = Decimal(200_000_000 + 7_000_000 * i)
        data: dict[str, Any] = f.model_dump(mode="json")
        data.update(
            sector=SECTORS[i % len(SECTORS)],
            service_subsector=None,
            enterprise_type="industrial",
            district=DISTRICTS[i % len(DISTRICTS)],
            registration_city="Shanghai",
            registration_date=dt.date(last - 1, 3, 1).isoformat(),
            hq_move_in_date=None,
            registered_capital="300000000.00",
            paid_in_capital="200000000.00",
            total_assets="500000000.00",
            market_value=None,
            sales={str(last - 1): str(sales), str(last): str(sales)},
            rd_spending={str(last): str(sales * Decimal("0.08"))},
            rd_spending_in_china={str(last): str(sales * Decimal("0.07"))},
            employees=500,
            rd_staff=120,
            ip={
                "invention_patents": 3 if i == n - 1 else 20,
                "ic_layout_designs": 0,
                "software_copyrights": 0,
            },
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
                    "signed": dt.date(last, 1, 10).isoformat(),
                }
            ],
        )
        out.append(Firm.model_validate(data))
    return out


def setup_designation(
    s: Session,
    programmes: Mapping[str, Programme],
    now: dt.datetime,
    *,
    reviewer: str,
    actor: str,
    passwords: MutableMapping[str, str] | None = None,
) -> tuple[str, int]:
    """The call (closed a week ago), its pool, applications, call file, check and review panel with an
    account for every panel reviewer (their passwords added to ``passwords``, to be printed); returns the
    call's id and how many assignments wait for ``reviewer``."""
    today = now.date()
    call_id = f"hq-{today.year}-demo"
    pool_id = f"hq-startup.{today.year}"
    ledger.create_pool(
        session=s,
        pool_id=pool_id,
        name="总部开办资助",
        size=Decimal("40000000.00"),
        period_start=dt.date(today.year, 1, 1),
        period_end=dt.date(today.year, 12, 31),
        per_firm_cap=None,
        actor=actor,
        idempotency_key=f"demo:pool:{pool_id}",
    )
    opens, closes = now - dt.timedelta(days=40), now - dt.timedelta(days=7)
    apps.open_call(
        session=s,
        call_id=call_id,
        programme_id=PROGRAMME,
        programme_version=programmes[PROGRAMME].version,
        pool_id=pool_id,
        opens_at=opens,
        closes_at=closes,
        allocation_mode="ranked",
        actor=actor,
    )
    for i, firm in enumerate(applicants(today)):
        apps.submit(
            session=s,
            call_id=call_id,
            firm=firm,
            claims=[apps.Claim("HQ-1", Decimal("5000000.00"))],
            actor=f"firm:{firm.uscc}",
            now=opens + dt.timedelta(hours=i + 1),
        )
    text = call_file(call_id, today)
    cf = call_files.parse(text, call_id)
    call_files.keep(s, call_id, text, actor)
    flow.check_all(session=s, call_id=call_id, programmes=programmes, cf=cf, on=today, actor=actor)

    for rid, name in ((reviewer, "演示评审专家"), *zip(PANEL, ("王专家", "李专家"), strict=True)):
        review.add_reviewer(
            session=s,
            reviewer_id=rid,
            name=name,
            fields=list(SECTORS),
            affiliations=[],
            former_employers=[],
            actor=actor,
        )
    for rid in PANEL:
        password = secrets.token_urlsafe(9)
        accounts.create_user(
            session=s, username=rid, password=password, role="reviewer", display_name=rid, actor=actor
        )
        if passwords is not None:
            passwords[rid] = password
    review.assign(
        session=s,
        call_id=call_id,
        per_application=cf.review.reviewers_per_application,
        on=today,
        recent_years=cf.review.recent_employment_years,
        actor=actor,
    )
    rubric = selection.rubric_of(cf)
    rng = random.Random(5)  # nosec B311  # demo scores, not security
    waiting = 0
    for a in list(s.scalars(select(Assignment).where(Assignment.call_id == call_id).order_by(Assignment.id))):
        if a.reviewer_id == reviewer:
            waiting += 1
            continue
        review.declare(
            session=s,
            application_id=a.application_id,
            reviewer_id=a.reviewer_id,
            conflict=None,
            on=today,
            recent_years=cf.review.recent_employment_years,
            actor=f"reviewer:{a.reviewer_id}",
        )
        review.submit_scores(
            session=s,
            application_id=a.application_id,
            reviewer_id=a.reviewer_id,
            rubric=rubric,
            scores={c.id: str(rng.randint(4, 9)) for c in rubric},
            actor=f"reviewer:{a.reviewer_id}",
        )
    return call_id, waiting
