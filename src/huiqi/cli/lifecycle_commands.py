"""Programmes through their life (issue 15) on the command line, in the ``huiqi programmes`` group: ``draft``,
``drafts``, ``submit``, ``test-draft``, ``review`` (``--approve`` publishes, ``--reject`` sends it back with a
reason), ``publish``, ``withdraw``, ``diff`` (with ``--cost REGISTER``). Each calls a use case of
``huiqi.app.lifecycle``, as the API and the pages do; the actor is ``cli:<user>``, and the two-person rule
compares people (``cli:alice`` and ``web:alice`` are one), so a second officer publishes as their own user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import lifecycle as life
from huiqi.app.registry import ProgrammeRegistry
from huiqi.cli.rules_commands import Format, Lang, OnOpt, day_of, echo_json, programmes_app, say, served
from huiqi.cli.shared import call, default_actor, fail, local, store
from huiqi.rules.diff import ProgrammeDiff
from huiqi.rules.testing import TESTS_SUFFIX


def registry() -> ProgrammeRegistry:
    """The site's programmes (bundled packs and HUIQI_PROGRAMMES_DIR), as ``huiqi programmes load`` uses."""
    from huiqi.config import get_settings

    return ProgrammeRegistry(get_settings().programmes_dir)


def read(path: Path, what: str) -> str:
    """A file's text (exit code 2 if it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{what}: cannot read {path}: {exc}")


def sibling_tests(path: Path) -> Path | None:
    """``x.tests.yaml`` beside ``x.programme.yaml``, if there is one."""
    stem = path.name.removesuffix(".yaml").removesuffix(".yml").removesuffix(".programme")
    found = path.with_name(stem + TESTS_SUFFIX)
    return found if found.is_file() else None


@programmes_app.command("draft")
def draft(
    path: Path,
    tests: Annotated[
        Path | None, typer.Option(help="its test cases (default: the *.tests.yaml beside the file)")
    ] = None,
    edit: Annotated[int | None, typer.Option(help="replace this draft of yours instead of a new one")] = None,
) -> None:
    """Keep a programme file as your draft (validated first; nothing is in force until a second officer
    publishes it)."""
    text = read(path, "the programme file")
    tests_path = tests or sibling_tests(path)
    tests_text = read(tests_path, "the tests file") if tests_path else ""
    if edit is None:
        d = call(
            life.create_draft,
            store(),
            registry=registry(),
            filename=path.name,
            text=text,
            tests=tests_text,
            actor=default_actor(),
        )
    else:
        d = call(
            life.edit_draft,
            store(),
            registry=registry(),
            draft_id=edit,
            filename=path.name,
            text=text,
            tests=tests_text,
            actor=default_actor(),
        )
    with_tests = f" with the tests of {tests_path.name}" if tests_path else " without test cases"
    typer.echo(f"draft {d.id}: {d.programme_id} version {d.version}{with_tests} ({d.status})")
    typer.echo(f"next: huiqi programmes submit {d.id}")


@programmes_app.command("drafts")
def drafts(
    status: Annotated[str | None, typer.Option(help="draft, in-review, published or withdrawn")] = None,
    programme: Annotated[str | None, typer.Option(help="of this programme id")] = None,
    show: Annotated[int | None, typer.Option("--show", help="print this draft's file and tests")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """List programme drafts, newest first (``--show ID``: one draft's file and test cases)."""
    if show is not None:
        doc = call(life.get_draft, store(), draft_id=show)
        if fmt is Format.json:
            echo_json(doc)
            return
        typer.echo(f"# draft {doc.id}: {doc.programme_id} {doc.version} ({doc.status}, by {doc.author})")
        typer.echo(doc.text)
        if doc.tests:
            typer.echo(f"# its test cases\n{doc.tests}")
        return
    rows = call(life.list_drafts, store(), status=status, programme_id=programme)
    if fmt is Format.json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no drafts")
    for d in rows:
        who = f"by {d.author}" + (f", reviewed by {d.reviewer}" if d.reviewer else "")
        why = f"  ({d.reason})" if d.reason else ""
        typer.echo(
            f"{d.id:>4}  {d.status:<10} {d.programme_id} {d.version}  {who}  {local(d.updated_at)}{why}"
        )


@programmes_app.command("submit")
def submit(draft_id: int) -> None:
    """Ask a second officer to review your draft."""
    d = call(life.submit_draft, store(), draft_id=draft_id, actor=default_actor())
    typer.echo(f"draft {d.id} ({d.programme_id} {d.version}) is in review; another officer publishes it")


@programmes_app.command("test-draft")
def test_draft(draft_id: int) -> None:
    """Run a draft's test cases with it in force beside the programmes served; exit 1 if any fails."""
    run = call(life.test_draft, store(), registry=registry(), draft_id=draft_id)
    for case in run.cases:
        mark = "ok  " if case.passed else "FAIL"
        typer.echo(f"{mark} {case.location}  {case.programme}: {case.name}")
        for f in case.failures:
            typer.echo(f"       {f}")
    typer.echo(f"{run.passed} passed, {run.failed} failed")
    if run.failed:
        raise typer.Exit(1)


def _publish(draft_id: int) -> None:
    p = call(life.publish_draft, store(), registry=registry(), draft_id=draft_id, actor=default_actor())
    after = f", after version {p.previous_version}" if p.previous_version else ""
    typer.echo(
        f"draft {p.id} published: {p.programme_id} version {p.version} is in force from its effective date"
        f"{after} ({p.tests_passed} test cases passed)"
    )


@programmes_app.command("review")
def review(
    draft_id: int,
    approve: Annotated[bool, typer.Option("--approve", help="publish it (its tests must pass)")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="send it back to its author")] = False,
    reason: Annotated[str, typer.Option(help="why (required to reject)")] = "",
) -> None:
    """Review a draft in review as a second officer: ``--approve`` publishes it, ``--reject --reason``
    sends it back to its author."""
    if approve == reject:
        fail("give one of --approve or --reject")
    if approve:
        _publish(draft_id)
        return
    d = call(life.reject_draft, store(), draft_id=draft_id, actor=default_actor(), reason=reason)
    typer.echo(f"draft {d.id} is back with {d.author}: {d.reason}")


@programmes_app.command("publish")
def publish(draft_id: int) -> None:
    """Publish a draft in review (a second officer; the same as ``review --approve``)."""
    _publish(draft_id)


@programmes_app.command("withdraw")
def withdraw(
    programme_id: str,
    version: str,
    reason: Annotated[str, typer.Option(help="why it is withdrawn (kept in the audit chain)")] = "",
) -> None:
    """Take a version out of force with a reason; it stays readable for the calls and decisions pinned to
    it (``huiqi programmes show ID --version V``)."""
    w = call(
        life.withdraw_version,
        store(),
        registry=registry(),
        programme_id=programme_id,
        version=version,
        actor=default_actor(),
        reason=reason,
    )
    typer.echo(f"{w.programme_id} version {w.version} is withdrawn: {w.reason}")


def render_diff(d: ProgrammeDiff, lang: str = "en") -> str:
    """A diff as a reviewer reads it in a terminal, its headings in ``lang`` (the programme's text in it)."""
    out = [f"{d.programme}: {d.old_version} -> {d.new_version}"]
    for f in d.fields:
        out.append(f"  {say(f.field, lang)}: {f.old} -> {f.new}")
    if d.parameters:
        out.append(say("Parameters:", lang))
    for p in d.parameters:
        clause = p.new_clause or p.old_clause
        out.append(f"  [{say(p.change, lang)}] {p.name}: {p.label}  〔{clause}〕")
        old = "; ".join(say("from {date}: {value}", lang, date=v.from_, value=v.value) for v in p.old) or "-"
        new = "; ".join(say("from {date}: {value}", lang, date=v.from_, value=v.value) for v in p.new) or "-"
        out.append(f"      {old}  ->  {new}")
    if d.rules:
        out.append(say("Rules:", lang))
    for r in d.rules:
        clause = r.new_clause or r.old_clause
        out.append(
            f"  [{say(r.change, lang)}] {say(r.kind, lang)} {r.id}: {r.new_label or r.old_label}"
            + (f"  〔{clause}〕" if clause else "")
        )
        if r.old_text != r.new_text:
            out.append(f"      - {r.old_text or ''}\n      + {r.new_text or ''}")
    if d.tests:
        out.append(say("Test cases:", lang))
    for t in d.tests:
        expect = f"{t.old_expect or ''} -> {t.new_expect or ''}"
        out.append(f"  [{say(t.change, lang)}] {t.programme}: {t.name}  {expect}")
    if d.empty and not d.tests:
        out.append(f"  {say('no difference', lang)}")
    return "\n".join(out)


@programmes_app.command("diff")
def diff(
    programme_id: Annotated[str | None, typer.Argument(help="a programme id (or --draft)")] = None,
    old: Annotated[str | None, typer.Argument(help="the old version (default: the one in force)")] = None,
    new: Annotated[str | None, typer.Argument(help="the new version (default: the next one)")] = None,
    draft_id: Annotated[
        int | None, typer.Option("--draft", help="a draft against the version it follows")
    ] = None,
    cost: Annotated[
        str | None, typer.Option(help="with --draft: its cost over a register directory, or 'db'")
    ] = None,
    on: OnOpt = None,
    lang: Lang = Lang.en,
    fmt: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """What changes between two versions of a programme, or what a draft changes (``--draft``): parameters
    old -> new with their dates, conditions with their clauses, the amount, test cases; ``--cost`` adds the
    sandbox's before/after over a register."""
    if draft_id is not None:
        d = call(
            life.diff_draft, store(), registry=registry(), draft_id=draft_id, against=old, lang=lang.value
        )
    elif programme_id is not None:
        d = call(
            life.diff_versions, served(None), programme_id=programme_id, old=old, new=new, lang=lang.value
        )
    else:
        fail("give a programme id (and versions) or --draft ID")
    costed = None
    if cost is not None:
        if draft_id is None:
            fail("--cost is for a draft: huiqi programmes diff --draft ID --cost REGISTER")
        costed = call(
            life.change_cost, store(), registry=registry(), draft_id=draft_id, register=cost, on=day_of(on)
        )
    if fmt is Format.json:
        echo_json({"diff": d, "cost": costed})
        return
    typer.echo(render_diff(d, lang.value))
    if costed is not None:
        heading = "Cost over the register on {on} ({old} -> {new}):"
        old_v, new_v = costed.old_version, costed.new_version
        typer.echo("\n" + say(heading, lang.value, on=costed.on, old=old_v, new=new_v))
        typer.echo(costed.text)
