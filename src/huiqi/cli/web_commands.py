"""``huiqi serve`` (uvicorn workers handed connections in turn: huiqi.serving) and ``huiqi demo``: the
whole cycle on a demo database, then the site."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

DEMO_PROGRAMME = "shanghai.ai.model-voucher"


def _serve(
    host: str,
    port: int,
    workers: int,
    env: dict[str, str] | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    from huiqi.serving import serve as serve_app

    for k, v in (env or {}).items():
        os.environ[k] = v
    code = serve_app(
        "huiqi.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=True,
    )
    if code:
        raise typer.Exit(code)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (default: one per CPU)")] = 0,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info, debug")] = "info",
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Serve the site and the API (settings from HUIQI_* variables; run `huiqi db upgrade` first)."""
    from huiqi.config import get_settings

    try:
        get_settings()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _serve(host, port, workers or os.cpu_count() or 1, log_level=log_level, access_log=access_log)


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo database and files go")] = Path(
        "var/demo"
    ),
    firms: Annotated[int, typer.Option(help="firms in the synthetic register")] = 2000,
    applications: Annotated[int, typer.Option(help="synthetic applications in the demo call")] = 12,
    seed: Annotated[int, typer.Option(help="random seed of the register")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="prepare everything, do not serve")] = False,
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """The full demo: a fresh database, the Shanghai pack, a synthetic register matched against it, a pool and
    an open call with synthetic applications (checked and decided), demo users (printed with their
    passwords), then the site on localhost."""
    import pyarrow.compute as pc
    from sqlalchemy.orm import Session

    from huiqi.accounts import service as accounts
    from huiqi.applications import service as apps
    from huiqi.cli.demo_designation import setup_designation
    from huiqi.config import Settings
    from huiqi.db import make_engine, make_session_factory, run_in_transaction
    from huiqi.db.migrate import upgrade
    from huiqi.firms.register import write_register
    from huiqi.firms.synth import synth_firms, synth_register
    from huiqi.ledger import service as ledger
    from huiqi.money import format_yuan, yuan
    from huiqi.rules.batch import evaluate_register
    from huiqi.rules.loader import load_pack
    from huiqi.workflows import service as flows
    from huiqi.workflows.checking import engine_verdict

    directory.mkdir(parents=True, exist_ok=True)
    db_file = directory / "huiqi.db"
    for stale in (db_file, directory / "huiqi.db-wal", directory / "huiqi.db-shm"):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db_file}"
    upgrade(url)
    typer.echo(f"database {db_file} created and migrated")

    programmes = load_pack("shanghai")
    typer.echo(f"loaded {len(programmes)} programmes of the Shanghai pack")
    today = dt.datetime.now(dt.UTC)
    on = today.date()
    tables = synth_register(firms, seed)
    register_dir = directory / "register"
    write_register(tables, register_dir)
    long = evaluate_register(programmes, tables, on)
    typer.echo(f"register of {firms:,} synthetic firms matched on {on}:")
    for pid in sorted(programmes):
        rows = long.filter(pc.and_(pc.equal(long["programme"], pid), pc.equal(long["eligible"], True)))
        total = sum((Decimal(a or 0) for a in rows["amount"].to_pylist()), start=Decimal(0))
        typer.echo(f"  {pid:<32} {rows.num_rows:>6} firms  {format_yuan(total):>26}")

    programme = programmes[DEMO_PROGRAMME]
    assert programme.spec.pool is not None  # nosec B101  # narrows the type for mypy
    pool_id = f"{programme.spec.pool.id}.{on.year}"
    call_id = f"ai-model-{on.isoformat()}"
    candidates = [
        f
        for f in synth_firms(min(firms, 1500), seed)
        if any(c.kind == "model_use" and not c.claimed for c in f.contracts)
    ][:applications]
    engine = make_engine(url, pool_size=2)
    factory = make_session_factory(engine)
    passwords = {
        name: secrets.token_urlsafe(9) for name in ("officer", "auditor", "reviewer", "admin", "firm")
    }
    actor = "demo"

    def setup(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)  # nosec B101  # narrows the type for mypy
        ledger.create_pool(
            session=s,
            pool_id=pool_id,
            name=programme.spec.pool.name.zh if programme.spec.pool else pool_id,
            size=yuan(str(programme.spec.pool.size)) if programme.spec.pool else yuan("1"),
            period_start=dt.date(on.year, 1, 1),
            period_end=dt.date(on.year, 12, 31),
            per_firm_cap=None,
            actor=actor,
            idempotency_key=f"demo:pool:{pool_id}",
        )
        apps.open_call(
            session=s,
            call_id=call_id,
            programme_id=programme.id,
            programme_version=programme.version,
            pool_id=pool_id,
            opens_at=today - dt.timedelta(hours=1),
            closes_at=today + dt.timedelta(days=30),
            allocation_mode="fcfs",
            actor=actor,
        )
        for role in ("officer", "auditor", "reviewer", "admin"):
            accounts.create_user(
                session=s,
                username=role,
                password=passwords[role],
                role=role,
                display_name=f"Demo {role}",
                actor=actor,
            )
        accounts.create_user(
            session=s,
            username="firm",
            password=passwords["firm"],
            role="firm_member",
            display_name=candidates[0].name_zh if candidates else "firm",
            firm_uscc=candidates[0].uscc if candidates else "91310115MA1K3BTP2B",
            actor=actor,
        )
        for i, firm in enumerate(candidates):
            accounts.save_firm_profile(session=s, data=firm.model_dump(mode="json"), actor=actor)
            if i == 0:
                continue  # the demo firm applies itself, in the browser
            contract = next(c for c in firm.contracts if c.kind == "model_use" and not c.claimed)
            claim = min(contract.value, Decimal("500000.00"))
            app = apps.submit(
                session=s,
                call_id=call_id,
                firm=firm,
                claims=[apps.Claim(contract.id, claim)],
                actor=f"firm:{firm.uscc}",
            )
            if i % 3 != 0:
                verdict = engine_verdict(programmes, app, apps.get_call(session=s, call_id=call_id))
                checked = flows.check(session=s, application_id=app.id, verdict=verdict, actor="rules-engine")
                if checked.state == "under_review" and i % 2 == 0:
                    flows.decide(session=s, application_id=app.id, actor=actor)

    run_in_transaction(factory, setup)

    def designation(s: Session) -> tuple[str, int]:
        return setup_designation(s, programmes, today, reviewer="reviewer", actor=actor, passwords=passwords)

    hq_call, waiting = run_in_transaction(factory, designation)
    engine.dispose()
    typer.echo(f"pool {pool_id} funded; call {call_id} open with {max(len(candidates) - 1, 0)} applications")
    typer.echo(
        f"designation call {hq_call}: call file saved, applications checked, reviewers assigned; "
        f"{waiting} reviews wait for the user reviewer (/review), then select on /officer/selection/{hq_call}"
    )
    typer.echo("\ndemo users (user name / password):")
    for name, pw in passwords.items():
        extra = f"  (firm {candidates[0].uscc})" if name == "firm" and candidates else ""
        typer.echo(f"  {name:<9} {pw}{extra}")
    env = {
        "HUIQI_DATABASE_URL": url,
        "HUIQI_EVIDENCE_DIR": str(directory / "evidence"),
        "HUIQI_PROGRAMMES_DIR": str(directory / "programmes"),
        "HUIQI_REGISTER_DIR": str(register_dir),
    }
    if no_serve:
        typer.echo("\nto serve: " + " ".join(f"{k}={v}" for k, v in env.items()) + " huiqi serve")
        return
    Settings.model_validate({k.removeprefix("HUIQI_").lower(): v for k, v in env.items()})
    typer.echo(f"\nserving on http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    _serve("127.0.0.1", port, 1, env)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
