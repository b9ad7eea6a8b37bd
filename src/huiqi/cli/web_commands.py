"""``huiqi serve`` (uvicorn workers handed connections in turn: huiqi.serving) and ``huiqi demo``: the
whole cycle on a demo database, then the site."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import demo as demo_case
from huiqi.app.store import Store
from huiqi.cli.shared import call, fmt


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
    """A fresh demo database for every role, its users and passwords, how to point huiqi at it; then the site.

    Officer, reviewer, auditor, admin and a Shanghai firm (the user firm) with messages in its inbox."""
    from huiqi.config import Settings

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    db_file = directory / "huiqi.db"
    for stale in (db_file, directory / "huiqi.db-wal", directory / "huiqi.db-shm"):
        stale.unlink(missing_ok=True)
    st = call(Store.open, f"sqlite:///{db_file}", pool_size=2)
    typer.echo(f"database {db_file} created and migrated")
    try:
        made = call(
            demo_case.seed_demo,
            st,
            directory=directory,
            firms=firms,
            applications=applications,
            seed=seed,
            progress=typer.echo,
        )
    finally:
        st.close()
    for total in made.matched:
        typer.echo(f"  {total.programme:<32} {total.firms:>6} firms  {fmt(total.amount):>26}")
    typer.echo(f"pool {made.pool_id} funded; call {made.call_id} open with {made.applications} applications")
    typer.echo(
        f"designation call {made.designation_call}: call file saved, applications checked, reviewers "
        f"assigned; {made.waiting_reviews} reviews wait for the user reviewer (/review), then select on "
        f"/officer/selection/{made.designation_call}; its grants wait in /officer/approvals (待复核) until "
        f"the second officer {demo_case.SECOND_OFFICER} approves them"
    )
    firm = made.firm
    typer.echo(
        f"demo firm {firm.name} ({firm.uscc}): qualifies for {len(firm.qualifies_for)} programmes, "
        f"{firm.inbox} messages in its inbox; it can apply to {made.call_id}"
    )
    typer.echo("\ndemo users (user name / password):")
    for name, pw in made.passwords.items():
        extra = f"  (firm {firm.uscc})" if name == demo_case.FIRM_USER else ""
        typer.echo(f"  {name:<11} {pw}{extra}")
    env = made.environment()
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    typer.echo(f"\ndatabase: {made.database_url}")
    typer.echo("to run huiqi against the demo's database (e.g. huiqi ledger pools, huiqi users list):")
    typer.echo(f"  export {exports}")
    typer.echo("  huiqi ledger pools")
    if no_serve:
        typer.echo("to serve it: the export above, then huiqi serve")
        return
    Settings.model_validate({k.removeprefix("HUIQI_").lower(): v for k, v in env.items()})
    typer.echo(f"\nserving on http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    _serve("127.0.0.1", port, 1, env)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
