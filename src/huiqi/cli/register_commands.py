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
