"""The first-come-first-served award on PostgreSQL, in three statements instead of a unit of work.

Same effect as the portable path in ``service.grant_award`` (same rows, same postings, same audit link):
a pre-check (idempotency key, pool, claimed contracts), one statement of data-modifying CTEs writing every
row of the award (gated by the firm's cap), and one short statement taking the money with the conditional
UPDATE. Only the last one touches the hot pool row, so the row is locked for that statement plus COMMIT;
the audit link is queued and chained at COMMIT like every other (``huiqi.audit.chain``). The shared tests
run every behaviour on both paths (SQLite takes the portable one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.engine import AtCommit, run_at_commit
from huiqi.db.types import UTCDateTime, utcnow
from huiqi.ledger import idempotency
from huiqi.ledger.errors import ContractAlreadyClaimed, FirmCapExceeded, InsufficientFunds, PoolNotFound
from huiqi.ledger.models import AccountKind, Award, Pool, TxnKind
from huiqi.money import yuan_to_fen

_PRECHECK = text(
    """
    SELECT p.per_firm_cap, p.period_end, k.operation, k.request_hash, k.result,
           (SELECT c.contract_id FROM contract_claims c
             WHERE c.firm_uscc = :firm AND c.contract_id = ANY(CAST(:contracts AS varchar[])) LIMIT 1)
    FROM (SELECT 1) AS one
    LEFT JOIN pools p ON p.id = :pool_id
    LEFT JOIN idempotency_keys k ON k.key = :key
    """
)

_CAP = """
    gate AS (
        INSERT INTO firm_pool_totals AS t (pool_id, firm_uscc, committed) VALUES (:pool_id, :firm, :amount)
        ON CONFLICT (pool_id, firm_uscc) DO UPDATE SET committed = t.committed + EXCLUDED.committed
            WHERE t.committed + EXCLUDED.committed <= :cap
        RETURNING 1
    ),
"""

_NO_CAP = """
    gate AS (SELECT 1),
"""

# Step 1, no contended lock: every row of the award, written only if the firm's cap allows it.
_ROWS = """
WITH {gate}
    accounts AS (
        INSERT INTO ledger_accounts (id, pool_id, kind, firm_uscc)
        SELECT a.id, :pool_id, a.kind, :firm
        FROM gate, (VALUES (:acct_payable, 'payable'), (:acct_paid, 'paid'),
                           (:acct_recoverable, 'recoverable')) AS a(id, kind)
        ON CONFLICT DO NOTHING
    ),
    award AS (
        INSERT INTO awards (id, pool_id, firm_uscc, application_id, reservation_id, amount, paid, released,
                            clawed, recovered, status, granted_at, granted_by)
        SELECT :award_id, :pool_id, :firm, :application_id, NULL, :amount, 0, 0, 0, 0, 'active', :at, :actor
        FROM gate
        RETURNING *
    ),
    tranche AS (
        INSERT INTO tranches (id, award_id, seq, amount, milestone, due_date, status)
        SELECT t.id, :award_id, t.seq, t.amount, t.milestone, t.due, 'pending'
        FROM gate, unnest(CAST(:t_ids AS varchar[]), CAST(:t_seqs AS int[]), CAST(:t_amounts AS bigint[]),
                          CAST(:t_milestones AS text[]), CAST(:t_dues AS date[]))
             AS t(id, seq, amount, milestone, due)
    ),
    claim AS (
        INSERT INTO contract_claims (firm_uscc, contract_id, award_id)
        SELECT :firm, c.contract_id, :award_id
        FROM gate, unnest(CAST(:contracts AS varchar[])) AS c(contract_id)
    ),
    txn AS (
        INSERT INTO ledger_transactions (id, pool_id, kind, at, actor, memo, idempotency_key, award_id)
        SELECT :txn_id, :pool_id, :kind, :at, :actor, '', :key, :award_id FROM gate
    ),
    posting AS (
        INSERT INTO ledger_postings (id, transaction_id, account_id, amount)
        SELECT p.id, :txn_id, p.account_id, p.amount
        FROM gate, (VALUES (:posting_1, :acct_available, -CAST(:amount AS bigint)),
                           (:posting_2, :acct_payable, CAST(:amount AS bigint))) AS p(id, account_id, amount)
    ),
    idem AS (
        INSERT INTO idempotency_keys (key, operation, request_hash, result, created_at)
        SELECT :key, 'grant_award', :request_hash, :result, :at FROM gate
    )
SELECT * FROM award
"""

# Step 2, the contended part, as short as it can be: take the money (or nothing). The award's audit link is
# queued and chained at COMMIT with the transaction's other links (``huiqi.audit.chain``).
_TAKE = text(
    """
    UPDATE pools SET available = available - :amount
    WHERE id = :pool_id AND available >= :amount
    """
)

# The same step 2 as a statement that runs at COMMIT (``settle_at_commit``): unconditional, so a pool that
# cannot cover the award *fails* it on the CHECK (available >= 0) and the COMMIT behind it never runs. The
# transaction's queued audit links (this award's included) are chained by the same statement, after the
# pool: the pool first, then the audit head, the order of every writer.
_TAKE_AT_COMMIT = audit.pg_chain_sql(
    prelude="""
    pool AS (
        UPDATE pools SET available = available - %(amount)s WHERE id = %(pool_id)s RETURNING id
    ),""",
    gate="AND EXISTS (SELECT 1 FROM pool)",
)


def _insufficient(pool_id: str, value: Decimal) -> Callable[[BaseException], BaseException | None]:
    def translate(exc: BaseException) -> BaseException | None:
        if getattr(exc, "sqlstate", None) == "23514" and "available_not_negative" in str(exc):
            return InsufficientFunds(pool_id, value, None)
        return None

    return translate


_STATEMENTS = {
    True: text(_ROWS.format(gate=_CAP)).bindparams(bindparam("at", type_=UTCDateTime())),
    False: text(_ROWS.format(gate=_NO_CAP)).bindparams(bindparam("at", type_=UTCDateTime())),
}


def grant_award_pg(
    session: Session,
    *,
    pool_id: str,
    firm_uscc: str,
    value: Decimal,
    body: dict[str, Any],
    tranches: Sequence[Any] | None,
    contracts: Sequence[str],
    application_id: str | None,
    actor: str,
    idempotency_key: str,
    settle_at_commit: bool = False,
) -> Award:
    from huiqi.ledger.service import _get_award, _plan, account_id

    session.flush()
    row = session.execute(
        _PRECHECK,
        {"pool_id": pool_id, "key": idempotency_key, "firm": firm_uscc, "contracts": list(contracts)},
    ).one()
    cap_fen, period_end, k_operation, k_hash, k_result, claimed = row
    if k_operation is not None:
        done = idempotency.check_stored(
            key=idempotency_key,
            operation="grant_award",
            body=body,
            stored_operation=k_operation,
            stored_hash=k_hash,
            stored_result=k_result,
        )
        return _get_award(session, str(done["award_id"]))
    if period_end is None:
        raise PoolNotFound(pool_id)
    if claimed is not None:
        raise ContractAlreadyClaimed(firm_uscc, str(claimed))
    fen = yuan_to_fen(value)
    if cap_fen is not None and fen > cap_fen:
        raise FirmCapExceeded(pool_id, firm_uscc, Decimal(cap_fen) / 100, value)
    plan = _plan(
        value, tranches, period_end if isinstance(period_end, dt.date) else dt.date.fromisoformat(period_end)
    )
    award_id = new_id()
    at = utcnow()
    payload = audit.canonical_json({**body, "award_id": award_id})
    entity = f"award:{award_id}"
    params = {
        "pool_id": pool_id,
        "firm": firm_uscc,
        "amount": fen,
        "cap": cap_fen,
        "award_id": award_id,
        "application_id": application_id,
        "at": at,
        "actor": actor,
        "key": idempotency_key,
        "kind": TxnKind.AWARD.value,
        "txn_id": new_id(),
        "posting_1": new_id(),
        "posting_2": new_id(),
        "acct_available": account_id(pool_id, AccountKind.AVAILABLE),
        "acct_payable": account_id(pool_id, AccountKind.PAYABLE, firm_uscc),
        "acct_paid": account_id(pool_id, AccountKind.PAID, firm_uscc),
        "acct_recoverable": account_id(pool_id, AccountKind.RECOVERABLE, firm_uscc),
        "t_ids": [new_id() for _ in plan],
        "t_seqs": list(range(1, len(plan) + 1)),
        "t_amounts": [yuan_to_fen(t.amount) for t in plan],
        "t_milestones": [t.milestone for t in plan],
        "t_dues": [t.due for t in plan],
        "contracts": list(contracts),
        "request_hash": idempotency.request_hash("grant_award", body),
        "result": audit.canonical_json({"award_id": award_id}),
    }
    award: Award | None = session.scalars(
        select(Award).from_statement(_STATEMENTS[cap_fen is not None]), params
    ).one_or_none()
    if award is None:
        raise FirmCapExceeded(pool_id, firm_uscc, Decimal(cap_fen or 0) / 100, value)
    if settle_at_commit:
        audit.queue(session, at=at, actor=actor, entity=entity, action="granted", payload=payload)
        # From here on the transaction's links travel with the pool charge; queueing another is refused.
        links = audit.seal(session)
        settle = {**params, **audit.pg_chain_params(links)}
        run_at_commit(session, AtCommit(_TAKE_AT_COMMIT, settle, _insufficient(pool_id, value)))
        return award
    if session.execute(_TAKE, params).rowcount != 1:  # type: ignore[attr-defined]
        # The caller rolls the award's rows back with the transaction.
        available = session.scalar(select(Pool.available).where(Pool.id == pool_id))
        raise InsufficientFunds(pool_id, value, available)
    audit.queue(session, at=at, actor=actor, entity=entity, action="granted", payload=payload)
    return award
