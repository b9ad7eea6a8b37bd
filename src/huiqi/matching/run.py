"""Batch matching ("benefits without application"): every programme for every firm, stored by run,
recomputing only what changed, with pool pressure and the "you qualify" outbox.

Where a run's results go (issue 16): the whole firm x programme table is a Parquet file beside the database
(``huiqi.matching.results``), with the firms' digests next to it; the database holds the run (its counts and
its report), its eligible pairs (``match_eligible``, bulk-inserted) and the outbox, which stores what a
message needs and renders the text when it is read (``huiqi.matching.outbox``). Old runs' files and pairs
are removed by retention (``HUIQI_MATCH_KEEP_RUNS``); the latest run of every date stays.

Incremental runs compare digests with the latest stored run of the same date:

- a programme whose file digest differs from the stored one (or that is new) is recomputed over all
  firms, and so is every programme that refers to it (``eligible(...)``/``amount(...)``);
- a firm whose row digest differs (or that is new) gets all the other programmes recomputed;
- firms gone from the register lose their rows; every other row is copied from the last run's file.

Firm digests are DuckDB hashes of the firm's layout row and of its child rows, computed over the
register's tables whatever backend runs the rules (a digest is bookkeeping, not a rule). The rules
themselves run on the chosen backend through the same compiled expression (``huiqi.rules.backends``).
All of the table work (unpivoting the engine's wide result, merging with the last run, the file, the
eligible pairs, the newly eligible) is DuckDB's; Python only sees the eligible pairs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.orm import Session

from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.table import CHILD_TABLES
from huiqi.matching import results as files
from huiqi.matching.bulk import insert_rows
from huiqi.matching.models import MatchEligible, MatchRun, Notification
from huiqi.money import yuan_to_fen
from huiqi.rules.backends import to_arrow
from huiqi.rules.batch import duckdb_sql
from huiqi.rules.compiler import compile_pack
from huiqi.rules.programme import Programme
from huiqi.rules.versions import for_date

#: The register's tables: Arrow in memory, or Parquet files DuckDB scans as it goes.
Tables = Mapping[str, pa.Table | Path]
#: Make the backend's tables from the register's tables (DuckDB by default).
TableMaker = Callable[[dict[str, pa.Table]], dict[str, ir.Table]]
#: ``progress(step, done)``: a step starts (0) or ends (1); steps: digests, programmes, firms, store, outbox.
Progress = Callable[[str, int], None]
#: The columns of the newly eligible pairs, in the order the outbox stores them.
NEWLY = ("uscc", "programme", "version", "programme_digest", "firm_digest", "amount")
#: The steps a run reports, in order, with their rough weight (for a progress bar).
STEPS = {"digests": 1, "programmes": 6, "firms": 2, "store": 3, "outbox": 1}


@dataclass
class Outcome:
    run: MatchRun
    results_file: Path  # every firm x programme of the run (Parquet)
    eligible: pa.Table  # uscc, programme, amount: the run's eligible pairs
    recomputed_programmes: list[str]
    recomputed_firms: int
    rows_computed: int
    notifications: int = 0
    reused: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def results(self) -> pa.Table:
        """The run's whole table, sorted by programme then firm (small registers: tests, xlsx)."""
        return files.read_results(self.results_file, self.ids, self.run.on, versions_of(self.run))


def firm_digests(tables: Tables, con: Any = None) -> pa.Table:
    """``uscc``, ``digest``: a change to a firm's row or to any of its child rows changes its digest.

    DuckDB's 64-bit ``hash`` of the firm's row, with each child table's rows summed as hashes (in any
    order) and counted: a tenth of the cost of MD5s of rows cast to text. A digest is bookkeeping (which
    firms to recompute), not a proof; a collision would need two versions of one firm with equal hashes."""
    raw = con if con is not None else ibis.duckdb.connect().con
    _views(raw, tables, "d_")
    children = [n for n in CHILD_TABLES if n in tables]
    # table names come from CHILD_TABLES, never from input
    joins = " ".join(
        f"LEFT JOIN (SELECT uscc, sum(hash(c)::HUGEINT) AS h, count(*) AS n FROM d_{n} c GROUP BY uscc) "
        f"{n}_d ON {n}_d.uscc = f.uscc"  # nosec B608
        for n in children
    )
    args = ", ".join(["f", *(f"{n}_d.h, {n}_d.n" for n in children)])
    sql = f"SELECT f.uscc AS uscc, CAST(hash({args}) AS VARCHAR) AS digest FROM d_firms f {joins}"  # nosec B608
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


def _subset(tables: Tables, codes: pa.Array) -> dict[str, pa.Table]:
    """The rows of the firms ``codes`` (read from a Parquet file with the filter pushed down)."""
    return {
        name: pq.read_table(t, filters=ds.field("uscc").isin(codes))
        if isinstance(t, Path)
        else t.filter(pc.is_in(t["uscc"], value_set=codes))
        for name, t in tables.items()
    }


def arrow_tables(tables: Tables) -> dict[str, pa.Table]:
    """Every table read whole (for an engine other than DuckDB, which gets the register as Arrow)."""
    return {n: pq.read_table(t) if isinstance(t, Path) else t for n, t in tables.items()}


def _views(raw: Any, tables: Tables, prefix: str) -> None:
    """Each table as a DuckDB relation ``prefix + name``: Arrow registered, a Parquet file as a view."""
    for name, t in tables.items():
        if isinstance(t, Path):
            # a view cannot take a bound parameter: the path is quoted, the name is ours
            raw.execute(
                f"CREATE OR REPLACE VIEW {prefix}{name} AS SELECT * FROM read_parquet({_quote(str(t))})"  # nosec B608
            )  # nosec B608
        else:
            raw.register(f"{prefix}{name}", t)


def _duckdb_inputs(con: Any, tables: Tables, prefix: str) -> dict[str, ir.Table]:
    _views(con.con, tables, prefix)
    return {name: con.table(f"{prefix}{name}") for name in tables}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in_list(ids: list[str]) -> str:
    return "(" + ", ".join(_quote(p) for p in ids) + ")" if ids else "(NULL)"


@dataclass
class _Plan:
    """Everything a run will store, worked out before its write transaction."""

    runs: int  # match runs stored when this plan read the database (see ``_stored_runs``)
    changed_p: set[str]
    same_p: list[str]
    changed_firms: int
    rows_computed: int
    reused: int
    rows: int
    eligible: pa.Table  # uscc, programme, amount
    newly: pa.Table  # uscc, programme, version, programme_digest, firm_digest, amount


#: Opens what the planning reads through: a connection of its own, or the caller's session.
Reader = Callable[[], AbstractContextManager[Session | Connection]]


def _stored_runs(db: Session | Connection) -> int:
    """How many runs are stored. Only a run writes its pairs and the outbox, always with its run record,
    and run records are never deleted: while this count stands still, neither has changed."""
    return db.scalar(select(func.count()).select_from(MatchRun)) or 0


def _reader_apart(session: Session) -> Reader | None:
    """Connections for reading outside the caller's transaction, or None when that cannot be done: the
    caller's transaction is open already (it may hold writes only it sees, and on SQLite the lock)."""
    if session.in_transaction():
        return None
    bind = session.get_bind(MatchRun)
    return bind.connect if isinstance(bind, Engine) else None


def latest_run(db: Session | Connection, on: dt.date | None = None) -> MatchRun | None:
    """The run stored last (for ``on`` when given) whose results file is kept: what is current."""
    q = select(MatchRun).where(MatchRun.finished_at.is_not(None), MatchRun.results_file != "")
    if on is not None:
        q = q.where(MatchRun.on == on)
    q = q.order_by(MatchRun.finished_at.desc(), MatchRun.id.desc()).limit(1)
    if isinstance(db, Session):
        return db.scalars(q).first()
    row = db.execute(q).first()
    return None if row is None else row[0]


@dataclass(frozen=True)
class _Last:
    """The last stored run of a date: its results file and, per programme, the version and rules' digest
    its rows were computed with (every row of a programme in a file has the same)."""

    file: str = ""
    programmes: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def _last(db: Session | Connection, on: dt.date) -> _Last:
    row = db.execute(
        select(MatchRun.results_file, MatchRun.report)
        .where(MatchRun.on == on, MatchRun.finished_at.is_not(None), MatchRun.results_file != "")
        .order_by(MatchRun.finished_at.desc(), MatchRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return _Last()
    versions = json.loads(row[1] or "{}").get("versions", {})
    return _Last(str(row[0]), {pid: (v["version"], v["digest"]) for pid, v in versions.items()})


def versions_of(run: MatchRun) -> dict[str, str]:
    """Each programme of a run with the version its results were computed with."""
    found = json.loads(run.report or "{}").get("versions", {})
    return {pid: str(v["version"]) for pid, v in found.items()}


def run_match(
    session: Session,
    programmes: Mapping[str, Programme],
    tables: Tables,
    on: dt.date,
    *,
    ids: list[str] | None = None,
    register: str = "",
    backend: str = "duckdb",
    make_tables: TableMaker | None = None,
    notify: bool = True,
    progress: Progress | None = None,
    results_dir: Path | None = None,
    keep_runs: int | None = None,
    digests: pa.Table | None = None,
) -> Outcome:
    """Match, store (the caller commits), and return the run with its eligible pairs and results file.

    The caller's session writes only once everything is computed: on SQLite its transaction takes the
    database's write lock, which the rest of the server then waits for, so the long part (digests, the
    rules over the register, the merged results file) reads the last run's state through a short read of
    its own. If another run stored in between, what was read is stale: the work is done again from within
    the write transaction (holding the lock) so that the result is the same as if the runs had taken
    turns. When the session's transaction is already open, everything happens in it. ``digests`` are the
    firms' digests when known already (``firm_digests`` of these tables)."""
    programmes = for_date(programmes, on)  # the versions in force on the date matched, not today's
    tick = progress or (lambda _label, _n: None)
    chosen = sorted(ids) if ids else sorted(programmes)
    where = results_dir or files.results_dir(str(session.get_bind(MatchRun).engine.url))
    where.mkdir(parents=True, exist_ok=True)
    run = MatchRun(
        id=new_id(),
        on=on,
        started_at=utcnow(),
        register=register,
        backend=backend,
        programmes=",".join(chosen),
    )
    target = files.run_file(where, run.id)
    con = ibis.duckdb.connect()
    raw = con.con
    try:
        tick("digests", 0)
        if digests is None:
            digests = firm_digests(tables, raw)
        raw.register("digests", digests)
        tick("digests", 1)
        make = make_tables or (lambda t: _duckdb_inputs(con, t, f"r{new_id()[:8]}_"))

        def plan(read: Reader) -> _Plan:
            return _plan(read, raw, programmes, tables, on, chosen, make, target, tick)

        in_session: Reader = lambda: nullcontext(session)  # noqa: E731
        apart = _reader_apart(session)
        if apart is None:
            todo = plan(in_session)
        else:
            todo = plan(apart)
            if _stored_runs(session) != todo.runs:  # the write transaction's first statement
                todo = plan(in_session)
        files.write_digests(raw, where, run.id)
        notes = _store(session, run, todo, on, notify, tick)
        run.firms = digests.num_rows
        run.recomputed_programmes = ",".join(sorted(todo.changed_p))
        run.recomputed_firms = todo.changed_firms
        run.rows_computed = todo.rows_computed
        run.rows = todo.rows
        run.eligible = todo.eligible.num_rows
        run.notifications = notes
        run.results_file = str(target)
        firms = tables["firms"]
        places = (
            pq.read_table(firms, columns=["uscc", "sector", "district"])
            if isinstance(firms, Path)
            else firms.select(["uscc", "sector", "district"])
        )
        report = report_of(todo.eligible, places, programmes, chosen)
        report["versions"] = {
            p: {"version": programmes[p].version, "digest": programmes[p].digest} for p in chosen
        }
        run.report = json.dumps(report)
        run.finished_at = utcnow()
        session.flush()
        _retain(session, keep_runs if keep_runs is not None else files.keep_runs())
        tick("outbox", 1)
    except BaseException:
        files.remove_run(where, run.id)
        raise
    finally:
        con.disconnect()
    return Outcome(
        run=run,
        results_file=target,
        eligible=todo.eligible,
        recomputed_programmes=sorted(todo.changed_p),
        recomputed_firms=todo.changed_firms,
        rows_computed=todo.rows_computed,
        notifications=notes,
        reused=todo.reused,
        ids=chosen,
    )


def _store(session: Session, run: MatchRun, todo: _Plan, on: dt.date, notify: bool, tick: Progress) -> int:
    """The run, its eligible pairs and the new messages, in bulk; the number of messages written."""
    session.add(run)
    session.flush()
    pairs = todo.eligible
    insert_rows(
        session,
        MatchEligible.__table__,  # type: ignore[arg-type]
        ("run_id", "uscc", "programme", "amount"),
        (
            (run.id, u, p, yuan_to_fen(a))
            for u, p, a in zip(
                pairs["uscc"].to_pylist(),
                pairs["programme"].to_pylist(),
                pairs["amount"].to_pylist(),
                strict=True,
            )
        ),
    )
    tick("store", 1)
    tick("outbox", 0)
    if not notify or todo.newly.num_rows == 0:
        return 0
    now = utcnow()
    n = todo.newly
    return insert_rows(
        session,
        Notification.__table__,  # type: ignore[arg-type]
        (
            "id",
            "uscc",
            "programme",
            "version",
            "programme_digest",
            "firm_digest",
            "on",
            "amount",
            "run_id",
            "created_at",
            "status",
        ),
        (
            (new_id(), u, p, v, pd, fd, on, yuan_to_fen(a), run.id, now, "pending")
            for u, p, v, pd, fd, a in zip(
                *(
                    n[c].to_pylist()
                    for c in ("uscc", "programme", "version", "programme_digest", "firm_digest")
                ),
                n["amount"].to_pylist(),
                strict=True,
            )
        ),
        skip_conflicts=True,
    )


def _retain(session: Session, keep: int) -> None:
    """Remove the files and pairs of runs beyond the newest ``keep``; the latest run of every date stays
    (it is what the next run of that date starts from)."""
    if keep <= 0:
        return
    kept = session.execute(
        select(MatchRun.id, MatchRun.on, MatchRun.results_file)
        .where(MatchRun.results_file != "", MatchRun.finished_at.is_not(None))
        .order_by(MatchRun.finished_at.desc(), MatchRun.id.desc())
    ).all()
    latest_of: set[dt.date] = set()
    drop: list[tuple[str, str]] = []
    for i, (run_id, day, path) in enumerate(kept):
        first_of_day = day not in latest_of
        latest_of.add(day)
        if i >= keep and not first_of_day:
            drop.append((run_id, path))
    for run_id, path in drop:
        session.execute(delete(MatchEligible).where(MatchEligible.run_id == run_id))
        session.execute(update(MatchRun).where(MatchRun.id == run_id).values(results_file=""))
        files.remove_file(Path(path))


def _plan(
    read: Reader,
    raw: Any,
    programmes: Mapping[str, Programme],
    tables: Tables,
    on: dt.date,
    chosen: list[str],
    make: TableMaker,
    target: Path,
    tick: Progress,
) -> _Plan:
    """Compare with the last run of the date, compute what changed, write the run's results file, and
    work out the eligible pairs and the newly eligible; the database is only read, through ``read``."""
    with read() as db:
        runs = _stored_runs(db)
        last = _last(db, on)
    prev_file = last.file
    prev = files.prev_view(raw, prev_file, chosen)
    stored = {pid: digest for pid, (_v, digest) in last.programmes.items()}
    raw.register(
        "prev_digests",
        pa.table(
            {"programme": pa.array(list(stored), pa.string()), "digest": pa.array(list(stored.values()))}
        ),
    )
    changed_p = {pid for pid in chosen if stored.get(pid) != programmes[pid].digest}
    changed_p = _dependents(programmes, changed_p, chosen)
    same_p = [pid for pid in chosen if pid not in changed_p]
    prev_firms = files.prev_digests_view(raw, prev_file)
    changed = [
        r[0]
        for r in raw.sql(
            f"SELECT d.uscc FROM digests d LEFT JOIN {prev_firms} p USING (uscc) "  # nosec B608
            "WHERE p.digest IS DISTINCT FROM d.digest ORDER BY d.uscc"
        ).fetchall()
    ]
    changed_firms = changed if same_p else []
    gone_sql = f"SELECT count(*) FROM {prev_firms} p ANTI JOIN digests d USING (uscc)"  # nosec B608
    gone = int(raw.sql(gone_sql).fetchone()[0])

    parts: list[tuple[str, int]] = []  # (query, rows): evaluated once, as the results file is written
    if changed_p:
        tick("programmes", 0)
        parts.append(_compute(raw, programmes, make(dict(tables)), on, sorted(changed_p), "computed_p"))
    if same_p and changed_firms:
        tick("firms", 0)
        sub = _subset(tables, pa.array(changed_firms, pa.string()))
        parts.append(_compute(raw, programmes, make(sub), on, same_p, "computed_f"))
    raw.execute("CREATE OR REPLACE TEMP TABLE changed_firms (uscc VARCHAR)")
    if changed_firms:
        raw.register("changed_arrow", pa.table({"uscc": pa.array(changed_firms, pa.string())}))
        raw.execute("INSERT INTO changed_firms SELECT uscc FROM changed_arrow")
    computed = " UNION ALL ".join(f"SELECT * FROM ({sql})" for sql, _n in parts) or (  # nosec B608
        "SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS programme, NULL::BOOLEAN AS eligible, "
        "NULL::DECIMAL(18,2) AS amount, NULL::VARCHAR AS unmet WHERE false"
    )
    raw.execute(f"CREATE OR REPLACE TEMP VIEW computed AS {computed}")
    rows_computed = sum(n for _sql, n in parts)
    reuse = (
        f"SELECT uscc, programme, eligible, amount, unmet FROM {prev} "  # nosec B608
        f"WHERE programme IN {_in_list(same_p)} AND uscc IN (SELECT uscc FROM digests) "
        "AND uscc NOT IN (SELECT uscc FROM changed_firms)"
    )
    if rows_computed == 0 and gone == 0 and prev_file and sorted(last.programmes) == chosen:
        rows = files.same_as(Path(prev_file), target)  # nothing changed: the last run's file, linked
    else:
        body = "SELECT * FROM computed" + (f" UNION ALL {reuse}" if same_p else "")  # nosec B608
        rows = files.write_results(raw, body, target)  # the rules run here, as the file is written
    if changed_p:
        tick("programmes", 1)
    if same_p and changed_firms:
        tick("firms", 1)
    tick("store", 0)
    reused = rows - rows_computed
    eligible = raw.sql(
        f"SELECT uscc, programme, amount FROM read_parquet({_quote(str(target))}) WHERE eligible "  # nosec B608
        "ORDER BY programme, uscc"
    ).to_arrow_table()
    current = {pid: (programmes[pid].version, programmes[pid].digest) for pid in chosen}
    raw.register(
        "current_programmes",
        pa.table(
            {
                "programme": pa.array(list(current), pa.string()),
                "version": pa.array([v for v, _d in current.values()], pa.string()),
                "programme_digest": pa.array([d for _v, d in current.values()], pa.string()),
            }
        ),
    )
    # the newly eligible are among this run's computed rows: a changed programme's, or a changed firm's
    raw.register("eligible_now", eligible)
    newly = raw.sql(
        "SELECT c.uscc, c.programme, cp.version, cp.programme_digest, d.digest AS firm_digest, c.amount "  # nosec B608
        "FROM eligible_now c JOIN current_programmes cp USING (programme) JOIN digests d USING (uscc) "
        f"LEFT JOIN {prev} p ON p.uscc = c.uscc AND p.programme = c.programme "
        "LEFT JOIN prev_digests pd ON pd.programme = c.programme "
        f"WHERE (c.programme IN {_in_list(sorted(changed_p))} OR c.uscc IN (SELECT uscc FROM changed_firms)) "
        "AND NOT coalesce(p.eligible AND pd.digest = cp.programme_digest, false) "
        "ORDER BY c.programme, c.uscc"
    ).to_arrow_table()
    return _Plan(
        runs=runs,
        changed_p=changed_p,
        same_p=same_p,
        changed_firms=len(changed_firms),
        rows_computed=int(rows_computed),
        reused=int(reused),
        rows=rows,
        eligible=eligible,
        newly=newly,
    )


def _compute(
    raw: Any,
    programmes: Mapping[str, Programme],
    inputs: dict[str, ir.Table],
    on: dt.date,
    ids: list[str],
    name: str,
) -> tuple[str, int]:
    """The programmes ``ids`` over ``inputs`` as a query of one row a firm x programme (uscc, programme,
    eligible, amount, unmet), and its number of rows. On DuckDB the engine's query is inlined and its
    wide result unpivoted as it streams (never held whole); another engine's result comes back as Arrow."""
    compiled = compile_pack(programmes, inputs, on, ids)
    backend = compiled.table._find_backend()
    if backend.name == "duckdb" and backend.con is raw:
        source = f"({duckdb_sql(compiled.table)})"
        firms = raw.sql(f"SELECT count(*) FROM {_table_of(inputs)}").fetchone()  # nosec B608
    else:  # another engine ran the rules: its result comes back as Arrow
        wide = to_arrow(compiled.table)
        raw.register(f"{name}_arrow", wide)
        source = f"{name}_arrow"
        firms = (wide.num_rows,)
    columns = ", ".join(
        ["uscc"]
        + [
            f"{e} AS e{i}, CAST({a} AS DECIMAL(18,2)) AS a{i}, "
            + (f"coalesce({u}, '') AS u{i}" if compiled.table.schema().get(u) is not None else f"'' AS u{i}")
            for i, (e, a, u) in enumerate(compiled.columns[pid] for pid in compiled.programmes)
        ]
    )
    into = ", ".join(f"(e{i}, a{i}, u{i}) AS {_quote(pid)}" for i, pid in enumerate(compiled.programmes))
    sql = (
        f"WITH {name}_wide AS (SELECT {columns} FROM {source}) "  # nosec B608  # our names, quoted literals
        f"SELECT uscc, programme, eligible, amount, unmet FROM {name}_wide "
        f"UNPIVOT INCLUDE NULLS ((eligible, amount, unmet) FOR programme IN ({into}))"
    )
    return sql, int(firms[0] if firms else 0) * len(compiled.programmes)


def _table_of(inputs: dict[str, ir.Table]) -> str:
    """The DuckDB name of the firms table an ibis table reads."""
    return str(inputs["firms"].get_name())


def current_results(
    session: Session, programmes: Mapping[str, Programme], on: dt.date, ids: list[str]
) -> pa.Table:
    """The current firm x programme results for a date (the latest run's), sorted by programme then firm."""
    last = _last(session, on)
    versions = {pid: v for pid, (v, _d) in last.programmes.items()}
    return files.read_results(Path(last.file) if last.file else None, ids, on, versions)


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
    where = "WHERE r.eligible" if "eligible" in results.column_names else ""
    rows = con.sql(
        "SELECT r.programme, f.sector, coalesce(f.district, '') AS district, count(*) AS firms, "  # nosec B608
        f"sum(r.amount) AS amount FROM r JOIN f USING (uscc) {where} "
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


def pool_pressure(
    results: pa.Table, programmes: Mapping[str, Programme], ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Matched demand against each pool's size; ``oversubscribed`` when demand exceeds it. ``results`` may
    hold every pair (with ``eligible``) or the eligible pairs only (then give the programmes matched)."""
    eligible = results.filter(results["eligible"]) if "eligible" in results.column_names else results
    demand: dict[str, Decimal] = {}
    firms: dict[str, int] = {}
    for pid, amount in zip(eligible["programme"].to_pylist(), eligible["amount"].to_pylist(), strict=True):
        demand[pid] = demand.get(pid, Decimal(0)) + amount
        firms[pid] = firms.get(pid, 0) + 1
    pools: dict[str, dict[str, Any]] = {}
    for pid in ids if ids is not None else sorted(set(results["programme"].to_pylist())):
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


def _money(v: Any) -> str:
    return str(Decimal(v))


def report_of(
    eligible: pa.Table, firms: pa.Table, programmes: Mapping[str, Programme], ids: list[str]
) -> dict[str, Any]:
    """A run's report (JSON-ready): eligible firms and amounts by programme, by programme x sector x
    district, and each pool's pressure; stored with the run so that pages need not read the register."""
    by_programme: dict[str, dict[str, Any]] = {}
    for pid, amount in zip(eligible["programme"].to_pylist(), eligible["amount"].to_pylist(), strict=True):
        row = by_programme.setdefault(pid, {"programme": pid, "firms": 0, "amount": Decimal(0)})
        row["firms"] += 1
        row["amount"] += amount
    return {
        "by_programme": [
            {"programme": r["programme"], "firms": r["firms"], "amount": str(r["amount"])}
            for r in sorted(by_programme.values(), key=lambda r: r["programme"])
        ],
        "summary": [
            {
                "programme": r["programme"],
                "sector": r["sector"],
                "district": r["district"],
                "firms": r["firms"],
                "amount": _money(r["amount"]),
                "pool_share": None
                if r["pool_share"] is None
                else str(r["pool_share"].quantize(Decimal("0.0001"))),
            }
            for r in summary(eligible, firms, programmes)
        ],
        "pools": [
            {
                "pool": p["pool"],
                "size": _money(p["size"]),
                "demand": _money(p["demand"]),
                "firms": p["firms"],
                "programmes": p["programmes"],
                "ratio": None if p["ratio"] is None else str(p["ratio"].quantize(Decimal("0.0001"))),
                "oversubscribed": p["oversubscribed"],
            }
            for p in pool_pressure(eligible, programmes, ids)
        ],
    }
