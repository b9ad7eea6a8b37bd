"""Rows to JSON-ready dicts, shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from huiqi.applications import service as apps
from huiqi.applications.models import Application, Call
from huiqi.ledger import service as ledger
from huiqi.ledger.models import Award, Pool


def call_dict(c: Call) -> dict[str, Any]:
    return {
        "id": c.id,
        "programme_id": c.programme_id,
        "programme_version": c.programme_version,
        "pool_id": c.pool_id,
        "opens_at": c.opens_at.isoformat(),
        "closes_at": c.closes_at.isoformat(),
        "allocation_mode": c.allocation_mode,
    }


def application_dict(s: Session, a: Application, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "call_id": a.call_id,
        "firm_uscc": a.firm_uscc,
        "firm_name": (a.firm_snapshot or {}).get("name_zh"),
        "state": a.state,
        "requested": str(a.requested),
        "score": a.score,
        "created_at": a.created_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
    }
    if full:
        out["claims"] = a.claims
        out["verdict"] = a.verdict
        out["evidence"] = [
            {"sha256": e.sha256, "filename": ae.filename, "media_type": e.media_type, "size": e.size}
            for ae, e in apps.evidence_of(session=s, application_id=a.id)
        ]
        out["history"] = [
            {
                "seq": h.seq,
                "from": h.from_state,
                "to": h.to_state,
                "actor": h.actor,
                "at": h.at.isoformat(),
                "reason": h.reason,
            }
            for h in apps.history(session=s, application_id=a.id)
        ]
    return out


def award_dict(s: Session, a: Award, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "pool_id": a.pool_id,
        "firm_uscc": a.firm_uscc,
        "application_id": a.application_id,
        "amount": str(a.amount),
        "paid": str(a.paid),
        "released": str(a.released),
        "clawed": str(a.clawed),
        "recovered": str(a.recovered),
        "status": a.status,
        "granted_at": a.granted_at.isoformat(),
    }
    if full:
        out["tranches"] = [
            {
                "seq": t.seq,
                "amount": str(t.amount),
                "milestone": t.milestone,
                "due_date": t.due_date.isoformat(),
                "status": t.status,
                "payment_txn_id": t.payment_txn_id,
            }
            for t in ledger.tranches_of(session=s, award_id=a.id)
        ]
    return out


def pool_dict(p: Pool) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "size": str(p.size),
        "available": str(p.available),
        "period_start": p.period_start.isoformat(),
        "period_end": p.period_end.isoformat(),
        "per_firm_cap": None if p.per_firm_cap is None else str(p.per_firm_cap),
    }
