"""``huiqi reviewers``, ``huiqi review``, ``huiqi selection`` and ``huiqi certificates``: the designation
call from the review panel to the signed certificate."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy.orm import Session

from huiqi.cli.shared import date, default_actor, fail, read_only, transact

if TYPE_CHECKING:
    from huiqi.selection.callfile import CallFile

T = TypeVar("T")
Actor = Annotated[str, typer.Option(help="who does this (recorded in the history and audit log)")]
CallFileOpt = Annotated[
    Path, typer.Option("--call-file", help="the call's YAML file (rubric, quotas, budget)")
]


def _errors() -> tuple[type[Exception], ...]:
    from huiqi.certificates.errors import CertificateError
    from huiqi.review.errors import ReviewError
    from huiqi.rules.errors import ProgrammeError
    from huiqi.selection.errors import SelectionError

    return (ReviewError, SelectionError, CertificateError, ProgrammeError)


def _do(work: Callable[[Session], T], *, write: bool = True) -> T:
    try:
        return transact(work) if write else read_only(work)
    except _errors() as exc:
        fail(str(exc))


def _call_file(path: Path) -> CallFile:
    from huiqi.selection.callfile import load_call_file
    from huiqi.selection.errors import CallFileError

    try:
        return load_call_file(path)
    except CallFileError as exc:
        fail(str(exc))


def _key() -> Any:
    from huiqi.certificates.errors import CertificateError
    from huiqi.certificates.keys import signing_key

    try:
        return signing_key()
    except CertificateError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    reviewers = typer.Typer(
        help="Reviewers (experts): fields and declared affiliations.", no_args_is_help=True
    )
    review = typer.Typer(
        help="Review panels: assignment, conflict declarations, scores, normalisation.", no_args_is_help=True
    )
    selection = typer.Typer(
        help="Selection under quotas and budget, explanations, reserve, publication.", no_args_is_help=True
    )
    certificates = typer.Typer(help="Signed PDF certificates: export, verify, revoke.", no_args_is_help=True)

    @reviewers.command("add")
    def add(
        reviewer_id: Annotated[str, typer.Option("--id", help="reviewer id")],
        name: Annotated[str, typer.Option(help="name")],
        field: Annotated[list[str], typer.Option(help="sector the reviewer covers, repeatable")],
        affiliation: Annotated[
            list[str] | None,
            typer.Option(help="USCC of a firm they own, work for or are tied to, repeatable"),
        ] = None,
        former: Annotated[
            list[str] | None,
            typer.Option(help="former employer USCC:YYYY-MM-DD (employed until), repeatable"),
        ] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Add a reviewer with the fields they review and what they are tied to."""
        from huiqi.review import service

        employers = []
        for text in former or []:
            uscc, sep, until = text.partition(":")
            if not sep:
                fail(f"--former: expected USCC:YYYY-MM-DD, got {text!r}")
            employers.append({"uscc": uscc, "until": until})
        _do(
            lambda s: service.add_reviewer(
                session=s,
                reviewer_id=reviewer_id,
                name=name,
                fields=field,
                affiliations=affiliation or [],
                former_employers=employers,
                actor=actor,
            )
        )
        typer.echo(f"reviewer {reviewer_id} added")

    @reviewers.command("list")
    def list_() -> None:
        """Every reviewer with fields and affiliations."""
        from huiqi.review import service

        rows = _do(
            lambda s: [
                f"{r.id}\t{r.name}\t{','.join(r.fields)}\taffiliations: {','.join(r.affiliations) or '-'}"
                for r in service.list_reviewers(session=s)
            ],
            write=False,
        )
        typer.echo("\n".join(rows) if rows else "no reviewers")

    @review.command("assign")
    def assign(
        call: Annotated[str, typer.Option(help="call id")],
        call_file: CallFileOpt,
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = dt.date.today().isoformat(),
        actor: Actor = default_actor(),
    ) -> None:
        """Assign k reviewers of the right field, without known conflicts, to each application."""
        from huiqi.review import service

        cf = _call_file(call_file)
        made = _do(
            lambda s: len(
                service.assign(
                    session=s,
                    call_id=call,
                    per_application=cf.review.reviewers_per_application,
                    on=date(on, "--on"),
                    recent_years=cf.review.recent_employment_years,
                    actor=actor,
                )
            )
        )
        typer.echo(f"{made} assignment(s) made")

    @review.command("declare")
    def declare(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
        call_file: CallFileOpt,
        none: Annotated[bool, typer.Option("--none", help="declare no conflict of interest")] = False,
        conflict: Annotated[str | None, typer.Option(help="declare a conflict, in words")] = None,
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = dt.date.today().isoformat(),
        actor: Actor = default_actor(),
    ) -> None:
        """Declare no conflict (opens the confidential view) or a conflict (the application is reassigned)."""
        from huiqi.review import service

        if none == (conflict is not None):
            fail("give exactly one of --none or --conflict TEXT")
        cf = _call_file(call_file)
        result = _do(
            lambda s: service.declare(
                session=s,
                application_id=application,
                reviewer_id=reviewer,
                conflict=conflict,
                on=date(on, "--on"),
                recent_years=cf.review.recent_employment_years,
                actor=actor,
            )
        )
        if conflict is None:
            typer.echo("no conflict declared; the confidential view is open")
        elif result.replacement is not None:
            typer.echo(f"conflict recorded; reassigned to {result.replacement.reviewer_id}")
        else:
            typer.echo("conflict recorded; no other reviewer is free of conflicts: add one and run assign")

    @review.command("view")
    def view(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
    ) -> None:
        """The confidential material of an application (only after declaring no conflict)."""
        from huiqi.review import service

        data = _do(
            lambda s: service.confidential_view(session=s, application_id=application, reviewer_id=reviewer),
            write=False,
        )
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))

    @review.command("score")
    def score(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
        call_file: CallFileOpt,
        score: Annotated[list[str], typer.Option(help="CRITERION=VALUE, one per rubric criterion")],
        comment: Annotated[list[str] | None, typer.Option(help="CRITERION=TEXT, repeatable")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Submit a score sheet: every criterion of the rubric, on its scale."""
        from huiqi.review import service
        from huiqi.selection.service import rubric_of

        cf = _call_file(call_file)
        scores: dict[str, object] = {}
        for text in score:
            k, sep, v = text.partition("=")
            if not sep:
                fail(f"--score: expected CRITERION=VALUE, got {text!r}")
            scores[k.strip()] = v.strip()
        comments = {}
        for text in comment or []:
            k, sep, v = text.partition("=")
            if not sep:
                fail(f"--comment: expected CRITERION=TEXT, got {text!r}")
            comments[k.strip()] = v.strip()
        _do(
            lambda s: service.submit_scores(
                session=s,
                application_id=application,
                reviewer_id=reviewer,
                rubric=rubric_of(cf),
                scores=scores,
                comments=comments,
                actor=actor,
            )
        )
        typer.echo("scores recorded")

    @review.command("normalise")
    def normalise(
        call: Annotated[str, typer.Option(help="call id")],
        call_file: CallFileOpt,
        actor: Actor = default_actor(),
    ) -> None:
        """z-score every reviewer's totals and store each application's normalised score."""
        from huiqi.review import service
        from huiqi.selection.service import rubric_of

        cf = _call_file(call_file)
        out = _do(
            lambda s: [
                (n.application_id, str(n.score))
                for n in service.normalise(
                    session=s,
                    call_id=call,
                    rubric=rubric_of(cf),
                    min_reviews_for_z=cf.review.min_reviews_for_z,
                    actor=actor,
                )
            ]
        )
        for aid, sc in out:
            typer.echo(f"{aid}\t{sc}")

    @selection.command("validate")
    def validate(call_file: Annotated[Path, typer.Argument(help="the call's YAML file")]) -> None:
        """Check a call file; every problem is printed with file:line:column."""
        cf = _call_file(call_file)
        typer.echo(
            f"{call_file}: call {cf.call}, {len(cf.rubric)} criteria, total quota {cf.quotas.total}: ok"
        )

    @selection.command("check")
    def check(
        call: Annotated[str, typer.Option(help="call id")],
        call_file: CallFileOpt,
        pack: Annotated[list[str] | None, typer.Option(help="programme pack (default: shanghai)")] = None,
        on: Annotated[
            str, typer.Option(help="date the criteria are judged on")
        ] = dt.date.today().isoformat(),
        actor: Actor = default_actor(),
    ) -> None:
        """Judge every submitted application with the rules engine: eligible ones go to review."""
        from huiqi.rules.loader import load_pack
        from huiqi.workflows import designation

        cf = _call_file(call_file)
        try:
            programmes = load_pack(*(pack or ["shanghai"]))
        except _errors() as exc:
            fail(str(exc))
        done = _do(
            lambda s: [
                (a.id, a.state)
                for a in designation.check_all(
                    session=s, call_id=call, programmes=programmes, cf=cf, on=date(on, "--on"), actor=actor
                )
            ]
        )
        for aid, state in done:
            typer.echo(f"{aid}\t{state}")

    @selection.command("run")
    def run(
        call: Annotated[str, typer.Option(help="call id")],
        call_file: CallFileOpt,
        pack: Annotated[list[str] | None, typer.Option(help="programme pack (default: shanghai)")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Select, award the start-up grants through the ledger, issue the certificates."""
        from huiqi.rules.loader import load_pack
        from huiqi.workflows import designation

        cf = _call_file(call_file)
        try:
            programmes = load_pack(*(pack or ["shanghai"]))
        except _errors() as exc:
            fail(str(exc))
        key = _key()
        done = _do(
            lambda s: [
                (
                    d.designation.sector,
                    d.designation.sector_rank,
                    d.designation.name_zh,
                    str(d.designation.amount),
                    d.certificate_serial,
                )
                for d in designation.select_and_award(
                    session=s, call_id=call, cf=cf, programmes=programmes, key=key, actor=actor
                )
            ]
        )
        for row in sorted(done):
            typer.echo("\t".join(str(x) for x in row))
        typer.echo(f"{len(done)} designated")

    @selection.command("explain")
    def explain(
        call: Annotated[str, typer.Option(help="call id")],
        lang: Annotated[str, typer.Option(help="en or zh")] = "en",
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Every application's decision and its reason (rank and score, or the binding reason)."""
        from huiqi.selection import service

        rows: list[dict[str, Any]] = _do(
            lambda s: [
                {
                    "application_id": d.application_id,
                    "firm_uscc": d.firm_uscc,
                    "sector": d.sector,
                    "outcome": d.outcome,
                    "rank": d.rank,
                    "score": d.score,
                    "amount": str(d.amount),
                    "reason": d.reason,
                }
                for d in service.decisions_of(session=s, call_id=call)
            ],
            write=False,
        )
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for r in rows:
            typer.echo(f"{r['application_id']}\t{r['outcome']}\t{r['reason'].get(lang, r['reason']['en'])}")

    @selection.command("withdraw")
    def withdraw(
        application: Annotated[str, typer.Option(help="the designated application")],
        reason: Annotated[str, typer.Option(help="why, in words")],
        call_file: CallFileOpt,
        lost_condition: Annotated[
            bool, typer.Option("--lost-condition", help="it lost a condition (default: it withdrew)")
        ] = False,
        pack: Annotated[list[str] | None, typer.Option(help="programme pack (default: shanghai)")] = None,
        on: Annotated[str, typer.Option(help="date of the withdrawal")] = dt.date.today().isoformat(),
        actor: Actor = default_actor(),
    ) -> None:
        """End a designation (certificate revoked, grant returned) and promote the sector's next reserve."""
        from huiqi.rules.loader import load_pack
        from huiqi.workflows import designation

        cf = _call_file(call_file)
        programmes = load_pack(*(pack or ["shanghai"]))
        key = _key()
        rep = _do(
            lambda s: designation.end_and_replace(
                session=s,
                application_id=application,
                cause="lost a condition" if lost_condition else "withdrew",
                reason=reason,
                cf=cf,
                programmes=programmes,
                key=key,
                on=date(on, "--on"),
                actor=actor,
            )
        )
        typer.echo(
            f"designation of {application} ended; revoked {', '.join(rep.revoked) or 'no certificate'}"
        )
        if rep.promoted is None:
            typer.echo(rep.note)
        else:
            typer.echo(rep.promoted.designation.reason)
            typer.echo(f"certificate {rep.promoted.certificate_serial} issued")

    @selection.command("publish")
    def publish(
        call: Annotated[str, typer.Option(help="call id")],
        call_file: CallFileOpt,
        out: Annotated[Path, typer.Option(help="directory to write designated.{zh,en}.{csv,json}")],
    ) -> None:
        """The designated list in Chinese and English, as CSV and JSON."""
        from huiqi.selection import publish as pub
        from huiqi.selection import service

        cf = _call_file(call_file)
        paths = _do(
            lambda s: pub.publish(service.designations_of(session=s, call_id=call), cf, out), write=False
        )
        for p in paths:
            typer.echo(str(p))

    @certificates.command("export")
    def export(
        call: Annotated[str, typer.Option(help="call id")],
        out: Annotated[Path, typer.Option(help="directory for the PDF files")],
    ) -> None:
        """Write every certificate of a call's designations as SERIAL.pdf."""
        from huiqi.certificates import service as certs
        from huiqi.selection import service

        def work(s: Session) -> list[Path]:
            out.mkdir(parents=True, exist_ok=True)
            paths = []
            for d in service.designations_of(session=s, call_id=call, active_only=False):
                for c in certs.of_subject(session=s, subject=f"designation:{d.application_id}"):
                    path = out / f"{c.serial}.pdf"
                    path.write_bytes(c.pdf)
                    paths.append(path)
            return paths

        for p in _do(work, write=False):
            typer.echo(str(p))

    @certificates.command("verify")
    def verify(file: Annotated[Path, typer.Argument(help="the certificate PDF")]) -> None:
        """valid, or what was altered, or revoked; exit code 0 only when valid."""
        from huiqi.certificates import service as certs

        try:
            data = file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        result = _do(lambda s: certs.verify(session=s, data=data), write=False)
        typer.echo(result.text())
        if not result.ok:
            raise typer.Exit(1)

    @certificates.command("revoke")
    def revoke(
        serial: Annotated[str, typer.Option(help="certificate serial")],
        reason: Annotated[str, typer.Option(help="why, in words")],
        actor: Actor = default_actor(),
    ) -> None:
        """Put a certificate on the revocation list."""
        from huiqi.certificates import service as certs

        _do(lambda s: certs.revoke(session=s, serial=serial, reason=reason, actor=actor))
        typer.echo(f"certificate {serial} revoked")

    @certificates.command("keygen")
    def keygen() -> None:
        """Print a new signing key (base64 seed) for HUIQI_CERTIFICATE_SIGNING_KEY; keep it secret."""
        from huiqi.certificates.keys import from_seed, new_seed

        seed = new_seed()
        typer.echo(f"HUIQI_CERTIFICATE_SIGNING_KEY={seed}")
        typer.echo(f"# key id {from_seed(seed).key_id}", err=True)

    app.add_typer(reviewers, name="reviewers")
    app.add_typer(review, name="review")
    app.add_typer(selection, name="selection")
    app.add_typer(certificates, name="certificates")
