"""The demo (``huiqi demo``): one database with something for every role, seeded through the use cases a
person would use (users, firm profiles, pools, calls, applications, checks, decisions, a match, a
designation call), so that every journey can be walked in the browser.

The demo firm is a Shanghai AI firm that moved its headquarters to Pudong (the bundled ``ai-hq-newcomer``
example under a Pudong credit code): it qualifies for the compute, model and corpus vouchers, the HQ
designation and the start-up grant, it is in the matched register, so its inbox holds the match's "you
qualify" messages, and it can apply to the open model-voucher call with its unclaimed model-use contract.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from huiqi.app import accounts, calls, matching, money
from huiqi.app.demo_designation import setup_designation
from huiqi.app.store import Store
from huiqi.firms import Firm, firm_from_data
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_firms, synth_register
from huiqi.firms.table import firms_to_tables
from huiqi.firms.uscc import make_uscc
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack
from huiqi.rules.programme import Programme

#: The FCFS call's programme, which the demo firm and the synthetic applicants apply to.
DEMO_PROGRAMME = "shanghai.ai.model-voucher"
#: The demo firm: the bundled example under a Pudong (310115) credit code with the same organisation code.
DEMO_FIRM_EXAMPLE = "ai-hq-newcomer"
DEMO_FIRM_USCC = make_uscc("91310115MA2H7K4N2")
#: The demo's staff users (user name: role, the name pages show) besides the designation panel; a password
#: each, made here and printed once.
ROLES = {
    "officer": ("officer", "演示经办人员 Demo officer"),
    "checker": ("officer", "演示复核人员 Demo second officer"),
    "auditor": ("auditor", "演示审计人员 Demo auditor"),
    "reviewer": ("reviewer", "演示评审专家 Demo reviewer"),
    "admin": ("admin", "演示管理员 Demo admin"),
}
FIRM_USER = "firm"
#: The second officer: a money move above HUIQI_SECOND_APPROVAL_ABOVE made by ``officer`` (the designation
#: call's "select and award", 20,000,000 yuan) waits in /officer/approvals (待复核) until this user approves.
SECOND_OFFICER = "checker"
ACTOR = "demo"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SYNTH_YEARS = range(2019, 2026)


@dataclass(frozen=True)
class DemoFirm:
    """The firm the user ``firm`` acts for, and what it qualifies for in the demo's match."""

    uscc: str
    name: str
    qualifies_for: tuple[str, ...]
    inbox: int


@dataclass(frozen=True)
class Demo:
    """What the demo made: the database and files, the match, the calls, the users and their passwords."""

    database_url: str
    directory: Path
    register_dir: Path
    on: dt.date
    programmes: int
    firms: int
    matched: tuple[matching.ProgrammeTotal, ...]
    pool_id: str
    call_id: str
    applications: int
    designation_call: str
    waiting_reviews: int
    firm: DemoFirm
    passwords: Mapping[str, str]

    def environment(self) -> dict[str, str]:
        """The HUIQI_* settings that point ``huiqi`` and ``huiqi serve`` at the demo."""
        return {
            "HUIQI_DATABASE_URL": self.database_url,
            "HUIQI_EVIDENCE_DIR": str(self.directory / "evidence"),
            "HUIQI_PROGRAMMES_DIR": str(self.directory / "programmes"),
            "HUIQI_REGISTER_DIR": str(self.register_dir),
        }


def demo_firm() -> Firm:
    """The demo firm's profile (a Shanghai HQ newcomer that qualifies for vouchers and HQ programmes)."""
    folder = resources.files("huiqi.firms").joinpath("examples")
    data: dict[str, Any] = json.loads(
        folder.joinpath(f"{DEMO_FIRM_EXAMPLE}.json").read_text(encoding="utf-8")
    )
    data["uscc"] = DEMO_FIRM_USCC
    return firm_from_data(data, source=f"{DEMO_FIRM_EXAMPLE} (demo)")


def write_demo_register(directory: Path, firms: int, seed: int, firm: Firm) -> Path:
    """A synthetic register of ``firms`` firms with the demo firm among them, as a register directory."""
    tables = synth_register(firms, seed, years=SYNTH_YEARS)
    extra = firms_to_tables([firm], years=SYNTH_YEARS)
    merged = {
        name: pa.concat_tables([table, extra[name].cast(table.schema)]) if name in extra else table
        for name, table in tables.items()
    }
    return write_register(merged, directory)


def _eligible_applicants(
    programmes: Mapping[str, Programme], firms: int, seed: int, on: dt.date, n: int
) -> list[Firm]:
    """Synthetic firms with an unclaimed model-use contract that the model voucher finds eligible."""
    pool = [
        f
        for f in synth_firms(min(firms, 1500), seed, years=SYNTH_YEARS)
        if any(c.kind == "model_use" and not c.claimed for c in f.contracts)
    ]
    if not pool:
        return []
    long = evaluate_register({DEMO_PROGRAMME: programmes[DEMO_PROGRAMME]}, firms_to_tables(pool), on)
    ok = set(long.filter(pc.equal(long["eligible"], True))["uscc"].to_pylist())
    return [f for f in pool if f.uscc in ok][:n]


def seed_demo(
    store: Store,
    *,
    directory: Path,
    firms: int = 2000,
    applications: int = 12,
    seed: int = 7,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Demo:
    """Fill an empty database with a demo every role can walk through: users, the demo firm, a matched
    register, a funded pool and an open call with applications, and a designation call with reviews."""
    say = progress or (lambda _m: None)
    now = now or dt.datetime.now(dt.UTC)
    on = now.astimezone(SHANGHAI).date()
    programmes = load_pack("shanghai")
    say(f"loaded {len(programmes)} programmes of the Shanghai pack")
    firm = demo_firm()

    # users, the demo firm's stored profile
    passwords = {name: secrets.token_urlsafe(9) for name in (*ROLES, FIRM_USER)}
    for name, (role, shown) in ROLES.items():
        accounts.create_user(
            store, username=name, password=passwords[name], role=role, display_name=shown, actor=ACTOR
        )
    accounts.save_firm_profile(store, data=firm.model_dump(mode="json"), actor=ACTOR)
    accounts.create_user(
        store,
        username=FIRM_USER,
        password=passwords[FIRM_USER],
        role="firm_member",
        display_name=firm.name_zh,
        firm_uscc=firm.uscc,
        actor=ACTOR,
    )

    # the register, matched (the "you qualify" messages go to every eligible firm's inbox)
    register_dir = write_demo_register(directory / "register", firms, seed, firm)
    report = matching.match(store, programmes=programmes, register=str(register_dir), on=on, notify=True)
    say(f"register of {report.run.firms:,} firms (the demo firm among them) matched on {on}")

    # a funded pool and an open first-come-first-served call with synthetic applications
    programme = programmes[DEMO_PROGRAMME]
    spec_pool = programme.spec.pool
    pool_id = f"{spec_pool.id if spec_pool else 'ai-model'}.{on.year}"
    money.create_pool(
        store,
        pool_id=pool_id,
        name=spec_pool.name.zh if spec_pool else pool_id,
        size=Decimal(str(spec_pool.size)) if spec_pool else Decimal("10000000.00"),
        period_start=dt.date(on.year, 1, 1),
        period_end=max(dt.date(on.year, 12, 31), on + dt.timedelta(days=31)),  # the call's window inside
        per_firm_cap=None,
        key=f"demo:pool:{pool_id}",
        actor=ACTOR,
        programme_id=programme.id,  # this year's pool of the programme
    )
    call_id = f"ai-model-{on.isoformat()}"
    calls.open_call(
        store,
        call_id=call_id,
        programme_id=programme.id,
        programme_version=programme.version,
        pool_id=pool_id,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(days=30),
        allocation_mode="fcfs",
        actor=ACTOR,
        programmes=programmes,
    )
    applicants = _eligible_applicants(programmes, firms, seed, on, applications)
    for i, applicant in enumerate(applicants):
        accounts.save_firm_profile(store, data=applicant.model_dump(mode="json"), actor=ACTOR)
        contract = next(c for c in applicant.contracts if c.kind == "model_use" and not c.claimed)
        made = calls.submit_application(
            store,
            call_id=call_id,
            claims=[(contract.id, min(contract.value, Decimal("500000.00")))],
            firm=applicant,
            actor=f"firm:{applicant.uscc}",
        )
        if i % 3 == 0:
            continue  # left submitted, for the officer to check
        checked = calls.check_application(
            store, application_id=made.id, programmes=programmes, actor="rules-engine"
        )
        if checked.state == "under_review" and i % 2 == 0:
            money.decide(store, application_id=made.id, key=f"demo:decide:{made.id}", actor=ACTOR)

    # the designation call: reviews waiting for the user ``reviewer``
    def designation(s: Session) -> tuple[str, int]:
        return setup_designation(s, programmes, now, reviewer="reviewer", actor=ACTOR, passwords=passwords)

    hq_call, waiting = store.write(designation)

    qualifies = tuple(r.programme for r in matching.firm_results(store, uscc=firm.uscc).results)
    inbox = matching.firm_inbox(store, uscc=firm.uscc, programmes=programmes, limit=1).total
    return Demo(
        database_url=store.url,
        directory=directory,
        register_dir=register_dir,
        on=on,
        programmes=len(programmes),
        firms=report.run.firms,
        matched=report.named(programmes, "en").by_programme,
        pool_id=pool_id,
        call_id=call_id,
        applications=len(applicants),
        designation_call=hq_call,
        waiting_reviews=waiting,
        firm=DemoFirm(firm.uscc, firm.name_zh, qualifies, inbox),
        passwords=dict(passwords),
    )
