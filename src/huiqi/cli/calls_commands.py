"""``huiqi calls`` and ``huiqi applications``: open calls, submit, check, score, move, withdraw, show."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import calls, reasons
from huiqi.app.jsonable import as_json
from huiqi.cli.ledger_commands import cli_key
from huiqi.cli.shared import call, default_actor, fail, fmt, local, moment, money, read_json, store

Actor = Annotated[str, typer.Option(help="who does this (recorded in the history and audit log)")]


def _parse_claims(claim: list[str] | None, claims_file: Path | None) -> list[tuple[str, Decimal]]:
    items: list[tuple[str, str]] = []
    for text in claim or []:
        contract, sep, amount = text.partition("=")
        if not sep or not contract:
            fail(f"--claim: expected CONTRACT=AMOUNT (e.g. C-2025-001=120000.00), got {text!r}")
        items.append((contract.strip(), amount.strip()))
    if claims_file is not None:
        data = read_json(claims_file, "--claims")
        if not isinstance(data, list):
            fail('--claims: expected a JSON list of {"contract_id": ..., "amount": "..."}')
        for entry in data:
            if not isinstance(entry, dict) or "contract_id" not in entry or "amount" not in entry:
                fail(f"--claims: each entry needs contract_id and amount, got {entry!r}")
            if isinstance(entry["amount"], float):
                fail("--claims: write amounts as strings")
            items.append((str(entry["contract_id"]), str(entry["amount"])))
    if not items:
        fail("claim at least one contract with --claim CONTRACT=AMOUNT or --claims FILE")
    return [(c, money(a, f"amount for {c}")) for c, a in items]


def _reason(h: calls.EventView) -> str:
    """An event's reason through the one renderer (a failed condition by its label and gap), in English;
    a row stored before reason codes as its words."""
    return reasons.shown(h.reason_code, h.reason_args) or h.reason


def _show(view: calls.ApplicationView) -> None:
    typer.echo(f"application {view.id}  call {view.call_id}  firm {view.firm_uscc}")
    typer.echo(f"state {view.state}  requested {fmt(view.requested)}")
    for c in view.claims:
        typer.echo(f"  claim {c['contract_id']}: {fmt(Decimal(c['amount']))}")
    if view.verdict:
        v = view.verdict
        typer.echo(
            f"verdict: {'eligible' if v['eligible'] else 'not eligible'} under {v['programme_id']} "
            f"v{v['programme_version']}, {v['amount']} yuan"
        )
    for e in view.evidence:
        typer.echo(f"  evidence {e.filename} ({e.media_type}, {e.size} bytes) sha256 {e.sha256}")
    typer.echo("history:")
    for h in view.history:
        when = local(h.at, seconds=True)
        typer.echo(f"  {h.seq:>3} {when}  {h.from_ or '-'} -> {h.to}  by {h.actor}: {_reason(h)}")


def register(app: typer.Typer) -> None:
    calls_app = typer.Typer(
        help="Calls for applications: a programme open in a window, drawing on a pool.", no_args_is_help=True
    )
    applications = typer.Typer(help="Applications and their state machine.", no_args_is_help=True)

    @calls_app.command("open")
    def open_call(
        call_id: Annotated[str, typer.Option("--id", help="call id, e.g. ai-model-2025-q4")],
        programme: Annotated[str, typer.Option(help="programme id, e.g. shanghai.ai.model-voucher")],
        version: Annotated[str, typer.Option(help="programme version the call runs")],
        pool: Annotated[
            str,
            typer.Option(
                help="pool the awards come from: the programme's own (the pool its file declares, or one "
                "created with `huiqi ledger pool-create --programme`), its period covering the window"
            ),
        ],
        opens: Annotated[str, typer.Option(help="opening time with timezone, 2025-09-01T00:00:00+08:00")],
        closes: Annotated[str, typer.Option(help="closing time with timezone")],
        mode: Annotated[str, typer.Option(help="allocation: fcfs, ranked or pro_rata")] = "fcfs",
        actor: Actor = default_actor(),
    ) -> None:
        """Open a programme for applications."""
        opens_at, closes_at = moment(opens, "--opens"), moment(closes, "--closes")
        view = call(
            calls.open_call,
            store(),
            call_id=call_id,
            programme_id=programme,
            programme_version=version,
            pool_id=pool,
            opens_at=opens_at,
            closes_at=closes_at,
            allocation_mode=mode,
            actor=actor,
        )
        typer.echo(f"call {view.id} opened")

    @calls_app.command("list")
    def list_calls() -> None:
        """Every call with its window, pool and allocation mode."""
        rows = [
            f"{c.id}\t{c.programme_id} v{c.programme_version}\tpool {c.pool_id}\t{c.allocation_mode}\t"
            f"{local(c.opens_at)} .. {local(c.closes_at)}"
            for c in call(calls.list_calls, store())
        ]
        typer.echo("\n".join(rows) if rows else "no calls")

    @calls_app.command("show")
    def show_call(call_id: Annotated[str, typer.Argument(help="call id")]) -> None:
        """One call: its programme, pool, window and allocation mode."""
        c = call(calls.get_call, store(), call_id=call_id)
        typer.echo(
            f"call {c.id}: {c.programme_id} v{c.programme_version}, pool {c.pool_id}, {c.allocation_mode}, "
            f"{local(c.opens_at)} .. {local(c.closes_at)}"
        )

    @applications.command("submit")
    def submit(
        call_id: Annotated[str, typer.Option("--call", help="call id")],
        firm: Annotated[Path, typer.Option(help="firm profile (JSON or YAML); its snapshot is stored")],
        claim: Annotated[list[str] | None, typer.Option(help="CONTRACT=AMOUNT, repeatable")] = None,
        claims: Annotated[Path | None, typer.Option(help='JSON list of {"contract_id", "amount"}')] = None,
        evidence: Annotated[
            list[Path] | None, typer.Option(help="evidence file (PDF, image, Office), repeatable")
        ] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Submit an application (draft -> submitted) with its claims and evidence."""
        from huiqi.config import get_settings
        from huiqi.firms import ProfileError, load_firm

        try:
            profile = load_firm(firm)
        except ProfileError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"--firm: cannot read {firm}: {exc.strerror}")
        items = _parse_claims(claim, claims)
        files: list[tuple[str, bytes]] = []
        for path in evidence or []:
            try:
                files.append((path.name, path.read_bytes()))
            except OSError as exc:
                fail(f"--evidence: cannot read {path}: {exc.strerror}")
        view = call(
            calls.submit_application,
            store(),
            call_id=call_id,
            claims=items,
            firm=profile,
            evidence=files,
            evidence_dir=get_settings().evidence_dir,
            actor=actor,
        )
        typer.echo(f"application {view.id} submitted for {fmt(view.requested)}")

    @applications.command("list")
    def list_applications(
        state: Annotated[str | None, typer.Option(help="only in this state")] = None,
        call_id: Annotated[str | None, typer.Option("--call", help="only of this call")] = None,
        firm: Annotated[str | None, typer.Option(help="only of this firm (USCC)")] = None,
        limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    ) -> None:
        """Applications, newest first, by state, call or firm."""
        listing = call(
            calls.list_applications, store(), state=state, call_id=call_id, firm_uscc=firm, limit=limit
        )
        for a in listing.items:
            typer.echo(
                f"{a.id}\t{a.call_id}\t{a.firm_uscc}\t{a.state}\t{fmt(a.requested)}\t{local(a.created_at)}"
            )
        typer.echo(f"{len(listing.items)} of {listing.total} applications")

    @applications.command("count")
    def count() -> None:
        """How many applications are in each state."""
        counts = call(calls.count_by_state, store())
        for state in calls.STATES:
            if counts.get(state):
                typer.echo(f"{state}\t{counts[state]}")
        typer.echo(f"total\t{sum(counts.values())}")

    @applications.command("check")
    def check(
        application: Annotated[str, typer.Argument(help="application id")],
        verdict: Annotated[
            Path | None, typer.Option(help="a verdict as JSON (default: the rules engine decides)")
        ] = None,
        pack: Annotated[
            list[str] | None, typer.Option(help="programme pack or folder for the engine (default: all)")
        ] = None,
        actor: Actor = "rules-engine",
    ) -> None:
        """The eligibility check: checked, then under review (eligible) or rejected."""
        from huiqi.rules.errors import ProgrammeError
        from huiqi.rules.loader import load_pack

        if verdict is not None:
            data = read_json(verdict, "--verdict")
            view = call(
                calls.check_application, store(), application_id=application, verdict=data, actor=actor
            )
        else:
            try:
                programmes = load_pack(*(pack or []))
            except ProgrammeError as exc:
                fail(str(exc))
            view = call(
                calls.check_application,
                store(),
                application_id=application,
                programmes=programmes,
                actor=actor,
            )
        typer.echo(f"application {application} is {view.state}")

    @applications.command("score")
    def score(
        application: Annotated[str, typer.Argument(help="application id")],
        value: Annotated[str, typer.Option("--score", help="selection score (exact decimal)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Set the score a ranked call sorts by."""
        from huiqi.money import MoneyError, parse_decimal

        try:
            number = parse_decimal(value, what="--score")
        except MoneyError as exc:
            fail(str(exc))
        call(calls.score_application, store(), application_id=application, score=number, actor=actor)
        typer.echo(f"application {application} scored {number}")

    @applications.command("transition")
    def transition(
        application: Annotated[str, typer.Argument(help="application id")],
        to: Annotated[str, typer.Option(help="target state")],
        reason: Annotated[str, typer.Option(help="why (recorded)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Move an application to another state (only moves the state machine allows; no money moves here)."""
        view = call(
            calls.move_application, store(), application_id=application, to=to, reason=reason, actor=actor
        )
        typer.echo(f"application {application} is {view.state}")

    @applications.command("withdraw")
    def withdraw(
        application: Annotated[str, typer.Argument(help="application id")],
        reason: Annotated[str, typer.Option(help="why")],
        key: Annotated[str | None, typer.Option(help="idempotency key (default: the application)")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Withdraw; reserved money goes back to the pool and on to the waitlist."""
        done = call(
            calls.withdraw_application,
            store(),
            application_id=application,
            reason=reason,
            key=cli_key(key or f"withdraw:{application}"),
            actor=actor,
        )
        typer.echo(
            f"application {application} withdrawn" + (" (earlier, under this key)" if done.replayed else "")
        )
        for d in done.promoted:
            typer.echo(
                f"  waitlisted application {d.application_id} approved for {fmt(d.amount or Decimal(0))}"
            )

    @applications.command("show")
    def show(
        application: Annotated[str, typer.Argument(help="application id")],
        as_json_: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """The application, its verdict, evidence and full history."""
        view = call(calls.get_application, store(), application_id=application)
        if as_json_:
            typer.echo(json.dumps(as_json(view), ensure_ascii=False, indent=2))
            return
        _show(view)

    @applications.command("history")
    def history(application: Annotated[str, typer.Argument(help="application id")]) -> None:
        """Every move of the application: who, when, why."""
        for h in call(calls.get_application, store(), application_id=application).history:
            when = local(h.at, seconds=True)
            typer.echo(f"{h.seq:>3} {when}  {h.from_ or '-'} -> {h.to}  by {h.actor}: {_reason(h)}")

    @applications.command("evidence-add")
    def evidence_add(
        application: Annotated[str, typer.Argument(help="application id")],
        file: Annotated[Path, typer.Argument(help="PDF, image or Office document")],
        description: Annotated[str, typer.Option(help="what it shows")] = "",
        actor: Actor = default_actor(),
    ) -> None:
        """Attach an evidence file to an application (checked by its content)."""
        from huiqi.config import get_settings

        try:
            content = file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        e = call(
            calls.add_evidence,
            store(),
            application_id=application,
            filename=file.name,
            content=content,
            evidence_dir=get_settings().evidence_dir,
            actor=actor,
            description=description,
        )
        typer.echo(f"evidence {e.filename} ({e.media_type}, {e.size} bytes) sha256 {e.sha256}")

    @applications.command("evidence")
    def evidence_list(application: Annotated[str, typer.Argument(help="application id")]) -> None:
        """The evidence files of an application."""
        for e in call(calls.get_application, store(), application_id=application).evidence:
            typer.echo(f"{e.sha256}\t{e.filename}\t{e.media_type}\t{e.size}")

    @applications.command("evidence-get")
    def evidence_get(
        application: Annotated[str, typer.Argument(help="application id")],
        sha256: Annotated[str, typer.Argument(help="the file's sha256")],
        out: Annotated[Path, typer.Option(help="where to write the file")],
    ) -> None:
        """Copy one evidence file of an application out of the store."""
        from huiqi.config import get_settings

        found = call(
            calls.get_evidence,
            store(),
            application_id=application,
            sha256=sha256,
            evidence_dir=get_settings().evidence_dir,
        )
        if found is None:
            fail(f"application {application} has no evidence {sha256}")
        try:
            out.write_bytes(found.path.read_bytes())
        except OSError as exc:
            fail(f"cannot copy {found.filename} to {out}: {exc.strerror}")
        typer.echo(f"{found.filename} written to {out}")

    app.add_typer(calls_app, name="calls")
    app.add_typer(applications, name="applications")
