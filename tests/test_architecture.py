"""Import directions between huiqi's packages, read from the source: the table in docs/architecture.md.

A package may import only the packages listed for it. A new package must be added here (and to the doc)
before it can be imported by anything; services never import the web layer or the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "huiqi"

ENGINE = {"money", "firms", "rules"}
ALLOWED: dict[str, set[str]] = {
    "money": set(),
    "config": set(),
    "serving": set(),
    "programmes": set(),
    "firms": {"money"},
    "rules": {"money", "firms"},
    "db": {"config", "money"},
    "audit": {"db"},
    "applications": {"db", "money", "firms", "audit"},
    "ledger": {"db", "money", "audit"},
    "accounts": {"db", "audit", "config", "money", "firms"},
    "review": {"db", "money", "firms", "rules", "audit", "applications"},
    "selection": {"db", "money", "firms", "rules", "audit", "applications", "review", "ledger"},
    "certificates": {"db", "money", "firms", "audit", "config"},
    "matching": {"db", "money", "firms", "rules", "config", "audit"},
    "jobs": {"db"},
    "workflows": {
        "db",
        "money",
        "firms",
        "rules",
        "audit",
        "applications",
        "ledger",
        "review",
        "selection",
        "certificates",
        "matching",
    },
    "simulation": {"money", "firms", "rules", "matching", "reports"},
    "reports": {"money", "firms", "rules", "matching", "ledger", "simulation"},
    "web": {"*"} - {"cli"},
    "cli": {"*"} - {"web"},
}


def packages() -> list[str]:
    return sorted(
        p.stem if p.is_file() else p.name
        for p in SRC.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    )


def imports_of(package: str) -> dict[str, list[str]]:
    """huiqi packages imported by a package -> the files that import them."""
    root = SRC / package
    files = sorted(root.rglob("*.py")) if root.is_dir() else [SRC / f"{package}.py"]
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # db.load_all_models is the one composition point: it imports every domain's models for Alembic
        skip = {
            id(inner)
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef) and fn.name == "load_all_models"
            for inner in ast.walk(fn)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "huiqi" and len(parts) > 1 and parts[1] != package:
                    found.setdefault(parts[1], []).append(str(path.relative_to(SRC)))
    return found


@pytest.mark.parametrize("package", packages())
def test_imports_follow_the_architecture(package: str) -> None:
    assert package in ALLOWED, (
        f"huiqi.{package} is not in the architecture table (tests/test_architecture.py)"
    )
    allowed = ALLOWED[package]
    if "*" in allowed:
        bad = {p: f for p, f in imports_of(package).items() if p not in allowed and p != "__init__"}
        forbidden = {"web", "cli"} - allowed
        bad = {p: f for p, f in bad.items() if p in forbidden}
    else:
        bad = {p: f for p, f in imports_of(package).items() if p not in allowed and p != "__init__"}
    assert not bad, f"huiqi.{package} imports what it may not: {bad}"


def test_the_engine_knows_nothing_of_databases_or_the_web() -> None:
    for package in ENGINE:
        for path in (SRC / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for word in ("sqlalchemy", "fastapi", "huiqi.db", "huiqi.web"):
                assert f"import {word}" not in text and f"from {word}" not in text, f"{path}: {word}"
