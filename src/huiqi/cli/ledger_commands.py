"""``huiqi ledger``, ``huiqi awards``, ``huiqi pay`` and ``huiqi audit``: the money side of the cycle."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from huiqi.cli.shared import date, default_actor, fail, fmt, money, read_json, read_only, transact

Actor = Annotated[str, typer.Option(help="who does this (recorded in the ledger and audit log)")]


def _parse_tranches(tranche: list[str] | None, tranches_file: Path | None) -> list[Any] | None:
    from huiqi.ledger.service import TranchePlan

    items: list[tuple[str, str, str]] = []
    for text in tranche or []:
        parts = text.split(":", 2)
        if len(parts) != 3:
            fail(
                f"--tranche: expected AMOUNT:DUE-DATE:MILESTONE (e.g. 300000.00:2026-03-31:office opened), "
                f"got {text!r}"
            )
        items.append((parts[0], parts[1], parts[2]))
    if tranches_file is not None:
        data = read_json(tranches_file, "--tranches")
        if not isinstance(data, list):
            fail(
                "--tranches: expected a JSON list of "
                '{"amount": "...", "due": "YYYY-MM-DD", "milestone": "..."}'
            )
        for entry in data:
            if not isinstance(entry, dict) or not {"amount", "due", "milestone"} <= entry.keys():
                fail(f"--tranches: each entry needs amount, due and milestone, got {entry!r}")
            items.append((str(entry["amount"]), str(entry["due"]), str(entry["milestone"])))
    if not items:
        return None
    return [TranchePlan(money(a, "tranche amount"), m, date(d, "tranche due date")) for a, d, m in items]


def register(app: typer.Typer) -> None:
    ledger = typer.Typer(help="Pools, statements and the ledger's invariants.", no_args_is_help=True)
    awards = typer.Typer(help="Decide, grant, miss milestones, claw back, recover.", no_args_is_help=True)
    pay = typer.Typer(help="Disbursements.", no_args_is_help=True)
    audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

    @ledger.command("pool-create")
    def pool_create(
        pool_id: Annotated[str, typer.Option("--id", help="pool id, e.g. shanghai.ai.model-voucher.2025")],
        name: Annotated[str, typer.Option(help="display name")],
        size: Annotated[str, typer.Option(help="size in yuan, e.g. 300000000.00")],
        start: Annotated[str, typer.Option(help="period start, YYYY-MM-DD")],
        end: Annotated[str, typer.Option(help="period end, YYYY-MM-DD")],
        cap: Annotated[str | None, typer.Option(help="per-firm cap in yuan")] = None,
        key: Annotated[str | None, typer.Option(help="idempotency key (default: pool id)")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Create and fund a pool."""
        from huiqi.ledger import service

        amount = money(size, "--size")
        cap_amount = None if cap is None else money(cap, "--cap")
        start_d, end_d = date(start, "--start"), date(end, "--end")

        def work(s: Session) -> str:
            return service.create_pool(
                session=s,
                pool_id=pool_id,
                name=name,
                size=amount,
                period_start=start_d,
                period_end=end_d,
                per_firm_cap=cap_amount,
                actor=actor,
                idempotency_key=key or f"pool:{pool_id}",
            ).id

        typer.echo(f"pool {transact(work)} funded with {fmt(amount)}")

    @ledger.command("pools")
    def pools() -> None:
        """Every pool with its size and what is still available."""
        from huiqi.ledger import service

        rows = read_only(
            lambda s: [(p.id, p.name, p.size, p.available) for p in service.list_pools(session=s)]
        )
        for pid, pname, psize, avail in rows:
            typer.echo(f"{pid}\t{pname}\tsize {fmt(psize)}\tavailable {fmt(avail)}")
        if not rows:
            typer.echo("no pools")

    @ledger.command("statement")
    def statement(
        pool: Annotated[str, typer.Argument(help="pool id")],
        limit: Annotated[int, typer.Option(help="latest transactions to list")] = 50,
    ) -> None:
        """Balances by account and the latest transactions of one pool."""
        from huiqi.ledger.verify import pool_statement

        def work(s: Session) -> list[str]:
            st = pool_statement(session=s, pool_id=pool, limit=limit)
            lines = [
                f"pool {st.pool.id} ({st.pool.name})  period {st.pool.period_start} .. {st.pool.period_end}",
                f"  {'size':<14}{fmt(st.pool.size):>28}",
            ]
            for kind in ("available", "reserved", "payable", "paid", "recoverable"):
                lines.append(f"  {kind:<14}{fmt(st.balances.get(kind, Decimal(0))):>28}")
            lines.append(f"latest {len(st.transactions)} transactions (effect on available):")
            for txn, delta in st.transactions:
                lines.append(
                    f"  {txn.at.isoformat(timespec='seconds')}  {txn.kind:<9} {fmt(delta):>24}  "
                    f"{txn.id}  {txn.actor}  {txn.memo}"
                )
            return lines

        typer.echo("\n".join(read_only(work)))

    @ledger.command("verify")
    def verify() -> None:
        """Check every invariant: balanced transactions, no pool below zero, awards + available = size,
        nothing paid twice, balances equal postings. Exit code 1 when anything is wrong."""
        from huiqi.ledger.verify import verify_ledger

        report = read_only(lambda s: verify_ledger(session=s))
        if report.ok:
            typer.echo(f"ledger verifies: {report.transactions} transactions, {report.pools} pools")
            return
        for problem in report.problems:
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(1)

    @awards.command("decide")
    def decide(
        application: Annotated[str | None, typer.Argument(help="application id (fcfs calls)")] = None,
        call: Annotated[str | None, typer.Option(help="decide a whole ranked or pro-rata call")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Approve and reserve money, or waitlist when the pool is short."""
        from huiqi.workflows import service as flows

        if (application is None) == (call is None):
            fail("give an APPLICATION id or --call CALL, not both")

        def work(s: Session) -> list[Any]:
            if application is None:
                return flows.decide_call(session=s, call_id=str(call), actor=actor)
            return [flows.decide(session=s, application_id=application, actor=actor)]

        for d in transact(work):
            amount = f" for {fmt(d.amount)}" if d.amount is not None else ""
            typer.echo(f"application {d.application_id} {d.state}{amount}")

    @awards.command("grant")
    def grant(
        application: Annotated[str, typer.Argument(help="application id")],
        tranche: Annotated[list[str] | None, typer.Option(help="AMOUNT:DUE:MILESTONE, repeatable")] = None,
        tranches: Annotated[Path | None, typer.Option(help="JSON list of tranches")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Turn the approved application's reservation into an award, paid in tranches."""
        from huiqi.workflows import service as flows

        plan = _parse_tranches(tranche, tranches)

        def work(s: Session) -> tuple[str, Decimal]:
            award = flows.grant(session=s, application_id=application, actor=actor, tranches=plan)
            return award.id, award.amount

        award_id, amount = transact(work)
        typer.echo(f"award {award_id} granted: {fmt(amount)}")

    @awards.command("miss-milestone")
    def miss_milestone(
        application: Annotated[str, typer.Argument(help="application id")],
        seq: Annotated[int, typer.Option(help="tranche number whose milestone was missed")],
        reason: Annotated[str, typer.Option(help="why")],
        as_of: Annotated[str | None, typer.Option(help="date of the finding (default: today)")] = None,
        installments: Annotated[int, typer.Option(help="monthly recovery installments")] = 1,
        key: Annotated[str | None, typer.Option(help="idempotency key")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Release the unpaid part to the pool and make the paid part recoverable on a schedule."""
        from huiqi.workflows import service as flows

        day = date(as_of, "--as-of") if as_of else dt.date.today()
        result, promoted = transact(
            lambda s: flows.miss_milestone(
                session=s,
                application_id=application,
                seq=seq,
                as_of=day,
                actor=actor,
                reason=reason,
                idempotency_key=key or f"miss:{application}:{seq}",
                installments=installments,
            )
        )
        typer.echo(f"released {fmt(result.released)} to the pool; {fmt(result.recoverable)} recoverable")
        for inst in result.schedule:
            typer.echo(f"  installment {inst.seq}: {fmt(inst.amount)} due {inst.due_date}")
        for d in promoted:
            typer.echo(f"  waitlisted application {d.application_id} approved")

    @awards.command("clawback")
    def clawback(
        application: Annotated[str, typer.Argument(help="application id")],
        reason: Annotated[str, typer.Option(help="the broken commitment")],
        first_due: Annotated[str, typer.Option(help="first recovery installment date")],
        installments: Annotated[int, typer.Option(help="monthly recovery installments")] = 1,
        key: Annotated[str | None, typer.Option(help="idempotency key")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Claw an award back: unpaid money to the pool, paid money recoverable."""
        from huiqi.workflows import service as flows

        due = date(first_due, "--first-due")
        result, _ = transact(
            lambda s: flows.clawback(
                session=s,
                application_id=application,
                actor=actor,
                reason=reason,
                idempotency_key=key or f"clawback:{application}",
                first_due=due,
                installments=installments,
            )
        )
        typer.echo(f"released {fmt(result.released)} to the pool; {fmt(result.recoverable)} recoverable")
        for inst in result.schedule:
            typer.echo(f"  installment {inst.seq}: {fmt(inst.amount)} due {inst.due_date}")

    @awards.command("recover")
    def recover(
        application: Annotated[str, typer.Argument(help="application id")],
        amount: Annotated[str, typer.Option(help="amount received, yuan")],
        key: Annotated[str, typer.Option(help="idempotency key (e.g. the bank transfer reference)")],
        reference: Annotated[str, typer.Option(help="payment reference")] = "",
        actor: Actor = default_actor(),
    ) -> None:
        """Record money recovered from the firm; it returns to the pool."""
        from huiqi.ledger import service
        from huiqi.workflows import service as flows

        value = money(amount, "--amount")

        def work(s: Session) -> str:
            award = flows.award_of(session=s, application_id=application)
            return service.record_recovery(
                session=s,
                award_id=award.id,
                amount=value,
                actor=actor,
                idempotency_key=key,
                reference=reference,
            ).id

        typer.echo(f"recovery {transact(work)} recorded: {fmt(value)}")

    @pay.command("tranche")
    def pay_tranche(
        application: Annotated[str, typer.Argument(help="application id")],
        seq: Annotated[int, typer.Option(help="tranche number")],
        reference: Annotated[str, typer.Option(help="payment reference")] = "",
        key: Annotated[
            str | None, typer.Option(help="idempotency key (default: application and tranche)")
        ] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Pay one tranche whose milestone is met. Paying the same tranche again is refused."""
        from huiqi.workflows import service as flows

        def work(s: Session) -> tuple[str, str, str]:
            award, txn = flows.pay(
                session=s,
                application_id=application,
                seq=seq,
                actor=actor,
                idempotency_key=key or f"pay:{application}:{seq}",
                reference=reference,
            )
            return award.id, award.status, txn.id

        award_id, status, txn_id = transact(work)
        typer.echo(f"tranche {seq} of award {award_id} paid by transaction {txn_id} (award {status})")

    @pay.command("reverse")
    def pay_reverse(
        transaction: Annotated[str, typer.Argument(help="id of the payment transaction")],
        reason: Annotated[str, typer.Option(help="why (e.g. returned by the bank)")],
        key: Annotated[str | None, typer.Option(help="idempotency key (default: the transaction)")] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Reverse a returned payment with a reversing entry; the tranche becomes payable again."""
        from huiqi.ledger import service

        txn_id = transact(
            lambda s: (
                service.reverse_payment(
                    session=s,
                    transaction_id=transaction,
                    actor=actor,
                    reason=reason,
                    idempotency_key=key or f"reverse:{transaction}",
                ).id
            )
        )
        typer.echo(f"payment {transaction} reversed by {txn_id}")

    @audit_app.command("verify")
    def audit_verify() -> None:
        """Walk the chain; report the first broken link (edited, deleted or reordered). Exit 1 if broken."""
        from huiqi.audit import chain as audit

        report = read_only(lambda s: audit.verify_chain(session=s))
        if report.problem is None:
            typer.echo(f"audit chain verifies: {report.checked} links")
            return
        typer.echo(f"audit chain broken at link {report.problem.seq}: {report.problem.message}", err=True)
        raise typer.Exit(1)

    @audit_app.command("log")
    def audit_log(
        limit: Annotated[int, typer.Option(help="latest links to show")] = 50,
        entity: Annotated[str | None, typer.Option(help="only this entity, e.g. award:<id>")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
    ) -> None:
        """The latest links of the chain."""
        from huiqi.audit import chain as audit

        def work(s: Session) -> list[dict[str, Any]]:
            return [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "entity": e.entity,
                    "action": e.action,
                    "payload": json.loads(e.payload),
                    "hash": e.hash,
                }
                for e in audit.recent(session=s, limit=limit, entity=entity)
            ]

        for row in read_only(work):
            if as_json:
                typer.echo(json.dumps(row, ensure_ascii=False))
            else:
                typer.echo(
                    f"{row['seq']:>6} {row['at']} {row['actor']:<16} {row['entity']:<44} {row['action']:<18} "
                    f"{row['hash'][:12]}"
                )

    app.add_typer(ledger, name="ledger")
    app.add_typer(awards, name="awards")
    app.add_typer(pay, name="pay")
    app.add_typer(audit_app, name="audit")
