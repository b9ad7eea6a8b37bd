"""Commands of the rules engine: programmes, check, schema (the demo is in web_commands). Each calls a use
case of ``huiqi.app.programmes``, the same as the API and the pages."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import catalogue
from huiqi.app import programmes as use
from huiqi.app.jsonable import as_json
from huiqi.app.registry import Packs, ProgrammeRegistry, ProgrammeSource, open_packs
from huiqi.cli.shared import call, default_actor, fail, store
from huiqi.firms import ProfileError, load_firm
from huiqi.money import format_yuan
from huiqi.rules.errors import ProgrammeError, UnknownProgramme
from huiqi.rules.explain import render_explanation


class Format(StrEnum):
    text = "text"
    json = "json"


class Lang(StrEnum):
    en = "en"
    zh = "zh"


#: the programme commands' fixed words in Chinese (``--lang zh``); a programme's own text has its zh already
ZH = {
    "effective {start} – {end} ({status}); benefit: {benefit}": (
        "有效期 {start} – {end}（{status}）；扶持方式：{benefit}"
    ),
    "versions: ": "版本：",
    "pool {id}: {name}, {size}": "资金池 {id}：{name}，{size}",
    "Parameters:": "参数：",
    " (assumption)": "（假设）",
    "from {date}: {value}": "自 {date} 起：{value}",
    "Values:": "计算值：",
    "Conditions (all must hold):": "条件（须全部满足）：",
    "Exclusions (none may apply):": "排除情形（均不得适用）：",
    "Amount:": "金额：",
    "{eligible} of {count} programmes; total {total}": "{count} 项政策中符合 {eligible} 项；合计 {total}",
    # a diff of two versions (``programmes diff``): its sections, changes, kinds of rule and head fields
    "Rules:": "规则：",
    "Test cases:": "测试用例：",
    "no difference": "无差异",
    "added": "新增",
    "removed": "删除",
    "changed": "修改",
    "condition": "条件",
    "exclusion": "排除情形",
    "value": "计算值",
    "amount": "金额",
    "name": "名称",
    "benefit": "扶持方式",
    "authority": "发布机关",
    "effective": "有效期",
    "legal_basis": "政策依据",
    "pool": "资金池",
    "Cost over the register on {on} ({old} -> {new}):": "登记册上的成本，{on}（{old} -> {new}）：",
    # what ``programmes load`` did, where ``simulate`` and ``compare-cities`` wrote their files
    "{id} version {version} is loaded, in force from {on}{follows}": (
        "{id} 版本 {version} 已载入，自 {on} 起生效{follows}"
    ),
    ", following version {version}": "，接续版本 {version}",
    "{id} version {version} is now in force{replaced}": "{id} 版本 {version} 现已生效{replaced}",
    ", replacing version {version}": "，取代版本 {version}",
    "report: {report}; charts (PNG, SVG) and simulation.json in {out}": (
        "报告：{report}；图表（PNG、SVG）与 simulation.json 在 {out}"
    ),
    "chart: {png}, {svg}; page: {page}": "图表：{png}，{svg}；页面：{page}",
    # a selection's outcomes (``selection explain``)
    "designated": "已认定",
    "reserve": "候补",
    "not_selected": "未入选",
    "ineligible": "不符合条件",
    # a version's status on the date, a programme's kind of benefit
    "in-force": "有效",
    "upcoming": "即将生效",
    "ended": "已终止",
    "withdrawn": "已撤回",
    "designation": "认定",
    "grant": "资助",
    "rent_subsidy": "房租补贴",
    "voucher": "券",
    "award": "奖励",
}


def say(text: str, lang: str, **values: object) -> str:
    """A command's fixed words in the reader's language (``ZH`` for Chinese), its blanks filled in, so that
    ``--lang zh`` leaves no English heading around the programme's Chinese text."""
    said = ZH.get(text, text) if lang == "zh" else text
    return said.format(**values) if values else said


def pad(text: str, width: int) -> str:
    """``text`` filled with spaces to ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - used, 0)


def load(packs: list[str] | None) -> Packs:
    """The programmes of the packs named (default: every bundled pack); a refusal is exit code 2."""
    try:
        return open_packs(packs or ())
    except ProgrammeError as exc:
        fail(f"the programmes could not be loaded:\n{exc}")


def served(packs: list[str] | None) -> ProgrammeSource:
    """The programmes of the packs named, or (none named) every version the site serves: the bundled packs
    and the versions loaded with ``huiqi programmes load`` or an officer's upload."""
    if packs:
        return load(packs)
    from huiqi.config import get_settings

    registry = ProgrammeRegistry(get_settings().programmes_dir)
    try:
        registry.programmes()
    except ProgrammeError as exc:
        fail(f"the programmes could not be loaded:\n{exc}")
    return registry


def echo_json(data: object) -> None:
    """A read model as the API's JSON, indented."""
    typer.echo(json.dumps(as_json(data), ensure_ascii=False, indent=2))


OnOpt = Annotated[str | None, typer.Option("--on", help="the date, YYYY-MM-DD (default: today in Shanghai)")]


def day_of(on: str | None) -> dt.date | None:
    """The date of an ``--on`` option (exit code 2 if it is not one)."""
    try:
        return dt.date.fromisoformat(on) if on else None
    except ValueError:
        fail(f"--on {on!r}: expected a date as YYYY-MM-DD")


PackOpt = Annotated[
    list[str] | None,
    typer.Option("--pack", help="bundled pack name or directory (default: all bundled packs)"),
]

programmes_app = typer.Typer(
    help="Programme files: list, read, validate and test them; draft, review, publish, withdraw and diff "
    "versions.",
    no_args_is_help=True,
)


@programmes_app.command("list")
def list_programmes(
    pack: PackOpt = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
    lang: Lang = Lang.en,
    on: OnOpt = None,
    q: Annotated[str, typer.Option("--q", help="words of the names, documents, conditions (zh or en)")] = "",
    city: Annotated[str | None, typer.Option(help="the city's pack, e.g. shanghai")] = None,
    sector: Annotated[str | None, typer.Option(help="open to firms of this sector")] = None,
    benefit: Annotated[str | None, typer.Option(help="voucher, grant, award, ...")] = None,
    min_amount: Annotated[str | None, typer.Option(help="may pay a firm at least this (yuan)")] = None,
    status: Annotated[str, typer.Option(help="all, current, in-force, upcoming, ended")] = "all",
) -> None:
    """List every version of every programme with its period and status on the date (default today); with
    a filter, the catalogue's search (the same as GET /api/v1/programmes?q=&sector=&status=...)."""
    if q or city or sector or benefit or min_amount or status != "all":
        try:
            amount = catalogue.min_amount_of(min_amount, what="--min-amount")
        except catalogue.CatalogueQueryError as exc:
            fail(str(exc))
        try:
            found = call(
                catalogue.search_programmes,
                served(pack),
                q=q,
                city=city,
                sector=sector,
                benefit=benefit,
                min_amount=amount,
                status=status,
                on=day_of(on),
                lang=lang.value,
            )
        except catalogue.CatalogueQueryError as exc:
            fail(f"--{exc}")
        rows: tuple[use.ProgrammeSummary, ...] = found.entries
    else:
        rows = call(use.list_programmes, served(pack), lang=lang.value, on=day_of(on))
    if fmt is Format.json:
        echo_json(rows)
        return
    width = max((len(r.id) for r in rows), default=0)
    lg = lang.value
    for r in rows:
        period = f"{r.effective_from} – {r.effective_to or '…'}"
        status, benefit = pad(say(r.status, lg), 9), pad(say(r.benefit, lg), 13)
        typer.echo(f"{r.id:<{width}}  {r.version:<8} {period:<25} {status} {benefit} {r.name}")


def _note(note: str | None, lang: str) -> list[str]:
    """A note under its entry, headed in the reader's language (none when the file gives none)."""
    if not note:
        return []
    return [f"      {'注：' if lang == 'zh' else 'note: '}{' '.join(note.split())}"]


@programmes_app.command("show")
def show(
    programme_id: str,
    pack: PackOpt = None,
    lang: Lang = Lang.en,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
    version: Annotated[str | None, typer.Option(help="this version (default: the one in force)")] = None,
    on: OnOpt = None,
) -> None:
    """Show a programme as a readable document: its basis, parameters and conditions with their clauses
    (the version in force on the date, default today, or ``--version``)."""
    source = served(pack)
    try:
        d = use.show_programme(
            source, programme_id=programme_id, version=version, on=day_of(on), lang=lang.value
        )
    except UnknownProgramme as exc:
        fail(f"unknown programme {exc}; known: {', '.join(source.programmes())}")
    if fmt is Format.json:
        echo_json(d)
        return
    lg = lang.value
    out = [f"{d.name}  [{d.id} {d.version}]", f"{d.authority}"]
    for b in d.legal_basis:
        out.append(f"  {b.title} ({b.number}, {b.date})" + (f" {b.url}" if b.url else ""))
        out += _note(b.note, lg)
    effective = say(
        "effective {start} – {end} ({status}); benefit: {benefit}",
        lg,
        start=d.effective_from,
        end=d.effective_to or "…",
        status=say(d.status, lg),
        benefit=say(d.benefit, lg),
    )
    out.append(f"  {effective}")
    if len(d.versions) > 1:
        out.append(
            f"  {say('versions: ', lg)}"
            + "; ".join(f"{v.version} {v.effective_from} – {v.effective_to or '…'}" for v in d.versions)
        )
    if d.pool and d.pool_size is not None:
        size = format_yuan(d.pool_size, lang=lg)
        out.append(f"  {say('pool {id}: {name}, {size}', lg, id=d.pool, name=d.pool_name, size=size)}")
    if d.summary:
        out.append(f"\n{d.summary}")
    out.append(f"\n{say('Parameters:', lg)}")
    for p in d.parameters:
        marker = say(" (assumption)", lg) if p.assumption else ""
        out.append(f"  {p.name}: {p.label}{marker}  〔{p.clause}〕")
        out += [f"      {say('from {date}: {value}', lg, date=v.from_, value=v.value)}" for v in p.values]
        out += _note(p.note, lg)
    if d.values:
        out.append(f"\n{say('Values:', lg)}")
        for v in d.values:
            out += [f"  {v.name} = {v.expr}    # {v.label}", *_note(v.note, lg)]
    out.append(f"\n{say('Conditions (all must hold):', lg)}")
    for c in d.conditions:
        out += [f"  [{c.id}] {c.label}  〔{c.clause}〕\n      {c.test}", *_note(c.note, lg)]
    if d.exclusions:
        out.append(f"\n{say('Exclusions (none may apply):', lg)}")
        for x in d.exclusions:
            out += [f"  [{x.id}] {x.label}  〔{x.clause}〕\n      {x.when}", *_note(x.note, lg)]
    if d.amount:
        out.append(f"\n{say('Amount:', lg)} {d.amount.label}  〔{d.amount.clause}〕")
        out.append(f"      {d.amount.expr}")
        out += _note(d.amount.note, lg)
    typer.echo("\n".join(out))


@programmes_app.command("validate")
def validate(paths: list[Path]) -> None:
    """Validate programme files (or folders of them); the bundled packs are known for references."""
    files = use.programme_files_in(paths)
    if not files:
        fail("no programme files (*.programme.yaml) found")
    try:
        checked = use.validate_programmes(load(None), files=files)
    except ProgrammeError as exc:
        fail(f"{exc}\n{len(exc.problems)} problem(s); nothing was loaded")
    for v in checked:
        typer.echo(f"ok  {v.programme.id} {v.programme.version}  ({v.source})")


@programmes_app.command("load")
def load_file(path: Path, lang: Lang = Lang.en) -> None:
    """Load a new version of a programme for the site at once (the files of HUIQI_PROGRAMMES_DIR, read after
    the bundled packs; the server's workers take it up within a second), recorded in the audit chain: the
    operator's bootstrap, without review; officers publish through ``draft``, ``submit`` and a second
    officer's ``review --approve`` (docs/programmes.md). It sits beside the other versions and is in force
    from its ``effective`` date; a version already loaded, a period overlapping another version's, or a file
    that does not load with the others, is refused and nothing changes."""
    from huiqi.config import get_settings

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    loaded = call(
        use.load_programme,
        store(),
        registry=ProgrammeRegistry(get_settings().programmes_dir),
        filename=path.name,
        text=text,
        actor=default_actor(),
        lang=lang.value,
    )
    lg, before = lang.value, loaded.previous_version
    if loaded.status == "upcoming":
        follows = say(", following version {version}", lg, version=before) if before else ""
        loaded_line = "{id} version {version} is loaded, in force from {on}{follows}"
        on = loaded.effective_from
        typer.echo(say(loaded_line, lg, id=loaded.id, version=loaded.version, on=on, follows=follows))
        return
    replaced = say(", replacing version {version}", lg, version=before) if before else ""
    in_force = "{id} version {version} is now in force{replaced}"
    typer.echo(say(in_force, lg, id=loaded.id, version=loaded.version, replaced=replaced))


@programmes_app.command("test")
def test(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="pack folders (default: the bundled packs)")
    ] = None,
    verbose: bool = False,
) -> None:
    """Run the programmes' test cases (``*.tests.yaml``); exit 1 if any fails."""
    folders = paths or []
    run = call(use.run_programme_tests, load([str(p) for p in folders]), folders=folders)
    for case in run.cases:
        if verbose or not case.passed:
            mark = "ok  " if case.passed else "FAIL"
            typer.echo(f"{mark} {case.location}  {case.programme}: {case.name}")
            for f in case.failures:
                typer.echo(f"       {f}")
    typer.echo(f"{run.passed} passed, {run.failed} failed")
    if run.failed:
        raise typer.Exit(1)


def check(
    firm: Path,
    on: Annotated[
        str | None, typer.Option(help="evaluation date, YYYY-MM-DD (default: today in Shanghai)")
    ] = None,
    programme: Annotated[list[str] | None, typer.Option(help="only these programme ids")] = None,
    all_cities: Annotated[
        bool, typer.Option("--all", help="every city's programmes in force, not only the firm's city's")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
    lang: Lang = Lang.en,
    pack: PackOpt = None,
) -> None:
    """The policy calculator: which programmes a firm qualifies for on a date, how much, and why.

    By default the programmes of the firm's registration city in force on the date (as the web's
    calculator); ``--all``: every city's (also with ``--pack``: every programme of the packs named);
    ``--programme``: exactly those."""
    when = day_of(on)
    try:
        profile = load_firm(firm)
    except ProfileError as exc:
        fail(str(exc))
    source = served(pack)
    try:
        answer = call(
            use.check_firm,
            source,
            firm=profile,
            on=when,
            ids=programme or None,
            all_cities=all_cities or bool(pack),
            lang=lang.value,
        )
    except UnknownProgramme as exc:
        fail(f"{exc}; known: {', '.join(source.programmes())}")
    if fmt is Format.json:
        echo_json(answer)
        return
    name = profile.name_zh if lang is Lang.zh else (profile.name_en or profile.name_zh)
    typer.echo(f"{name} ({profile.uscc}), {answer.date}\n")
    for r in answer.results:
        typer.echo(render_explanation(r.explanation, lang.value) + "\n")
    total = format_yuan(Decimal(answer.total), lang=lang.value)
    typer.echo(
        say(
            "{eligible} of {count} programmes; total {total}",
            lang.value,
            eligible=answer.eligible_count,
            count=len(answer.results),
            total=total,
        )
    )


class SchemaKind(StrEnum):
    firm = "firm"
    programme = "programme"


def schema(kind: SchemaKind) -> None:
    """Print the JSON Schema of a firm profile or of a programme file."""
    typer.echo(json.dumps(use.json_schema(kind=kind.value), ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    from huiqi.cli import lifecycle_commands  # noqa: F401  (adds draft, review, publish, ... to the group)

    app.add_typer(programmes_app, name="programmes")
    app.command("check")(check)
    app.command("schema")(schema)

    @app.command("version")
    def version() -> None:
        """Print huiqi's version."""
        from huiqi import __version__

        typer.echo(__version__)
