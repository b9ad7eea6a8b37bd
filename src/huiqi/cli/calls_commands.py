"""``huiqi calls`` and ``huiqi applications``: open calls, submit, check, score, move, withdraw, show."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from huiqi.cli.shared import default_actor, fail, fmt, moment, money, read_json, read_only, transact

Actor = Annotated[str, typer.Option(help="who does this (recorded in the history and audit log)")]


def _parse_claims(claim: list[str] | None, claims_file: Path | None) -> list[Any]:
    from huiqi.applications.service import Claim

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
    return [Claim(c, money(a, f"amount for {c}")) for c, a in items]


def register(app: typer.Typer) -> None:
    calls = typer.Typer(
        help="Calls for applications: a programme open in a window, drawing on a pool.", no_args_is_help=True
    )
    applications = typer.Typer(help="Applications and their state machine.", no_args_is_help=True)

    @calls.command("open")
    def open_call(
        call_id: Annotated[str, typer.Option("--id", help="call id, e.g. ai-model-2025-q4")],
        programme: Annotated[str, typer.Option(help="programme id, e.g. shanghai.ai.model-voucher")],
        version: Annotated[str, typer.Option(help="programme version the call runs")],
        pool: Annotated[str, typer.Option(help="pool the awards come from")],
        opens: Annotated[str, typer.Option(help="opening time with timezone, 2025-09-01T00:00:00+08:00")],
        closes: Annotated[str, typer.Option(help="closing time with timezone")],
        mode: Annotated[str, typer.Option(help="allocation: fcfs, ranked or pro_rata")] = "fcfs",
        actor: Actor = default_actor(),
    ) -> None:
        """Open a programme for applications."""
        from huiqi.applications import service

        opens_at, closes_at = moment(opens, "--opens"), moment(closes, "--closes")

        def work(s: Session) -> str:
            call = service.open_call(
                session=s,
                call_id=call_id,
                programme_id=programme,
                programme_version=version,
                pool_id=pool,
                opens_at=opens_at,
                closes_at=closes_at,
                allocation_mode=mode,
                actor=actor,
            )
            return call.id

        typer.echo(f"call {transact(work)} opened")

    @calls.command("list")
    def list_calls() -> None:
        """Every call with its window, pool and allocation mode."""
        from huiqi.applications import service

        def work(s: Session) -> list[str]:
            return [
                f"{c.id}\t{c.programme_id} v{c.programme_version}\tpool {c.pool_id}\t{c.allocation_mode}\t"
                f"{c.opens_at.isoformat()} .. {c.closes_at.isoformat()}"
                for c in service.list_calls(session=s)
            ]

        rows = read_only(work)
        typer.echo("\n".join(rows) if rows else "no calls")

    @applications.command("submit")
    def submit(
        call: Annotated[str, typer.Option(help="call id")],
        firm: Annotated[Path, typer.Option(help="firm profile (JSON or YAML); its snapshot is stored")],
        claim: Annotated[list[str] | None, typer.Option(help="CONTRACT=AMOUNT, repeatable")] = None,
        claims: Annotated[Path | None, typer.Option(help='JSON list of {"contract_id", "amount"}')] = None,
        evidence: Annotated[
            list[Path] | None, typer.Option(help="evidence file (PDF, image, Office), repeatable")
        ] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Submit an application (draft -> submitted) with its claims and evidence."""
        from huiqi.applications import service
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
        evidence_dir = get_settings().evidence_dir

        def work(s: Session) -> tuple[str, Decimal]:
            app_ = service.submit(session=s, call_id=call, firm=profile, claims=items, actor=actor)
            for name, content in files:
                service.attach_evidence(
                    session=s,
                    application_id=app_.id,
                    filename=name,
                    content=content,
                    evidence_dir=evidence_dir,
                    actor=actor,
                )
            return app_.id, app_.requested

        app_id, requested = transact(work)
        typer.echo(f"application {app_id} submitted for {fmt(requested)}")

    @applications.command("check")
    def check(
        application: Annotated[str, typer.Argument(help="application id")],
        verdict: Annotated[Path, typer.Option(help="the rules engine's verdict as JSON")],
        actor: Actor = "rules-engine",
    ) -> None:
        """Record the eligibility verdict: checked, then under review (eligible) or rejected."""
        from huiqi.applications.models import EligibilityVerdict
        from huiqi.workflows import service as flows

        data = read_json(verdict, "--verdict")
        try:
            parsed = EligibilityVerdict.from_json(data)
            if isinstance(data.get("amount"), float) or parsed.amount < 0:
                raise ValueError("amount must be a non-negative decimal string")
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            fail(
                f"--verdict: expected programme_id, programme_version, eligible, amount, explanation ({exc})"
            )

        def work(s: Session) -> str:
            return flows.check(session=s, application_id=application, verdict=parsed, actor=actor).state

        typer.echo(f"application {application} is {transact(work)}")

    @applications.command("score")
    def score(
        application: Annotated[str, typer.Argument(help="application id")],
        value: Annotated[str, typer.Option("--score", help="selection score (exact decimal)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Set the score a ranked call sorts by."""
        from huiqi.applications import service
        from huiqi.money import MoneyError, parse_decimal

        try:
            number = parse_decimal(value, what="--score")
        except MoneyError as exc:
            fail(str(exc))
        transact(
            lambda s: service.set_score(session=s, application_id=application, score=number, actor=actor)
        )
        typer.echo(f"application {application} scored {number}")

    @applications.command("transition")
    def transition(
        application: Annotated[str, typer.Argument(help="application id")],
        to: Annotated[str, typer.Option(help="target state")],
        reason: Annotated[str, typer.Option(help="why (recorded)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Move an application to another state (only moves the state machine allows; no money moves here)."""
        from huiqi.applications import service
        from huiqi.applications.models import State

        try:
            target = State(to)
        except ValueError:
            fail(f"--to: {to!r} is not a state; states: {', '.join(s.value for s in State)}")
        if target in (State.SUBMITTED, State.CHECKED):
            fail(f"--to {target.value}: use `huiqi applications submit` or `huiqi applications check`")
        if target in (
            State.APPROVED,
            State.AWARDED,
            State.PAYING,
            State.COMPLETED,
            State.CLAWED_BACK,
            State.WITHDRAWN,
        ):
            fail(
                f"--to {target.value} moves money; use `huiqi awards ...`, `huiqi pay ...` or "
                "`huiqi applications withdraw`"
            )

        def work(s: Session) -> str:
            return service.transition(
                session=s, application_id=application, to=target, actor=actor, reason=reason
            ).state

        typer.echo(f"application {application} is {transact(work)}")

    @applications.command("withdraw")
    def withdraw(
        application: Annotated[str, typer.Argument(help="application id")],
        reason: Annotated[str, typer.Option(help="why")],
        actor: Actor = default_actor(),
    ) -> None:
        """Withdraw; reserved money goes back to the pool and on to the waitlist."""
        from huiqi.workflows import service as flows

        promoted = transact(
            lambda s: flows.withdraw(session=s, application_id=application, actor=actor, reason=reason)
        )
        typer.echo(f"application {application} withdrawn")
        for d in promoted:
            typer.echo(
                f"  waitlisted application {d.application_id} approved for {fmt(d.amount or Decimal(0))}"
            )

    @applications.command("show")
    def show(
        application: Annotated[str, typer.Argument(help="application id")],
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """The application, its verdict, evidence and full history."""
        from huiqi.applications import service

        def work(s: Session) -> dict[str, Any]:
            a = service.get_application(session=s, application_id=application)
            return {
                "id": a.id,
                "call_id": a.call_id,
                "firm_uscc": a.firm_uscc,
                "state": a.state,
                "requested": str(a.requested),
                "claims": a.claims,
                "score": a.score,
                "verdict": a.verdict,
                "evidence": [
                    {"sha256": e.sha256, "filename": ae.filename, "media_type": e.media_type, "size": e.size}
                    for ae, e in service.evidence_of(session=s, application_id=a.id)
                ],
                "history": [
                    {
                        "seq": h.seq,
                        "from": h.from_state,
                        "to": h.to_state,
                        "actor": h.actor,
                        "at": h.at.isoformat(),
                        "reason": h.reason,
                    }
                    for h in service.history(session=s, application_id=a.id)
                ],
            }

        data = read_only(work)
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        typer.echo(f"application {data['id']}  call {data['call_id']}  firm {data['firm_uscc']}")
        typer.echo(f"state {data['state']}  requested {fmt(Decimal(data['requested']))}")
        for c in data["claims"]:
            typer.echo(f"  claim {c['contract_id']}: {fmt(Decimal(c['amount']))}")
        if data["verdict"]:
            v = data["verdict"]
            typer.echo(
                f"verdict: {'eligible' if v['eligible'] else 'not eligible'} under {v['programme_id']} "
                f"v{v['programme_version']}, {v['amount']} yuan"
            )
        for e in data["evidence"]:
            typer.echo(
                f"  evidence {e['filename']} ({e['media_type']}, {e['size']} bytes) sha256 {e['sha256']}"
            )
        typer.echo("history:")
        for h in data["history"]:
            typer.echo(
                f"  {h['seq']:>3} {h['at']}  {h['from'] or '-'} -> {h['to']}  by {h['actor']}: {h['reason']}"
            )

    app.add_typer(calls, name="calls")
    app.add_typer(applications, name="applications")
