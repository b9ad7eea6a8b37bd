"""``huiqi programmes draft|submit|review|publish|withdraw|diff|drafts``: alice drafts next year's model
voucher, may not publish it herself, bob (another user) rejects and then publishes it, withdraws it;
refusals are one line with exit code 2. On both databases in this process (the same commands, without a
process's start for each: about 1 CPU-s, 17 of them); on PostgreSQL the first three (draft, submit and the
refused review) as separate processes, a user's fresh start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dbfixtures import fresh_pg_database
from huiqi.cli.main import app
from huiqi.config import get_settings

from .lifecycle_helpers import MODEL, cases_for, next_year

HUIQI = [sys.executable, "-m", "huiqi.cli.main"]
#: How a journey runs ``huiqi ARGS`` as the system user ``user`` with ``env``: exit code, stdout, stderr.
Run = Callable[..., subprocess.CompletedProcess[str]]


def run_process(env: dict[str, str], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``huiqi ARGS`` as a process of the system user ``user`` (the CLI's actor is ``cli:<user>``)."""
    return subprocess.run(
        [*HUIQI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "USER": user, "LOGNAME": user, "HUIQI_DEBUG": ""},
    )


def run_here(env: dict[str, str], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``huiqi ARGS`` in this process with the environment a process of ``user`` would have (settings read
    again for it), answered as a finished process: an unexpected exception is raised, not exit code 1."""
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, list(args), env={**env, "USER": user, "LOGNAME": user, "HUIQI_DEBUG": ""}
        )
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def first_as_processes(n: int) -> Run:
    """The first ``n`` commands of a journey as separate processes, the rest in this process."""
    done = [0]

    def run(env: dict[str, str], user: str, *args: str) -> subprocess.CompletedProcess[str]:
        done[0] += 1
        return (run_process if done[0] <= n else run_here)(env, user, *args)

    return run


def journey(tmp_path: Path, url: str, run: Run) -> None:
    env = {"HUIQI_DATABASE_URL": url, "HUIQI_PROGRAMMES_DIR": str(tmp_path / "programmes")}
    folder = tmp_path / "work"
    folder.mkdir()
    file = folder / "model-2026.programme.yaml"
    file.write_text(next_year(rate="35%"), encoding="utf-8")
    (folder / "model-2026.tests.yaml").write_text(cases_for("350_000"), encoding="utf-8")

    r = run(env, "alice", "programmes", "draft", str(file))
    assert r.returncode == 0, r.stderr
    assert (
        "draft 1: shanghai.ai.model-voucher version 2026.1 with the tests of model-2026.tests.yaml"
        in r.stdout
    )
    assert run(env, "alice", "programmes", "submit", "1").returncode == 0

    r = run(env, "alice", "programmes", "review", "1", "--approve")
    assert r.returncode == 2 and "a second officer, not its author, must publish it" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1

    r = run(env, "bob", "programmes", "diff", "--draft", "1")
    assert r.returncode == 0, r.stderr
    assert "shanghai.ai.model-voucher: 2025.1 -> 2026.1" in r.stdout
    assert "50%" in r.stdout and "35%" in r.stdout and "[added]" in r.stdout  # the rate; the new test case

    r = run(env, "bob", "programmes", "review", "1", "--reject", "--reason", "the measures say 30%")
    assert r.returncode == 0 and "back with cli:alice: the measures say 30%" in r.stdout, r.stderr
    file.write_text(next_year(), encoding="utf-8")
    (folder / "model-2026.tests.yaml").write_text(cases_for(), encoding="utf-8")
    assert run(env, "alice", "programmes", "draft", str(file), "--edit", "1").returncode == 0
    assert run(env, "alice", "programmes", "submit", "1").returncode == 0
    r = run(env, "bob", "programmes", "test-draft", "1")
    assert r.returncode == 0 and " passed, 0 failed" in r.stdout, r.stdout + r.stderr
    assert "ok   model-2026.tests.yaml:3:5  shanghai.ai.model-voucher: 1,000,000 x 30%" in r.stdout
    r = run(env, "bob", "programmes", "publish", "1")
    assert r.returncode == 0, r.stderr
    assert "version 2026.1 is in force from its effective date, after version 2025.1" in r.stdout

    r = run(env, "bob", "programmes", "list", "--on", "2027-02-01")
    assert r.returncode == 0, r.stderr
    (line,) = [line for line in r.stdout.splitlines() if line.startswith(MODEL) and " 2026.1 " in line]
    assert " in-force " in line
    r = run(env, "bob", "programmes", "drafts", "--format", "json")
    (d,) = json.loads(r.stdout)
    assert (d["status"], d["author"], d["reviewer"]) == ("published", "cli:alice", "cli:bob")

    r = run(env, "bob", "programmes", "withdraw", MODEL, "2026.1")
    assert r.returncode == 2 and "give a reason" in r.stderr
    r = run(env, "bob", "programmes", "withdraw", MODEL, "2026.1", "--reason", "court ruling")
    assert r.returncode == 0 and "is withdrawn: court ruling" in r.stdout, r.stderr
    r = run(env, "bob", "programmes", "show", MODEL, "--version", "2026.1", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "withdrawn", r.stderr
    r = run(env, "bob", "programmes", "show", MODEL, "--on", "2027-02-01", "--format", "json")
    assert json.loads(r.stdout)["version"] == "2025.1"

    r = run(env, "bob", "audit", "verify")
    assert r.returncode == 0, r.stderr


def test_lifecycle_cli_on_sqlite(tmp_path: Path) -> None:
    journey(tmp_path, f"sqlite:///{tmp_path / 'huiqi.db'}", run_here)


@pytest.mark.postgres
def test_lifecycle_cli_on_postgresql(tmp_path: Path) -> None:
    with fresh_pg_database("huiqi_cli_life") as url:
        journey(tmp_path, url, first_as_processes(3))
