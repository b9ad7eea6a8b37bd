"""The PostgreSQL writer: first-come awards, one or a batch, in a few statements built with SQLAlchemy Core
from the models' tables.

It writes the rows ``ledger.write`` shapes (``award_rows``), the same as the portable writer, but every
table's rows in one statement of data-modifying CTEs, each inserting from one JSON parameter read with
``jsonb_to_recordset`` (the columns are the rows' keys, their types the table's). Only the last
statements touch the hot pool row, so its lock is held for them and COMMIT; audit links are queued and
chained at COMMIT like every other (``huiqi.audit.chain``).

- ``grant_award``: a pre-check (idempotency key, pool, claimed contracts), one statement writing every row
  of the award, gated by the firm's cap (an upsert of its running total that changes no row when the cap
  would be passed), and one short statement taking the money (or, ``settle_at_commit``, a statement sent
  with COMMIT that fails on ``CHECK (available >= 0)``).
- ``grant_awards``: a batch decided in order, each request on its own. Every row is written after a
  savepoint, optimistically, before the pool is locked (``FOR NO KEY UPDATE``); if the pool covers the
  batch one statement takes the money, else the batch rolls back to the savepoint and is decided under
  the lock. A firm granted nothing keeps nothing (not even its accounts): a refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    Select,
    String,
    Table,
    any_,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from huiqi.audit import chain as audit
from huiqi.db.engine import AtCommit, run_at_commit
from huiqi.db.types import Money, utcnow
from huiqi.ledger import idempotency
from huiqi.ledger.errors import (
    ContractAlreadyClaimed,
    FirmCapExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    PoolNotFound,
)
from huiqi.ledger.models import Award
from huiqi.ledger.plan import (
    AwardRequest,
    Move,
    TranchePlan,
    award_body,
    legs,
    tranche_plan,
    validate_request,
)
from huiqi.ledger.write import (
    ACCOUNTS,
    AWARDS,
    CLAIMS,
    KEYS,
    LEGS,
    POOLS,
    TOTALS,
    TRANCHES,
    TRANSACTIONS,
    AwardRows,
    Row,
    award_rows,
    awards_by_id,
    firm_account_rows,
    get_award,
    take_from_pool,
)
from huiqi.money import yuan_to_fen

# --- statements ------------------------------------------------------------------------------------------

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def _source(target: Table, columns: Sequence[str], name: str) -> Any:
    """The rows of one table, sent as one JSON parameter (``name``) and read back with
    ``jsonb_to_recordset`` as the table's columns with their types (one parameter per table, not one
    array per column: fewer values for the driver to adapt one by one)."""
    # the type without its length (``VARCHAR``, not ``VARCHAR(32)``) keeps the statement short enough for
    # psycopg to cache and prepare it (4,096 characters)
    typed = [column(c, type(target.c[c].type)()) for c in columns]
    rows = func.jsonb_to_recordset(bindparam(name, type_=JSONB()))
    return rows.table_valued(*typed).render_derived(name=f"{name}_r", with_types=True)


def _json_rows(target: Table, rows: Sequence[Row]) -> list[Row]:
    """Rows of ``target`` as its JSON parameter carries them."""
    if not rows:
        return []
    types = [(c, target.c[c].type) for c in rows[0]]
    return [{c: _plain(t, r[c]) for c, t in types} for r in rows]


def _plain(kind: Any, value: Any) -> Any:
    """A value as its column stores it, in JSON: money in fen, moments and days as ISO text."""
    if isinstance(kind, TypeDecorator):
        value = kind.process_bind_param(value, _DIALECT)
    return value.isoformat() if isinstance(value, dt.date) else value


def _inserting(target: Table, columns: Sequence[str], name: str, gate: CTE | None = None) -> PgInsert:
    """INSERT of the rows given as one JSON parameter (``name``), only when ``gate`` returned a row (if
    there is one)."""
    src = _source(target, columns, name)
    # ``SELECT r.*``: the record set's columns are the INSERT's, in order (a select list would lengthen it)
    every: Any = literal_column(f"{name}_r.*")
    rows = select(every).select_from(src if gate is None else src.join(gate, true()))
    return pg_insert(target).from_select(list(columns), rows)


def _insert(target: Table, columns: Sequence[str], name: str, gate: CTE | None, **options: bool) -> CTE:
    """``_inserting`` as a CTE of the awards' statement."""
    statement = _inserting(target, columns, name, gate)
    if options.get("ignore"):
        statement = statement.on_conflict_do_nothing()
    if options.get("returning"):
        return statement.returning(*target.c).cte(name)
    return statement.cte(name)


#: Which table each CTE inserts into.
_TABLES = {
    "accounts": ACCOUNTS,
    "award": AWARDS,
    "tranche": TRANCHES,
    "claim": CLAIMS,
    "txn": TRANSACTIONS,
    "posting": LEGS,
    "idem": KEYS,
}


def _rows(award: AwardRows) -> dict[str, list[Row]]:
    """An award's rows by CTE."""
    return {
        "accounts": award.accounts,
        "award": [award.award],
        "tranche": award.tranches,
        "claim": award.claims,
        "txn": [award.txn.transaction],
        "posting": award.txn.postings,
        "idem": [] if award.key is None else [award.key],
    }


@cache
def _columns() -> dict[str, list[str]]:
    """The columns each CTE carries: those of the rows ``award_rows`` shapes, in the table's order."""
    example = award_rows(
        pool_id="p",
        firm_uscc="f",
        amount=Decimal(1),
        plan=[TranchePlan(Decimal(1), "m", dt.date(2000, 1, 1))],
        contracts=["c"],
        application_id=None,
        reservation_id=None,
        actor="a",
        at=utcnow(),
        legs=legs(Move.GRANT, "p", "f", amount=Decimal(1)),
        idempotency_key="k",
        key=("grant_award", {}),
    )
    return {
        name: [c.name for c in _TABLES[name].columns if c.name in rows[0]]
        for name, rows in _rows(example).items()
    }


@cache
def _award_statement(single: bool, capped: bool) -> Select[Any]:
    """Every row of the awards in one statement, returning the awards. ``single``: the firm's accounts too,
    and under a cap the firm's running total raised first, gating every insert; a batch (not ``single``)
    writes the accounts beforehand and, under a cap, raises the totals here by firm."""
    columns = _columns()
    gate: CTE | None = None
    ctes: list[CTE] = []
    if single and capped:
        raise_total = pg_insert(TOTALS).values(
            pool_id=bindparam("gate_pool"),
            firm_uscc=bindparam("gate_firm"),
            committed=bindparam("gate_amount", type_=Money()),
        )
        total = TOTALS.c.committed + raise_total.excluded.committed
        gate = (
            raise_total.on_conflict_do_update(
                index_elements=[TOTALS.c.pool_id, TOTALS.c.firm_uscc],
                set_={"committed": total},
                where=total <= bindparam("gate_cap", type_=Money()),
            )
            .returning(literal_column("1").label("ok"))
            .cte("gate")
        )
        ctes.append(gate)
    if single:
        ctes.append(_insert(ACCOUNTS, columns["accounts"], "accounts", gate, ignore=True))
    award = _insert(AWARDS, columns["award"], "award", gate, returning=True)
    ctes.append(award)
    ctes += [_insert(_TABLES[n], columns[n], n, gate) for n in ("tranche", "claim", "txn", "posting", "idem")]
    if capped and not single:
        by_firm = (
            func.unnest(
                bindparam("totals__firm", type_=ARRAY(String())),
                bindparam("totals__amount", type_=ARRAY(Money())),
            )
            .table_valued("firm", "amount")
            .render_derived()
        )
        ctes.append(
            update(TOTALS)
            .values(committed=TOTALS.c.committed + by_firm.c.amount)
            .where(TOTALS.c.pool_id == bindparam("totals_pool"), TOTALS.c.firm_uscc == by_firm.c.firm)
            .cte("totals")
        )
    return select(Award).from_statement(select(*award.c).add_cte(*ctes))  # type: ignore[return-value]


def _write(
    session: Session, awards: Sequence[AwardRows], *, single: bool, capped: bool, params: dict[str, Any]
) -> list[Award]:
    """Run the awards' statement with every table's rows as one JSON parameter; the awards written (none
    when gated)."""
    rows = [_rows(a) for a in awards]
    for name in _columns():
        if single or name != "accounts":
            params[name] = _json_rows(_TABLES[name], [r for a in rows for r in a[name]])
    return list(session.scalars(_award_statement(single, capped), params))


_PRECHECK = select(
    POOLS.c.per_firm_cap,
    POOLS.c.period_end,
    KEYS.c.operation,
    KEYS.c.request_hash,
    KEYS.c.result,
    select(CLAIMS.c.contract_id)
    .where(
        CLAIMS.c.firm_uscc == bindparam("firm"),
        CLAIMS.c.contract_id == any_(bindparam("contracts", type_=ARRAY(String()))),
    )
    .limit(1)
    .scalar_subquery(),
).select_from(
    select(literal_column("1").label("one"))
    .subquery("one")
    .outerjoin(POOLS, POOLS.c.id == bindparam("pool_id"))
    .outerjoin(KEYS, KEYS.c.key == bindparam("key"))
)

# ``settle_at_commit``: the charge to the pool as a statement run with COMMIT, unconditional, so a pool that
# cannot cover the award *fails* it on the CHECK (available >= 0) and the COMMIT behind it never runs. The
# transaction's queued audit links (this award's included) are chained by the same statement, after the
# pool: the pool first, then the audit head, the order of every writer. Driver-level SQL: it is sent in a
# psycopg pipeline with COMMIT (``huiqi.db.run_at_commit``); ``amount`` is in fen.
TAKE_AT_COMMIT = audit.pg_chain_sql(
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


# --- one award -------------------------------------------------------------------------------------------


def grant_award(
    session: Session,
    *,
    pool_id: str,
    firm_uscc: str,
    value: Decimal,
    tranches: Sequence[TranchePlan] | None,
    contracts: Sequence[str],
    application_id: str | None,
    actor: str,
    idempotency_key: str,
    settle_at_commit: bool = False,
) -> Award:
    """``service.grant_award`` on PostgreSQL: the same rows, postings, key and audit link."""
    body = award_body(pool_id, firm_uscc, value, tranches, contracts, application_id)
    session.flush()
    cap, period_end, k_operation, k_hash, k_result, claimed = session.execute(
        _PRECHECK,
        {"pool_id": pool_id, "key": idempotency_key, "firm": firm_uscc, "contracts": list(contracts)},
    ).one()
    if k_operation is not None:
        done = idempotency.check_stored(
            key=idempotency_key,
            operation="grant_award",
            body=body,
            stored_operation=k_operation,
            stored_hash=k_hash,
            stored_result=k_result,
        )
        return get_award(session, str(done["award_id"]))
    if period_end is None:
        raise PoolNotFound(pool_id)
    if claimed is not None:
        raise ContractAlreadyClaimed(firm_uscc, str(claimed))
    if cap is not None and value > cap:
        raise FirmCapExceeded(pool_id, firm_uscc, cap, value)
    at = utcnow()
    rows = award_rows(
        pool_id=pool_id,
        firm_uscc=firm_uscc,
        amount=value,
        plan=tranche_plan(value, tranches, period_end),
        contracts=contracts,
        application_id=application_id,
        reservation_id=None,
        actor=actor,
        at=at,
        legs=legs(Move.GRANT, pool_id, firm_uscc, amount=value),
        idempotency_key=idempotency_key,
        key=("grant_award", body),
    )
    gate = (
        {}
        if cap is None
        else {"gate_pool": pool_id, "gate_firm": firm_uscc, "gate_amount": value, "gate_cap": cap}
    )
    written = _write(session, [rows], single=True, capped=cap is not None, params=gate)
    if not written:
        raise FirmCapExceeded(pool_id, firm_uscc, cap or Decimal(0), value)
    award = written[0]
    payload = audit.canonical_json({**body, "award_id": award.id})
    if settle_at_commit:
        audit.queue(
            session, at=at, actor=actor, entity=f"award:{award.id}", action="granted", payload=payload
        )
        # From here on the transaction's links travel with the pool charge; queueing another is refused.
        links = audit.seal(session)
        settle = {"pool_id": pool_id, "amount": yuan_to_fen(value), **audit.pg_chain_params(links)}
        run_at_commit(session, AtCommit(TAKE_AT_COMMIT, settle, _insufficient(pool_id, value)))
        return award
    take_from_pool(session, pool_id, value)  # refused: the caller rolls the award's rows back
    audit.queue(session, at=at, actor=actor, entity=f"award:{award.id}", action="granted", payload=payload)
    return award


# --- a batch ---------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    index: int
    firm: str
    amount: Decimal
    payload: str  # the audit link's, worked out before the pool is locked
    rows: AwardRows


_KEYS = select(KEYS.c.key, KEYS.c.operation, KEYS.c.request_hash, KEYS.c.result).where(
    KEYS.c.key.in_(bindparam("keys", expanding=True))
)
_POOL = select(POOLS.c.per_firm_cap, POOLS.c.period_end).where(POOLS.c.id == bindparam("pool_id"))
_LOCK = select(POOLS.c.available).where(POOLS.c.id == bindparam("pool_id")).with_for_update(key_share=True)
_HOT = (
    update(POOLS)
    .where(POOLS.c.id == bindparam("pool_id"))
    .values(available=POOLS.c.available - bindparam("total", type_=Money()))
)
_NEW_ACCOUNTS = (
    _inserting(ACCOUNTS, ["id", "pool_id", "kind", "firm_uscc"], "accounts")
    .on_conflict_do_nothing()
    .returning(ACCOUNTS.c.id, ACCOUNTS.c.firm_uscc)
)
_NEW_TOTALS = (
    _inserting(TOTALS, ["pool_id", "firm_uscc", "committed"], "totals")
    .on_conflict_do_nothing()
    .returning(TOTALS.c.firm_uscc)
)


def grant_awards(
    session: Session, *, pool_id: str, requests: Sequence[AwardRequest], actor: str
) -> list[Award | LedgerError]:
    """``service.grant_awards`` on PostgreSQL: one entry per request, the Award or the error refusing it."""
    session.flush()
    pool_row = session.execute(_POOL, {"pool_id": pool_id}).one_or_none()
    if pool_row is None:
        raise PoolNotFound(pool_id)
    cap, period_end = pool_row
    at = utcnow()
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
            body = award_body(pool_id, req.firm_uscc, value, req.tranches, req.contracts, req.application_id)
            digest = idempotency.request_hash("grant_award", body)
            if req.idempotency_key in first_by_key:
                first_digest, first = first_by_key[req.idempotency_key]
                if first_digest != digest:
                    raise IdempotencyConflict(req.idempotency_key, "grant_award")
                replays[i] = f"#{first}"
                continue
            first_by_key[req.idempotency_key] = (digest, i)
            if req.idempotency_key in stored:
                operation, k_hash, k_result = stored[req.idempotency_key]
                done = idempotency.check_stored(
                    key=req.idempotency_key,
                    operation="grant_award",
                    body=body,
                    stored_operation=operation,
                    stored_hash=k_hash,
                    stored_result=k_result,
                )
                replays[i] = str(done["award_id"])
                continue
            if cap is not None and value > cap:
                raise FirmCapExceeded(pool_id, req.firm_uscc, cap, value)
            rows = award_rows(
                pool_id=pool_id,
                firm_uscc=req.firm_uscc,
                amount=value,
                plan=tranche_plan(value, req.tranches, period_end),
                contracts=req.contracts,
                application_id=req.application_id,
                reservation_id=None,
                actor=actor,
                at=at,
                legs=legs(Move.GRANT, pool_id, req.firm_uscc, amount=value),
                idempotency_key=req.idempotency_key,
                key=("grant_award", body),
            )
            payload = audit.canonical_json({**body, "award_id": rows.id})
            candidates.append(_Candidate(i, req.firm_uscc, value, payload, rows))
        except LedgerError as exc:
            results[i] = exc

    candidates = _unclaimed(session, candidates, results)
    if candidates:
        granted, awards = _decide_and_write(session, pool_id, cap, candidates, results, actor, at)
        for c in granted:
            results[c.index] = awards[c.rows.id]

    if replays:
        loaded = awards_by_id(session, (v for v in replays.values() if not v.startswith("#")))
        for i, ref in sorted(replays.items()):
            results[i] = results[int(ref[1:])] if ref.startswith("#") else loaded[ref]
    if any(r is None for r in results):  # a request left undecided must not shift the answers
        raise RuntimeError("grant_awards left a request without an answer")
    return [r for r in results if r is not None]


def _unclaimed(
    session: Session, candidates: list[_Candidate], results: list[Award | LedgerError | None]
) -> list[_Candidate]:
    """One claim per contract: against stored claims and within the batch."""
    pairs = [(c.firm, k["contract_id"]) for c in candidates for k in c.rows.claims]
    claimed: set[tuple[str, str]] = set()
    if pairs:
        query = select(CLAIMS.c.firm_uscc, CLAIMS.c.contract_id).where(
            tuple_(CLAIMS.c.firm_uscc, CLAIMS.c.contract_id).in_(pairs)
        )
        claimed = {(str(f), str(k)) for f, k in session.execute(query)}
    kept: list[_Candidate] = []
    for c in candidates:
        contracts = [str(k["contract_id"]) for k in c.rows.claims]
        taken = next((k for k in contracts if (c.firm, k) in claimed), None)
        if taken is not None:
            results[c.index] = ContractAlreadyClaimed(c.firm, taken)
            continue
        claimed.update((c.firm, k) for k in contracts)
        kept.append(c)
    return kept


def _decide_and_write(
    session: Session,
    pool_id: str,
    cap: Decimal | None,
    candidates: list[_Candidate],
    results: list[Award | LedgerError | None],
    actor: str,
    at: dt.datetime,
) -> tuple[list[_Candidate], dict[str, Award]]:
    """Optimistically write every candidate, then lock the pool; if it cannot cover them, roll back to the
    savepoint and decide under the lock. Everything is written after the savepoint, so a batch that grants
    nothing rolls back to it, and what was created for a firm granted nothing is taken back."""
    firms = sorted({c.firm for c in candidates})
    session.execute(text("SAVEPOINT huiqi_bulk"))
    created = _open_firms(session, pool_id, firms, cap)
    totals = _lock_totals(session, pool_id, firms) if cap is not None else {}
    granted = _decide(candidates, results, pool_id, cap, totals, available=None)
    awards = _write_rows(session, pool_id, granted, cap)
    available = session.execute(_LOCK, {"pool_id": pool_id}).scalar_one()  # contended from here
    if sum((c.amount for c in granted), Decimal(0)) > available:
        session.execute(text("ROLLBACK TO SAVEPOINT huiqi_bulk"))
        for award in awards.values():
            session.expunge(award)
        for c in candidates:
            results[c.index] = None
        created = _open_firms(session, pool_id, firms, cap)
        totals = _lock_totals(session, pool_id, firms) if cap is not None else {}
        available = session.execute(_LOCK, {"pool_id": pool_id}).scalar_one()
        granted = _decide(candidates, results, pool_id, cap, totals, available=available)
        awards = _write_rows(session, pool_id, granted, cap)
    if not granted:
        session.execute(text("ROLLBACK TO SAVEPOINT huiqi_bulk"))
        return [], {}
    _drop_unused(session, pool_id, created, {c.firm for c in granted})
    session.execute(_HOT, {"pool_id": pool_id, "total": sum((c.amount for c in granted), Decimal(0))})
    for c in granted:
        audit.queue(
            session, at=at, actor=actor, entity=f"award:{c.rows.id}", action="granted", payload=c.payload
        )
    return granted, awards


def _open_firms(
    session: Session, pool_id: str, firms: list[str], cap: Decimal | None
) -> list[tuple[str, str]]:
    """The firms' accounts (and, under a cap, their running totals) where missing; what was created, as
    (firm, account id or "" for the totals row), so that a firm granted nothing can have it taken back."""
    rows = [r for f in firms for r in firm_account_rows(pool_id, f)]
    created = [
        (str(firm), str(acct))
        for acct, firm in session.execute(_NEW_ACCOUNTS, {"accounts": _json_rows(ACCOUNTS, rows)})
    ]
    if cap is not None:
        zero = [{"pool_id": pool_id, "firm_uscc": f, "committed": Decimal(0)} for f in firms]
        created += [
            (str(f), "") for (f,) in session.execute(_NEW_TOTALS, {"totals": _json_rows(TOTALS, zero)})
        ]
    return created


def _drop_unused(session: Session, pool_id: str, created: list[tuple[str, str]], granted: set[str]) -> None:
    """Take back what ``_open_firms`` created for a firm granted nothing: a refusal writes nothing."""
    unused = [(f, a) for f, a in created if f not in granted]
    if accounts := [a for _, a in unused if a]:
        session.execute(delete(ACCOUNTS).where(ACCOUNTS.c.id.in_(accounts)))
    if firms := [f for f, a in unused if not a]:
        session.execute(delete(TOTALS).where(TOTALS.c.pool_id == pool_id, TOTALS.c.firm_uscc.in_(firms)))


def _lock_totals(session: Session, pool_id: str, firms: list[str]) -> dict[str, Decimal]:
    query = (
        select(TOTALS.c.firm_uscc, TOTALS.c.committed)
        .where(TOTALS.c.pool_id == pool_id, TOTALS.c.firm_uscc.in_(firms))
        .order_by(TOTALS.c.firm_uscc)
        .with_for_update(key_share=True)
    )
    return {str(f): n for f, n in session.execute(query)}


def _decide(
    candidates: list[_Candidate],
    results: list[Award | LedgerError | None],
    pool_id: str,
    cap: Decimal | None,
    totals: dict[str, Decimal],
    *,
    available: Decimal | None,
) -> list[_Candidate]:
    """In order: granted if it fits the pool (unknown: assume it does) and the firm's cap."""
    granted: list[_Candidate] = []
    totals = dict(totals)
    for c in candidates:
        if available is not None and c.amount > available:
            results[c.index] = InsufficientFunds(pool_id, c.amount, available)
            continue
        committed = totals.get(c.firm, Decimal(0))
        if cap is not None and committed + c.amount > cap:
            results[c.index] = FirmCapExceeded(pool_id, c.firm, cap, c.amount)
            continue
        if available is not None:
            available -= c.amount
        totals[c.firm] = committed + c.amount
        granted.append(c)
    return granted


def _write_rows(
    session: Session, pool_id: str, granted: list[_Candidate], cap: Decimal | None
) -> dict[str, Award]:
    if not granted:
        return {}
    params: dict[str, Any] = {}
    if cap is not None:
        per_firm: dict[str, Decimal] = {}
        for c in granted:
            per_firm[c.firm] = per_firm.get(c.firm, Decimal(0)) + c.amount
        params = {
            "totals_pool": pool_id,
            "totals__firm": list(per_firm),
            "totals__amount": list(per_firm.values()),
        }
    awards = _write(session, [c.rows for c in granted], single=False, capped=cap is not None, params=params)
    return {a.id: a for a in awards}
