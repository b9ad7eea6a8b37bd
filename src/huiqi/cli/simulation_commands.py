"""`huiqi simulate` (a reform over a register) and `huiqi compare-cities` (a plan in five cities): the use
cases of ``huiqi.app.sandbox``, the same as the API's and the pages'."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import sandbox
from huiqi.cli.rules_commands import Format, Lang, load, say
from huiqi.cli.shared import call, fail, store
from huiqi.firms import ProfileError, load_firm


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


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
        on: Annotated[
            str | None, typer.Option("--on", help="evaluation date (default today in Shanghai)")
        ] = None,
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
                help="results Parquet of huiqi match --out for this register (a directory or db) and date: "
                "the baseline is read from it (checked) and only the reform is computed",
            ),
        ] = None,
        stored: Annotated[
            bool,
            typer.Option("--stored-baseline/--compute-baseline", hidden=True, help="removed: see --baseline"),
        ] = False,
        lang: Annotated[
            Lang, typer.Option("--lang", help="the report's language (text, charts, HTML)")
        ] = Lang.en,
    ) -> None:
        """Run baseline and reform over a register: cost, winners and losers, breakdowns, pool sufficiency.

        With ``--baseline FILE`` (what ``huiqi match --register PATH|db --on DATE --out FILE.parquet``
        wrote) the baseline of the affected programmes is read from the file when it is for the same
        programme versions, date and register; otherwise both sides are computed, and a note on stderr says
        why."""
        from huiqi.firms.register import RegisterError

        if stored:
            fail(
                "--stored-baseline is no longer offered: the runs huiqi match keeps do not record the "
                "programmes' digests, so their results cannot be checked against the programmes in force; "
                "write the run to a file (huiqi match --register db --on DATE --out FILE.parquet) and give "
                "--baseline FILE.parquet"
            )
        if reform is None and not sets:
            fail("give a reform: --reform FILE and/or --set programme.id.parameter=value")
        try:
            sim = call(
                sandbox.simulate_reform,
                store() if register_path == sandbox.IN_DATABASE else None,
                programmes=load(pack),
                register=register_path,
                reform_file=reform,
                sets=sets or (),
                on=_date(on),
                baseline_file=baseline_file,
                out=out,
                lang=lang.value,
            )
        except RegisterError as exc:
            fail(str(exc))
        for note in sim.notes:
            typer.echo(f"note: {note}", err=True)
        if fmt is Format.json:
            typer.echo(json.dumps(sim.result, ensure_ascii=False, indent=2))
        else:
            typer.echo(sim.text)
            if out is not None:
                written = "report: {report}; charts (PNG, SVG) and simulation.json in {out}"
                typer.echo("\n" + say(written, lang.value, report=out / "report.html", out=out))

    @app.command("compare-cities")
    def compare_cities(
        firm_file: Annotated[
            Path, typer.Argument(help="firm profile (JSON or YAML); its contracts and offices are the plan")
        ],
        on: Annotated[
            str | None, typer.Option("--on", help="evaluation date (default today in Shanghai)")
        ] = None,
        fmt: Annotated[Format, typer.Option("--format")] = Format.text,
        lang: Annotated[Lang, typer.Option("--lang")] = Lang.en,
        out: Annotated[
            Path | None, typer.Option("--out", help="directory for the chart (PNG, SVG) and cities.html")
        ] = None,
        brief: Annotated[bool, typer.Option("--brief", help="the table only, no explanations")] = False,
    ) -> None:
        """Subsidies, net cost and explanations of a firm's plan in Shanghai, Beijing, Shenzhen, Hangzhou and
        Chengdu, side by side."""
        day = _date(on)
        try:
            firm = load_firm(firm_file)
        except ProfileError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot read {firm_file}: {exc}")
        comp = call(
            sandbox.compare_cities, None, programmes=load(None), firm=firm, on=day, lang=lang.value, out=out
        )
        if fmt is Format.json:
            typer.echo(json.dumps(comp.comparison, ensure_ascii=False, indent=2))
        else:
            typer.echo(comp.table if brief else comp.text)
            if out is not None:
                files = {"png": out / "cities.png", "svg": out / "cities.svg", "page": out / "cities.html"}
                typer.echo("\n" + say("chart: {png}, {svg}; page: {page}", lang.value, **files))
