"""``huiqi reviewers``, ``huiqi review``, ``huiqi selection`` and ``huiqi certificates``: the designation
call from the review panel to the signed certificate. Every command calls a use case of ``huiqi.app``.

Commands that read a call file take ``--call-file``; without it they use the file an officer uploaded for
the call (``huiqi selection upload`` or the selection page)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import certificates as certs
from huiqi.app import review as rev
from huiqi.app import selection as sel
from huiqi.app.holding import HeldView
from huiqi.cli.rules_commands import say
from huiqi.cli.shared import call, date, default_actor, fail, fmt, store
from huiqi.rules.loader import load_pack
from huiqi.rules.programme import Programme

Actor = Annotated[str, typer.Option(help="who does this (recorded in the history and audit log)")]
CallFileOpt = Annotated[
    Path | None,
    typer.Option("--call-file", help="the call's YAML file (default: the one uploaded for the call)"),
]
PackOpt = Annotated[list[str] | None, typer.Option(help="programme pack (default: shanghai)")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key", help="repeat a money move safely: the same key never moves money twice"
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="show what would happen (firms, amounts) and write nothing")
]


def today() -> str:
    return dt.date.today().isoformat()


def call_file_of(path: Path | None) -> sel.CallFile | None:
    """The call file given on the command line, validated (None: the call's uploaded one)."""
    return None if path is None else call(sel.read_call_file, path=path)


def programmes_of(pack: list[str] | None) -> Mapping[str, Programme]:
    return call(load_pack, *(pack or ["shanghai"]))


def key_of(text: str | None) -> str:
    return f"cli:{text or uuid.uuid4().hex}"


def held(done: object) -> bool:
    """Print a move held for a second officer (above the second-approval amount): True, else nothing."""
    if not isinstance(done, HeldView):
        return False
    again = " (replayed: nothing moved again)" if done.replayed else ""
    typer.echo(
        f"held for a second officer's approval (待复核): approval {done.id}, {fmt(done.amount)} "
        f"({done.status}; {done.summary.outcome}); another officer approves it with "
        f"`huiqi ledger approvals approve {done.id} --actor <officer>`{again}"
    )
    return True


def pairs(values: list[str], what: str, shape: str) -> dict[str, str]:
    """``K=V`` options as a mapping."""
    out: dict[str, str] = {}
    for text in values:
        k, sep, v = text.partition("=")
        if not sep:
            fail(f"--{what}: expected {shape}, got {text!r}")
        out[k.strip()] = v.strip()
    return out


def register(app: typer.Typer) -> None:
    reviewers = typer.Typer(
        help="Reviewers (experts): fields and declared affiliations.", no_args_is_help=True
    )
    review = typer.Typer(
        help="Review panels: assignment, conflict declarations, scores, normalisation, reassignment.",
        no_args_is_help=True,
    )
    selection = typer.Typer(
        help="Selection under quotas and budget, explanations, reserve, publication.", no_args_is_help=True
    )
    certificates = typer.Typer(
        help="Signed PDF certificates: export, verify, revoke, the revocation list.", no_args_is_help=True
    )

    @reviewers.command("add")
    def add(
        reviewer_id: Annotated[str, typer.Option("--id", help="reviewer id (and their account's username)")],
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
        employers = []
        for text in former or []:
            uscc, sep, until = text.partition(":")
            if not sep:
                fail(f"--former: expected USCC:YYYY-MM-DD, got {text!r}")
            employers.append({"uscc": uscc, "until": until})
        r = call(
            rev.add_reviewer,
            store(),
            reviewer_id=reviewer_id,
            name=name,
            fields=field,
            affiliations=affiliation or [],
            former_employers=employers,
            actor=actor,
        )
        typer.echo(
            f"reviewer {r.id} added" + ("" if r.has_account else f"; give them a reviewer account {r.id}")
        )

    @reviewers.command("list")
    def list_() -> None:
        """Every reviewer with fields, affiliations and whether they have an account."""
        rows = call(rev.list_reviewers, store())
        for r in rows:
            typer.echo(
                f"{r.id}\t{r.name}\t{','.join(r.fields)}\taffiliations: {','.join(r.affiliations) or '-'}"
                f"\t{'account' if r.has_account else 'no account'}"
            )
        if not rows:
            typer.echo("no reviewers")

    @review.command("assign")
    def assign(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        call_file: CallFileOpt = None,
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = today(),
        actor: Actor = default_actor(),
    ) -> None:
        """Assign k reviewers of the right field, without known conflicts, to each application."""
        made = call(
            rev.assign_reviewers,
            store(),
            call_id=call_id,
            on=date(on, "--on"),
            actor=actor,
            call_file=call_file_of(call_file),
        )
        typer.echo(f"{made.assignments_made} assignment(s) made")

    @review.command("list")
    def assignments(
        call_id: Annotated[str | None, typer.Option("--call", help="call id")] = None,
        reviewer: Annotated[str | None, typer.Option(help="one reviewer's assignments")] = None,
    ) -> None:
        """Review assignments with their status."""
        for a in call(rev.list_assignments, store(), reviewer_id=reviewer, call_id=call_id):
            typer.echo(f"{a.call_id}\t{a.application_id}\t{a.reviewer_id}\t{a.status}")

    @review.command("status")
    def status(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = today(),
    ) -> None:
        """Where a call stands, and every review it waits for with who could take it over."""
        p = call(rev.review_progress, store(), call_id=call_id, on=date(on, "--on"))
        typer.echo(
            f"call {p.call_id} ({p.programme_id}): call file {'uploaded' if p.has_call_file else 'none'}"
        )
        typer.echo("applications: " + (", ".join(f"{k} {v}" for k, v in p.applications.items()) or "none"))
        typer.echo("assignments: " + (", ".join(f"{k} {v}" for k, v in p.assignments.items()) or "none"))
        for w in p.waiting:
            flag = "STALLED " if w.stalled else ""
            who = w.reviewer_id + ("" if w.has_account else " (no account)")
            others = ", ".join(w.candidates) or "-"
            typer.echo(f"{flag}{w.application_id}\t{who}\t{w.status}\tcould take it: {others}")
        typer.echo(
            "selected" if p.selected else f"{p.scored_applications} application(s) with a normalised score"
        )

    @review.command("declare")
    def declare(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
        call_file: CallFileOpt = None,
        none: Annotated[bool, typer.Option("--none", help="declare no conflict of interest")] = False,
        conflict: Annotated[str | None, typer.Option(help="declare a conflict, in words")] = None,
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = today(),
        actor: Actor = default_actor(),
    ) -> None:
        """Declare no conflict (opens the confidential view) or a conflict (the application is reassigned)."""
        if none == (conflict is not None):
            fail("give exactly one of --none or --conflict TEXT")
        result = call(
            rev.declare,
            store(),
            application_id=application,
            reviewer_id=reviewer,
            conflict=conflict,
            on=date(on, "--on"),
            actor=actor,
            call_file=call_file_of(call_file),
        )
        if conflict is None:
            typer.echo("no conflict declared; the confidential view is open")
        elif result.reassigned_to is not None:
            typer.echo(f"conflict recorded; reassigned to {result.reassigned_to}")
        else:
            typer.echo(
                "conflict recorded; no other eligible reviewer (of the field, without a conflict, able "
                "to log in) is free to take it: "
                f"`huiqi review reassign --application {application} --from {reviewer} --to ... --reason ...`"
            )

    @review.command("reassign")
    def reassign(
        application: Annotated[str, typer.Option(help="application id")],
        from_reviewer: Annotated[str, typer.Option("--from", help="the reviewer whose review cannot go on")],
        to_reviewer: Annotated[
            str, typer.Option("--to", help="who reviews instead (has a reviewer account)")
        ],
        reason: Annotated[str, typer.Option(help="why, in words (kept in the audit chain)")],
        call_file: CallFileOpt = None,
        on: Annotated[str, typer.Option(help="date conflicts are judged on")] = today(),
        actor: Actor = default_actor(),
    ) -> None:
        """The officer's override: another reviewer reviews the application instead."""
        r = call(
            rev.reassign,
            store(),
            application_id=application,
            from_reviewer=from_reviewer,
            to_reviewer=to_reviewer,
            reason=reason,
            on=date(on, "--on"),
            actor=actor,
            call_file=call_file_of(call_file),
        )
        typer.echo(f"application {r.application_id}: {r.to_reviewer} reviews instead of {r.from_reviewer}")

    @review.command("show")
    def show(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
    ) -> None:
        """What the reviewer is asked to do: the call, the firm, the rubric, their status."""
        sheet = call(rev.review_sheet, store(), application_id=application, reviewer_id=reviewer)
        typer.echo(json.dumps(asdict(sheet), ensure_ascii=False, indent=2))

    @review.command("view")
    def view(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
    ) -> None:
        """The confidential material of an application (only after declaring no conflict)."""
        data = call(rev.confidential_view, store(), application_id=application, reviewer_id=reviewer)
        typer.echo(json.dumps(asdict(data), ensure_ascii=False, indent=2))

    @review.command("score")
    def score(
        application: Annotated[str, typer.Option(help="application id")],
        reviewer: Annotated[str, typer.Option(help="reviewer id")],
        score: Annotated[list[str], typer.Option(help="CRITERION=VALUE, one per rubric criterion")],
        call_file: CallFileOpt = None,
        comment: Annotated[list[str] | None, typer.Option(help="CRITERION=TEXT, repeatable")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Submit a score sheet: every criterion of the rubric, on its scale."""
        call(
            rev.submit_scores,
            store(),
            application_id=application,
            reviewer_id=reviewer,
            scores=pairs(score, "score", "CRITERION=VALUE"),
            comments=pairs(comment or [], "comment", "CRITERION=TEXT"),
            actor=actor,
            call_file=call_file_of(call_file),
        )
        typer.echo("scores recorded")

    @review.command("normalise")
    def normalise(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        call_file: CallFileOpt = None,
        actor: Actor = default_actor(),
    ) -> None:
        """z-score every reviewer's totals and store each application's normalised score."""
        out = call(
            rev.normalise_scores, store(), call_id=call_id, actor=actor, call_file=call_file_of(call_file)
        )
        for row in out.scores:
            typer.echo(f"{row.application_id}\t{row.score}")

    @selection.command("validate")
    def validate(call_file: Annotated[Path, typer.Argument(help="the call's YAML file")]) -> None:
        """Check a call file; every problem is printed with file:line:column."""
        cf = call(sel.read_call_file, path=call_file)
        typer.echo(
            f"{call_file}: call {cf.call}, {len(cf.rubric)} criteria, total quota {cf.quotas.total}: ok"
        )

    @selection.command("upload")
    def upload(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        file: Annotated[Path, typer.Argument(help="the call's YAML file")],
        actor: Actor = default_actor(),
    ) -> None:
        """Keep the call file with the call (refused once the call is selected)."""
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
        v = call(sel.save_call_file, store(), call_id=call_id, text=text, actor=actor)
        typer.echo(f"call file of {v.call_id} kept (sha256 {v.sha256[:12]}), {len(v.rubric)} criteria")

    @selection.command("call-file")
    def show_call_file(call_id: Annotated[str, typer.Option("--call", help="call id")]) -> None:
        """Print the call file uploaded for the call."""
        typer.echo(call(sel.get_call_file, store(), call_id=call_id).text, nl=False)

    @selection.command("calls")
    def calls() -> None:
        """Every call with whether it has a call file and a selection."""
        for c in call(sel.designation_calls, store()):
            marks = ("call file" if c.has_call_file else "no call file") + (
                ", selected" if c.selected else ""
            )
            typer.echo(f"{c.id}\t{c.programme_id}\t{c.allocation_mode}\t{marks}")

    @selection.command("check")
    def check(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        call_file: CallFileOpt = None,
        pack: PackOpt = None,
        on: Annotated[str, typer.Option(help="date the criteria are judged on")] = today(),
        actor: Actor = default_actor(),
    ) -> None:
        """Judge every submitted application with the rules engine: eligible ones go to review."""
        done = call(
            sel.check_applications,
            store(),
            call_id=call_id,
            programmes=programmes_of(pack),
            on=date(on, "--on"),
            actor=actor,
            call_file=call_file_of(call_file),
        )
        for row in done.checked:
            typer.echo(f"{row.application_id}\t{row.state}")

    @selection.command("run")
    def run(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        call_file: CallFileOpt = None,
        pack: PackOpt = None,
        idempotency_key: KeyOpt = None,
        dry_run: DryRunOpt = False,
        actor: Actor = default_actor(),
    ) -> None:
        """Select, award the start-up grants through the ledger, issue the certificates (above the
        second-approval amount: held for a second officer, `huiqi ledger approvals`)."""
        done: sel.Selected | HeldView
        if dry_run:
            done = call(
                sel.preview_selection,
                store(),
                call_id=call_id,
                programmes=programmes_of(pack),
                call_file=call_file_of(call_file),
            )
        else:
            done = call(
                sel.select_and_award,
                store(),
                call_id=call_id,
                programmes=programmes_of(pack),
                idempotency_key=key_of(idempotency_key),
                actor=actor,
                call_file=call_file_of(call_file),
            )
        if held(done):
            return
        assert isinstance(done, sel.Selected)  # nosec B101  # held() printed the other case
        rows = sorted(
            (d.sector, d.sector_rank, d.name_zh, d.amount, d.certificate_serial) for d in done.designated
        )
        for row in rows:
            typer.echo("\t".join(str(x) for x in row))
        note = " (replayed: nothing moved again)" if done.replayed else ""
        typer.echo(f"{len(rows)} {'would be ' if dry_run else ''}designated{note}")

    @selection.command("explain")
    def explain(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        lang: Annotated[str, typer.Option(help="en or zh")] = "en",
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Every application's decision and its reason (rank and score, or the binding reason)."""
        decisions = call(sel.selection_of, store(), call_id=call_id).decisions
        if as_json:
            keys = ("application_id", "firm_uscc", "sector", "outcome", "rank", "score", "amount", "reason")
            rows = [{k: v for k, v in asdict(d).items() if k in keys} for d in decisions]
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for d in decisions:
            outcome = say(d.outcome, lang)  # its word in the language asked for (已认定, 候补...)
            typer.echo(f"{d.application_id}\t{outcome}\t{d.reason.get(lang, d.reason['en'])}")

    @selection.command("withdraw")
    def withdraw(
        application: Annotated[str, typer.Option(help="the designated application")],
        reason: Annotated[str, typer.Option(help="why, in words")],
        call_file: CallFileOpt = None,
        lost_condition: Annotated[
            bool, typer.Option("--lost-condition", help="it lost a condition (default: it withdrew)")
        ] = False,
        pack: PackOpt = None,
        on: Annotated[str, typer.Option(help="date of the withdrawal")] = today(),
        idempotency_key: KeyOpt = None,
        dry_run: DryRunOpt = False,
        actor: Actor = default_actor(),
    ) -> None:
        """End a designation (certificate revoked, grant returned) and promote the sector's next reserve
        (above the second-approval amount: held for a second officer, `huiqi ledger approvals`)."""
        rep: sel.Ended | HeldView
        if dry_run:
            rep = call(
                sel.preview_end,
                store(),
                application_id=application,
                reason=reason,
                lost_condition=lost_condition,
                on=date(on, "--on"),
                programmes=programmes_of(pack),
                call_file=call_file_of(call_file),
            )
            typer.echo("dry run: nothing was written")
        else:
            rep = call(
                sel.end_designation,
                store(),
                application_id=application,
                reason=reason,
                lost_condition=lost_condition,
                on=date(on, "--on"),
                programmes=programmes_of(pack),
                idempotency_key=key_of(idempotency_key),
                actor=actor,
                call_file=call_file_of(call_file),
            )
        if held(rep):
            return
        assert isinstance(rep, sel.Ended)  # nosec B101  # held() printed the other case
        typer.echo(
            f"designation of {application} ended; revoked {', '.join(rep.revoked) or 'no certificate'}"
        )
        if rep.promoted is None:
            typer.echo(rep.note)
        else:
            typer.echo(rep.promoted.reason)
            typer.echo(f"certificate {rep.promoted.certificate_serial} issued")

    @selection.command("publish")
    def publish(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        out: Annotated[Path, typer.Option(help="directory to write designated.{zh,en}.{csv,json}")],
        call_file: CallFileOpt = None,
    ) -> None:
        """The designated list in Chinese and English, as CSV (with a BOM for spreadsheets) and JSON."""
        cf = call_file_of(call_file)
        out.mkdir(parents=True, exist_ok=True)
        for lang in ("zh", "en"):
            pl = call(sel.published_list, store(), call_id=call_id, lang=lang, call_file=cf)
            csv_path = out / f"designated.{lang}.csv"
            csv_path.write_text("\ufeff" + pl.csv(), encoding="utf-8")
            doc = {
                "call": pl.call_id,
                "programme": pl.programme,
                "batch": pl.batch,
                "date": pl.date,
                "designated": pl.rows,
            }
            json_path = out / f"designated.{lang}.json"
            json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            typer.echo(f"{csv_path}\n{json_path}")

    @certificates.command("export")
    def export(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        out: Annotated[Path, typer.Option(help="directory for the PDF files")],
    ) -> None:
        """Write every certificate of a call's designations as SERIAL.pdf."""
        files = call(certs.call_certificates, store(), call_id=call_id)
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            path = out / f"{f.serial}.pdf"
            path.write_bytes(f.pdf)
            typer.echo(str(path))

    @certificates.command("list")
    def list_certificates(firm: Annotated[str, typer.Option(help="the firm's credit code (USCC)")]) -> None:
        """The certificates issued to a firm, newest first."""
        for c in call(certs.firm_certificates, store(), uscc=firm):
            typer.echo(f"{c.serial}\t{c.issued_at}\t{c.subject}\t{'revoked' if c.revoked else 'valid'}")

    @certificates.command("get")
    def get(
        serial: Annotated[str, typer.Option(help="certificate serial")],
        out: Annotated[Path, typer.Option(help="where to write the PDF")],
    ) -> None:
        """Write one certificate's PDF as issued."""
        f = call(certs.certificate_file, store(), serial=serial)
        out.write_bytes(f.pdf)
        typer.echo(str(out))

    @certificates.command("show")
    def show_certificate(serial: Annotated[str, typer.Option(help="certificate serial")]) -> None:
        """What the register holds for a serial: to whom, for what, revoked or not."""
        typer.echo(
            json.dumps(
                asdict(call(certs.certificate_record, store(), serial=serial)), ensure_ascii=False, indent=2
            )
        )

    @certificates.command("verify")
    def verify(file: Annotated[Path, typer.Argument(help="the certificate PDF")]) -> None:
        """valid, or what was altered, or revoked; exit code 0 only when valid."""
        try:
            data = file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        result = call(certs.verify_certificate, store(), data=data)
        typer.echo(result.text)
        if not result.ok:
            raise typer.Exit(1)

    @certificates.command("revoke")
    def revoke(
        serial: Annotated[str, typer.Option(help="certificate serial")],
        reason: Annotated[str, typer.Option(help="why, in words")],
        actor: Actor = default_actor(),
    ) -> None:
        """Put a certificate on the revocation list."""
        call(certs.revoke_certificate, store(), serial=serial, reason=reason, actor=actor)
        typer.echo(f"certificate {serial} revoked")

    @certificates.command("revocations")
    def revocations() -> None:
        """The revocation list: every revoked certificate with when and why."""
        for r in call(certs.revocation_list, store()):
            typer.echo(f"{r.serial}\t{r.revoked_at}\t{r.reason}")

    @certificates.command("keygen")
    def keygen() -> None:
        """Print a new signing key (base64 seed) for HUIQI_CERTIFICATE_SIGNING_KEY; keep it secret."""
        key = certs.new_signing_key()
        typer.echo(f"HUIQI_CERTIFICATE_SIGNING_KEY={key.seed}")
        typer.echo(f"# key id {key.key_id}", err=True)

    app.add_typer(reviewers, name="reviewers")
    app.add_typer(review, name="review")
    app.add_typer(selection, name="selection")
    app.add_typer(certificates, name="certificates")
