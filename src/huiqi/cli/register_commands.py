"""Commands on the firm register: ``huiqi register synth`` writes a synthetic register to disk."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The firm register: synthetic registers, register files.", no_args_is_help=True)
    app.add_typer(group, name="register")

    @group.command("synth")
    def synth(
        firms: int = typer.Option(..., "--firms", min=0, help="number of firms"),
        seed: int = typer.Option(
            0, "--seed", min=0, help="random seed; the same seed gives the same register"
        ),
        out: Path = typer.Option(..., "--out", help="directory to write (Parquet files + register.json)"),
        first_year: int = typer.Option(2019, "--first-year", help="first year of the yearly figures"),
        last_year: int = typer.Option(2025, "--last-year", help="last year of the yearly figures"),
    ) -> None:
        """Generate a deterministic synthetic register and write it as a register directory."""
        import pyarrow.compute as pc

        from huiqi.firms.register import write_register
        from huiqi.firms.synth import synth_register

        if last_year < first_year:
            raise typer.BadParameter("--last-year must not be before --first-year")
        started = time.perf_counter()
        with typer.progressbar(length=max(firms, 1), label="generating firms", show_pos=True) as bar:
            done = 0

            def advance(total: int) -> None:
                nonlocal done
                bar.update(total - done)
                done = total

            tables = synth_register(firms, seed, years=range(first_year, last_year + 1), progress=advance)
        generated = time.perf_counter() - started
        typer.echo(f"writing {out} ...", err=True)
        write_register(tables, out)
        elapsed = time.perf_counter() - started

        typer.echo(f"register: {out}  (seed {seed}, years {first_year}-{last_year})")
        typer.echo(f"firms: {tables['firms'].num_rows:,}")
        counts = pc.value_counts(tables["firms"]["sector"]).to_pylist()
        for row in sorted(counts, key=lambda r: (-int(r["counts"]), str(r["values"]))):
            typer.echo(f"  {row['values']:<26}{int(row['counts']):>12,}")
        for name in ("offices", "designations", "incentives", "contracts", "credit_events"):
            typer.echo(f"{name}: {tables[name].num_rows:,}")
        typer.echo(f"generated in {generated:.1f} s, written in {elapsed - generated:.1f} s")

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
        from huiqi.cli.shared import default_actor, fail, transact
        from huiqi.firms.importing import (
            ImportError_,
            ImportRefused,
            load_mapping,
            read_source,
            write_rejected,
        )
        from huiqi.matching import store

        try:
            rules = load_mapping(mapping)
            if register_ == "db":

                def work(session: object) -> store.ImportOutcome:
                    batch = read_source(source, rules, known=store.known_codes(session))  # type: ignore[arg-type]
                    result = store.import_into_db(
                        session,  # type: ignore[arg-type]
                        batch,
                        actor=default_actor(),
                        skip_invalid=skip_invalid,
                    )
                    _rejects(batch, result)
                    return result

                def _rejects(batch: object, result: store.ImportOutcome) -> None:
                    if getattr(batch, "rejected", None) and skip_invalid:
                        target = rejected or source.with_name(source.stem + ".rejected.csv")
                        write_rejected(batch, target)  # type: ignore[arg-type]
                        typer.echo(f"rejected rows with reasons: {target}")

                outcome = transact(work)
            else:
                from huiqi.firms.importing import records_from_tables
                from huiqi.firms.register import MANIFEST, read_register

                root = Path(register_)
                known = set(records_from_tables(read_register(root))) if (root / MANIFEST).exists() else set()
                batch = read_source(source, rules, known=known)
                outcome = store.import_into_directory(root, batch, skip_invalid=skip_invalid)
                if batch.rejected and skip_invalid:
                    target = rejected or source.with_name(source.stem + ".rejected.csv")
                    write_rejected(batch, target)
                    typer.echo(f"rejected rows with reasons: {target}")
        except (ImportError_, ImportRefused) as exc:
            fail(str(exc))
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
        from huiqi.cli.shared import fail, read_only
        from huiqi.firms.exporting import ExportError, write_tables
        from huiqi.firms.register import RegisterError, read_register, write_register
        from huiqi.matching import store

        try:
            tables = read_only(store.load_register) if register_ == "db" else read_register(register_)
            written = write_register(tables, out) if parquet else write_tables(tables, out)
        except (ExportError, RegisterError) as exc:
            fail(str(exc))
        typer.echo(f"exported {tables['firms'].num_rows:,} firms to {written}")

    @group.command("history")
    def history_(
        uscc: str = typer.Argument(...),
        register_: str = typer.Option("db", "--register", help="'db' or a register directory"),
    ) -> None:
        """What changed for a firm, when, and from which file."""
        from huiqi.cli.shared import read_only
        from huiqi.matching import store

        if register_ == "db":
            rows = [
                {"at": c.at, "source": c.source, "field": c.field, "old": c.old, "new": c.new}
                for c in read_only(lambda s: store.history(s, uscc))
            ]
        else:
            rows = store.directory_history(register_, uscc)  # type: ignore[assignment]
        for r in rows:
            typer.echo(f"{r['at']}  {r['source']}  {r['field']}: {r['old']} -> {r['new']}")
        if not rows:
            typer.echo(f"no history for {uscc}")
