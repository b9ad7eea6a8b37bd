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
register's tables whatever backend runs the rules (a digest is bookkeeping, not a rule). Before any of
that, one SHA-256 a table file: when the register's files and every programme's digest are those of the
last run of the date, nothing changed, and the run links the last run's files and copies its eligible
pairs inside the database without computing a digest a firm; when only programmes changed, the last
run's firm digests are those of these files and are reused. The rules
themselves run on the chosen backend through the same compiled expression (``huiqi.rules.backends``).
All of the table work (unpivoting the engine's wide result, merging with the last run, the file, the
eligible pairs, the newly eligible) is DuckDB's; Python only sees the eligible pairs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
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
from sqlalchemy import Connection, Engine, Select, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.digests import digests_sql
from huiqi.firms.digests import firm_digests as firm_digests  # the one digest, shared with the import
from huiqi.matching import results as files
from huiqi.matching.bulk import insert_rows, insert_table
from huiqi.matching.models import MatchEligible, MatchRun, Notification
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
#: DuckDB's memory for a match; beyond it, it spills to disk (a register larger than memory completes).
MEMORY_LIMIT = "2560MB"
#: The steps a run reports, in order, with their rough weight (for a progress bar).
STEPS = {"digests": 1, "programmes": 6, "firms": 2, "store": 3, "outbox": 1}


@dataclass
class Outcome:
    run: MatchRun
    results_file: Path  # every firm x programme of the run (Parquet)
    known_eligible: pa.Table | None  # the eligible pairs when the run read them (see ``eligible``)
    recomputed_programmes: list[str]
    recomputed_firms: int
    rows_computed: int
    notifications: int = 0
    reused: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> pa.Table:
        """uscc, programme, amount: the run's eligible pairs (read from its file when the run did not
        need them: nothing changed)."""
        if self.known_eligible is None:
            con = ibis.duckdb.connect()
            try:
                self.known_eligible = _eligible(con.con, self.results_file)
            finally:
                con.disconnect()
        return self.known_eligible

    @property
    def results(self) -> pa.Table:
        """The run's whole table, sorted by programme then firm (small registers: tests, xlsx)."""
        return files.read_results(self.results_file, self.ids, self.run.on, versions_of(self.run))


def register_files(tables: Tables) -> dict[str, str] | None:
    """One SHA-256 a table file (a fraction of a second for millions of firms): equal to the last run's,
    the register did not change and no firm needs a digest. None when a table is held in memory."""
    if not all(isinstance(t, Path) for t in tables.values()):
        return None
    out = {}
    for name, t in sorted(tables.items()):
        with open(t, "rb") as fh:
            out[name] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


def _firm_count(tables: Tables) -> int:
    firms = tables["firms"]
    return files.row_count(firms) if isinstance(firms, Path) else int(firms.num_rows)


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
    """The rows of the firms ``codes`` as Arrow (read from a Parquet file with the filter pushed down), for
    an engine other than DuckDB."""
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


def _duckdb_changed(con: Any, tables: Tables, prefix: str) -> dict[str, ir.Table]:
    """The changed firms' rows (``changed_firms``) of every table, as DuckDB views: filtered as scanned,
    never through Python."""
    raw = con.con
    _views(raw, tables, f"{prefix}all_")
    for name in tables:
        raw.execute(
            f"CREATE OR REPLACE VIEW {prefix}{name} AS SELECT * FROM {prefix}all_{name} "  # nosec B608
            "WHERE uscc IN (SELECT uscc FROM changed_firms)"
        )
    return {name: con.table(f"{prefix}{name}") for name in tables}


def _tune(raw: Any, spill: Path) -> None:
    """The match's DuckDB: row order is not part of the results (dropping it lets joins and the Parquet
    writer run in parallel and hold less); beyond ``MEMORY_LIMIT`` it spills to ``spill``."""
    raw.execute("SET preserve_insertion_order = false")
    raw.execute(f"SET memory_limit = {_quote(MEMORY_LIMIT)}")
    raw.execute(f"SET temp_directory = {_quote(spill.as_posix())}")


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
    eligible: pa.Table | None  # uscc, programme, amount (None: nothing changed, the last run's)
    newly: pa.Table  # uscc, programme, version, programme_digest, firm_digest, amount
    same_as: _Last | None = None  # nothing changed since this run: its pairs are copied, its report kept

    def pairs(self) -> pa.Table:
        """The eligible pairs worked out (none when nothing changed: the last run's are copied)."""
        if self.eligible is not None:
            return self.eligible
        empty = {"uscc": pa.string(), "programme": pa.string(), "amount": pa.decimal128(18, 2)}
        return pa.table({c: pa.array([], t) for c, t in empty.items()})

    def eligible_count(self) -> int:
        """How many eligible pairs the run stores."""
        if self.eligible is None and self.same_as is not None:
            return self.same_as.eligible
        return int(self.pairs().num_rows)


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


def _latest(on: dt.date | None) -> Select[MatchRun]:
    q = select(MatchRun).where(MatchRun.finished_at.is_not(None), MatchRun.results_file != "")
    if on is not None:
        q = q.where(MatchRun.on == on)
    return q.order_by(MatchRun.finished_at.desc(), MatchRun.id.desc()).limit(1)


def latest_run(db: Session | Connection, on: dt.date | None = None) -> MatchRun | None:
    """The run stored last (for ``on`` when given) whose results file is kept: what is current."""
    q = _latest(on)
    if isinstance(db, Session):
        return db.scalars(q).first()
    row = db.execute(q).first()
    return None if row is None else row[0]


def latest_run_key(session: Session, on: dt.date | None = None) -> tuple[str, dt.date] | None:
    """The id and date of the run ``latest_run`` gives, without loading the row: a firm's page needs no
    more, and the run's report (tens of KB of JSON) would be read on every view."""
    row = session.execute(_latest(on).with_only_columns(MatchRun.id, MatchRun.on)).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class _Last:
    """The last stored run of a date: its results file and, per programme, the version and rules' digest
    its rows were computed with (every row of a programme in a file has the same)."""

    file: str = ""
    programmes: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    run_id: str = ""
    report: Mapping[str, Any] = field(default_factory=dict)
    eligible: int = 0

    @property
    def register_files(self) -> Mapping[str, str] | None:
        """The SHA-256 of each register file the run read (None: not known)."""
        found = self.report.get("register_files")
        return found if isinstance(found, dict) else None


def _last(db: Session | Connection, on: dt.date) -> _Last:
    row = db.execute(
        select(MatchRun.results_file, MatchRun.report, MatchRun.id, MatchRun.eligible)
        .where(MatchRun.on == on, MatchRun.finished_at.is_not(None), MatchRun.results_file != "")
        .order_by(MatchRun.finished_at.desc(), MatchRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return _Last()
    report = json.loads(row[1] or "{}")
    versions = report.get("versions", {})
    programmes = {pid: (v["version"], v["digest"]) for pid, v in versions.items()}
    return _Last(str(row[0]), programmes, str(row[2]), report, int(row[3] or 0))


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
    digests: pa.Table | Path | None = None,
) -> Outcome:
    """Match, store (the caller commits), and return the run with its eligible pairs and results file.

    The caller's session writes only once everything is computed: on SQLite its transaction takes the
    database's write lock, which the rest of the server then waits for, so the long part (digests, the
    rules over the register, the merged results file) reads the last run's state through a short read of
    its own. If another run stored in between, what was read is stale: the work is done again from within
    the write transaction (holding the lock) so that the result is the same as if the runs had taken
    turns. When the session's transaction is already open, everything happens in it. ``digests`` are the
    firms' digests when known already (``huiqi.firms.digests.firm_digests`` of these tables, or a Parquet
    file of them: the stored register's, written by its import)."""
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
    spill = where / "tmp" / f"spill-{run.id}"
    con = ibis.duckdb.connect()
    raw = con.con
    _tune(raw, spill)
    try:
        fingerprint = register_files(tables)
        source = _DigestSource(raw, tables, digests, tick)
        make = make_tables or (lambda t: _duckdb_inputs(con, t, f"r{new_id()[:8]}_"))

        def changed_only() -> dict[str, ir.Table]:
            if make_tables is None:
                return _duckdb_changed(con, tables, f"c{new_id()[:8]}_")
            codes = raw.sql("SELECT uscc FROM changed_firms").to_arrow_table()["uscc"].combine_chunks()
            return make_tables(_subset(tables, codes))

        def plan(read: Reader) -> _Plan:
            makers = (make, changed_only)
            return _plan(read, raw, programmes, tables, on, chosen, makers, target, tick, source, fingerprint)

        in_session: Reader = lambda: nullcontext(session)  # noqa: E731
        apart = _reader_apart(session)
        if apart is None:
            todo = plan(in_session)
        else:
            todo = plan(apart)
            if _stored_runs(session) != todo.runs:  # the write transaction's first statement
                files.remove_run(where, run.id)
                todo = plan(in_session)
        if todo.same_as is not None:
            files.same_as(files.digests_file(Path(todo.same_as.file)), files.digests_file(target))
        elif source.file is not None:  # the register's digests file (its import's): linked, not rewritten
            files.same_as(source.file, files.digests_file(target))
        else:
            files.write_digests(raw, where, run.id)
        notes = _store(session, run, todo, on, notify, tick)
        run.firms = _firm_count(tables)
        run.recomputed_programmes = ",".join(sorted(todo.changed_p))
        run.recomputed_firms = todo.changed_firms
        run.rows_computed = todo.rows_computed
        run.rows = todo.rows
        run.eligible = todo.eligible_count()
        run.notifications = notes
        run.results_file = str(target)
        if todo.same_as is not None:  # the same pairs as the last run's: the same report
            report = {k: v for k, v in todo.same_as.report.items() if k not in ("versions", "register_files")}
        else:
            report = report_of(todo.pairs(), tables["firms"], programmes, chosen)
        report["versions"] = {
            p: {"version": programmes[p].version, "digest": programmes[p].digest} for p in chosen
        }
        if fingerprint is not None:
            report["register_files"] = fingerprint
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
        shutil.rmtree(spill, ignore_errors=True)
    return Outcome(
        run=run,
        results_file=target,
        known_eligible=todo.eligible,
        recomputed_programmes=sorted(todo.changed_p),
        recomputed_firms=todo.changed_firms,
        rows_computed=todo.rows_computed,
        notifications=notes,
        reused=todo.reused,
        ids=chosen,
    )


class _DigestSource:
    """The firms' digests as the relation ``digests``, made when first needed: from the table or file
    given, from the last run's file when the register files are the same, or computed (DuckDB)."""

    def __init__(self, raw: Any, tables: Tables, given: pa.Table | Path | None, tick: Progress) -> None:
        self.raw, self.tables, self.given, self.tick = raw, tables, given, tick
        self.made = False
        self.file: Path | None = None  # the file the digests were read from, as they are stored

    def ensure(self, same_files_as: Path | None = None) -> None:
        """Make ``digests``; ``same_files_as``: a digests file of these very register files."""
        if self.made:
            return
        self.tick("digests", 0)
        raw = self.raw
        known = self.given
        if known is None and same_files_as is not None and same_files_as.exists():
            known = same_files_as
        if isinstance(known, Path):
            if pa.types.is_string(pq.read_schema(known).field("digest").type):
                self.file = known
            raw.execute(
                "CREATE OR REPLACE VIEW digests AS SELECT uscc, CAST(digest AS VARCHAR) AS digest "  # nosec B608
                f"FROM read_parquet({_quote(str(known))})"
            )
        elif known is not None:
            raw.register("digests", known)
        else:
            raw.execute(f"CREATE OR REPLACE TABLE digests AS {digests_sql(raw, self.tables)}")  # nosec B608
        self.made = True
        self.tick("digests", 1)


def _store(session: Session, run: MatchRun, todo: _Plan, on: dt.date, notify: bool, tick: Progress) -> int:
    """The run, its eligible pairs and the new messages, in bulk; the number of messages written."""
    session.add(run)
    session.flush()
    if todo.same_as is not None:  # the last run's pairs, copied inside the database
        session.execute(
            insert(MatchEligible).from_select(
                ["run_id", "uscc", "programme", "amount"],
                select(
                    literal(run.id), MatchEligible.uscc, MatchEligible.programme, MatchEligible.amount
                ).where(MatchEligible.run_id == todo.same_as.run_id),
            )
        )
        tick("store", 1)
        tick("outbox", 0)
        return 0
    # in the order of the tables' keys (run, firm, programme): each row appends to the indexes' B-trees
    pairs = todo.pairs().sort_by([("uscc", "ascending"), ("programme", "ascending")])
    rows = pa.table(
        {
            "run_id": pa.repeat(pa.scalar(run.id, pa.string()), pairs.num_rows),
            "uscc": pairs["uscc"],
            "programme": pairs["programme"],
            "amount": _fen_array(pairs["amount"]),
        }
    )
    insert_table(session, MatchEligible.__table__, rows)  # type: ignore[arg-type]
    tick("store", 1)
    tick("outbox", 0)
    if not notify or todo.newly.num_rows == 0:
        return 0
    now = utcnow()
    n = todo.newly
    prefix = new_id()[:20]  # the run's ids ascend (appended to the key's B-tree), unique by the prefix
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
            (f"{prefix}{i:012x}", u, p, v, pd, fd, on, f, run.id, now, "pending")
            for i, (u, p, v, pd, fd, f) in enumerate(
                zip(
                    *(
                        n[c].to_pylist()
                        for c in ("uscc", "programme", "version", "programme_digest", "firm_digest")
                    ),
                    _fen_array(n["amount"]).to_pylist(),
                    strict=True,
                )
            )
        ),
        skip_conflicts=True,
    )


def _fen_array(amounts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Exact DECIMAL(18, 2) yuan as integer fen, vectorised (the scaled integer the decimal holds)."""
    if amounts.num_chunks == 0 or len(amounts) == 0:
        return pa.chunked_array([], pa.int64())
    scaled = pc.multiply(amounts.cast(pa.decimal128(18, 2)), pa.scalar(Decimal(100), pa.decimal128(5, 0)))
    fen: pa.ChunkedArray = scaled.cast(pa.int64())
    return fen


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
    dropped = {run_id for run_id, _path in drop}
    still = {path for run_id, _day, path in kept if run_id not in dropped}
    needed = {str(b) for b in (files.base_of(Path(p)) for p in still) if b is not None}
    for run_id, path in drop:
        session.execute(delete(MatchEligible).where(MatchEligible.run_id == run_id))
        session.execute(update(MatchRun).where(MatchRun.id == run_id).values(results_file=""))
        base = files.base_of(Path(path))
        if path in needed:  # a kept delta reads it: its digests go, the table stays
            files.digests_file(Path(path)).unlink(missing_ok=True)
        else:
            files.remove_file(Path(path))
        if base is not None and str(base) not in needed and str(base) not in still:
            files.remove_file(base)  # the base of deltas no longer kept, its own run gone before


def _plan(
    read: Reader,
    raw: Any,
    programmes: Mapping[str, Programme],
    tables: Tables,
    on: dt.date,
    chosen: list[str],
    makers: tuple[TableMaker, Callable[[], dict[str, ir.Table]]],
    target: Path,
    tick: Progress,
    source: _DigestSource,
    fingerprint: Mapping[str, str] | None,
) -> _Plan:
    """Compare with the last run of the date, compute what changed, write the run's results file, and
    work out the eligible pairs and the newly eligible; the database is only read, through ``read``."""
    with read() as db:
        runs = _stored_runs(db)
        last = _last(db, on)
    prev_file = last.file
    current = {pid: (programmes[pid].version, programmes[pid].digest) for pid in chosen}
    same_files = fingerprint is not None and last.register_files == fingerprint
    last_digests = files.digests_file(Path(prev_file)) if prev_file else None
    if (
        same_files
        and dict(last.programmes) == current
        and Path(prev_file).exists()
        and last_digests is not None
        and last_digests.exists()
    ):  # nothing changed: no digest a firm, no rule run, the last run's files linked
        tick("digests", 0)
        tick("digests", 1)
        tick("store", 0)
        rows = files.same_as(Path(prev_file), target)
        return _Plan(
            runs=runs,
            changed_p=set(),
            same_p=list(chosen),
            changed_firms=0,
            rows_computed=0,
            reused=rows,
            rows=rows,
            eligible=None,
            newly=pa.table({c: pa.array([], pa.string()) for c in NEWLY}),
            same_as=last,
        )
    source.ensure(last_digests if same_files else None)
    make, changed_only = makers
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
    changed_firms, gone = _firm_diff(raw, files.prev_digests_view(raw, prev_file), bool(same_p))

    parts: list[tuple[str, int]] = []  # (query, rows): evaluated once, as the results file is written
    if changed_p:
        tick("programmes", 0)
        parts.append(_compute(raw, programmes, make(dict(tables)), on, sorted(changed_p), "computed_p"))
    if same_p and changed_firms:
        tick("firms", 0)
        # one firms row a changed firm (its digest is of that row): counted already, not scanned again
        parts.append(_compute(raw, programmes, changed_only(), on, same_p, "computed_f", changed_firms))
    computed = " UNION ALL ".join(f"SELECT * FROM ({sql})" for sql, _n in parts) or (  # nosec B608
        "SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS programme, NULL::BOOLEAN AS eligible, "
        "NULL::DECIMAL(18,2) AS amount, NULL::VARCHAR AS unmet WHERE false"
    )
    raw.execute(f"CREATE OR REPLACE TEMP VIEW computed AS {computed}")
    rows_computed = sum(n for _sql, n in parts)
    present = (
        "AND uscc NOT IN (SELECT uscc FROM firm_diff WHERE gone) " if gone else ""
    )  # none gone: all there
    reuse = (
        f"SELECT uscc, programme, eligible, amount, unmet FROM {prev} "  # nosec B608
        f"WHERE programme IN {_in_list(same_p)} {present}"
        "AND uscc NOT IN (SELECT uscc FROM changed_firms)"
    )
    if rows_computed == 0 and gone == 0 and prev_file and sorted(last.programmes) == chosen:
        rows = files.same_as(Path(prev_file), target)  # nothing changed: the last run's file, linked
    elif (
        base := _delta_base(raw, prev_file, dict(last.programmes) == current and not changed_p)
    ) is not None:  # a few firms changed: their rows only, over the base's
        versions = {pid: programmes[pid].version for pid in chosen}
        rows = files.write_delta(raw, _delta_body(prev_file), base[1], target, base[0], on, versions)
    else:
        body = "SELECT * FROM computed" + (f" UNION ALL {reuse}" if same_p else "")  # nosec B608
        versions = {pid: programmes[pid].version for pid in chosen}
        rows = files.write_results(raw, body, target, on, versions)  # the rules run here, as it is written
    if changed_p:
        tick("programmes", 1)
    if same_p and changed_firms:
        tick("firms", 1)
    tick("store", 0)
    reused = rows - rows_computed
    shared = _base_eligible(raw, target, prev_file)  # a delta over the last run's base: read it once
    eligible = _eligible(raw, target) if not shared else raw.sql(_SORTED_PAIRS).to_arrow_table()
    # ``prev``: the view or empty relation results.prev_view names, never a user's text
    told_from = (
        "prev_eligible" if shared else f"(SELECT uscc, programme FROM {prev} WHERE eligible)"  # nosec B608
    )
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
    # (whose digests firm_diff holds: millions of others not scanned for them)
    digest_of = "digests" if changed_p else "firm_diff"
    raw.register("eligible_now", eligible)
    # (only the last run's eligible rows matter: a pair told before is one eligible then, same rules)
    newly = raw.sql(
        "WITH c AS (SELECT * FROM eligible_now "  # nosec B608  # our relation names, quoted literals
        f"WHERE programme IN {_in_list(sorted(changed_p))} OR uscc IN (SELECT uscc FROM changed_firms)), "
        f"told AS (SELECT uscc, programme FROM {told_from} "
        "WHERE uscc IN (SELECT uscc FROM c) AND programme IN (SELECT programme FROM c)) "
        "SELECT c.uscc, c.programme, cp.version, cp.programme_digest, d.digest AS firm_digest, c.amount "
        f"FROM c JOIN current_programmes cp USING (programme) JOIN {digest_of} d USING (uscc) "
        "LEFT JOIN told p ON p.uscc = c.uscc AND p.programme = c.programme "
        "LEFT JOIN prev_digests pd ON pd.programme = c.programme "
        "WHERE NOT coalesce(p.uscc IS NOT NULL AND pd.digest = cp.programme_digest, false) "
        "ORDER BY c.uscc, c.programme"  # the order of the outbox's indexes (firm first)
    ).to_arrow_table()
    return _Plan(
        runs=runs,
        changed_p=changed_p,
        same_p=same_p,
        changed_firms=changed_firms,
        rows_computed=int(rows_computed),
        reused=int(reused),
        rows=rows,
        eligible=eligible,
        newly=newly,
    )


def _eligible(raw: Any, results_file: Path) -> pa.Table:
    """A run's eligible pairs (uscc, programme, amount), by programme then firm."""
    table: pa.Table = raw.sql(
        f"SELECT uscc, programme, amount FROM {files.source(results_file)} "  # nosec B608
        "WHERE eligible ORDER BY programme, uscc"
    ).to_arrow_table()
    return table


#: The run's eligible pairs of ``run_eligible`` (see ``_base_eligible``), as ``_eligible`` gives them.
_SORTED_PAIRS = "SELECT uscc, programme, amount FROM run_eligible ORDER BY programme, uscc"


def _base_eligible(raw: Any, target: Path, prev_file: str) -> bool:
    """When this run is a delta over the base the last run's rows are read with (its own file, or its base):
    the base's eligible rows read once (``base_eligible``: one scan of tens of millions of rows, where the
    run's pairs and the last run's told pairs each scanned it), with this run's eligible pairs
    (``run_eligible``) and the last run's (``prev_eligible``) over them. False otherwise."""
    base = files.base_of(target)
    if base is None or not prev_file:
        return False
    prev = Path(prev_file)
    prev_base = files.base_of(prev)
    if (prev_base or prev) != base:
        return False
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE base_eligible AS SELECT uscc, programme, amount "  # nosec B608
        f"FROM read_parquet({_quote(str(base))}) WHERE eligible"
    )

    def over(run: Path) -> str:  # a delta's eligible rows: the base's of the firms it does not replace
        return (
            "SELECT uscc, programme, amount FROM base_eligible "  # nosec B608  # quoted paths
            f"ANTI JOIN read_parquet({_quote(str(files.replaced_file(run)))}) USING (uscc) "
            f"UNION ALL SELECT uscc, programme, amount FROM read_parquet({_quote(str(run))}) WHERE eligible"
        )

    before = over(prev) if prev_base is not None else "SELECT uscc, programme, amount FROM base_eligible"
    raw.execute(f"CREATE OR REPLACE TEMP VIEW run_eligible AS {over(target)}")
    raw.execute(f"CREATE OR REPLACE TEMP VIEW prev_eligible AS {before}")
    return True


#: A delta holds at most this share of a run's firms; beyond it the run writes its whole table.
DELTA_SHARE = 0.25


def _firm_diff(raw: Any, prev_firms: str, same_p: bool) -> tuple[int, int]:
    """The firms changed or added since the last run (``changed_firms``; none when every programme is
    recomputed for every firm) and those gone, both in ``firm_diff`` (uscc, gone, digest): one join
    of the firms' digests with the last run's (a hash join of millions of codes: once, not once for each
    question); the firms stay in DuckDB, Python sees their numbers."""
    if not same_p:  # every firm is computed: only the number gone matters
        for name in ("changed_firms", "firm_diff"):
            raw.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT NULL::VARCHAR AS uscc, false AS gone, "
                "NULL::VARCHAR AS digest WHERE false"
            )
        gone_sql = f"SELECT count(*) FROM {prev_firms} p ANTI JOIN digests d USING (uscc)"  # nosec B608
        return 0, int(raw.sql(gone_sql).fetchone()[0])
    raw.execute(
        "CREATE OR REPLACE TABLE firm_diff AS SELECT coalesce(d.uscc, p.uscc) AS uscc, "  # nosec B608
        f"d.uscc IS NULL AS gone, d.digest FROM digests d FULL JOIN {prev_firms} p ON d.uscc = p.uscc "
        "WHERE p.digest IS DISTINCT FROM d.digest"
    )
    raw.execute("CREATE OR REPLACE TABLE changed_firms AS SELECT uscc FROM firm_diff WHERE NOT gone")
    changed, gone = raw.sql(
        "SELECT count(*) FILTER (WHERE NOT gone), count(*) FILTER (WHERE gone) FROM firm_diff"
    ).fetchone()
    return int(changed), int(gone)


def _delta_base(raw: Any, prev_file: str, same_programmes: bool) -> tuple[Path, str] | None:
    """When this run can be written as a delta (the last run's programmes unchanged and few firms changed):
    the base file and the relation of the firms whose rows the delta replaces; None otherwise. Needs the
    ``firm_diff`` and ``digests`` relations."""
    prev = Path(prev_file) if prev_file else None
    if not same_programmes or prev is None or not prev.exists() or not files.complete(prev):
        return None
    base = files.base_of(prev) or prev
    if not base.exists():
        return None
    before = files.replaced_file(prev) if files.base_of(prev) is not None else None
    earlier = f" UNION SELECT uscc FROM read_parquet({_quote(str(before))})" if before else ""  # nosec B608
    raw.execute(f"CREATE OR REPLACE TABLE replaced AS SELECT uscc FROM firm_diff{earlier}")  # nosec B608
    replaced = int(raw.sql("SELECT count(*) FROM replaced").fetchone()[0])
    firms = int(raw.sql("SELECT count(*) FROM digests").fetchone()[0])
    return (base, "replaced") if replaced <= DELTA_SHARE * firms else None


def _delta_body(prev_file: str) -> str:
    """A delta run's rows: those computed, and the last delta's rows of firms unchanged and still there."""
    prev = Path(prev_file)
    body = "SELECT * FROM computed"
    if files.base_of(prev) is not None:
        body += (
            f" UNION ALL SELECT {', '.join(files.STORED)} FROM read_parquet({_quote(prev_file)}) "  # nosec B608
            "WHERE uscc NOT IN (SELECT uscc FROM firm_diff)"  # neither changed nor gone since
        )
    return body


def _compute(
    raw: Any,
    programmes: Mapping[str, Programme],
    inputs: dict[str, ir.Table],
    on: dt.date,
    ids: list[str],
    name: str,
    firms: int | None = None,
) -> tuple[str, int]:
    """The programmes ``ids`` over ``inputs`` as a query of one row a firm x programme (uscc, programme,
    eligible, amount, unmet), and its number of rows (``firms``: the inputs' firms when known). On DuckDB
    the engine's query is inlined and its wide result unpivoted as it streams (never held whole); another
    engine's result comes back as Arrow."""
    compiled = compile_pack(programmes, inputs, on, ids)
    backend = compiled.table._find_backend()
    if backend.name == "duckdb" and backend.con is raw:
        source = f"({duckdb_sql(compiled.table)})"
        if firms is None:
            counted = raw.sql(f"SELECT count(*) FROM {_table_of(inputs)}").fetchone()  # nosec B608
            firms = int(counted[0]) if counted else 0
    else:  # another engine ran the rules: its result comes back as Arrow
        wide = to_arrow(compiled.table)
        raw.register(f"{name}_arrow", wide)
        source = f"{name}_arrow"
        firms = int(wide.num_rows)
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
    return sql, firms * len(compiled.programmes)


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


def summary(
    results: pa.Table, firms: pa.Table | Path, programmes: Mapping[str, Programme]
) -> list[dict[str, Any]]:
    """Eligible firms and total amount by programme, sector and district, with the share of the pool
    (``firms`` in memory or a Parquet file, of which DuckDB reads three columns)."""
    con = ibis.duckdb.connect().con
    con.register("r", results)
    if isinstance(firms, Path):
        con.execute(
            "CREATE VIEW f AS SELECT uscc, sector, district "  # nosec B608  # a quoted path
            f"FROM read_parquet({_quote(str(firms))})"
        )
    else:
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
    totals = _totals(eligible)
    demand = {pid: amount for pid, (_n, amount) in totals.items()}
    firms = {pid: n for pid, (n, _amount) in totals.items()}
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


def _totals(eligible: pa.Table) -> dict[str, tuple[int, Decimal]]:
    """Each programme's eligible pairs and their amount, summed by Arrow (exact decimals; a Python loop a
    pair took a second at 3 M firms)."""
    if eligible.num_rows == 0:
        return {}
    grouped = (
        eligible.select(["programme", "amount"])
        .group_by("programme")
        .aggregate([("amount", "sum"), ([], "count_all")])
    )
    return {
        str(pid): (int(n), Decimal(0) + (amount if amount is not None else Decimal(0)))
        for pid, amount, n in zip(
            grouped["programme"].to_pylist(),
            grouped["amount_sum"].to_pylist(),
            grouped["count_all"].to_pylist(),
            strict=True,
        )
    }


def _money(v: Any) -> str:
    return str(Decimal(v))


def report_of(
    eligible: pa.Table, firms: pa.Table | Path, programmes: Mapping[str, Programme], ids: list[str]
) -> dict[str, Any]:
    """A run's report (JSON-ready): eligible firms and amounts by programme, by programme x sector x
    district, and each pool's pressure; stored with the run so that pages need not read the register."""
    return {
        "by_programme": [
            {"programme": pid, "firms": n, "amount": str(amount)}
            for pid, (n, amount) in sorted(_totals(eligible).items())
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
