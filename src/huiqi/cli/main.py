"""Entry point: each domain's commands live in their own module and register themselves here."""

from __future__ import annotations

import importlib
import os
from typing import Any

import typer
import yaml

from huiqi.app.errors import USER_ERRORS

#: What a person's input can make a command raise when the command did not catch it: exit code 2. (Parse
#: errors of every kind are ValueErrors: money, profiles, programmes, YAML positions, JSON, encodings.)
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    *USER_ERRORS,
    ValueError,
    LookupError,
    OSError,
    yaml.YAMLError,
    RecursionError,
    MemoryError,
)


def one_line(exc: BaseException) -> tuple[int, str]:
    """The exit code and message for an exception no command caught: a refusal of the input 2, with its
    message; anything else 1, named as huiqi's fault."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, RecursionError | MemoryError):
        return 2, f"the input is too large or too deeply nested to handle ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return 2, f"{exc.filename}: {exc.strerror or text}"
    if isinstance(exc, INPUT_ERRORS):
        return 2, text
    first = text.splitlines()[0][:300]
    return 1, f"huiqi failed ({type(exc).__name__}: {first}); set HUIQI_DEBUG=1 to see where, and report it"


class Huiqi(typer.Typer):
    """typer's app run as the ``huiqi`` command: whatever a command lets through becomes ``error: ...`` on
    stderr, never a traceback (``HUIQI_DEBUG=1`` shows it): exit code 2 for input, 1 for a fault."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise SystemExit(130) from None
        except Exception as exc:
            if os.environ.get("HUIQI_DEBUG"):
                raise
            code, message = one_line(exc)
            typer.echo(f"error: {message}", err=True)
            raise SystemExit(code) from None


app = Huiqi(
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
