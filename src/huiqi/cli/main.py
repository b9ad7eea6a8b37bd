"""Entry point: each domain's commands live in their own module and register themselves here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="huiqi",
    help="huiqi (惠企): innovation-incentive programmes as cited, dated, testable rules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@app.callback()
def _main() -> None:
    """huiqi (惠企): innovation-incentive programmes as cited, dated, testable rules."""


#: Modules under huiqi.cli that define ``register(app)``. Add a line to add a command group.
COMMAND_MODULES = [
    "huiqi.cli.rules_commands",
    "huiqi.cli.register_commands",
    "huiqi.cli.db_commands",
    "huiqi.cli.calls_commands",
    "huiqi.cli.ledger_commands",
    "huiqi.cli.web_commands",
    "huiqi.cli.match_commands",
    "huiqi.cli.simulation_commands",
    "huiqi.cli.selection_commands",
    "huiqi.cli.accounts_commands",
]

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
