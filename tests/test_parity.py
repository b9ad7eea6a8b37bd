"""Parity of the adapters: every CLI command and every API or page route calls the application layer, and
every use case a person performs is reachable from the CLI and the API, and from a page.

What a command or route calls is read from its code (the names its bytecode loads, following the helper
functions of the adapter modules), not declared by hand, so the table printed by ``test_the_table`` is
what the code does. Exceptions are listed, each with its reason, in docs/architecture.md's "Parity" table;
this test reads them from there.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("huiqi.cli", "huiqi.web")


def code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from code_objects(const)


def unwrap(fn: Any) -> Any:
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


#: Modules of huiqi.app that hold the unit of work and its plumbing, not use cases.
PLUMBING = {"store", "idempotency", "holding", "models", "errors", "jsonable", "registry"}


def is_use_case(obj: Any) -> bool:
    """A public function of a huiqi.app module whose first parameter is the store (or, for the use cases
    that need no database, the programmes they read)."""
    if not inspect.isfunction(obj) or not obj.__module__.startswith("huiqi.app."):
        return False
    if obj.__module__.removeprefix("huiqi.app.") in PLUMBING:
        return False
    if obj.__name__.startswith("_"):
        return False
    params = list(inspect.signature(obj).parameters.values())
    return bool(params) and params[0].name in {"store", "programmes"}


def reached(
    fn: Callable[..., Any], seen: set[int] | None = None, follow: tuple[str, ...] = ADAPTERS
) -> set[str]:
    """The use cases (``module.function``) a function of an adapter calls, directly or through helpers."""
    seen = set() if seen is None else seen
    fn = unwrap(fn)
    if id(fn) in seen or not hasattr(fn, "__code__"):
        return set()
    seen.add(id(fn))
    names: set[str] = set()
    for code in code_objects(fn.__code__):
        names.update(code.co_names)
        names.update(code.co_freevars)
    scope: dict[str, Any] = dict(getattr(fn, "__globals__", {}))
    if fn.__closure__:
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=False):
            try:
                scope[var] = cell.cell_contents
            except ValueError:
                continue
    modules: list[types.ModuleType] = []
    found: set[str] = set()
    for name in names:
        if name.startswith("huiqi.app"):
            try:
                modules.append(importlib.import_module(name))
            except ImportError:
                continue
        obj = scope.get(name)
        if isinstance(obj, types.ModuleType) and obj.__name__.startswith("huiqi.app"):
            modules.append(obj)
        elif is_use_case(obj):
            found.add(f"{obj.__module__.removeprefix('huiqi.app.')}.{obj.__name__}")
        elif inspect.isfunction(obj) and obj.__module__.startswith(follow):
            found |= reached(obj, seen, follow)
    for module in list(modules):
        for name in names:
            sub = getattr(module, name, None)
            if isinstance(sub, types.ModuleType) and sub.__name__.startswith("huiqi.app"):
                modules.append(sub)
    for module in modules:
        for name in names:
            obj = getattr(module, name, None)
            if is_use_case(obj):
                found.add(f"{obj.__module__.removeprefix('huiqi.app.')}.{obj.__name__}")
    return found


def cli_commands() -> dict[str, Callable[..., Any]]:
    from huiqi.cli.main import app

    out: dict[str, Callable[..., Any]] = {}

    def walk(t: typer.Typer, prefix: str) -> None:
        for c in t.registered_commands:
            assert c.callback is not None
            name = c.name or c.callback.__name__.replace("_", "-")
            out[f"{prefix}{name}".strip()] = c.callback
        for g in t.registered_groups:
            assert g.typer_instance is not None
            walk(g.typer_instance, f"{prefix}{g.name} ")

    walk(app, "huiqi ")
    return out


def routes() -> dict[str, Callable[..., Any]]:
    from fastapi.routing import APIRoute

    from huiqi.web.app import routers

    out: dict[str, Callable[..., Any]] = {}
    for router in routers():
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods - {"HEAD"}):
                    out[f"{method} {route.path}"] = route.endpoint
    return out


def exceptions() -> dict[str, tuple[str, str]]:
    """docs/architecture.md's parity exceptions: what (command, route or use case) -> (kind, reason)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("### Parity exceptions", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    found: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            found[cells[0].strip("`")] = (cells[1], cells[2])
    return found


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, set[str]]]:
    """adapter kind -> entry (command or route) -> the use cases it reaches."""
    web = routes()
    return {
        "cli": {k: reached(v) for k, v in cli_commands().items()},
        "api": {k: reached(v) for k, v in web.items() if " /api/v1" in k},
        "page": {k: reached(v) for k, v in web.items() if " /api/v1" not in k},
    }


def use_cases() -> set[str]:
    import pkgutil

    import huiqi.app

    found = set()
    for info in pkgutil.iter_modules(huiqi.app.__path__):
        module = importlib.import_module(f"huiqi.app.{info.name}")
        for name, obj in vars(module).items():
            if is_use_case(obj) and obj.__module__ == module.__name__:
                found.add(f"{info.name}.{name}")
    return found


def test_the_table(table: dict[str, dict[str, set[str]]]) -> None:
    """Prints the parity table (pytest -s): every command and route with the use cases it calls."""
    for kind, entries in table.items():
        for entry, reach in sorted(entries.items()):
            print(f"{kind}\t{entry}\t{', '.join(sorted(reach)) or '-'}")
    assert table["cli"] and table["api"] and table["page"]


def test_every_command_and_route_calls_the_application_layer(
    table: dict[str, dict[str, set[str]]],
) -> None:
    allowed = exceptions()
    bare = [
        f"{kind}: {entry}"
        for kind, entries in table.items()
        for entry, reach in sorted(entries.items())
        if not reach and entry not in allowed
    ]
    assert bare == [], "calls no huiqi.app use case (and is not in docs/architecture.md's exceptions):\n" + (
        "\n".join(bare)
    )


@pytest.mark.parametrize("kind", ["cli", "api", "page"])
def test_every_use_case_is_reachable(kind: str, table: dict[str, dict[str, set[str]]]) -> None:
    allowed = exceptions()
    reachable = set().union(*table[kind].values())
    missing = sorted(
        u
        for u in use_cases() - reachable
        if not (u in allowed and re.search(rf"\b{kind}\b", allowed[u][0], re.IGNORECASE))
    )
    assert missing == [], (
        f"use cases no {kind} entry reaches (and not excepted for {kind} in docs/architecture.md):\n"
        + "\n".join(missing)
    )


def test_the_reader_can_fail() -> None:
    """The reader finds a use case called through a helper, and none in a function that calls none."""
    probe = types.ModuleType("huiqi.app.probe")
    exec("def do(store, *, x):\n    return x\n", probe.__dict__)  # a made-up use case
    probe.do.__module__ = "huiqi.app.probe"

    def helper() -> object:
        return probe.do(None, x=1)

    def command() -> object:
        return helper()

    def idle() -> object:
        return len("huiqi")

    assert reached(command, follow=(__name__,)) == {"probe.do"}
    assert reached(command) == set()  # helpers are followed only inside the adapters' modules
    assert reached(idle, follow=(__name__,)) == set()
