"""Commands of the rules engine: programmes, check, schema (the demo is in web_commands)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from huiqi.firms import ProfileError, load_firm
from huiqi.money import format_yuan, yuan
from huiqi.rules.errors import ProgrammeError, UnknownProgramme
from huiqi.rules.programme import Programme


class Format(StrEnum):
    text = "text"
    json = "json"


class Lang(StrEnum):
    en = "en"
    zh = "zh"


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def load(packs: list[str] | None) -> dict[str, Programme]:
    from huiqi.rules.loader import load_pack

    try:
        return load_pack(*(packs or []))
    except ProgrammeError as exc:
        fail(f"error: the programmes could not be loaded:\n{exc}")


PackOpt = Annotated[
    list[str] | None,
    typer.Option("--pack", help="bundled pack name or directory (default: all bundled packs)"),
]

programmes_app = typer.Typer(
    help="Programme files: list, read, validate and test them.", no_args_is_help=True
)


@programmes_app.command("list")
def list_programmes(
    pack: PackOpt = None, fmt: Annotated[Format, typer.Option("--format")] = Format.text
) -> None:
    """List the loaded programmes."""
    progs = load(pack)
    rows: list[dict[str, Any]] = [
        {
            "id": p.id,
            "version": p.version,
            "name_en": p.spec.name.en,
            "name_zh": p.spec.name.zh,
            "benefit": p.spec.benefit,
            "document": p.document(None).number,
            "effective_from": p.spec.effective.start.isoformat(),
            "effective_to": p.spec.effective.end.isoformat() if p.spec.effective.end else None,
            "pool": p.spec.pool.id if p.spec.pool else None,
            "source": p.source,
        }
        for p in progs.values()
    ]
    if fmt is Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['id']:<{width}}  {r['version']:<8} {r['benefit']:<13} {r['name_en']}")


@programmes_app.command("show")
def show(programme_id: str, pack: PackOpt = None, lang: Lang = Lang.en) -> None:
    """Show a programme as a readable document: its basis, parameters and conditions with their clauses."""
    from huiqi.rules.explain import fmt

    progs = load(pack)
    if programme_id not in progs:
        fail(f"error: unknown programme {programme_id!r}; known: {', '.join(progs)}")
    p = progs[programme_id]
    s, lg = p.spec, lang.value
    out = [f"{s.name.get(lg)}  [{p.id} {p.version}]", f"{s.authority.get(lg)}"]
    for d in s.legal_basis:
        out.append(f"  {d.title.get(lg)} ({d.number}, {d.date})" + (f" {d.url}" if d.url else ""))
    out.append(f"  effective {s.effective.start} – {s.effective.end or '…'}; benefit: {s.benefit}")
    if s.pool:
        out.append(f"  pool {s.pool.id}: {s.pool.name.get(lg)}, {format_yuan(yuan(s.pool.size), lang=lg)}")
    if s.summary:
        out.append(f"\n{s.summary.get(lg)}")
    out.append("\nParameters:")
    for name, param in s.parameters.items():
        marker = " (assumption)" if param.assumption else ""
        out.append(f"  {name}: {param.label.get(lg)}{marker}  〔{p.cite(param.clause, param.doc)}〕")
        for dv, value in zip(param.values, p.params[name].values, strict=True):
            out.append(f"      from {dv.start}: {fmt(value, param.unit, lg)}")
        if param.note:
            out.append(f"      note: {param.note.strip()}")
    if s.values:
        out.append("\nValues:")
        for name, v in s.values.items():
            out.append(f"  {name} = {v.expr.strip()}    # {v.label.get(lg)}")
    out.append("\nConditions (all must hold):")
    for c in s.conditions:
        out.append(f"  [{c.id}] {c.label.get(lg)}  〔{p.cite(c.clause, c.doc)}〕\n      {c.test.strip()}")
    if s.exclusions:
        out.append("\nExclusions (none may apply):")
        for x in s.exclusions:
            out.append(f"  [{x.id}] {x.label.get(lg)}  〔{p.cite(x.clause, x.doc)}〕\n      {x.when.strip()}")
    if s.amount:
        out.append(f"\nAmount: {s.amount.label.get(lg)}  〔{p.cite(s.amount.clause, s.amount.doc)}〕")
        out.append(f"      {s.amount.expr.strip()}")
    typer.echo("\n".join(out))


@programmes_app.command("validate")
def validate(paths: list[Path]) -> None:
    """Validate programme files (or folders of them); the bundled packs are known for references."""
    from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_programmes, programme_files

    files: list[Path] = []
    for path in paths:
        files += programme_files(path) if path.is_dir() else [path]
    if not files:
        fail("error: no programme files (*.programme.yaml) found")
    own = {f.resolve() for f in files}
    others = [
        f
        for name in bundled_packs()
        for f in programme_files(bundled_pack_dir(name))
        if f.resolve() not in own
    ]
    try:
        known = load_programmes(others)
        loaded = load_programmes(files, known_ids=known)
    except ProgrammeError as exc:
        fail(f"{exc}\n{len(exc.problems)} problem(s); nothing was loaded")
    for p in loaded.values():
        typer.echo(f"ok  {p.id} {p.version}  ({p.source})")


@programmes_app.command("test")
def test(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="pack folders (default: the bundled packs)")
    ] = None,
    verbose: bool = False,
) -> None:
    """Run the programmes' test cases (``*.tests.yaml``); exit 1 if any fails."""
    from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_pack
    from huiqi.rules.testing import collect_cases, run_cases

    dirs = paths or [bundled_pack_dir(n) for n in bundled_packs()]
    try:
        progs = load_pack(*dirs) if paths else load_pack()
        cases = collect_cases(dirs)
    except ProgrammeError as exc:
        fail(str(exc))
    results = run_cases(progs, cases)
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            mark = "ok  " if r.passed else "FAIL"
            typer.echo(f"{mark} {r.case.location}  {r.case.programme}: {r.case.name}")
            for f in r.failures:
                typer.echo(f"       {f}")
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def check(
    firm: Path,
    on: Annotated[str | None, typer.Option(help="evaluation date, YYYY-MM-DD (default: today)")] = None,
    programme: Annotated[list[str] | None, typer.Option(help="only these programme ids")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
    lang: Lang = Lang.en,
    pack: PackOpt = None,
) -> None:
    """The policy calculator: which programmes a firm qualifies for on a date, how much, and why."""
    from huiqi.rules.evaluator import evaluate
    from huiqi.rules.explain import explain, render_text

    try:
        when = dt.date.fromisoformat(on) if on else dt.date.today()
    except ValueError:
        fail(f"error: --on {on!r}: expected a date as YYYY-MM-DD")
    try:
        profile = load_firm(firm)
    except ProfileError as exc:
        fail(f"error: {exc}")
    progs = load(pack)
    try:
        results = evaluate(progs, profile, when, programme)
    except UnknownProgramme as exc:
        fail(f"error: {exc}; known: {', '.join(progs)}")
    if fmt is Format.json:
        payload = {
            "firm": {"uscc": profile.uscc, "name_zh": profile.name_zh, "name_en": profile.name_en},
            "date": when.isoformat(),
            "results": [
                {
                    "programme": r.programme.id,
                    "version": r.programme.version,
                    "eligible": r.eligible,
                    "amount": str(r.amount),
                    "unmet": r.unmet,
                    "explanation": explain(r, lang.value),
                }
                for r in results
            ],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    name = profile.name_zh if lang is Lang.zh else (profile.name_en or profile.name_zh)
    typer.echo(f"{name} ({profile.uscc}), {when}\n")
    for r in results:
        typer.echo(render_text(r, lang.value) + "\n")
    total = sum((r.amount for r in results), start=Decimal(0))
    typer.echo(
        f"{sum(r.eligible for r in results)} of {len(results)} programmes; "
        f"total {format_yuan(total, lang=lang.value)}"
    )


class SchemaKind(StrEnum):
    firm = "firm"
    programme = "programme"


def schema(kind: SchemaKind) -> None:
    """Print the JSON Schema of a firm profile or of a programme file."""
    from huiqi.firms import Firm
    from huiqi.rules.spec import ProgrammeSpec

    model: Any = Firm if kind is SchemaKind.firm else ProgrammeSpec
    typer.echo(json.dumps(model.model_json_schema(by_alias=True), ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(programmes_app, name="programmes")
    app.command("check")(check)
    app.command("schema")(schema)

    @app.command("version")
    def version() -> None:
        """Print huiqi's version."""
        from huiqi import __version__

        typer.echo(__version__)
