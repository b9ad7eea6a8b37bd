"""``huiqi ledger``, ``huiqi awards``, ``huiqi pay`` and ``huiqi audit``: the money side of the cycle.

Every command that moves money runs once per idempotency key (``--key``; each has a default that names
the operation), so running it again after a crash or a timeout never moves money twice."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import audit, money
from huiqi.app.jsonable import as_json
from huiqi.cli.shared import call, date, default_actor, fail, fmt, local, read_json, store
from huiqi.cli.shared import money as amount_of
from huiqi.rules.loader import load_pack

Actor = Annotated[str, typer.Option(help="who does this (recorded in the ledger and audit log)")]
Key = Annotated[str | None, typer.Option(help="idempotency key (the same key never moves money twice)")]


def cli_key(key: str) -> str:
    """An idempotency key given on the command line, kept apart from the API's keys."""
    return f"cli:{key}"


def _again(replayed: bool) -> str:
    return " (done earlier under this key; nothing new)" if replayed else ""


def _parse_tranches(
    tranche: list[str] | None, tranches_file: Path | None
) -> list[tuple[Decimal, dt.date, str]] | None:
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
    return [(amount_of(a, "tranche amount"), date(d, "tranche due date"), m) for a, d, m in items]


def _claw_lines(result: money.Clawback | money.HeldView) -> None:
    if _held(result):
        return
    assert isinstance(result, money.Clawback)  # nosec B101
    typer.echo(
        f"released {fmt(result.released)} to the pool; {fmt(result.recoverable)} recoverable"
        + _again(result.replayed)
    )
    for inst in result.schedule:
        typer.echo(f"  installment {inst.seq}: {fmt(inst.amount)} due {inst.due_date}")
    for d in result.promoted:
        typer.echo(f"  waitlisted application {d.application_id} approved")


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="print what the move would do (firm, amount, pool) and write nothing"),
]


def _preview(move: money.Move, actor: str) -> None:
    """Print the summary a money move is confirmed on; nothing is written."""
    sm = call(money.preview, store(), move=move, actor=actor)
    firm = f"{sm.firm_name} ({sm.firm_uscc})" if sm.firm_name else (sm.firm_uscc or "-")
    typer.echo(f"{money.OPERATIONS.get(sm.operation, sm.operation)}: {firm}")
    typer.echo(f"  amount {fmt(sm.amount)} from pool {sm.pool_name} ({sm.pool_id})")
    typer.echo(f"  available in the pool: {fmt(sm.available_before)} now, {fmt(sm.available_after)} after")
    if sm.tranche_seq is not None:
        typer.echo(f"  tranche {sm.tranche_seq}: {sm.milestone}, due {sm.due_date}")
    typer.echo(f"  outcome: {sm.outcome}")
    if sm.second_approval:
        limit = fmt(sm.second_approval_above)
        typer.echo(f"  above {limit}: it will be held for a second officer's approval")
    typer.echo("dry run: nothing was written")


def _held(result: object) -> bool:
    """Print a move held for a second officer (True), or nothing (False)."""
    if not isinstance(result, money.HeldView):
        return False
    typer.echo(
        f"held for a second officer's approval: approval {result.id}, {fmt(result.amount)} "
        f"({result.status}); another officer approves it with "
        f"`huiqi ledger approvals approve {result.id} --actor <officer>`" + _again(result.replayed)
    )
    return True


def _held_line(h: money.HeldView) -> str:
    sm = h.summary
    firm = f"{sm.firm_name} ({sm.firm_uscc})" if sm.firm_name else (sm.firm_uscc or "-")
    decided = f"\t{h.decided_by}: {h.reason}" if h.decided_by else ""
    return (
        f"{h.id}\t{h.status}\t{money.OPERATIONS.get(h.operation, h.operation)}\t{firm}\t{fmt(h.amount)}\t"
        f"pool {sm.pool_name}\tby {h.requested_by} {local(h.requested_at)}{decided}"
    )


def _pool_line(p: money.PoolView) -> str:
    cap = "" if p.per_firm_cap is None else f"\tcap {fmt(p.per_firm_cap)}"
    funds = "" if p.programme_id is None else f"\tfor {p.programme_id}"
    return f"{p.id}\t{p.name}\tsize {fmt(p.size)}\tavailable {fmt(p.available)}{cap}{funds}"


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
        programme: Annotated[
            str | None,
            typer.Option(help="the programme this pool funds (for a programme whose file declares no pool)"),
        ] = None,
    ) -> None:
        """Create and fund a pool."""
        pool = call(
            money.create_pool,
            store(),
            pool_id=pool_id,
            name=name,
            size=amount_of(size, "--size"),
            period_start=date(start, "--start"),
            period_end=date(end, "--end"),
            per_firm_cap=None if cap is None else amount_of(cap, "--cap"),
            key=cli_key(key or f"pool:{pool_id}"),
            actor=actor,
            programme_id=programme,
        )
        typer.echo(f"pool {pool.id} funded with {fmt(pool.size)}" + _again(pool.replayed))

    @ledger.command("pools")
    def pools() -> None:
        """Every pool with its size and what is still available."""
        rows = call(money.list_pools, store())
        for p in rows:
            typer.echo(_pool_line(p))
        if not rows:
            typer.echo("no pools")

    @ledger.command("pool")
    def pool_show(pool: Annotated[str, typer.Argument(help="pool id")]) -> None:
        """One pool: size, what is available, period and per-firm cap."""
        p = call(money.get_pool, store(), pool_id=pool)
        typer.echo(_pool_line(p))
        typer.echo(f"period {p.period_start} .. {p.period_end}")

    @ledger.command("history")
    def history(
        pool: Annotated[str, typer.Argument(help="pool id")],
        as_json_: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Every transaction of a pool from its funding on, with what was available after each."""
        h = call(money.pool_history, store(), pool_id=pool)
        if as_json_:
            typer.echo(json.dumps(as_json(h), ensure_ascii=False, indent=2))
            return
        typer.echo(f"pool {h.pool.id} ({h.pool.name}): {h.total} transactions")
        for t in h.items:
            typer.echo(
                f"  {local(t.at, seconds=True)}  {t.kind:<9} {fmt(t.effect_on_available):>24}  "
                f"available {fmt(t.available):>24}  {t.id}  {t.actor}  {t.memo}"
            )

    @ledger.command("statement")
    def statement(
        pool: Annotated[str, typer.Argument(help="pool id")],
        limit: Annotated[int, typer.Option(help="latest transactions to list")] = 50,
    ) -> None:
        """Balances by account and the latest transactions of one pool."""
        st = call(money.statement, store(), pool_id=pool, limit=limit)
        lines = [
            f"pool {st.pool.id} ({st.pool.name})  period {st.pool.period_start} .. {st.pool.period_end}",
            f"  {'size':<14}{fmt(st.pool.size):>28}",
        ]
        for kind in money.BALANCE_KINDS:
            lines.append(f"  {kind:<14}{fmt(st.balances.get(kind, Decimal(0))):>28}")
        lines.append(f"latest {len(st.transactions)} transactions (effect on available):")
        for t in st.transactions:
            lines.append(
                f"  {local(t.at, seconds=True)}  {t.kind:<9} {fmt(t.effect_on_available):>24}  "
                f"{t.id}  {t.actor}  {t.memo}"
            )
        typer.echo("\n".join(lines))

    @ledger.command("verify")
    def verify() -> None:
        """Check every invariant: balanced transactions, no pool below zero, awards + available = size,
        nothing paid twice, balances equal postings. Exit code 1 when anything is wrong."""
        report = call(money.check_ledger, store())
        if report.ok:
            typer.echo(f"ledger verifies: {report.transactions} transactions, {report.pools} pools")
            return
        for problem in report.problems:
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(1)

    @awards.command("decide")
    def decide(
        application: Annotated[str | None, typer.Argument(help="application id (fcfs calls)")] = None,
        call_id: Annotated[
            str | None, typer.Option("--call", help="decide a whole ranked or pro-rata call")
        ] = None,
        key: Key = None,
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Approve and reserve money, or waitlist when the pool is short."""
        if (application is None) == (call_id is None):
            fail("give an APPLICATION id or --call CALL, not both")
        if dry_run:
            return _preview(
                money.decide_call_move(call_id=str(call_id))
                if application is None
                else money.decide_move(application_id=application),
                actor,
            )
        once = cli_key(key or f"decide:{uuid.uuid4().hex}")
        if application is None:
            done = call(money.decide_call, store(), call_id=str(call_id), key=once, actor=actor)
            if _held(done):
                return
            assert isinstance(done, money.CallDecisions)  # nosec B101
            decisions: tuple[money.DecisionView, ...] = done.decisions
        else:
            one = call(money.decide, store(), application_id=application, key=once, actor=actor)
            if _held(one):
                return
            assert isinstance(one, money.Decided)  # nosec B101
            decisions = (one,)
        for d in decisions:
            amount = f" for {fmt(d.amount)}" if d.amount is not None else ""
            typer.echo(f"application {d.application_id} {d.state}{amount}")

    @awards.command("grant")
    def grant(
        application: Annotated[str, typer.Argument(help="application id")],
        tranche: Annotated[list[str] | None, typer.Option(help="AMOUNT:DUE:MILESTONE, repeatable")] = None,
        tranches: Annotated[Path | None, typer.Option(help="JSON list of tranches")] = None,
        key: Key = None,
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Turn the approved application's reservation into an award, paid in tranches."""
        plan = _parse_tranches(tranche, tranches)
        if dry_run:
            return _preview(money.grant_move(application_id=application, tranches=plan), actor)
        award = call(
            money.grant,
            store(),
            application_id=application,
            tranches=plan,
            key=cli_key(key or f"grant:{application}"),
            actor=actor,
        )
        if _held(award):
            return
        assert isinstance(award, money.GrantedAward)  # nosec B101
        typer.echo(f"award {award.id} granted: {fmt(award.amount)}" + _again(award.replayed))

    @awards.command("list")
    def list_awards(
        pool: Annotated[str | None, typer.Option(help="only of this pool")] = None,
        firm: Annotated[str | None, typer.Option(help="only of this firm (USCC)")] = None,
        limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    ) -> None:
        """Awards, newest first: granted, paid, released, clawed back."""
        listing = call(money.list_awards, store(), pool_id=pool, firm_uscc=firm, limit=limit)
        for a in listing.items:
            typer.echo(
                f"{a.id}\t{a.pool_id}\t{a.firm_uscc}\t{fmt(a.amount)}\tpaid {fmt(a.paid)}\t{a.status}\t"
                f"application {a.application_id or '-'}"
            )
        typer.echo(f"{len(listing.items)} of {listing.total} awards")

    @awards.command("by")
    def awards_by(field: Annotated[str, typer.Argument(help="sector or district")]) -> None:
        """Awarded amounts (net of releases and clawbacks) by the firms' sector or district."""
        for key, amount in call(money.awards_by, store(), field=field):
            typer.echo(f"{key}\t{fmt(amount)}")

    @awards.command("show")
    def show_award(award_id: Annotated[str, typer.Argument(help="award id")]) -> None:
        """One award with its tranches."""
        a = call(money.get_award, store(), award_id=award_id)
        typer.echo(
            f"award {a.id}  pool {a.pool_id}  firm {a.firm_uscc}  {fmt(a.amount)}  paid {fmt(a.paid)}  "
            f"released {fmt(a.released)}  clawed {fmt(a.clawed)}  recovered {fmt(a.recovered)}  {a.status}"
        )
        for t in a.tranches:
            typer.echo(f"  tranche {t.seq}: {fmt(t.amount)} due {t.due_date} ({t.milestone}) {t.status}")

    @awards.command("miss-milestone")
    def miss_milestone(
        application: Annotated[str, typer.Argument(help="application id")],
        seq: Annotated[int, typer.Option(help="tranche number whose milestone was missed")],
        reason: Annotated[str, typer.Option(help="why")],
        as_of: Annotated[str | None, typer.Option(help="date of the finding (default: today)")] = None,
        installments: Annotated[int, typer.Option(help="monthly recovery installments")] = 1,
        key: Key = None,
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Release the unpaid part to the pool and make the paid part recoverable on a schedule."""
        day = date(as_of, "--as-of") if as_of else None
        if dry_run:
            move = money.miss_move(
                application_id=application, seq=seq, reason=reason, as_of=day, installments=installments
            )
            return _preview(move, actor)
        result = call(
            money.miss_milestone,
            store(),
            application_id=application,
            seq=seq,
            reason=reason,
            as_of=day,
            installments=installments,
            key=cli_key(key or f"miss:{application}:{seq}"),
            actor=actor,
        )
        _claw_lines(result)

    @awards.command("clawback")
    def clawback(
        application: Annotated[str, typer.Argument(help="application id")],
        reason: Annotated[str, typer.Option(help="the broken commitment")],
        first_due: Annotated[str, typer.Option(help="first recovery installment date")],
        installments: Annotated[int, typer.Option(help="monthly recovery installments")] = 1,
        key: Key = None,
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Claw an award back: unpaid money to the pool, paid money recoverable."""
        if dry_run:
            move = money.clawback_move(
                application_id=application,
                reason=reason,
                first_due=date(first_due, "--first-due"),
                installments=installments,
            )
            return _preview(move, actor)
        result = call(
            money.clawback,
            store(),
            application_id=application,
            reason=reason,
            first_due=date(first_due, "--first-due"),
            installments=installments,
            key=cli_key(key or f"clawback:{application}"),
            actor=actor,
        )
        _claw_lines(result)

    @awards.command("recover")
    def recover(
        application: Annotated[str, typer.Argument(help="application id")],
        amount: Annotated[str, typer.Option(help="amount received, yuan")],
        key: Annotated[str, typer.Option(help="idempotency key (e.g. the bank transfer reference)")],
        reference: Annotated[str, typer.Option(help="payment reference")] = "",
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Record money recovered from the firm; it returns to the pool."""
        if dry_run:
            move = money.recover_move(
                application_id=application, amount=amount_of(amount, "--amount"), reference=reference
            )
            return _preview(move, actor)
        done = call(
            money.recover,
            store(),
            application_id=application,
            amount=amount_of(amount, "--amount"),
            reference=reference,
            key=cli_key(key),
            actor=actor,
        )
        if _held(done):
            return
        assert isinstance(done, money.Recovery)  # nosec B101
        typer.echo(f"recovery {done.transaction_id} recorded: {fmt(done.amount)}" + _again(done.replayed))

    @pay.command("tranche")
    def pay_tranche(
        application: Annotated[str, typer.Argument(help="application id")],
        seq: Annotated[int, typer.Option(help="tranche number")],
        reference: Annotated[str, typer.Option(help="payment reference")] = "",
        key: Annotated[
            str | None, typer.Option(help="idempotency key (default: application and tranche)")
        ] = None,
        actor: Actor = default_actor(),
        evidence: Annotated[
            str | None,
            typer.Option(help="sha256 of the application's evidence file that shows the milestone is met"),
        ] = None,
        dry_run: DryRun = False,
    ) -> None:
        """Pay one tranche whose milestone is met (shown by --evidence unless it is the grant's own).
        Paying the same tranche again is refused."""
        if dry_run:
            move = money.pay_move(application_id=application, seq=seq, reference=reference, evidence=evidence)
            return _preview(move, actor)
        done = call(
            money.pay_tranche,
            store(),
            application_id=application,
            seq=seq,
            reference=reference,
            evidence=evidence,
            key=cli_key(key or f"pay:{application}:{seq}"),
            actor=actor,
        )
        if _held(done):
            return
        assert isinstance(done, money.Payment)  # nosec B101
        typer.echo(
            f"tranche {seq} of award {done.award_id} paid by transaction {done.transaction_id} "
            f"(award {done.award_status})" + _again(done.replayed)
        )

    @pay.command("reverse")
    def pay_reverse(
        transaction: Annotated[str, typer.Argument(help="id of the payment transaction")],
        reason: Annotated[str, typer.Option(help="why (e.g. returned by the bank)")],
        key: Annotated[str | None, typer.Option(help="idempotency key (default: the transaction)")] = None,
        actor: Actor = default_actor(),
        dry_run: DryRun = False,
    ) -> None:
        """Reverse a returned payment with a reversing entry; the tranche becomes payable again."""
        if dry_run:
            return _preview(money.reverse_move(transaction_id=transaction, reason=reason), actor)
        done = call(
            money.reverse_payment,
            store(),
            transaction_id=transaction,
            reason=reason,
            key=cli_key(key or f"reverse:{transaction}"),
            actor=actor,
        )
        if _held(done):
            return
        assert isinstance(done, money.Reversal)  # nosec B101
        typer.echo(f"payment {transaction} reversed by {done.transaction_id}" + _again(done.replayed))

    @audit_app.command("verify")
    def audit_verify() -> None:
        """Walk the chain; report the first broken link (edited, deleted or reordered). Exit 1 if broken."""
        report = call(audit.verify_chain, store())
        if report.problem is None:
            typer.echo(f"audit chain verifies: {report.checked} links")
            return
        typer.echo(f"audit chain broken at link {report.problem.seq}: {report.problem.message}", err=True)
        raise typer.Exit(1)

    @audit_app.command("log")
    def audit_log(
        limit: Annotated[int, typer.Option(help="latest links to show")] = 50,
        entity: Annotated[str | None, typer.Option(help="only this entity, e.g. award:<id>")] = None,
        as_json_: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
    ) -> None:
        """The latest links of the chain, oldest of them first."""
        listing = call(audit.audit_log, store(), limit=limit, entity=entity)
        for e in reversed(listing.items):
            if as_json_:
                typer.echo(json.dumps(as_json(e), ensure_ascii=False))
            else:
                typer.echo(
                    f"{e.seq:>6} {local(e.at, seconds=True)} {e.actor:<16} "
                    f"{e.entity:<44} {e.action:<18} {e.hash[:12]}"
                )

    approvals = typer.Typer(
        help="Money moves above the second-approval amount, held for a second officer (待复核).",
        no_args_is_help=True,
    )

    @approvals.command("list")
    def approvals_list(
        status: Annotated[str, typer.Option(help="awaiting, approved, rejected or all")] = "awaiting",
        limit: Annotated[int, typer.Option(help="at most this many, oldest first")] = 50,
        application: Annotated[
            str | None, typer.Option(help="only the moves on this application (and on its call)")
        ] = None,
    ) -> None:
        """Held money moves with the summary their maker confirmed."""
        page = call(
            money.list_approvals,
            store(),
            status=None if status == "all" else status,
            limit=limit,
            application_id=application,
        )
        for h in page.items:
            typer.echo(_held_line(h))
        typer.echo(f"{len(page.items)} of {page.total} held money moves")

    @approvals.command("show")
    def approvals_show(approval: Annotated[str, typer.Argument(help="approval id")]) -> None:
        """One held money move: the summary its maker confirmed, and who decided it."""
        h = call(money.get_approval, store(), approval_id=approval)
        typer.echo(_held_line(h))
        sm = h.summary
        before, after = fmt(sm.available_before), fmt(sm.available_after)
        typer.echo(f"  available in the pool: {before} now, {after} after")
        if sm.tranche_seq is not None:
            typer.echo(f"  tranche {sm.tranche_seq}: {sm.milestone}, due {sm.due_date}")

    @approvals.command("approve")
    def approvals_approve(
        approval: Annotated[str, typer.Argument(help="approval id")],
        key: Key = None,
        pack: Annotated[
            list[str] | None, typer.Option(help="programme pack of a selection's move (default: shanghai)")
        ] = None,
        actor: Actor = default_actor(),
    ) -> None:
        """Approve a held money move as the second officer (not its maker): it is done now, once (a
        selection's with the programmes of --pack)."""
        done = call(
            money.approve_move,
            store(),
            approval_id=approval,
            key=cli_key(key or f"approve:{approval}"),
            actor=actor,
            programmes=call(load_pack, *(pack or ["shanghai"])),
        )
        typer.echo(f"approved by {done.decided_by}: {_held_line(done)}" + _again(done.replayed))

    @approvals.command("reject")
    def approvals_reject(
        approval: Annotated[str, typer.Argument(help="approval id")],
        reason: Annotated[str, typer.Option(help="why (recorded, shown to the maker)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Reject a held money move with a reason, as the second officer; nothing moves."""
        done = call(money.reject_move, store(), approval_id=approval, reason=reason, actor=actor)
        typer.echo(f"rejected by {done.decided_by}: {_held_line(done)}")

    ledger.add_typer(approvals, name="approvals")
    app.add_typer(ledger, name="ledger")
    app.add_typer(awards, name="awards")
    app.add_typer(pay, name="pay")
    app.add_typer(audit_app, name="audit")
