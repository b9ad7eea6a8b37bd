"""Selection of a call from the database: candidates, the optimiser run, decisions with reasons,
designations, the reserve list and promotion. Services flush and never commit; money and application
states are moved by ``huiqi.workflows.designation``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.applications import service as apps
from huiqi.applications.models import Application, State
from huiqi.applications.reasons import CAUSES, Reason
from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.money import fen_to_yuan, yuan_to_fen
from huiqi.review import service as review
from huiqi.selection import optimiser
from huiqi.selection.callfile import CallFile
from huiqi.selection.errors import AlreadySelected, NotDesignated, NotSelected, ScoresMissing, SelectionError
from huiqi.selection.models import Designation, Outcome, SelectionDecision, SelectionRun

#: Key in a verdict's explanation where the check step keeps the grant programme's verdict.
GRANT_KEY = "grant"

SECTOR_NAMES: dict[str, tuple[str, str]] = {
    "integrated_circuits": ("Integrated circuits", "集成电路"),
    "biomedicine": ("Biomedicine", "生物医药"),
    "artificial_intelligence": ("Artificial intelligence", "人工智能"),
    "digital_economy": ("Digital economy", "数字经济"),
    "other_strategic": ("Other strategic emerging industries", "其他战略性新兴产业"),
}


def sector_name(sector: str, lang: str) -> str:
    en, zh = SECTOR_NAMES.get(sector, (sector, sector))
    return zh if lang == "zh" else en


def rubric_of(cf: CallFile) -> list[review.Criterion]:
    return [review.Criterion(c.id, c.weight, c.scale.min, c.scale.max, c.scale.step) for c in cf.rubric]


def config_digest(cf: CallFile) -> str:
    return hashlib.sha256(
        json.dumps(cf.model_dump(mode="json", by_alias=True), sort_keys=True).encode("utf-8")
    ).hexdigest()


def grant_cap(app: Application) -> Decimal | None:
    """The most the grant programme allows this firm (None: not eligible for the grant)."""
    verdict = apps.verdict_of(app)
    grant = (verdict.explanation.get(GRANT_KEY) if verdict else None) or {}
    if not grant.get("eligible"):
        return None
    return Decimal(str(grant["amount"]))


def _ineligible_reason(app: Application) -> dict[str, Any]:
    verdict = apps.verdict_of(app)
    failed_en: list[str] = []
    failed_zh: list[str] = []
    if verdict is not None:
        for lang, out in (("en", failed_en), ("zh", failed_zh)):
            checks = (verdict.explanation.get(lang) or {}).get("checks", [])
            for c in checks:
                if not c.get("met", True):
                    out.append(f"{c.get('label')} 〔{c.get('clause')}〕")
        if not failed_en:
            failed_en = [str(u) for u in verdict.explanation.get("unmet", [])]
            failed_zh = failed_en
    return optimiser.Reason(
        "ineligible",
        "not eligible: " + ("; ".join(failed_en) or "see the verdict"),
        "不符合认定条件：" + ("；".join(failed_zh) or "见审核结论"),
        {"failed": failed_en},
    ).to_json()


#: Which of an outcome's figures each optimiser reason's words show (besides rank, sector and score).
_FIGURES = {"below_min_score": {"minimum": "min_score"}}


def history_reason(o: optimiser.Outcome, sector: str) -> Reason:
    """The optimiser's reason for an application's history: its code and figures, in English exactly as the
    optimiser wrote it (a code whose words would differ is kept as those words)."""
    data = dict(o.reason.data)
    for name, key in _FIGURES.get(o.reason.code, {}).items():
        data[name] = data.pop(key, None)
    data.update(sector=sector, rank=o.rank, sector_rank=o.sector_rank)
    try:
        reason = Reason.of(o.reason.code, **data)
    except ValueError:
        return Reason.typed(o.reason.en)
    return reason if reason.text == o.reason.en else Reason.typed(o.reason.en)


def ended_reason(cause: str, reason: str) -> Reason:
    """Why a designation ended: the firm withdrew or lost a condition (the officer's words kept as typed)."""
    code = CAUSES.get(cause)
    return Reason.of(code, reason=reason) if code else Reason.typed(f"{cause}: {reason}")


@dataclass(frozen=True)
class Result:
    run: SelectionRun
    decisions: list[SelectionDecision]
    designations: list[Designation]


def run(*, session: Session, call_id: str, cf: CallFile, actor: str) -> Result:
    """Select the designated firms of a call and record every decision with its reason."""
    existing = session.scalar(select(SelectionRun).where(SelectionRun.call_id == call_id))
    if existing is not None:
        raise AlreadySelected(call_id, existing.id)
    apps.get_call(session=session, call_id=call_id)
    all_apps = list(
        session.scalars(select(Application).where(Application.call_id == call_id).order_by(Application.id))
    )
    under = [a for a in all_apps if a.state == State.UNDER_REVIEW.value]
    missing = [a.id for a in under if a.score is None]
    if missing:
        raise ScoresMissing(missing)
    mean_raw = review.mean_raw_scores(session=session, call_id=call_id, rubric=rubric_of(cf))
    base = [
        optimiser.Candidate(
            key=a.id,
            sector=str(a.firm_snapshot.get("sector")),
            district=a.firm_snapshot.get("district"),
            score=Decimal(str(a.score)),
            amount_fen=0,
            tiebreak=(-mean_raw.get(a.id, Decimal(0)), a.created_at.isoformat(), a.id),
        )
        for a in under
    ]
    # the band a candidate's grant comes from reads its rank in the ranked field (sector or whole)
    ranked = optimiser.rank_order(base)
    position: dict[str, int] = {}
    per_sector: dict[str, int] = {}
    for i, c in enumerate(ranked, 1):
        per_sector[c.sector] = per_sector.get(c.sector, 0) + 1
        within_sector = cf.budget is None or cf.budget.rank_within == "sector"
        position[c.key] = per_sector[c.sector] if within_sector else i
    by_id = {a.id: a for a in under}
    candidates = []
    for c in base:
        cap = grant_cap(by_id[c.key])
        amount = cf.band_amount(position[c.key]) if cap is not None else Decimal(0)
        if cap is not None and amount > cap:
            raise SelectionError(
                f"budget.bands: the grant for rank {position[c.key]} is {amount} yuan, above the "
                f"programme's cap of {cap} yuan"
            )
        candidates.append(
            optimiser.Candidate(c.key, c.sector, c.district, c.score, yuan_to_fen(amount), c.tiebreak)
        )
    limits = optimiser.Limits(
        total=cf.quotas.total,
        sector=dict(cf.quotas.sector),
        district=dict(cf.quotas.district),
        budget_fen=yuan_to_fen(cf.budget.amount) if cf.budget else None,
        min_score=cf.min_score,
    )
    sel = optimiser.select(candidates, limits, reserve_per_sector=cf.reserve.per_sector)
    run_row = SelectionRun(
        id=new_id(),
        call_id=call_id,
        config_digest=config_digest(cf),
        config=cf.model_dump(mode="json", by_alias=True),
        budget=cf.budget.amount if cf.budget else None,
        spent=fen_to_yuan(sel.spent_fen),
        total_score=str(sel.total_score),
        seconds=f"{sel.seconds:.4f}",
        actor=actor,
        created_at=utcnow(),
    )
    session.add(run_row)
    session.flush()
    amounts = {c.key: c.amount_fen for c in candidates}
    decisions: list[SelectionDecision] = []
    designations: list[Designation] = []
    now = utcnow()
    for a in all_apps:
        snap = a.firm_snapshot
        common: dict[str, Any] = {
            "run_id": run_row.id,
            "application_id": a.id,
            "firm_uscc": a.firm_uscc,
            "sector": str(snap.get("sector")),
            "district": snap.get("district"),
        }
        o = sel.outcomes.get(a.id)
        if o is None:
            if a.state == State.REJECTED.value and apps.verdict_of(a) is not None:
                decisions.append(
                    SelectionDecision(
                        **common,
                        outcome=Outcome.INELIGIBLE.value,
                        amount=Decimal(0),
                        reason=_ineligible_reason(a),
                    )
                )
            continue
        outcome = (
            Outcome.DESIGNATED
            if o.selected
            else (Outcome.RESERVE if o.reserve_seq is not None else Outcome.NOT_SELECTED)
        )
        reason = o.reason.to_json()
        history = history_reason(o, common["sector"])
        if outcome is Outcome.RESERVE:
            reason["en"] += f"; on the {common['sector']} reserve list, position {o.reserve_seq}"
            reason["zh"] += f"；列入{common['sector']}领域候补名单第{o.reserve_seq}位"
            history = Reason.joined(
                history, Reason.of("on_reserve_list", sector=common["sector"], seq=o.reserve_seq)
            )
        reason["history"] = history.to_json()
        decisions.append(
            SelectionDecision(
                **common,
                outcome=outcome.value,
                rank=o.rank,
                sector_rank=o.sector_rank,
                score=a.score,
                amount=fen_to_yuan(amounts[a.id]),
                reserve_seq=o.reserve_seq,
                reason=reason,
            )
        )
        if o.selected:
            designations.append(
                _designation(call_id, a, o.rank, o.sector_rank, fen_to_yuan(amounts[a.id]), reason["en"], now)
            )
    session.add_all(decisions)
    session.add_all(designations)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"call:{call_id}",
        action="selected",
        payload={
            "run_id": run_row.id,
            "config_digest": run_row.config_digest,
            "designated": sorted(d.application_id for d in designations),
            "spent": run_row.spent,
            "total_score": run_row.total_score,
        },
    )
    return Result(run_row, decisions, designations)


def _designation(
    call_id: str,
    app: Application,
    rank: int,
    sector_rank: int,
    amount: Decimal,
    reason: str,
    now: Any,
    *,
    source: str = "selection",
    replaces: str | None = None,
) -> Designation:
    snap = app.firm_snapshot
    return Designation(
        id=new_id(),
        call_id=call_id,
        application_id=app.id,
        firm_uscc=app.firm_uscc,
        name_zh=str(snap.get("name_zh")),
        name_en=snap.get("name_en"),
        sector=str(snap.get("sector")),
        district=snap.get("district"),
        rank=rank,
        sector_rank=sector_rank,
        score=str(app.score),
        amount=amount,
        status="active",
        source=source,
        replaces_application_id=replaces,
        reason=reason,
        created_at=now,
    )


def get_run(*, session: Session, call_id: str) -> SelectionRun:
    row = session.scalar(select(SelectionRun).where(SelectionRun.call_id == call_id))
    if row is None:
        raise NotSelected(call_id)
    return row


def decisions_of(*, session: Session, call_id: str) -> list[SelectionDecision]:
    run_row = get_run(session=session, call_id=call_id)
    return list(
        session.scalars(
            select(SelectionDecision)
            .where(SelectionDecision.run_id == run_row.id)
            .order_by(
                SelectionDecision.rank.is_(None), SelectionDecision.rank, SelectionDecision.application_id
            )
        )
    )


def designations_of(*, session: Session, call_id: str, active_only: bool = True) -> list[Designation]:
    q = select(Designation).where(Designation.call_id == call_id)
    if active_only:
        q = q.where(Designation.status == "active")
    return list(session.scalars(q.order_by(Designation.sector, Designation.sector_rank, Designation.id)))


def end(*, session: Session, application_id: str, reason: str, actor: str) -> Designation:
    d = session.scalar(
        select(Designation).where(
            Designation.application_id == application_id, Designation.status == "active"
        )
    )
    if d is None:
        raise NotDesignated(application_id)
    d.status = "ended"
    d.ended_at = utcnow()
    d.end_reason = reason
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"designation:{d.id}",
        action="ended",
        payload={"application_id": application_id, "reason": reason},
    )
    return d


def next_from_reserve(
    *, session: Session, call_id: str, ended: Designation, cf: CallFile
) -> SelectionDecision | None:
    """The next waiting firm of the same sector's reserve list that fits the district quota and budget."""
    run_row = get_run(session=session, call_id=call_id)
    active = designations_of(session=session, call_id=call_id)
    spent = sum((d.amount for d in active), Decimal(0))
    reserve = list(
        session.scalars(
            select(SelectionDecision)
            .where(
                SelectionDecision.run_id == run_row.id,
                SelectionDecision.outcome == Outcome.RESERVE.value,
                SelectionDecision.sector == ended.sector,
            )
            .order_by(SelectionDecision.reserve_seq)
        )
    )
    for r in reserve:
        app = apps.get_application(session=session, application_id=r.application_id)
        if app.state != State.WAITLISTED.value:
            continue
        if r.district in cf.quotas.district and (
            sum(1 for d in active if d.district == r.district) >= cf.quotas.district[r.district]
        ):
            continue
        if cf.budget is not None and spent + r.amount > cf.budget.amount:
            continue
        return r
    return None


def promotion_reason(decision: SelectionDecision, ended: Designation, why: Reason) -> Reason:
    """Why a reserve firm is designated in an ended one's place (its figures and the ended firm's name)."""
    return Reason.of(
        "promoted",
        seq=decision.reserve_seq,
        sector=decision.sector,
        sector_rank=decision.sector_rank,
        score=decision.score,
        name=ended.name_zh,
        uscc=ended.firm_uscc,
        why=why,
    )


def promote(
    *,
    session: Session,
    call_id: str,
    decision: SelectionDecision,
    ended: Designation,
    why: Reason,
    actor: str,
) -> Designation:
    app = apps.get_application(session=session, application_id=decision.application_id)
    reason = promotion_reason(decision, ended, why).text
    d = _designation(
        call_id,
        app,
        decision.rank or 0,
        decision.sector_rank or 0,
        decision.amount,
        reason,
        utcnow(),
        source="promotion",
        replaces=ended.application_id,
    )
    session.add(d)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"designation:{d.id}",
        action="promoted",
        payload={"application_id": app.id, "replaces": ended.application_id, "reason": reason},
    )
    return d


# --- publication ------------------------------------------------------------------------------------------

COLUMNS = {
    "en": [
        "sector",
        "sector_rank",
        "name",
        "credit_code",
        "district",
        "score",
        "startup_grant_yuan",
        "batch",
    ],
    "zh": ["领域", "领域排名", "企业名称", "统一社会信用代码", "所在区", "评分", "开办奖励（元）", "批次"],
}


def published_rows(designations: Sequence[Designation], cf: CallFile, lang: str) -> list[dict[str, Any]]:
    batch = cf.batch.zh if lang == "zh" else cf.batch.en
    rows = []
    for d in designations:
        name = d.name_zh if lang == "zh" else (d.name_en or d.name_zh)
        values = [
            sector_name(d.sector, lang),
            d.sector_rank,
            name,
            d.firm_uscc,
            d.district or "",
            d.score,
            str(d.amount),
            batch,
        ]
        rows.append(dict(zip(COLUMNS[lang], values, strict=True)))
    return rows
