"""`huiqi simulate` (a reform over a register) and `huiqi compare-cities` (a plan in five cities)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from huiqi.cli.rules_commands import Format, Lang, fail

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.orm import Session

    from huiqi.simulation.baseline import StoredBaseline
    from huiqi.simulation.reform import AppliedReform


def _date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _checked(
    applied: AppliedReform,
    tables: dict[str, pa.Table],
    day: dt.date,
    load: Callable[[list[str], list[str]], StoredBaseline],
) -> StoredBaseline | None:
    """The stored baseline if it passes every check (and the spot check); else None and a note why."""
    from huiqi.simulation.baseline import BaselineRefused, spot_check
    from huiqi.simulation.run import joint_programmes

    _, _, mates = joint_programmes(applied)
    try:
        found = load(sorted(applied.affected), mates)
        spot_check(found, applied.baseline, tables, day)
    except BaselineRefused as exc:
        typer.echo(f"note: stored baseline not used: {exc}; computing baseline and reform", err=True)
        return None
    typer.echo(f"note: baseline read from {found.source}; only the reform is computed", err=True)
    return found


def _from_db(
    applied: AppliedReform, day: dt.date, stored: bool
) -> tuple[StoredBaseline | None, dict[str, pa.Table]]:
    """The stored register and, when asked and fitting, the stored baseline of the affected programmes."""
    from huiqi.cli.shared import read_only
    from huiqi.matching.store import load_register
    from huiqi.simulation.baseline import from_store

    def work(session: Session) -> tuple[StoredBaseline | None, dict[str, pa.Table]]:
        tables = load_register(session)
        if not stored:
            return None, tables
        found = _checked(
            applied,
            tables,
            day,
            lambda ids, mates: from_store(session, applied.baseline, tables, day, ids, mates),
        )
        return found, tables

    return read_only(work)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        register_path: Annotated[
            str, typer.Option("--register", help="register directory (Parquet + register.json), or 'db'")
        ],
        reform: Annotated[Path | None, typer.Option("--reform", help="reform file (YAML)")] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="programme.id.parameter[@YYYY-MM-DD]=value; may repeat; after --reform"
            ),
        ] = None,
        on: Annotated[str | None, typer.Option("--on", help="evaluation date (default today)")] = None,
        pack: Annotated[
            list[str] | None, typer.Option("--pack", help="pack name or directory (default all)")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="directory for charts (PNG, SVG) and report.html")
        ] = None,
        fmt: Annotated[Format, typer.Option("--format")] = Format.text,
        baseline_file: Annotated[
            Path | None,
            typer.Option(
                "--baseline",
                help="results Parquet of huiqi match --out for this register and date: the baseline is "
                "read from it (checked) and only the reform is computed",
            ),
        ] = None,
        stored: Annotated[
            bool,
            typer.Option(
                "--stored-baseline/--compute-baseline",
                help="with --register db: read the baseline from the stored match results when they fit "
                "(off by default: at 3 M firms reading and checking them costs more than computing)",
            ),
        ] = False,
    ) -> None:
        """Run baseline and reform over a register: cost, winners and losers, breakdowns, pool sufficiency.

        The baseline of the affected programmes is read from stored match results when they are for the
        same programme files, date and register (``--register db``, or ``--baseline FILE``); otherwise both
        sides are computed, and a note on stderr says why."""
        from huiqi.cli.rules_commands import load
        from huiqi.firms.register import RegisterError, read_register
        from huiqi.simulation.baseline import from_parquet
        from huiqi.simulation.reform import ReformError, apply_reform, load_reform, parse_sets
        from huiqi.simulation.run import simulate as run

        if reform is None and not sets:
            fail("error: give a reform: --reform FILE and/or --set programme.id.parameter=value")
        day = _date(on)
        programmes = load(pack)
        try:
            parts = []
            if reform is not None:
                parts.append(load_reform(reform))
            if sets:
                parts.append(parse_sets(sets))
            combined = parts[0]
            for p in parts[1:]:
                combined = combined.combine(p)
            applied = apply_reform(programmes, combined)
        except ReformError as exc:
            fail(f"error: the reform is refused:\n{exc}")
        if baseline_file is not None and register_path == "db":
            fail("error: --baseline is for a register directory; --register db reads the stored results")
        stored_baseline = None
        if register_path == "db":
            stored_baseline, tables = _from_db(applied, day, stored)
        else:
            try:
                tables = read_register(register_path)
            except RegisterError as exc:
                fail(f"error: {exc}")
            if baseline_file is not None:
                stored_baseline = _checked(
                    applied,
                    tables,
                    day,
                    lambda ids, mates: from_parquet(baseline_file, applied.baseline, tables, day, ids, mates),
                )
        sim = run(applied, tables, day, baseline=stored_baseline)
        if out is not None:
            from huiqi.reports.charts import simulation_charts
            from huiqi.reports.html import simulation_html

            charts = simulation_charts(sim, out)
            (out / "report.html").write_text(simulation_html(sim, charts), encoding="utf-8")
            (out / "simulation.json").write_text(
                json.dumps(sim.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        if fmt is Format.json:
            typer.echo(json.dumps(sim.to_json(), ensure_ascii=False, indent=2))
        else:
            from huiqi.reports.text import render_simulation

            typer.echo(render_simulation(sim))
            if out is not None:
                typer.echo(f"\nreport: {out / 'report.html'}; charts (PNG, SVG) and simulation.json in {out}")

    @app.command("compare-cities")
    def compare_cities(
        firm_file: Annotated[
            Path, typer.Argument(help="firm profile (JSON or YAML); its contracts and offices are the plan")
        ],
        on: Annotated[str | None, typer.Option("--on", help="evaluation date (default today)")] = None,
        fmt: Annotated[Format, typer.Option("--format")] = Format.text,
        lang: Annotated[Lang, typer.Option("--lang")] = Lang.en,
        out: Annotated[
            Path | None, typer.Option("--out", help="directory for the chart (PNG, SVG) and cities.html")
        ] = None,
        brief: Annotated[bool, typer.Option("--brief", help="the table only, no explanations")] = False,
    ) -> None:
        """Subsidies, net cost and explanations of a firm's plan in Shanghai, Beijing, Shenzhen, Hangzhou and
        Chengdu, side by side."""
        from huiqi.cli.rules_commands import load
        from huiqi.firms import ProfileError, load_firm
        from huiqi.simulation.cities import compare_cities as run
        from huiqi.simulation.cities import render_comparison

        day = _date(on)
        try:
            firm = load_firm(firm_file)
        except ProfileError as exc:
            fail(f"error: {exc}")
        except OSError as exc:
            fail(f"error: cannot read {firm_file}: {exc}")
        comp = run(firm, day, load(None))
        if out is not None:
            from huiqi.reports.charts import city_chart
            from huiqi.reports.html import cities_html

            chart = city_chart(comp, out)
            (out / "cities.html").write_text(cities_html(comp, chart, lang=lang.value), encoding="utf-8")
        if fmt is Format.json:
            typer.echo(json.dumps(comp.to_json(lang.value), ensure_ascii=False, indent=2))
        else:
            typer.echo(render_comparison(comp, lang=lang.value, explanations=not brief))
            if out is not None:
                typer.echo(
                    f"\nchart: {out / 'cities.png'}, {out / 'cities.svg'}; page: {out / 'cities.html'}"
                )
