"""``huiqi users``: user accounts from the command line (create, list, unlock, reset a password, disable,
enable, change a role), the same ``huiqi.app.accounts`` use cases as the admin page and the API, each in the
audit chain; and ``huiqi firms``: the profiles firms keep with the commission (list, show, save)."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from huiqi.app import accounts
from huiqi.cli.shared import call, default_actor, fail, local, store
from huiqi.firms.io import parse_text, read_text_any_encoding

Actor = Annotated[str, typer.Option(help="who does this (recorded in the audit log)")]
Username = Annotated[str, typer.Argument(help="the user name")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="read the password from the first line of standard input (default: a random one is made and "
        "printed once)",
    ),
]
FirmUscc = Annotated[
    str, typer.Option("--firm-uscc", help="the firm's credit code (firm members only; staff leave it out)")
]


def password_from(stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was made here (then it is printed): never taken as an argument,
    which would leave it in the shell's history and the process list."""
    if not stdin:
        return secrets.token_urlsafe(12), True
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("--password-stdin: the first line of standard input is empty")
    return line, False


def describe(u: accounts.UserView) -> str:
    """One line about a user: name, role, firm, status, failed logins and any delay (Shanghai time)."""
    status = "enabled" if u.active else "DISABLED"
    extra = ""
    if u.failures:
        extra += f"  {u.failures} failed logins in the last hour"
    if u.delayed_until:
        extra += f", logins wait until {local(u.delayed_until)}"
    return f"{u.username:<20} {u.role:<12} {u.firm_uscc or '-':<18} {status}{extra}"


def register(app: typer.Typer) -> None:
    users = typer.Typer(
        help="User accounts: create, list, unlock, reset a password, disable, enable, change a role.",
        no_args_is_help=True,
    )

    @users.command("create")
    def create(
        username: Username,
        role: Annotated[str, typer.Option(help=f"one of {', '.join(accounts.ROLES)}")],
        name: Annotated[str, typer.Option(help="the name shown on pages (default: the user name)")] = "",
        firm_uscc: FirmUscc = "",
        password_stdin: PasswordStdin = False,
        actor: Actor = default_actor(),
    ) -> None:
        """Give a person an account with a role."""
        password, made = password_from(password_stdin)
        view = call(
            accounts.create_user,
            store(),
            username=username,
            password=password,
            role=role,
            display_name=name,
            firm_uscc=firm_uscc or None,
            actor=actor,
        )
        typer.echo(f"created {describe(view)}")
        if made:
            typer.echo(f"password: {password}")

    @users.command("list")
    def list_users() -> None:
        """Every user: role, firm, enabled or not, failed logins and any login delay."""
        for u in call(accounts.list_users, store()):
            typer.echo(describe(u))

    @users.command("unlock")
    def unlock(username: Username, actor: Actor = default_actor()) -> None:
        """Forget the user's failed logins, so no login delay holds them back."""
        view = call(accounts.unlock_user, store(), username=username, actor=actor)
        typer.echo(f"unlocked {describe(view)}")

    @users.command("reset-password")
    def reset_password(
        username: Username, password_stdin: PasswordStdin = False, actor: Actor = default_actor()
    ) -> None:
        """Give the user a new password; their sessions end."""
        password, made = password_from(password_stdin)
        view = call(accounts.reset_password, store(), username=username, password=password, actor=actor)
        typer.echo(f"new password set for {view.username}; their sessions have ended")
        if made:
            typer.echo(f"password: {password}")

    @users.command("disable")
    def disable(username: Username, actor: Actor = default_actor()) -> None:
        """Stop the user logging in; their sessions end now."""
        view = call(accounts.disable_user, store(), username=username, actor=actor)
        typer.echo(f"disabled {describe(view)}")

    @users.command("enable")
    def enable(username: Username, actor: Actor = default_actor()) -> None:
        """Let a disabled user log in again."""
        view = call(accounts.enable_user, store(), username=username, actor=actor)
        typer.echo(f"enabled {describe(view)}")

    @users.command("roles")
    def roles(
        username: Username,
        role: Annotated[str, typer.Argument(help=f"the new role: one of {', '.join(accounts.ROLES)}")],
        firm_uscc: FirmUscc = "",
        actor: Actor = default_actor(),
    ) -> None:
        """Give the user another role (a firm member: with --firm-uscc)."""
        view = call(
            accounts.change_role,
            store(),
            username=username,
            role=role,
            firm_uscc=firm_uscc or None,
            actor=actor,
        )
        typer.echo(f"changed {describe(view)}")

    app.add_typer(users, name="users")

    firms = typer.Typer(
        help="The profiles firms keep with the commission: list, show, save.", no_args_is_help=True
    )

    @firms.command("list")
    def list_firms(
        limit: Annotated[int, typer.Option(help="how many")] = 50,
        offset: Annotated[int, typer.Option(help="how many to skip")] = 0,
    ) -> None:
        """The firms that keep a profile, by credit code (times in Shanghai time)."""
        found = call(accounts.firm_profiles_page, store(), offset=offset, limit=limit)
        for f in found.items:
            typer.echo(
                f"{f.uscc}  {f.name_zh or '-'}  {f.sector or '-'}  {f.district or '-'}  {local(f.updated_at)}"
            )
        typer.echo(f"{len(found.items)} of {found.total}")

    @firms.command("show")
    def show_firm(uscc: Annotated[str, typer.Argument(help="the firm's credit code")]) -> None:
        """The profile a firm keeps with the commission, as JSON."""
        firm = call(accounts.firm_profile, store(), uscc=uscc)
        typer.echo(json.dumps(firm.model_dump(mode="json"), ensure_ascii=False, indent=2))

    @firms.command("save")
    def save_firm(
        profile: Annotated[Path, typer.Argument(help="the firm's profile, JSON or YAML (huiqi schema firm)")],
        actor: Actor = default_actor(),
    ) -> None:
        """Keep a firm's profile with the commission (validated; replaces the one stored)."""
        try:
            text = read_text_any_encoding(profile)
        except OSError as exc:
            fail(f"cannot read {profile}: {exc.strerror}")
        data = call(parse_text, text, source=str(profile))
        firm = call(accounts.save_firm_profile, store(), data=data, actor=actor, source=str(profile))
        typer.echo(f"saved the profile of {firm.uscc} {firm.name_zh}")

    app.add_typer(firms, name="firms")
