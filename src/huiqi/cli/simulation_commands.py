"""`huiqi simulate` (a reform over a register) and `huiqi compare-cities` (a plan in five cities)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from huiqi.cli.rules_commands import Format, Lang, fail


def _date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        register_path: Annotated[
            Path, typer.Option("--register", help="register directory (Parquet + register.json)")
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
    ) -> None:
        """Run baseline and reform over a register: cost, winners and losers, breakdowns, pool sufficiency."""
        from huiqi.cli.rules_commands import load
        from huiqi.firms.register import RegisterError, read_register
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
        try:
            tables = read_register(register_path)
        except RegisterError as exc:
            fail(f"error: {exc}")
        sim = run(applied, tables, day)
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
