"""Many first-come-first-served awards from one pool in one PostgreSQL transaction.

The batch is decided in order, each request on its own: granted if it fits the pool (and the firm's cap)
after those granted before it, refused with its own error otherwise. The contended part is two statements:
lock the pool (``FOR NO KEY UPDATE``, so foreign-key checks of concurrent inserts are not blocked), decide
in Python, then one statement moves the money. One audit link per award is queued and chained at COMMIT
(``huiqi.audit.chain``), so the audit head is locked only for the commit. Everything that does not need the
lock (checks, ids, canonical JSON, accounts, the rows, optimistically) is done before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import UTCDateTime, utcnow
from huiqi.ledger import idempotency
from huiqi.ledger.errors import (
    ContractAlreadyClaimed,
    FirmCapExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    PoolNotFound,
)
from huiqi.ledger.models import AccountKind, Award, TxnKind
from huiqi.money import yuan_to_fen

_KEYS = text(
    "SELECT key, operation, request_hash, result FROM idempotency_keys "
    "WHERE key = ANY(CAST(:keys AS varchar[]))"
)
_POOL = text("SELECT per_firm_cap, period_end FROM pools WHERE id = :pool_id")
_CLAIMS = text(
    """
    SELECT c.firm_uscc, c.contract_id FROM contract_claims c
    JOIN unnest(CAST(:firms AS varchar[]), CAST(:contracts AS varchar[])) AS w(firm_uscc, contract_id)
      ON w.firm_uscc = c.firm_uscc AND w.contract_id = c.contract_id
    """
)
_ACCOUNTS = text(
    """
    INSERT INTO ledger_accounts (id, pool_id, kind, firm_uscc)
    SELECT a.id, :pool_id, a.kind, a.firm FROM unnest(CAST(:ids AS varchar[]), CAST(:kinds AS varchar[]),
                                                     CAST(:firms AS varchar[])) AS a(id, kind, firm)
    ON CONFLICT DO NOTHING RETURNING id, firm_uscc
    """
)
_TOTALS_ROWS = text(
    """
    INSERT INTO firm_pool_totals (pool_id, firm_uscc, committed)
    SELECT :pool_id, f, 0 FROM unnest(CAST(:firms AS varchar[])) AS f ON CONFLICT DO NOTHING
    RETURNING firm_uscc
    """
)
_DROP_ACCOUNTS = text("DELETE FROM ledger_accounts WHERE id = ANY(CAST(:ids AS varchar[]))")
_DROP_TOTALS = text(
    "DELETE FROM firm_pool_totals WHERE pool_id = :pool_id AND firm_uscc = ANY(CAST(:firms AS varchar[]))"
)
_TOTALS_LOCK = text(
    """
    SELECT firm_uscc, committed FROM firm_pool_totals
    WHERE pool_id = :pool_id AND firm_uscc = ANY(CAST(:firms AS varchar[]))
    ORDER BY firm_uscc FOR NO KEY UPDATE
    """
)
# The contended lock: the pool only. The audit links are queued and chained at COMMIT (``huiqi.audit.chain``),
# so the audit head is taken after the pool, the same order as every other writer.
_LOCK = text("SELECT available FROM pools WHERE id = :pool_id FOR NO KEY UPDATE")
_ROWS = text(
    """
    WITH award AS (
        INSERT INTO awards (id, pool_id, firm_uscc, application_id, reservation_id, amount, paid, released,
                            clawed, recovered, status, granted_at, granted_by)
        SELECT a.id, :pool_id, a.firm, a.application_id, NULL, a.amount, 0, 0, 0, 0, 'active', :at, :actor
        FROM unnest(CAST(:a_ids AS varchar[]), CAST(:a_firms AS varchar[]), CAST(:a_apps AS varchar[]),
                    CAST(:a_amounts AS bigint[])) AS a(id, firm, application_id, amount)
        RETURNING *
    ),
    tranche AS (
        INSERT INTO tranches (id, award_id, seq, amount, milestone, due_date, status)
        SELECT t.id, t.award_id, t.seq, t.amount, t.milestone, t.due, 'pending'
        FROM unnest(CAST(:t_ids AS varchar[]), CAST(:t_awards AS varchar[]), CAST(:t_seqs AS int[]),
                    CAST(:t_amounts AS bigint[]), CAST(:t_milestones AS text[]), CAST(:t_dues AS date[]))
             AS t(id, award_id, seq, amount, milestone, due)
    ),
    claim AS (
        INSERT INTO contract_claims (firm_uscc, contract_id, award_id)
        SELECT * FROM unnest(CAST(:c_firms AS varchar[]), CAST(:c_contracts AS varchar[]),
                             CAST(:c_awards AS varchar[]))
    ),
    txn AS (
        INSERT INTO ledger_transactions (id, pool_id, kind, at, actor, memo, idempotency_key, award_id)
        SELECT x.id, :pool_id, :kind, :at, :actor, '', x.key, x.award_id
        FROM unnest(CAST(:x_ids AS varchar[]), CAST(:x_keys AS varchar[]), CAST(:a_ids AS varchar[]))
             AS x(id, key, award_id)
    ),
    posting AS (
        INSERT INTO ledger_postings (id, transaction_id, account_id, amount)
        SELECT * FROM unnest(CAST(:p_ids AS varchar[]), CAST(:p_txns AS varchar[]),
                             CAST(:p_accounts AS varchar[]), CAST(:p_amounts AS bigint[]))
    ),
    idem AS (
        INSERT INTO idempotency_keys (key, operation, request_hash, result, created_at)
        SELECT k.key, 'grant_award', k.hash, k.result, :at
        FROM unnest(CAST(:x_keys AS varchar[]), CAST(:k_hashes AS varchar[]), CAST(:k_results AS text[]))
             AS k(key, hash, result)
    ),
    totals AS (
        UPDATE firm_pool_totals t SET committed = t.committed + f.amount
        FROM unnest(CAST(:f_firms AS varchar[]), CAST(:f_amounts AS bigint[])) AS f(firm, amount)
        WHERE t.pool_id = :pool_id AND t.firm_uscc = f.firm
    )
    SELECT * FROM award
    """
).bindparams(bindparam("at", type_=UTCDateTime()))


_HOT = text("UPDATE pools SET available = available - :total WHERE id = :pool_id")


@dataclass
class _Candidate:
    index: int
    firm: str
    fen: int
    key: str
    body: dict[str, Any]
    plan: list[Any]
    contracts: list[str]
    application_id: str | None
    award_id: str = ""
    payload: str = ""


def grant_awards_pg(
    session: Session, *, pool_id: str, requests: Sequence[Any], actor: str
) -> list[Award | LedgerError]:
    from huiqi.ledger.service import _award_body, _plan, validate_request

    session.flush()
    pool_row = session.execute(_POOL, {"pool_id": pool_id}).one_or_none()
    if pool_row is None:
        raise PoolNotFound(pool_id)
    cap_fen, period_end = pool_row
    period_end = period_end if isinstance(period_end, dt.date) else dt.date.fromisoformat(period_end)
    results: list[Award | LedgerError | None] = [None] * len(requests)
    candidates: list[_Candidate] = []
    first_by_key: dict[str, tuple[str, int]] = {}
    replays: dict[int, str] = {}

    stored = {
        row[0]: row[1:] for row in session.execute(_KEYS, {"keys": [r.idempotency_key for r in requests]})
    }
    for i, req in enumerate(requests):
        try:
            value = validate_request(req)
            body = _award_body(pool_id, req.firm_uscc, value, req.tranches, req.contracts, req.application_id)
            digest = idempotency.request_hash("grant_award", body)
            if req.idempotency_key in first_by_key:
                first_digest, first = first_by_key[req.idempotency_key]
                if first_digest != digest:
                    raise IdempotencyConflict(req.idempotency_key, "grant_award")
                replays[i] = f"#{first}"
                continue
            first_by_key[req.idempotency_key] = (digest, i)
            if req.idempotency_key in stored:
                op, k_hash, k_result = stored[req.idempotency_key]
                done = idempotency.check_stored(
                    key=req.idempotency_key,
                    operation="grant_award",
                    body=body,
                    stored_operation=op,
                    stored_hash=k_hash,
                    stored_result=k_result,
                )
                replays[i] = str(done["award_id"])
                continue
            plan = _plan(value, req.tranches, period_end)
            fen = yuan_to_fen(value)
            if cap_fen is not None and fen > cap_fen:
                raise FirmCapExceeded(pool_id, req.firm_uscc, Decimal(cap_fen) / 100, value)
            candidates.append(
                _Candidate(
                    i,
                    req.firm_uscc,
                    fen,
                    req.idempotency_key,
                    body,
                    plan,
                    list(req.contracts),
                    req.application_id,
                )
            )
        except LedgerError as exc:
            results[i] = exc

    # one claim per contract: against stored claims and within the batch
    pairs = [(c.firm, k) for c in candidates for k in c.contracts]
    claimed = (
        {
            (str(f), str(k))
            for f, k in session.execute(
                _CLAIMS, {"firms": [p[0] for p in pairs], "contracts": [p[1] for p in pairs]}
            )
        }
        if pairs
        else set()
    )
    kept: list[_Candidate] = []
    for c in candidates:
        taken = next((k for k in c.contracts if (c.firm, k) in claimed), None)
        if taken is not None:
            results[c.index] = ContractAlreadyClaimed(c.firm, taken)
            continue
        claimed.update((c.firm, k) for k in c.contracts)
        kept.append(c)
    candidates = kept

    at = utcnow()
    for c in candidates:
        c.award_id = new_id()
        c.payload = audit.canonical_json({**c.body, "award_id": c.award_id})
    firms = sorted({c.firm for c in candidates})

    if candidates:
        # Everything this batch writes is written after this savepoint, so a batch that grants nothing
        # rolls back to it and has written nothing at all (the firms' accounts and cap rows included).
        session.execute(text("SAVEPOINT huiqi_bulk"))
        # Optimistic: write every row before touching the pool, so the contended part is short; if the pool
        # turns out not to cover them all, roll back to the savepoint and decide under the lock instead.
        created = _open_firms(session, pool_id, firms, cap_fen)
        totals = _lock_totals(session, pool_id, firms) if cap_fen is not None else {}
        hopeful = _decide(candidates, results, pool_id, cap_fen, totals, available=None)
        awards = _write_rows(session, pool_id, hopeful, cap_fen, at, actor)
        available = session.execute(_LOCK, {"pool_id": pool_id}).scalar_one()  # contended from here
        if sum(c.fen for c in hopeful) <= int(available):
            _write_hot(session, pool_id, hopeful, at, actor)
        else:
            session.execute(text("ROLLBACK TO SAVEPOINT huiqi_bulk"))
            for award in awards.values():
                session.expunge(award)
            for c in candidates:
                results[c.index] = None
            created = _open_firms(session, pool_id, firms, cap_fen)
            totals = _lock_totals(session, pool_id, firms) if cap_fen is not None else {}
            available = session.execute(_LOCK, {"pool_id": pool_id}).scalar_one()
            hopeful = _decide(candidates, results, pool_id, cap_fen, totals, available=int(available))
            awards = _write_rows(session, pool_id, hopeful, cap_fen, at, actor)
            _write_hot(session, pool_id, hopeful, at, actor)
        if hopeful:
            _drop_unused(session, pool_id, created, {c.firm for c in hopeful})
        else:
            session.execute(text("ROLLBACK TO SAVEPOINT huiqi_bulk"))
        for c in hopeful:
            results[c.index] = awards[c.award_id]

    if replays:
        stored_ids = [v for v in replays.values() if not v.startswith("#")]
        loaded = {a.id: a for a in session.scalars(select(Award).where(Award.id.in_(stored_ids)))}
        for i, ref in sorted(replays.items()):
            results[i] = results[int(ref[1:])] if ref.startswith("#") else loaded[ref]
    if any(r is None for r in results):  # a request left undecided must not shift the answers
        raise RuntimeError("grant_awards left a request without an answer")
    return [r for r in results if r is not None]


def _open_firms(
    session: Session, pool_id: str, firms: list[str], cap_fen: int | None
) -> list[tuple[str, str]]:
    """The firms' accounts (and, under a cap, their running totals) where missing; what was created, as
    (firm, account id or "" for the totals row), so that a firm granted nothing can have it taken back."""
    from huiqi.ledger.service import account_id

    kinds = (AccountKind.PAYABLE, AccountKind.PAID, AccountKind.RECOVERABLE)
    created = [
        (str(firm), str(acct))
        for acct, firm in session.execute(
            _ACCOUNTS,
            {
                "pool_id": pool_id,
                "ids": [account_id(pool_id, k, f) for f in firms for k in kinds],
                "kinds": [k.value for _ in firms for k in kinds],
                "firms": [f for f in firms for _ in kinds],
            },
        )
    ]
    if cap_fen is not None:
        created += [
            (str(f), "") for (f,) in session.execute(_TOTALS_ROWS, {"pool_id": pool_id, "firms": firms})
        ]
    return created


def _drop_unused(session: Session, pool_id: str, created: list[tuple[str, str]], granted: set[str]) -> None:
    """Take back what ``_open_firms`` created for a firm granted nothing: a refusal writes nothing."""
    unused = [(f, a) for f, a in created if f not in granted]
    if accounts := [a for _, a in unused if a]:
        session.execute(_DROP_ACCOUNTS, {"ids": accounts})
    if firms := [f for f, a in unused if not a]:
        session.execute(_DROP_TOTALS, {"pool_id": pool_id, "firms": firms})


def _lock_totals(session: Session, pool_id: str, firms: list[str]) -> dict[str, int]:
    return {str(f): int(n) for f, n in session.execute(_TOTALS_LOCK, {"pool_id": pool_id, "firms": firms})}


def _decide(
    candidates: list[_Candidate],
    results: list[Award | LedgerError | None],
    pool_id: str,
    cap_fen: int | None,
    totals: dict[str, int],
    *,
    available: int | None,
) -> list[_Candidate]:
    """In order: granted if it fits the pool (unknown: assume it does) and the firm's cap."""
    granted: list[_Candidate] = []
    totals = dict(totals)
    for c in candidates:
        if available is not None and c.fen > available:
            results[c.index] = InsufficientFunds(pool_id, Decimal(c.fen) / 100, Decimal(available) / 100)
            continue
        if cap_fen is not None and totals.get(c.firm, 0) + c.fen > cap_fen:
            results[c.index] = FirmCapExceeded(pool_id, c.firm, Decimal(cap_fen) / 100, Decimal(c.fen) / 100)
            continue
        if available is not None:
            available -= c.fen
        totals[c.firm] = totals.get(c.firm, 0) + c.fen
        granted.append(c)
    return granted


def _write_rows(
    session: Session,
    pool_id: str,
    granted: list[_Candidate],
    cap_fen: int | None,
    at: dt.datetime,
    actor: str,
) -> dict[str, Award]:
    from huiqi.ledger.service import account_id

    if not granted:
        return {}
    txn_ids = [new_id() for _ in granted]
    tranche_rows = [
        (new_id(), c.award_id, n, yuan_to_fen(t.amount), t.milestone, t.due)
        for c in granted
        for n, t in enumerate(c.plan, 1)
    ]
    claim_rows = [(c.firm, k, c.award_id) for c in granted for k in c.contracts]
    per_firm: dict[str, int] = {}
    for c in granted:
        per_firm[c.firm] = per_firm.get(c.firm, 0) + c.fen
    available_acct = account_id(pool_id, AccountKind.AVAILABLE)
    params: dict[str, Any] = {
        "pool_id": pool_id,
        "at": at,
        "actor": actor,
        "kind": TxnKind.AWARD.value,
        "a_ids": [c.award_id for c in granted],
        "a_firms": [c.firm for c in granted],
        "a_apps": [c.application_id for c in granted],
        "a_amounts": [c.fen for c in granted],
        "t_ids": [r[0] for r in tranche_rows],
        "t_awards": [r[1] for r in tranche_rows],
        "t_seqs": [r[2] for r in tranche_rows],
        "t_amounts": [r[3] for r in tranche_rows],
        "t_milestones": [r[4] for r in tranche_rows],
        "t_dues": [r[5] for r in tranche_rows],
        "c_firms": [r[0] for r in claim_rows],
        "c_contracts": [r[1] for r in claim_rows],
        "c_awards": [r[2] for r in claim_rows],
        "x_ids": txn_ids,
        "x_keys": [c.key for c in granted],
        "p_ids": [new_id() for _ in range(2 * len(granted))],
        "p_txns": [t for t in txn_ids for _ in (0, 1)],
        "p_accounts": [
            a for c in granted for a in (available_acct, account_id(pool_id, AccountKind.PAYABLE, c.firm))
        ],
        "p_amounts": [a for c in granted for a in (-c.fen, c.fen)],
        "k_hashes": [idempotency.request_hash("grant_award", c.body) for c in granted],
        "k_results": [audit.canonical_json({"award_id": c.award_id}) for c in granted],
        "f_firms": list(per_firm) if cap_fen is not None else [],
        "f_amounts": list(per_firm.values()) if cap_fen is not None else [],
    }
    return {a.id: a for a in session.scalars(select(Award).from_statement(_ROWS), params)}


def _write_hot(
    session: Session, pool_id: str, granted: list[_Candidate], at: dt.datetime, actor: str
) -> None:
    """Under the pool's lock: take the money, and queue one audit link per award (chained at COMMIT)."""
    if not granted:
        return
    session.execute(_HOT, {"pool_id": pool_id, "total": sum(c.fen for c in granted)})
    for c in granted:
        audit.queue(
            session, at=at, actor=actor, entity=f"award:{c.award_id}", action="granted", payload=c.payload
        )
