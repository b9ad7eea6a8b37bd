"""``huiqi match``: every programme for every firm of a register, stored by run, incremental, with pool
pressure and the "you qualify" outbox; ``huiqi match outbox`` lists the messages, ``huiqi match latest``
shows the last run, ``huiqi match results`` and ``huiqi match firm`` read the stored results."""

from __future__ import annotations

from pathlib import Path

import typer

from huiqi.app import matching

#: rows of the breakdown by programme, sector and district printed unless --rows says otherwise
ROWS = 40


def _print_report(report: matching.MatchReport, out: Path | None, rows: int = ROWS) -> None:
    from rich.console import Console
    from rich.table import Table

    from huiqi.money import format_yuan

    run = report.run
    typer.echo(f"run {run.id}: {run.firms:,} firms on {run.on}, backend {run.backend}")
    if run.recomputed_programmes:
        typer.echo(f"recomputed programmes over all firms: {', '.join(run.recomputed_programmes)}")
    if run.recomputed_firms:
        typer.echo(f"recomputed the other programmes for {run.recomputed_firms:,} changed firm(s)")
    if not run.rows_computed:
        typer.echo("nothing changed since the last run: no result recomputed")
    typer.echo(
        f"rows computed {run.rows_computed:,}, reused {run.rows - run.rows_computed:,}; "
        f"eligible pairs {run.eligible:,}; results: {out or run.results_file}"
    )
    typer.echo(f"'you qualify' notifications: {run.new_notifications:,} new")

    table = Table(title="eligible firms by programme, sector and district")
    for col in ("programme", "sector", "district", "firms", "amount", "share of pool"):
        table.add_column(col, justify="right" if col in ("firms", "amount", "share of pool") else "left")
    shown = report.summary if rows <= 0 else report.summary[:rows]
    for r in shown:
        share = f"{r.pool_share * 100:.2f}%" if r.pool_share is not None else "-"
        table.add_row(r.programme, r.sector, r.district, f"{r.firms:,}", format_yuan(r.amount), share)
    console = Console()
    console.print(table)
    if len(shown) < len(report.summary):
        rest = len(report.summary) - len(shown)
        typer.echo(f"... and {rest:,} more row(s): --rows 0 prints them all; the results file has every firm")
    pools = Table(title="pool pressure")
    for col in ("pool", "size", "matched demand", "firms", "demand/size", ""):
        pools.add_column(col)
    for p in report.pools:
        pools.add_row(
            p.pool,
            format_yuan(p.size),
            format_yuan(p.demand),
            f"{p.firms:,}",
            f"{p.ratio * 100:.1f}%" if p.ratio is not None else "-",
            "OVERSUBSCRIBED" if p.oversubscribed else "",
        )
    console.print(pools)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Batch matching: benefits without application.",
        no_args_is_help=False,
        invoke_without_command=True,
    )
    app.add_typer(group, name="match")

    register_option = typer.Option(None, "--register", help="a register directory, or 'db'")
    on_option = typer.Option(None, "--on", help="the date to evaluate on (YYYY-MM-DD)")
    programme_option = typer.Option([], "--programme", help="programme id (repeat); default all")
    out_option = typer.Option(
        None, "--out", help="also export the results: .parquet, .csv or .xlsx (the run keeps them either way)"
    )
    backend_option = typer.Option("duckdb", "--backend", help="duckdb, postgres or spark")
    pack_option = typer.Option([], "--pack", help="programme pack or folder (default: bundled)")
    notify_option = typer.Option(True, "--notify/--no-notify", help="write 'you qualify' messages")
    rows_option = typer.Option(ROWS, "--rows", help="rows of the breakdown to print (0: every row)")

    @group.callback(invoke_without_command=True)
    def match(
        ctx: typer.Context,
        register_: str = register_option,
        on: str = on_option,
        programme: list[str] = programme_option,
        out: Path = out_option,
        backend: str = backend_option,
        pack: list[str] = pack_option,
        notify: bool = notify_option,
        rows: int = rows_option,
    ) -> None:
        """Evaluate programmes over a register; one row per firm x programme in --out."""
        if ctx.invoked_subcommand is None:
            run(register_, on, programme, out, backend, pack, notify, rows)

    @group.command("run")
    def run(
        register_: str = register_option,
        on: str = on_option,
        programme: list[str] = programme_option,
        out: Path = out_option,
        backend: str = backend_option,
        pack: list[str] = pack_option,
        notify: bool = notify_option,
        rows: int = rows_option,
    ) -> None:
        """The same as ``huiqi match`` with its options: evaluate programmes over a register."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from huiqi.cli.shared import call, date, fail, store
        from huiqi.rules.loader import load_pack

        if register_ is None or on is None:  # --out is optional: the run keeps its whole table
            fail("huiqi match needs --register PATH|db and --on DATE (and --out PATH to export the results)")
        day = date(on, "--on")
        programmes = call(load_pack, *pack)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("matching", total=1000)

            def show(fraction: float, message: str) -> None:
                bar.update(task, completed=int(fraction * 1000), description=message)

            report = call(
                matching.match,
                store(),
                programmes=programmes,
                register=register_,
                on=day,
                ids=programme,
                backend=backend,
                notify=notify,
                out=out,
                progress=show,
            )
        _print_report(report, out, rows)

    @group.command("latest")
    def latest(
        pack: list[str] = typer.Option([], "--pack", help="programme pack or folder (default: bundled)"),
        rows: int = rows_option,
    ) -> None:
        """The last run: its summary and each pool's pressure."""
        from huiqi.cli.shared import call, store
        from huiqi.rules.loader import load_pack

        report = call(matching.latest_match, store(), programmes=call(load_pack, *pack))
        _print_report(report, None, rows)

    @group.command("results")
    def results(
        on: str = typer.Option(..., "--on", help="the date matched (YYYY-MM-DD)"),
        programme: str = typer.Option(None, "--programme"),
        eligible: bool = typer.Option(None, "--eligible/--not-eligible", help="only (not) eligible rows"),
        uscc: str = typer.Option(None, "--uscc"),
        limit: int = typer.Option(20, "--limit", min=1),
        offset: int = typer.Option(0, "--offset", min=0),
    ) -> None:
        """The current firm x programme results of a date, filtered and paged."""
        from huiqi.cli.shared import call, date, store

        found = call(
            matching.results,
            store(),
            on=date(on, "--on"),
            programme=programme,
            eligible=eligible,
            uscc=uscc,
            limit=limit,
            offset=offset,
        )
        for r in found.items:
            unmet = f"  unmet: {', '.join(r.unmet)}" if r.unmet else ""
            typer.echo(f"{r.uscc}  {r.programme}  {'eligible' if r.eligible else '-'}  {r.amount}{unmet}")
        typer.echo(f"{len(found.items)} of {found.total:,} row(s)")

    @group.command("firm")
    def firm(uscc: str = typer.Argument(...)) -> None:
        """What the latest match found for one firm: the programmes it qualifies for, with amounts."""
        from huiqi.cli.shared import call, store

        found = call(matching.firm_results, store(), uscc=uscc)
        if found.run_id is None:
            typer.echo("no match has been run yet")
            return
        for r in found.results:
            typer.echo(f"{r.programme}  {r.amount}")
        typer.echo(f"{len(found.results)} programme(s) in run {found.run_id} on {found.on}")

    @group.command("outbox")
    def outbox(
        lang: str = typer.Option("en", "--lang", help="en or zh"),
        limit: int = typer.Option(20, "--limit", min=1),
        uscc: str = typer.Option(None, "--uscc", help="one firm's inbox"),
        pack: list[str] = typer.Option([], "--pack", help="programme pack or folder (default: bundled)"),
    ) -> None:
        """The newest 'you qualify' notifications (one firm's with --uscc)."""
        from huiqi.cli.shared import call, store
        from huiqi.rules.loader import load_pack

        programmes = call(load_pack, *pack)
        if uscc:
            box = call(matching.firm_inbox, store(), uscc=uscc, programmes=programmes, limit=limit)
        else:
            box = call(matching.outbox, store(), programmes=programmes, limit=limit)
        for n in box.items:
            typer.echo(f"--- {n.uscc} {n.programme} v{n.version} ({n.status})")
            typer.echo(n.message(lang))
