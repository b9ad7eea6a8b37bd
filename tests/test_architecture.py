"""The architecture, checked: import-linter's contracts ([tool.importlinter] in pyproject.toml) hold, they
catch a forbidden import planted in a copy of the tree, every package has an ``__init__.py``, no private
name is imported across modules, and docs/architecture.md names every package the contracts name."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "huiqi"
LINT = Path(sys.executable).with_name("lint-imports")
#: gettext's conventional name and the package version are not private.
ALLOWED = {"_", "__version__"}


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the package under ``root`` (a src folder), with the project's contracts."""
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root.parent,
        env={"PYTHONPATH": str(root), "PATH": str(LINT.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_contracts_hold() -> None:
    done = lint(SRC.parent)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("rules/batch.py", "import huiqi.ledger.service", "Adapters call the application layer"),
        ("rules/compiler.py", "import sqlalchemy", "The engine (rules, firms, money)"),
        ("web/charts.py", "import huiqi.ledger.service", "only through huiqi.app"),
        ("cli/shared.py", "from huiqi.applications.service import list_calls", "only through huiqi.app"),
        ("app/store.py", "import huiqi.web.app", "Adapters call the application layer"),
        ("money/amount.py", "import huiqi.db", "Adapters call the application layer"),
    ],
)
def test_a_planted_import_is_caught(tmp_path: Path, module: str, planted: str, contract: str) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "huiqi", ignore=shutil.ignore_patterns("__pycache__", "programmes", "static"))
    target = copy / "huiqi" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}\n", encoding="utf-8")
    done = lint(copy)
    assert done.returncode != 0, f"{planted} in {module} passed the contracts"
    assert contract in done.stdout


def packages() -> list[Path]:
    return sorted(p for p in SRC.rglob("*") if p.is_dir() and any(p.glob("*.py")) and p.name != "__pycache__")


def test_every_package_has_an_init() -> None:
    missing = [str(p.relative_to(SRC)) for p in packages() if not (p / "__init__.py").exists()]
    missing = [m for m in missing if not m.startswith("db/migrations")]
    assert missing == [], f"packages without __init__.py (import-linter cannot see them): {missing}"


def module_name(path: Path) -> str:
    parts = ["huiqi", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("huiqi"):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name not in ALLOWED]
                hidden = [p for p in node.module.split(".") if p.startswith("_")]
                if private or hidden:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} from {node.module} import {private}")
    assert found == [], "private names imported across modules:\n" + "\n".join(found)


def test_the_map_names_every_layer() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    layers = next(c for c in contracts() if c["id"] == "layers")["layers"]
    assert isinstance(layers, list)
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    missing = sorted(m for m in named if f"`{m.removeprefix('huiqi.')}`" not in text)
    assert missing == [], f"docs/architecture.md does not describe {missing}"
    on_disk = {f"huiqi.{p.name}" for p in SRC.iterdir() if (p / "__init__.py").exists()}
    unplaced = sorted(on_disk - named - {"huiqi.programmes"})
    assert unplaced == [], f"packages in no layer of [tool.importlinter] (pyproject.toml): {unplaced}"
