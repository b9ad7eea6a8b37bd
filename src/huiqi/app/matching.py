"""Matching use cases ("benefits without application"): run a match over the register (the CLI's
``huiqi match`` and the officer's background match are this one use case), the latest run with its summary
and pool pressure, the stored results, the outbox, and what one firm's page and inbox show.

A run's whole firm x programme table is a Parquet file beside the database; the database keeps the run,
its eligible pairs and the outbox (``huiqi.matching.run``). Progress goes to a callback as
``progress(fraction, message)``: the CLI draws a bar, a background job records it.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.app.jobs import JobOutcome, JobProgress, start_job
from huiqi.app.jsonable import as_json
from huiqi.app.store import Store
from huiqi.matching import results as files
from huiqi.matching.errors import EmptyRegister, NoRun, UnknownBackend
from huiqi.matching.models import MatchEligible, MatchRun
from huiqi.matching.outbox import Message, messages
from huiqi.matching.run import STEPS, arrow_tables, latest_run, latest_run_key, run_match, versions_of
from huiqi.matching.snapshot import DIGESTS, current_copy, keep_digests, pinned
from huiqi.rules.errors import UnknownProgramme
from huiqi.rules.programme import Programme

#: ``progress(fraction done, message)``, from 0.0 to 1.0.
Progress = Callable[[float, str], None]

#: What each step of a match says (in English; the pages translate these keys).
STEP_MESSAGES = {
    "register": "reading the register",
    "digests": "comparing the firms with the last run",
    "programmes": "computing the changed programmes for every firm",
    "firms": "computing the changed firms",
    "store": "storing the results",
    "outbox": "writing the 'you qualify' messages",
    "report": "summarising by programme, sector, district and pool",
}
BACKENDS = ("duckdb", "postgres", "spark")


# --- read models --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """A stored match run (the ``run`` of ``GET /api/v1/matching/runs/latest``)."""

    id: str
    on: dt.date
    register: str
    backend: str
    firms: int
    programmes: tuple[str, ...]
    recomputed_programmes: tuple[str, ...]
    recomputed_firms: int
    rows_computed: int
    notifications: int
    new_notifications: int
    rows: int
    eligible: int
    results_file: str
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, run: MatchRun) -> RunView:
        """The read model of a run record."""
        return cls(
            id=run.id,
            on=run.on,
            register=run.register,
            backend=run.backend,
            firms=run.firms,
            programmes=tuple(p for p in run.programmes.split(",") if p),
            recomputed_programmes=tuple(p for p in run.recomputed_programmes.split(",") if p),
            recomputed_firms=run.recomputed_firms,
            rows_computed=run.rows_computed,
            notifications=run.notifications,
            new_notifications=run.notifications,
            rows=run.rows,
            eligible=run.eligible,
            results_file=run.results_file,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


@dataclass(frozen=True)
class ProgrammeTotal:
    """Eligible firms and their amount for one programme (``name`` in the reader's language)."""

    programme: str
    name: str
    firms: int
    amount: Decimal


@dataclass(frozen=True)
class SummaryRow:
    """Eligible firms and amount for a programme x sector x district, with the share of the pool."""

    programme: str
    sector: str
    district: str
    firms: int
    amount: Decimal
    pool_share: Decimal | None


@dataclass(frozen=True)
class PoolPressure:
    """Matched demand against a pool's size."""

    pool: str
    size: Decimal
    demand: Decimal
    firms: int
    programmes: tuple[str, ...]
    ratio: Decimal | None
    oversubscribed: bool


@dataclass(frozen=True)
class MatchReport:
    """A run and what it found: by programme, by programme x sector x district, and each pool's pressure."""

    run: RunView
    by_programme: tuple[ProgrammeTotal, ...]
    summary: tuple[SummaryRow, ...]
    pools: tuple[PoolPressure, ...]

    def named(self, programmes: Mapping[str, Programme], lang: str) -> MatchReport:
        """The same report with the programmes' names in ``lang``."""
        return MatchReport(
            run=self.run,
            by_programme=tuple(
                ProgrammeTotal(
                    t.programme,
                    programmes[t.programme].spec.name.get(lang) if t.programme in programmes else t.name,
                    t.firms,
                    t.amount,
                )
                for t in self.by_programme
            ),
            summary=self.summary,
            pools=self.pools,
        )


@dataclass(frozen=True)
class ResultView:
    """One firm x programme result of a match (the keys of ``GET /api/v1/matching/results``)."""

    uscc: str
    programme: str
    version: str
    date: dt.date
    eligible: bool
    amount: Decimal
    unmet: tuple[str, ...]
    run_id: str


@dataclass(frozen=True)
class ResultPage:
    """A page of results and how many match the filter."""

    total: int
    items: tuple[ResultView, ...]


@dataclass(frozen=True)
class FirmResult:
    """A programme the latest match found a firm eligible for, with the amount."""

    programme: str
    amount: Decimal


@dataclass(frozen=True)
class FirmResults:
    """A firm's current results: the programmes the latest run found it eligible for (None: no run yet)."""

    uscc: str
    run_id: str | None
    on: dt.date | None
    results: tuple[FirmResult, ...]


@dataclass(frozen=True)
class MessageView:
    """A "you qualify" message: the pair, the programme's version, the amount and the text in zh and en."""

    id: str
    uscc: str
    programme: str
    version: str
    on: dt.date
    amount: Decimal
    status: str
    created_at: dt.datetime
    message_zh: str
    message_en: str

    @classmethod
    def of(cls, m: Message) -> MessageView:
        """The read model of a rendered message."""
        n = m.note
        return cls(
            id=n.id,
            uscc=n.uscc,
            programme=n.programme,
            version=n.version,
            on=n.on,
            amount=n.amount,
            status=n.status,
            created_at=n.created_at,
            message_zh=m.zh,
            message_en=m.en,
        )

    def message(self, lang: str) -> str:
        """The text in ``lang`` (zh or en)."""
        return self.message_zh if lang == "zh" else self.message_en


@dataclass(frozen=True)
class MessagePage:
    """A page of messages and how many there are in all."""

    total: int
    items: tuple[MessageView, ...]


# --- running a match ----------------------------------------------------------------------------------------


def _report(run: MatchRun, programmes: Mapping[str, Programme], lang: str) -> MatchReport:
    data: dict[str, Any] = json.loads(run.report or "{}")
    return MatchReport(
        run=RunView.of(run),
        by_programme=tuple(
            ProgrammeTotal(
                programme=r["programme"],
                name=programmes[r["programme"]].spec.name.get(lang)
                if r["programme"] in programmes
                else r["programme"],
                firms=int(r["firms"]),
                amount=Decimal(r["amount"]),
            )
            for r in data.get("by_programme", [])
        ),
        summary=tuple(
            SummaryRow(
                programme=r["programme"],
                sector=r["sector"],
                district=r["district"],
                firms=int(r["firms"]),
                amount=Decimal(r["amount"]),
                pool_share=None if r["pool_share"] is None else Decimal(r["pool_share"]),
            )
            for r in data.get("summary", [])
        ),
        pools=tuple(
            PoolPressure(
                pool=p["pool"],
                size=Decimal(p["size"]),
                demand=Decimal(p["demand"]),
                firms=int(p["firms"]),
                programmes=tuple(p["programmes"]),
                ratio=None if p["ratio"] is None else Decimal(p["ratio"]),
                oversubscribed=bool(p["oversubscribed"]),
            )
            for p in data.get("pools", [])
        ),
    )


def _choose(programmes: Mapping[str, Programme], ids: list[str] | tuple[str, ...]) -> list[str]:
    """The programmes to match (all when none is named); an unknown one is refused."""
    for pid in ids:
        if pid not in programmes:
            raise UnknownProgramme(pid)
    return sorted(ids) if ids else sorted(programmes)


def _tables_maker(backend: str, url: str) -> Any:
    """For the chosen backend, a function from the register's Arrow tables to that engine's tables."""
    from huiqi.rules import backends

    if backend == "duckdb":
        return None
    if backend == "postgres":
        if not url.startswith("postgresql"):
            raise UnknownBackend("--backend postgres needs HUIQI_DATABASE_URL to be a PostgreSQL URL")
        con = backends.postgres_connect(url)
        counter = iter(range(1_000_000))

        def to_pg(tables: dict[str, Any]) -> Any:
            return backends.load_postgres(con, arrow_tables(tables), prefix=f"match_input{next(counter)}_")

        return to_pg
    tmp = Path(tempfile.mkdtemp(prefix="huiqi-spark-"))
    counter = iter(range(1_000_000))
    session: list[Any] = []  # started on first use: an incremental run with nothing to do needs no Spark

    def to_spark(tables: dict[str, Any]) -> Any:
        from huiqi.firms.register import write_register

        if not session:
            session.append(backends.spark_connect())
        path = write_register(arrow_tables(tables), tmp / f"input{next(counter)}")
        return backends.spark_parquet_tables(session[0], path, prefix=f"match_input{path.name}_")

    return to_spark


def match(
    store: Store,
    *,
    programmes: Mapping[str, Programme],
    register: str,
    on: dt.date,
    ids: list[str] | tuple[str, ...] = (),
    backend: str = "duckdb",
    notify: bool = True,
    out: Path | None = None,
    lang: str = "en",
    progress: Progress | None = None,
) -> MatchReport:
    """Find every firm's programmes without an application: match the register (``db`` or a register
    directory), store the run incrementally, write the 'you qualify' messages and, with ``out``, the
    results file (.parquet, .csv or .xlsx)."""
    tell = progress or (lambda _f, _m: None)
    if backend not in BACKENDS:
        raise UnknownBackend(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    chosen = _choose(programmes, list(ids))
    maker = _tables_maker(backend, store.url)
    tell(0.0, STEP_MESSAGES["register"])
    where = files.results_dir(store.url)
    if register == "db":
        root = store.read(lambda s: current_copy(s, where))
        if root is None:
            raise EmptyRegister()
    else:
        root = Path(register)
    weights = sum(STEPS.values())
    done = {step: 0 for step in STEPS}

    def tick(step: str, finished: int) -> None:
        if finished:
            done[step] = STEPS[step]
        tell(0.1 + 0.85 * sum(done.values()) / weights, STEP_MESSAGES[step])

    def work(s: Session) -> MatchRun:
        outcome = run_match(
            s,
            programmes,
            tables,
            on,
            ids=chosen,
            register=register,
            backend=backend,
            make_tables=maker,
            notify=notify,
            progress=tick,
            digests=digests,
        )
        return outcome.run

    with pinned(root, where / "tmp") as tables:
        digests = tables.pop(DIGESTS, None)  # the copy's digests, kept with it by an earlier run
        if files.row_count(tables["firms"]) == 0:
            raise EmptyRegister()
        run = store.write(work)
        if digests is None and register == "db":  # kept for every later run that reads this copy
            keep_digests(root, tables["firms"], pq.read_table(files.digests_file(Path(run.results_file))))
    tell(0.95, STEP_MESSAGES["report"])
    if out is not None:
        files.export(Path(run.results_file), out, chosen, run.on, versions_of(run))
    tell(1.0, STEP_MESSAGES["report"])
    return _report(run, programmes, lang)


def start_match(
    store: Store,
    *,
    programmes: Mapping[str, Programme],
    register: str,
    on: dt.date,
    ids: list[str] | tuple[str, ...] = (),
    notify: bool = True,
    lang: str = "en",
    actor: str,
) -> str:
    """Match in the background (the officer's page and the API): the programmes are checked at once, the
    job's progress and report are recorded; the job's id."""
    _choose(programmes, list(ids))

    def work(progress: JobProgress) -> JobOutcome:
        report = match(
            store,
            programmes=programmes,
            register=register,
            on=on,
            ids=ids,
            notify=notify,
            lang=lang,
            progress=lambda fraction, message: progress(int(fraction * 100), 100, message),
        )
        return JobOutcome(as_json(report), result_id=report.run.id)

    params = {"on": on.isoformat(), "programmes": list(ids), "notify": notify}
    return start_job(store, kind="matching", created_by=actor, work=work, params=params, total=100)


# --- reading ------------------------------------------------------------------------------------------------


def latest_match(store: Store, *, programmes: Mapping[str, Programme], lang: str = "en") -> MatchReport:
    """Show the last match: the run, its summary and each pool's pressure."""
    run = store.read(latest_run)
    if run is None:
        raise NoRun("no match has been run yet: POST /api/v1/matching/runs (or `huiqi match`)")
    return _report(run, programmes, lang)


def results(
    store: Store,
    *,
    on: dt.date,
    programme: str | None = None,
    eligible: bool | None = None,
    uscc: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ResultPage:
    """List the current firm x programme results of a date (the latest run's), filtered and paged."""
    run = store.read(lambda s: latest_run(s, on))
    if run is None:
        return ResultPage(total=0, items=())
    total, rows = files.page(
        Path(run.results_file),
        on=run.on,
        versions=versions_of(run),
        programme=programme,
        eligible=eligible,
        uscc=uscc,
        limit=limit,
        offset=offset,
    )
    return ResultPage(
        total=total,
        items=tuple(
            ResultView(
                uscc=r["uscc"],
                programme=r["programme"],
                version=r["version"],
                date=r["date"],
                eligible=bool(r["eligible"]),
                amount=Decimal(r["amount"]),
                unmet=tuple(u for u in (r["unmet"] or "").split(",") if u),
                run_id=run.id,
            )
            for r in rows
        ),
    )


def outbox(
    store: Store,
    *,
    programmes: Mapping[str, Programme],
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> MessagePage:
    """Read every firm's 'you qualify' messages, newest first, with their explanations."""

    def work(s: Session) -> MessagePage:
        total, found = messages(s, programmes, status=status, limit=limit, offset=offset)
        return MessagePage(total=total, items=tuple(MessageView.of(m) for m in found))

    return store.read(work)


def firm_results(store: Store, *, uscc: str) -> FirmResults:
    """Show a firm what the latest match found for it: the programmes it qualifies for, with amounts."""

    def work(s: Session) -> FirmResults:
        run = latest_run_key(s)
        if run is None:
            return FirmResults(uscc=uscc, run_id=None, on=None, results=())
        run_id, on = run
        rows = s.execute(
            select(MatchEligible.programme, MatchEligible.amount)
            .where(MatchEligible.run_id == run_id, MatchEligible.uscc == uscc)
            .order_by(MatchEligible.programme)
        ).all()
        return FirmResults(uscc=uscc, run_id=run_id, on=on, results=tuple(FirmResult(p, a) for p, a in rows))

    return store.read(work)


def _bundled() -> Mapping[str, Programme]:
    from huiqi.rules.loader import load_pack

    return load_pack()


def firm_inbox(
    store: Store,
    *,
    uscc: str,
    programmes: Mapping[str, Programme] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> MessagePage:
    """Tell a firm which programmes it qualifies for without applying, newest message first (the texts
    rendered with ``programmes``, by default the bundled ones)."""

    def work(s: Session) -> MessagePage:
        total, found = messages(s, programmes or _bundled(), uscc=uscc, limit=limit, offset=offset)
        return MessagePage(total=total, items=tuple(MessageView.of(m) for m in found))

    return store.read(work)


__all__ = [
    "BACKENDS",
    "STEP_MESSAGES",
    "EmptyRegister",
    "FirmResult",
    "FirmResults",
    "MatchReport",
    "MessagePage",
    "MessageView",
    "NoRun",
    "PoolPressure",
    "ProgrammeTotal",
    "ResultPage",
    "ResultView",
    "RunView",
    "SummaryRow",
    "UnknownBackend",
    "firm_inbox",
    "firm_results",
    "latest_match",
    "match",
    "outbox",
    "results",
    "start_match",
]
