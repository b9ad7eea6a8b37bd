"""Entry point: each domain's commands live in their own module and register themselves here, lazily:
``huiqi --help`` lists the commands from the table below without importing them, and ``huiqi <command>``
imports the one module that registers it (Click's lazy-group pattern), so a command starts in the time its
own imports take, not every command group's."""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import Any

import typer
import typer.main
import yaml
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo


@cache
def input_errors() -> tuple[type[BaseException], ...]:
    """What a person's input can make a command raise when the command did not catch it: exit code 2.
    (Parse errors of every kind are ValueErrors: money, profiles, programmes, YAML positions, JSON,
    encodings.) Imported when an error needs it, so that starting a command does not load every domain."""
    from huiqi.app.errors import USER_ERRORS

    return (*USER_ERRORS, ValueError, LookupError, OSError, yaml.YAMLError, RecursionError, MemoryError)


def one_line(exc: BaseException) -> tuple[int, str]:
    """The exit code and message for an exception no command caught: a refusal of the input 2, with its
    message; anything else 1, named as huiqi's fault."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, RecursionError | MemoryError):
        return 2, f"the input is too large or too deeply nested to handle ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return 2, f"{exc.filename}: {exc.strerror or text}"
    if isinstance(exc, input_errors()):
        return 2, text
    first = text.splitlines()[0][:300]
    return 1, f"huiqi failed ({type(exc).__name__}: {first}); set HUIQI_DEBUG=1 to see where, and report it"


#: Each top-level command or group, in the order ``huiqi --help`` lists them: the module under huiqi.cli
#: whose ``register(app)`` adds it, and its help's first paragraph (what the list shows). Add a line to add
#: a command; tests/test_cli_startup.py holds the table to what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": (
        "rules_commands",
        "The policy calculator: which programmes a firm qualifies for on a date, how much, and why.",
    ),
    "schema": ("rules_commands", "Print the JSON Schema of a firm profile or of a programme file."),
    "version": ("rules_commands", "Print huiqi's version."),
    "serve": (
        "web_commands",
        "Serve the site and the API (settings from HUIQI_* variables; run `huiqi db upgrade` first).",
    ),
    "demo": (
        "web_commands",
        "A fresh demo database for every role, its users and passwords, how to point huiqi at it; then the "
        "site.",
    ),
    "simulate": (
        "simulation_commands",
        "Run baseline and reform over a register: cost, winners and losers, breakdowns, pool sufficiency.",
    ),
    "compare-cities": (
        "simulation_commands",
        "Subsidies, net cost and explanations of a firm's plan in Shanghai, Beijing, Shenzhen, Hangzhou "
        "and\nChengdu, side by side.",
    ),
    "programmes": (
        "rules_commands",
        "Programme files: list, read, validate and test them; draft, review, publish, withdraw and diff "
        "versions.",
    ),
    "register": ("register_commands", "The firm register: synthetic registers, register files."),
    "db": ("db_commands", "Database schema (Alembic migrations shipped in the package)."),
    "calls": ("calls_commands", "Calls for applications: a programme open in a window, drawing on a pool."),
    "applications": ("calls_commands", "Applications and their state machine."),
    "ledger": ("ledger_commands", "Pools, statements and the ledger's invariants."),
    "awards": ("ledger_commands", "Decide, grant, miss milestones, claw back, recover."),
    "pay": ("ledger_commands", "Disbursements."),
    "audit": ("ledger_commands", "The hash-chained audit log."),
    "match": ("match_commands", "Batch matching: benefits without application."),
    "reviewers": ("selection_commands", "Reviewers (experts): fields and declared affiliations."),
    "review": (
        "selection_commands",
        "Review panels: assignment, conflict declarations, scores, normalisation, reassignment.",
    ),
    "selection": (
        "selection_commands",
        "Selection under quotas and budget, explanations, reserve, publication.",
    ),
    "certificates": (
        "selection_commands",
        "Signed PDF certificates: export, verify, revoke, the revocation list.",
    ),
    "users": (
        "accounts_commands",
        "User accounts: create, list, unlock, reset a password, disable, enable, change a role.",
    ),
    "firms": ("accounts_commands", "The profiles firms keep with the commission: list, show, save."),
}

#: Modules under huiqi.cli that define ``register(app)``, each once.
COMMAND_MODULES = list(dict.fromkeys(f"huiqi.cli.{module}" for module, _ in COMMANDS.values()))


@cache
def group_of(module: str) -> TyperGroup:
    """The commands one module registers (imported on first use): what running one command loads."""
    scratch = typer.Typer(**SETTINGS)
    importlib.import_module(module).register(scratch)
    return typer.main.get_group(scratch)


class LazyGroup(TyperGroup):
    """The ``huiqi`` group: a command's module is imported when the command is run or its help asked for;
    the list of commands (``huiqi --help``) comes from ``COMMANDS`` without importing. (typer's own Click:
    the context and commands are typed loosely here.)"""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            if cmd_name in COMMANDS:
                module, summary = COMMANDS[cmd_name]
                if self.listing:  # a line of the list: the name and its summary are enough
                    return TyperCommand(cmd_name, help=summary)
                self.commands.update(group_of(f"huiqi.cli.{module}").commands)
            elif not self.listing:
                # a name not in the table (a mistyped one, or a command added without its line): every
                # module, so that it runs if some module registers it, or typer suggests from every name
                for module in COMMAND_MODULES:
                    self.commands.update(group_of(module).commands)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


HELP = "huiqi (惠企): innovation-incentive programmes as cited, dated, testable rules."

#: The ``huiqi`` group's settings, the same for the command run and for the app inspected whole.
SETTINGS: dict[str, Any] = {
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "add_completion": False,
}


def main_callback() -> None:
    """huiqi (惠企): innovation-incentive programmes as cited, dated, testable rules."""


class Huiqi(typer.Typer):
    """typer's app run as the ``huiqi`` command: whatever a command lets through becomes ``error: ...`` on
    stderr, never a traceback (``HUIQI_DEBUG=1`` shows it): exit code 2 for input, 1 for a fault.

    Run as the command (``app()``), it imports only the module of the command given. Inspected as an app
    (``registered_commands``, ``registered_groups``: typer's test runner, the parity test, documentation),
    it registers every module first, so it is the whole ``huiqi`` with every command's own function."""

    def __init__(self, **kwargs: Any) -> None:
        self.loaded = False
        super().__init__(**kwargs)

    def load_all(self) -> None:
        """Register every command module on this app (once), for whatever inspects it whole."""
        if not self.loaded:
            self.loaded = True
            for module in COMMAND_MODULES:
                importlib.import_module(module).register(self)

    @property
    def registered_commands(self) -> list[CommandInfo]:
        self.load_all()
        return self.all_commands

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        self.all_commands = value

    @property
    def registered_groups(self) -> list[TyperInfo]:
        self.load_all()
        return self.all_groups

    @registered_groups.setter
    def registered_groups(self, value: list[TyperInfo]) -> None:
        self.all_groups = value

    def lazy_command(self) -> TyperGroup:
        """The ``huiqi`` group as run: commands imported when used (the whole app once it was inspected)."""
        if self.loaded:
            return typer.main.get_group(self)
        root = typer.Typer(name="huiqi", help=HELP, cls=LazyGroup, **SETTINGS)
        root.callback()(main_callback)
        return typer.main.get_group(root)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.lazy_command()(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise SystemExit(130) from None
        except Exception as exc:
            if os.environ.get("HUIQI_DEBUG"):
                raise
            code, message = one_line(exc)
            typer.echo(f"error: {message}", err=True)
            raise SystemExit(code) from None


app = Huiqi(name="huiqi", help=HELP, cls=LazyGroup, **SETTINGS)
app.callback()(main_callback)


if __name__ == "__main__":  # pragma: no cover
    app()
