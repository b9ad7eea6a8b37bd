"""Commands on the firm register: import register files (with history), export, a synthetic register
(to a directory or into the database), and a firm's change history."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from huiqi.app import register as registers


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The firm register: synthetic registers, register files.", no_args_is_help=True)
    app.add_typer(group, name="register")

    @group.command("synth")
    def synth(
        firms: int = typer.Option(..., "--firms", min=0, help="number of firms"),
        seed: int = typer.Option(
            0, "--seed", min=0, help="random seed; the same seed gives the same register"
        ),
        out: Path = typer.Option(
            None, "--out", help="directory to write (Parquet files + register.json); without it, --register"
        ),
        register_: str = typer.Option(
            None, "--register", help="'db': write into the (empty) register stored in the database"
        ),
        first_year: int = typer.Option(2019, "--first-year", help="first year of the yearly figures"),
        last_year: int = typer.Option(2025, "--last-year", help="last year of the yearly figures"),
    ) -> None:
        """Generate a deterministic synthetic register: a register directory, or into the database."""
        from huiqi.cli.shared import call, default_actor, fail, store

        if last_year < first_year:
            raise typer.BadParameter("--last-year must not be before --first-year")
        if (out is None) == (register_ != "db"):
            fail("give --out DIR (a register directory) or --register db (the database), one of them")
        with typer.progressbar(length=max(firms, 1), label="generating firms", show_pos=True) as bar:
            done = 0

            def advance(total: int) -> None:
                nonlocal done
                bar.update(total - done)
                done = total

            made = call(
                registers.synth_register,
                store() if register_ == "db" else None,
                firms=firms,
                seed=seed,
                out=out,
                first_year=first_year,
                last_year=last_year,
                actor=default_actor(),
                progress=advance,
            )
        typer.echo(f"register: {made.where}  (seed {seed}, years {first_year}-{last_year})")
        typer.echo(f"firms: {made.firms:,}")
        for sector, n in made.sectors:
            typer.echo(f"  {sector:<26}{n:>12,}")
        for name, n in made.children:
            typer.echo(f"{name}: {n:,}")
        typer.echo(f"generated in {made.generated_seconds:.1f} s, written in {made.written_seconds:.1f} s")

    @group.command("import")
    def import_(
        source: Path = typer.Argument(..., help="a .csv/.xlsx/.parquet file or a folder of table files"),
        mapping: Path = typer.Option(None, "--mapping", help="YAML column mapping (headers -> layout)"),
        register_: str = typer.Option("db", "--register", help="'db' (the database) or a register directory"),
        skip_invalid: bool = typer.Option(
            False, "--skip-invalid", help="import the good rows, reject the rest"
        ),
        rejected: Path = typer.Option(
            None, "--rejected", help="where --skip-invalid writes rejected rows (CSV)"
        ),
    ) -> None:
        """Import firms (and child tables) into the register, updating by credit code, keeping history."""
        from huiqi.cli.shared import call, default_actor, store

        with typer.progressbar(length=1, label="import", file=sys.stderr) as bar:
            shown = 0

            def advance(what: str, done: int, total: int) -> None:
                nonlocal shown
                bar.length = total
                bar.label = what
                bar.update(done - shown)
                shown = done

            outcome = call(
                registers.import_register,
                store(),
                source=source,
                mapping=mapping,
                register=register_,
                skip_invalid=skip_invalid,
                rejected=rejected,
                actor=default_actor(),
                progress=advance,
            )
        if outcome.rejected_file is not None:
            typer.echo(f"rejected rows with reasons: {outcome.rejected_file}")
        typer.echo(
            f"import {outcome.import_id}: {outcome.added} added, {outcome.changed} changed, "
            f"{outcome.unchanged} unchanged, {outcome.rejected} rejected row(s), "
            f"{outcome.changes} change(s) recorded"
        )

    @group.command("export")
    def export(
        out: Path = typer.Argument(..., help=".xlsx (a sheet per table), a folder (CSV files) or --parquet"),
        register_: str = typer.Option("db", "--register", help="'db' or a register directory"),
        parquet: bool = typer.Option(False, "--parquet", help="write a Parquet register directory"),
    ) -> None:
        """Export the register to CSV files, one xlsx workbook, or a Parquet register directory."""
        from huiqi.cli.shared import call, store

        done = call(registers.export_register, store(), out=out, register=register_, parquet=parquet)
        typer.echo(f"exported {done.firms:,} firms to {done.written}")

    @group.command("history")
    def history_(
        uscc: str = typer.Argument(...),
        register_: str = typer.Option("db", "--register", help="'db' or a register directory"),
    ) -> None:
        """What changed for a firm, when, and from which file."""
        from huiqi.cli.shared import call, store

        rows = call(registers.register_history, store(), uscc=uscc, register=register_)
        for r in rows:
            typer.echo(f"{r.at}  {r.source}  {r.field}: {r.old} -> {r.new}")
        if not rows:
            typer.echo(f"no history for {uscc}")
