"""``huiqi`` starts lazily (issue 17): ``huiqi --help`` lists every command without importing one, and a
command imports the one module that registers it. Run as the command, the group says exactly what the app
inspected whole says (the help of the group and of every command, a mistyped name's suggestion, a refusal
in one line), and its table of commands is what the modules register."""

from __future__ import annotations

import importlib
import json
import subprocess  # nosec B404  # the command's own process, to see what it imports
import sys
from typing import Any

import pytest
import typer
import typer.main
from click.testing import CliRunner

from huiqi.cli import main
from huiqi.cli.main import COMMAND_MODULES, COMMANDS, Huiqi

WIDTH = {"terminal_width": 100}


def fresh() -> Huiqi:
    """A ``huiqi`` app no test has inspected (the module's ``app`` may have been, by typer's runner)."""
    app = Huiqi(name="huiqi", help=main.HELP, cls=main.LazyGroup, **main.SETTINGS)
    app.callback()(main.main_callback)
    return app


def run(command: Any, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(command, args, **WIDTH)  # type: ignore[arg-type]
    return result.exit_code, result.output


def test_the_table_is_what_the_modules_register() -> None:
    eager = typer.main.get_group(fresh_loaded())
    ctx = typer.Context(eager)
    registered: dict[str, str] = {}
    for module in COMMAND_MODULES:
        scratch = typer.Typer()
        importlib.import_module(module).register(scratch)
        for name in typer.main.get_group(scratch).commands:
            assert name not in registered, f"{name} is registered twice"
            registered[name] = module.removeprefix("huiqi.cli.")
    assert {n: m for n, (m, _) in COMMANDS.items()} == registered
    for name, (_, summary) in COMMANDS.items():
        command = eager.get_command(ctx, name)
        assert command is not None, name
        shown = (command.short_help or command.help or "").split("\n\n")[0].strip()
        assert summary == shown, f"cli/main.py COMMANDS[{name!r}] must be its help's first paragraph"


def fresh_loaded() -> Huiqi:
    app = fresh()
    app.load_all()
    return app


def every_command(group: Any, ctx: typer.Context, prefix: list[str]) -> list[list[str]]:
    """Every command and group of the eager app, as the arguments that name it."""
    found = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        found.append([*prefix, name])
        if hasattr(sub, "list_commands"):
            found += every_command(sub, typer.Context(sub, parent=ctx), [*prefix, name])
    return found


def test_run_lazily_the_command_says_what_the_whole_app_says() -> None:
    eager = typer.main.get_group(fresh_loaded())
    names = every_command(eager, typer.Context(eager), [])
    assert len(names) > 60  # every command of every group
    for args in [[], ["--help"], *[[*n, "--help"] for n in names]]:
        lazy = fresh().lazy_command()
        assert isinstance(lazy, main.LazyGroup) and not lazy.commands
        assert run(lazy, args) == run(eager, args), args
    for args in (["programes", "list"], ["chek"], ["nonesuch"]):
        code, said = run(fresh().lazy_command(), args)
        assert (code, said) == run(eager, args), args
        assert code == 2
    assert "Did you mean 'programmes'?" in run(fresh().lazy_command(), ["programes"])[1]


PROBE = """
import json, sys
from huiqi.cli.main import app
sys.argv = ["huiqi", *sys.argv[1:]]
try:
    app()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("huiqi."))}))
"""


def imported(*args: str) -> tuple[int, set[str]]:
    """What ``huiqi ARGS`` imports of huiqi, in a process of its own, and its exit code."""
    done = subprocess.run(  # nosec B603  # this interpreter and fixed arguments
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last["code"], set(last["modules"])


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["--help"], None),
        (["programmes", "list"], "huiqi.cli.rules_commands"),
        (["version"], "huiqi.cli.rules_commands"),
        (["db", "--help"], "huiqi.cli.db_commands"),
    ],
)
def test_a_command_imports_only_its_own_module(args: list[str], module: str | None) -> None:
    code, modules = imported(*args)
    assert code in (0, None), (args, code)
    # what registering the command's module alone brings (it may use another module's commands)
    own = registered_by(module) if module else set()
    commands = {m for m in modules if m.startswith("huiqi.cli.") and m.endswith("_commands")}
    assert commands == {m for m in own if m.startswith("huiqi.cli.") and m.endswith("_commands")}, args
    assert set(COMMAND_MODULES) & modules == ({module} if module else set()) | (set(COMMAND_MODULES) & own)
    assert "huiqi.app.demo" not in modules and "huiqi.web.app" not in modules
    if module is None:  # the list of commands needs no domain at all
        assert not {m for m in modules if m.startswith("huiqi.app")}, sorted(modules)


def registered_by(module: str) -> set[str]:
    """What registering one module's commands imports of huiqi, in a process of its own."""
    code = f"import json, sys\nfrom huiqi.cli.main import group_of\ngroup_of({module!r})\n"
    code += "print(json.dumps(sorted(m for m in sys.modules if m.startswith('huiqi.'))))"
    done = subprocess.run(  # nosec B603  # this interpreter and fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_missing_from_the_table_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command a module registers without its line in ``COMMANDS`` is found by importing every module."""
    from huiqi import __version__

    monkeypatch.setattr(main, "COMMANDS", {k: v for k, v in COMMANDS.items() if k != "version"})
    code, said = run(fresh().lazy_command(), ["version"])
    assert (code, said.strip()) == (0, __version__)
    code, said = run(fresh().lazy_command(), ["--help"])
    assert code == 0 and "Print huiqi's version." not in said and "Batch matching" in said
