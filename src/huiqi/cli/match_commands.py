"""``huiqi match``: every programme for every firm of a register, stored by run, incremental, with pool
pressure and the "you qualify" outbox; ``huiqi match outbox`` lists the notifications."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import typer


def _tables_maker(backend: str, url: str) -> Any:
    """For the chosen backend, a function from the register's Arrow tables to that engine's tables."""
    from huiqi.rules import backends

    if backend == "duckdb":
        return None
    if backend == "postgres":
        if not url.startswith("postgresql"):
            raise typer.BadParameter("--backend postgres needs HUIQI_DATABASE_URL to be a PostgreSQL URL")
        con = backends.postgres_connect(url)
        counter = iter(range(1_000_000))

        def to_pg(tables: dict[str, Any]) -> Any:
            return backends.load_postgres(con, tables, prefix=f"match_input{next(counter)}_")

        return to_pg
    tmp = Path(tempfile.mkdtemp(prefix="huiqi-spark-"))
    counter = iter(range(1_000_000))
    session: list[Any] = []  # started on first use: an incremental run with nothing to do needs no Spark

    def to_spark(tables: dict[str, Any]) -> Any:
        from huiqi.firms.register import write_register

        if not session:
            session.append(backends.spark_connect())
        path = write_register(tables, tmp / f"input{next(counter)}")
        return backends.spark_parquet_tables(session[0], path, prefix=f"match_input{path.name}_")

    return to_spark


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Batch matching: benefits without application.",
        no_args_is_help=False,
        invoke_without_command=True,
    )
    app.add_typer(group, name="match")

    @group.callback(invoke_without_command=True)
    def match(
        ctx: typer.Context,
        register_: str = typer.Option(None, "--register", help="a register directory, or 'db'"),
        on: str = typer.Option(None, "--on", help="the date to evaluate on (YYYY-MM-DD)"),
        programme: list[str] = typer.Option([], "--programme", help="programme id (repeat); default all"),
        out: Path = typer.Option(None, "--out", help="results file: .parquet, .csv or .xlsx"),
        backend: str = typer.Option("duckdb", "--backend", help="duckdb, postgres or spark"),
        pack: list[str] = typer.Option([], "--pack", help="programme pack or folder (default: bundled)"),
        notify: bool = typer.Option(True, "--notify/--no-notify", help="write 'you qualify' messages"),
    ) -> None:
        """Evaluate programmes over a register; one row per firm x programme in --out."""
        if ctx.invoked_subcommand is not None:
            return
        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        from huiqi.cli.shared import date, fail
        from huiqi.config import get_settings
        from huiqi.db import make_engine, make_session_factory
        from huiqi.firms.exporting import write_table
        from huiqi.firms.register import RegisterError, read_register
        from huiqi.matching.run import pool_pressure, run_match, summary
        from huiqi.matching.store import load_register
        from huiqi.money import format_yuan
        from huiqi.rules.backends import BACKENDS
        from huiqi.rules.loader import load_pack

        if register_ is None or on is None or out is None:
            fail("huiqi match needs --register PATH|db, --on DATE and --out PATH")
        if backend not in BACKENDS:
            fail(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        day = date(on, "--on")
        programmes = load_pack(*pack)
        unknown = [p for p in programme if p not in programmes]
        if unknown:
            fail(f"--programme: unknown programme {unknown[0]!r}; known: {', '.join(sorted(programmes))}")
        console = Console(stderr=True)
        url = get_settings().database_url
        engine = make_engine(url, pool_size=2)
        try:
            with make_session_factory(engine)() as session:
                if register_ == "db":
                    tables = load_register(session)
                else:
                    try:
                        tables = read_register(register_)
                    except RegisterError as exc:
                        fail(str(exc))
                maker = _tables_maker(backend, url)
                phases = {"digests": 1, "programmes": 3, "firms": 3, "store": 2, "outbox": 1}
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task(
                        f"matching {tables['firms'].num_rows:,} firms", total=sum(phases.values())
                    )

                    def tick(label: str, done: int) -> None:
                        bar.update(task, description=f"{label} ...")
                        if done:
                            bar.advance(task, phases[label])

                    outcome = run_match(
                        session,
                        programmes,
                        tables,
                        day,
                        ids=programme or None,
                        register=register_,
                        backend=backend,
                        make_tables=maker,
                        notify=notify,
                        progress=tick,
                    )
                session.commit()
        finally:
            engine.dispose()
        write_table(outcome.results, out)
        typer.echo(f"run {outcome.run.id}: {tables['firms'].num_rows:,} firms on {day}, backend {backend}")
        if outcome.recomputed_programmes:
            typer.echo(f"recomputed programmes over all firms: {', '.join(outcome.recomputed_programmes)}")
        if outcome.recomputed_firms:
            typer.echo(f"recomputed the other programmes for {outcome.recomputed_firms:,} changed firm(s)")
        if not outcome.rows_computed:
            typer.echo("nothing changed since the last run: no result recomputed")
        typer.echo(f"rows computed {outcome.rows_computed:,}, reused {outcome.reused:,}; results: {out}")
        typer.echo(f"'you qualify' notifications: {len(outcome.notifications):,} new")

        table = Table(title="eligible firms by programme, sector and district")
        for col in ("programme", "sector", "district", "firms", "amount", "share of pool"):
            table.add_column(col, justify="right" if col in ("firms", "amount", "share of pool") else "left")
        for r in summary(outcome.results, tables["firms"], programmes):
            share = f"{r['pool_share'] * 100:.2f}%" if r["pool_share"] is not None else "-"
            table.add_row(
                r["programme"], r["sector"], r["district"], f"{r['firms']:,}", format_yuan(r["amount"]), share
            )
        out_console = Console()
        out_console.print(table)
        pools = Table(title="pool pressure")
        for col in ("pool", "size", "matched demand", "firms", "demand/size", ""):
            pools.add_column(col)
        for p in pool_pressure(outcome.results, programmes):
            pools.add_row(
                p["pool"],
                format_yuan(p["size"]),
                format_yuan(p["demand"]),
                f"{p['firms']:,}",
                f"{p['ratio'] * 100:.1f}%" if p["ratio"] is not None else "-",
                "OVERSUBSCRIBED" if p["oversubscribed"] else "",
            )
        out_console.print(pools)

    @group.command("outbox")
    def outbox(
        lang: str = typer.Option("en", "--lang", help="en or zh"),
        limit: int = typer.Option(20, "--limit", min=1),
    ) -> None:
        """The newest 'you qualify' notifications."""
        from sqlalchemy import select

        from huiqi.cli.shared import read_only
        from huiqi.matching.models import Notification

        def show(session: Any) -> None:
            rows = session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(limit))
            for n in rows:
                typer.echo(f"--- {n.uscc} {n.programme} v{n.version} ({n.status})")
                typer.echo(n.message_zh if lang == "zh" else n.message_en)

        read_only(show)


def today() -> dt.date:  # pragma: no cover - convenience for scripts
    return dt.date.today()
