"""Batch matching ("benefits without application"): every programme for every firm, stored by run,
recomputing only what changed, with pool pressure and the "you qualify" outbox.

Incremental runs compare digests with ``match_current`` (the latest result per date x firm x programme):

- a programme whose file digest differs from the stored one (or that is new) is recomputed over all
  firms, and so is every programme that refers to it (``eligible(...)``/``amount(...)``);
- a firm whose row digest differs (or that is new) gets all the other programmes recomputed;
- firms gone from the register lose their current rows.

Firm digests are MD5s of the firm's layout row and of its child rows, computed by DuckDB over the
register's tables whatever backend runs the rules (a digest is bookkeeping, not a rule). The rules
themselves run on the chosen backend through the same compiled expression (``huiqi.rules.backends``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.table import CHILD_TABLES
from huiqi.matching.models import MatchCurrent, MatchResult, MatchRun, Notification
from huiqi.rules.backends import to_arrow
from huiqi.rules.batch import duckdb_tables, to_long
from huiqi.rules.compiler import compile_pack
from huiqi.rules.programme import Programme

#: Make the backend's tables from the register's Arrow tables (DuckDB by default).
TableMaker = Callable[[dict[str, pa.Table]], dict[str, ir.Table]]
Progress = Callable[[str, int], None]


@dataclass
class Outcome:
    run: MatchRun
    results: pa.Table  # every firm x programme asked for (current), long form
    recomputed_programmes: list[str]
    recomputed_firms: int
    rows_computed: int
    notifications: list[Notification] = field(default_factory=list)
    reused: int = 0


def firm_digests(tables: Mapping[str, pa.Table]) -> pa.Table:
    """``uscc``, ``digest``: a change to a firm's row or to any of its child rows changes its digest."""
    con = ibis.duckdb.connect()
    raw = con.con
    for name, t in tables.items():
        raw.register(f"t_{name}", t)
    parts = []
    for name in CHILD_TABLES:
        if name in tables:
            parts.append(
                f"LEFT JOIN (SELECT uscc, string_agg(h, ',' ORDER BY h) AS h FROM "
                f"(SELECT uscc, md5(CAST(c AS VARCHAR)) AS h FROM t_{name} c) GROUP BY uscc) {name}_d "
                f"ON {name}_d.uscc = f.uscc"  # nosec B608  # table names come from CHILD_TABLES
            )
    hashes = " || '|' || ".join(
        ["md5(CAST(f AS VARCHAR))"] + [f"coalesce({n}_d.h, '')" for n in CHILD_TABLES if n in tables]
    )
    # table names come from CHILD_TABLES, never from input
    sql = f"SELECT f.uscc AS uscc, md5({hashes}) AS digest FROM t_firms f {' '.join(parts)}"  # nosec B608
    result: pa.Table = raw.sql(sql).to_arrow_table()
    return result


def _dependents(programmes: Mapping[str, Programme], changed: set[str], ids: list[str]) -> set[str]:
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for pid in ids:
            if pid not in out and programmes[pid].depends_on & out:
                out.add(pid)
                grew = True
    return out


def _subset(tables: Mapping[str, pa.Table], codes: pa.Array) -> dict[str, pa.Table]:
    return {name: t.filter(pc.is_in(t["uscc"], value_set=codes)) for name, t in tables.items()}


@dataclass
class _Plan:
    """Everything a run will store, worked out before its write transaction."""

    runs: int  # match runs stored when this plan read the database (see ``_stored_runs``)
    changed_p: set[str]
    same_p: list[str]
    changed_firms: list[str]
    gone: list[str]
    new_rows: list[dict[str, Any]]
    notes: list[Notification]


#: Opens what the planning reads through: a connection of its own, or the caller's session.
Reader = Callable[[], AbstractContextManager[Session | Connection]]


def _stored_runs(db: Session | Connection) -> int:
    """How many runs are stored. Only a run writes ``match_current`` and the outbox, always with its run
    record, and runs are never deleted: while this count stands still, neither has changed."""
    return db.scalar(select(func.count()).select_from(MatchRun)) or 0


def _reader_apart(session: Session) -> Reader | None:
    """Connections for reading outside the caller's transaction, or None when that cannot be done: the
    caller's transaction is open already (it may hold writes only it sees, and on SQLite the lock)."""
    if session.in_transaction():
        return None
    bind = session.get_bind(MatchRun)
    return bind.connect if isinstance(bind, Engine) else None


def run_match(
    session: Session,
    programmes: Mapping[str, Programme],
    tables: dict[str, pa.Table],
    on: dt.date,
    *,
    ids: list[str] | None = None,
    register: str = "",
    backend: str = "duckdb",
    make_tables: TableMaker | None = None,
    notify: bool = True,
    progress: Progress | None = None,
) -> Outcome:
    """Match, store (the caller commits), and return the current results for the programmes asked.

    The caller's session writes only once everything is computed: on SQLite its transaction takes the
    database's write lock, which the rest of the server then waits for, so the long part (digests, the
    rules over the register, the rows and messages to store) reads the last runs' state through a short
    read of its own. If another run stored in between, what was read is stale: the work is done again from
    within the write transaction (the old way, holding the lock) so that the result is the same as if the
    runs had taken turns. When the session's transaction is already open, everything happens in it."""
    tick = progress or (lambda _label, _n: None)
    chosen = sorted(ids) if ids else sorted(programmes)
    make = make_tables or duckdb_tables
    run = MatchRun(
        id=new_id(),
        on=on,
        started_at=utcnow(),
        register=register,
        backend=backend,
        programmes=",".join(chosen),
    )
    tick("digests", 0)
    digests = firm_digests(tables)
    digest_of = dict(zip(digests["uscc"].to_pylist(), digests["digest"].to_pylist(), strict=True))
    tick("digests", 1)

    def plan(read: Reader) -> _Plan:
        return _plan(read, programmes, tables, on, chosen, digest_of, run.id, make, notify, tick)

    in_session: Reader = lambda: nullcontext(session)  # noqa: E731
    apart = _reader_apart(session)
    if apart is None:
        todo = plan(in_session)
    else:
        todo = plan(apart)
        if _stored_runs(session) != todo.runs:  # the write transaction's first statement
            todo = plan(in_session)

    # store: this run's rows, the new current state, the outbox
    changed_p, same_p, changed_firms = todo.changed_p, todo.same_p, todo.changed_firms
    for i in range(0, len(todo.gone), 500):
        session.execute(
            delete(MatchCurrent).where(MatchCurrent.on == on, MatchCurrent.uscc.in_(todo.gone[i : i + 500]))
        )
    if changed_p:
        session.execute(
            delete(MatchCurrent).where(MatchCurrent.on == on, MatchCurrent.programme.in_(sorted(changed_p)))
        )
    if same_p and changed_firms:
        for i in range(0, len(changed_firms), 500):
            session.execute(
                delete(MatchCurrent).where(
                    MatchCurrent.on == on,
                    MatchCurrent.programme.in_(same_p),
                    MatchCurrent.uscc.in_(changed_firms[i : i + 500]),
                )
            )
    if todo.new_rows:
        session.execute(insert(MatchCurrent), todo.new_rows)
        session.execute(insert(MatchResult), todo.new_rows)
    session.add_all(todo.notes)

    rows = len(todo.new_rows)
    run.firms = len(digest_of)
    run.recomputed_programmes = ",".join(sorted(changed_p))
    run.recomputed_firms = len(changed_firms) if same_p else 0
    run.rows_computed = rows
    run.notifications = len(todo.notes)
    run.finished_at = utcnow()
    session.add(run)
    session.flush()
    tick("outbox" if notify else "store", 1)
    results = current_results(session, programmes, on, chosen)
    return Outcome(
        run, results, sorted(changed_p), run.recomputed_firms, rows, todo.notes, len(results) - rows
    )


def _plan(
    read: Reader,
    programmes: Mapping[str, Programme],
    tables: dict[str, pa.Table],
    on: dt.date,
    chosen: list[str],
    digest_of: dict[str, str],
    run_id: str,
    make: TableMaker,
    notify: bool,
    tick: Progress,
) -> _Plan:
    """What to recompute (against what the last runs for this date left), the rows to store and the
    messages to send; the database is only read, through ``read``."""
    # what the last runs for this date left
    prev: dict[tuple[str, str], tuple[str, str, bool]] = {}
    with read() as db:
        runs = _stored_runs(db)
        for row in db.execute(
            select(
                MatchCurrent.uscc,
                MatchCurrent.programme,
                MatchCurrent.programme_digest,
                MatchCurrent.firm_digest,
                MatchCurrent.eligible,
            ).where(MatchCurrent.on == on, MatchCurrent.programme.in_(chosen))
        ):
            prev[(row[0], row[1])] = (row[2], row[3], row[4])
    stored_digest: dict[str, set[str]] = {}
    stored_firm: dict[str, str] = {}
    for (code, pid), (pd, fd, _) in prev.items():
        stored_digest.setdefault(pid, set()).add(pd)
        stored_firm[code] = fd
    changed_p = {pid for pid in chosen if stored_digest.get(pid) != {programmes[pid].digest}}
    changed_p = _dependents(programmes, changed_p, chosen)
    same_p = [pid for pid in chosen if pid not in changed_p]
    changed_firms = [c for c, d in digest_of.items() if stored_firm.get(c) != d]
    gone = sorted(set(stored_firm) - set(digest_of))

    parts: list[pa.Table] = []
    if changed_p:
        tick("programmes", 0)
        compiled = compile_pack(programmes, make(tables), on, sorted(changed_p))
        parts.append(to_long(to_arrow(compiled.table), compiled, programmes, on))
        tick("programmes", 1)
    if same_p and changed_firms:
        tick("firms", 0)
        sub = _subset(tables, pa.array(changed_firms, pa.string()))
        compiled = compile_pack(programmes, make(sub), on, same_p)
        parts.append(to_long(to_arrow(compiled.table), compiled, programmes, on))
        tick("firms", 1)
    computed = pa.concat_tables(parts) if parts else None

    tick("store", 0)
    new_rows: list[dict[str, Any]] = []
    newly: list[tuple[str, str, Decimal]] = []
    if computed is not None:
        for r in computed.to_pylist():
            code, pid = r["uscc"], r["programme"]
            p = programmes[pid]
            new_rows.append(
                {
                    "on": on,
                    "uscc": code,
                    "programme": pid,
                    "version": p.version,
                    "programme_digest": p.digest,
                    "firm_digest": digest_of[code],
                    "eligible": bool(r["eligible"]),
                    "amount": r["amount"],
                    "unmet": r["unmet"] or "",
                    "run_id": run_id,
                }
            )
            before = prev.get((code, pid))
            if r["eligible"] and not (before and before[2] and before[0] == p.digest):
                newly.append((code, pid, r["amount"]))
    notes: list[Notification] = []
    if notify:
        tick("store", 1)
        tick("outbox", 0)
        if newly:
            notes = _notify(read, programmes, tables, on, run_id, newly)
    return _Plan(runs, changed_p, same_p, changed_firms if same_p else [], gone, new_rows, notes)


def current_results(
    session: Session, programmes: Mapping[str, Programme], on: dt.date, ids: list[str]
) -> pa.Table:
    """The current firm x programme results for a date, sorted by programme then firm."""
    rows = session.execute(
        select(
            MatchCurrent.uscc,
            MatchCurrent.programme,
            MatchCurrent.version,
            MatchCurrent.eligible,
            MatchCurrent.amount,
            MatchCurrent.unmet,
        )
        .where(MatchCurrent.on == on, MatchCurrent.programme.in_(ids))
        .order_by(MatchCurrent.programme, MatchCurrent.uscc)
    ).all()
    return pa.table(
        {
            "uscc": pa.array([r[0] for r in rows], pa.string()),
            "programme": pa.array([r[1] for r in rows], pa.string()),
            "version": pa.array([r[2] for r in rows], pa.string()),
            "date": pa.array([on] * len(rows), pa.date32()),
            "eligible": pa.array([r[3] for r in rows], pa.bool_()),
            "amount": pa.array([r[4] for r in rows], pa.decimal128(18, 2)),
            "unmet": pa.array([r[5] for r in rows], pa.string()),
        }
    )


def _notify(
    read: Reader,
    programmes: Mapping[str, Programme],
    tables: Mapping[str, pa.Table],
    on: dt.date,
    run_id: str,
    newly: list[tuple[str, str, Decimal]],
) -> list[Notification]:
    """One message per (firm, programme, programme digest), never twice: pairs already in the outbox are
    skipped (the caller stores the messages). The explanation comes from the scalar evaluator for that
    firm (what a caseworker would see)."""
    from huiqi.firms.frames import tables_to_firms
    from huiqi.rules.evaluator import evaluate
    from huiqi.rules.explain import render_text

    sent: set[tuple[str, str, str]] = set()
    codes = sorted({c for c, _, _ in newly})
    with read() as db:
        for i in range(0, len(codes), 500):
            for row in db.execute(
                select(Notification.uscc, Notification.programme, Notification.programme_digest).where(
                    Notification.uscc.in_(codes[i : i + 500])
                )
            ):
                sent.add((row[0], row[1], row[2]))
    todo = [(c, p, a) for c, p, a in newly if (c, p, programmes[p].digest) not in sent]
    if not todo:
        return []
    firms = {f.uscc: f for f in tables_to_firms(_subset(tables, pa.array(sorted({c for c, _, _ in todo}))))}
    out = []
    for code, pid, amount in todo:
        p = programmes[pid]
        result = evaluate(programmes, firms[code], on, [pid])[0]
        zh = f"{firms[code].name_zh}：您符合「{p.spec.name.get('zh')}」的条件（免申即享）。\n" + render_text(
            result, "zh"
        )
        en = f"{firms[code].name_en or code}: you qualify for {p.spec.name.get('en')}.\n" + render_text(
            result, "en"
        )
        out.append(
            Notification(
                id=new_id(),
                uscc=code,
                programme=pid,
                version=p.version,
                programme_digest=p.digest,
                on=on,
                amount=amount,
                run_id=run_id,
                message_zh=zh,
                message_en=en,
            )
        )
    return out


# -- reports --------------------------------------------------------------------------------------------
def pool_of(p: Programme) -> tuple[str, Decimal] | None:
    pool = p.spec.pool
    if pool is None:
        return None
    return pool.id, Decimal(str(pool.size))


def summary(results: pa.Table, firms: pa.Table, programmes: Mapping[str, Programme]) -> list[dict[str, Any]]:
    """Eligible firms and total amount by programme, sector and district, with the share of the pool."""
    con = ibis.duckdb.connect().con
    con.register("r", results)
    con.register("f", firms.select(["uscc", "sector", "district"]))
    rows = con.sql(
        "SELECT r.programme, f.sector, coalesce(f.district, '') AS district, count(*) AS firms, "
        "sum(r.amount) AS amount FROM r JOIN f USING (uscc) WHERE r.eligible "
        "GROUP BY ALL ORDER BY r.programme, amount DESC, firms DESC, f.sector, district"
    ).fetchall()
    out = []
    for pid, sector, district, n, amount in rows:
        pool = pool_of(programmes[pid])
        share = (Decimal(amount) / pool[1]) if pool and pool[1] else None
        out.append(
            {
                "programme": pid,
                "sector": sector,
                "district": district,
                "firms": int(n),
                "amount": Decimal(amount),
                "pool_share": share,
            }
        )
    return out


def pool_pressure(results: pa.Table, programmes: Mapping[str, Programme]) -> list[dict[str, Any]]:
    """Matched demand against each pool's size; ``oversubscribed`` when demand exceeds it."""
    eligible = results.filter(results["eligible"])
    demand: dict[str, Decimal] = {}
    firms: dict[str, int] = {}
    for pid, amount in zip(eligible["programme"].to_pylist(), eligible["amount"].to_pylist(), strict=True):
        demand[pid] = demand.get(pid, Decimal(0)) + amount
        firms[pid] = firms.get(pid, 0) + 1
    pools: dict[str, dict[str, Any]] = {}
    for pid in sorted(set(results["programme"].to_pylist())):
        pool = pool_of(programmes[pid])
        if pool is None:
            continue
        entry = pools.setdefault(
            pool[0], {"pool": pool[0], "size": pool[1], "demand": Decimal(0), "firms": 0, "programmes": []}
        )
        entry["demand"] += demand.get(pid, Decimal(0))
        entry["firms"] += firms.get(pid, 0)
        entry["programmes"].append(pid)
    out = []
    for entry in pools.values():
        entry["ratio"] = entry["demand"] / entry["size"] if entry["size"] else None
        entry["oversubscribed"] = entry["demand"] > entry["size"]
        out.append(entry)
    return sorted(out, key=lambda e: e["pool"])
