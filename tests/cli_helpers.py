"""Running the real `huiqi` command in tests against a fresh database, one way for every test: in this
process (Typer's runner: fast) or as a process of its own (a user's fresh start: nothing imported before).

The ``cli_env`` fixture (tests/conftest.py) makes the fresh SQLite database and evidence folder and puts
them in the environment, where both ways find them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dbfixtures import make_firm
from huiqi.cli.main import app
from huiqi.firms import Firm

#: The console script of the venv running the tests.
HUIQI = str(Path(sys.executable).with_name("huiqi"))
RUNNER = CliRunner()


def sqlite_url(folder: Path) -> str:
    """The fresh SQLite database of a test's folder (made by the first command that opens it)."""
    return f"sqlite:///{folder / 'db' / 'huiqi.db'}"


def cli_environment(url: str, folder: Path) -> dict[str, str]:
    """The settings a command reads: the database and the evidence folder."""
    return {"HUIQI_DATABASE_URL": url, "HUIQI_EVIDENCE_DIR": str(folder / "evidence")}


def run(*args: str, code: int = 0) -> str:
    """``huiqi ARGS`` in this process; the exit code must be ``code``; the output."""
    result = RUNNER.invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def run_process(url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``huiqi ARGS`` as a process of its own on the database at ``url``, in ``folder``."""
    return subprocess.run(
        [HUIQI, *args],
        env={**os.environ, **cli_environment(url, folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=folder,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a process that succeeded without a traceback."""
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def firm_file(folder: Path, uscc: str) -> Path:
    """An example firm's profile as the JSON file a user passes to ``--firm``."""
    firm = make_firm(uscc)
    assert isinstance(firm, Firm)
    path = folder / f"{uscc}.json"
    path.write_text(json.dumps(firm.model_dump(mode="json"), ensure_ascii=False))
    return path
