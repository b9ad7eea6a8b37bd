"""The hostile corpus through the CLI (issue 13): never a traceback, each refusal exit code 2 with a message
that names the file and what was wrong, each accepted file read with its Chinese intact, and within seconds.

The corpus runs through the console script's own entry in one subprocess (``cli_driver.py``: one interpreter
start for 36 cases instead of 36); a few cases run as separate ``huiqi`` processes. Refused amounts, after
each of which the database's digest must not have changed, run in this process (Typer's runner); the
accepted bound, which writes, as a process."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hostile.corpus import FIRMS, PROGRAMMES, Case, billion_laughs
from huiqi.cli.main import app
from huiqi.config import get_settings
from huiqi.db.migrate import upgrade

HUIQI = str(Path(sys.executable).parent / "huiqi")
DRIVER = Path(__file__).with_name("cli_driver.py")
#: seconds a refusal may take (generous: the machine is shared; a billion laughs expanded takes minutes)
FAST = 10.0


def run_batch(argvs: list[list[str]]) -> list[list[Any]]:
    done = subprocess.run(
        [sys.executable, str(DRIVER)], input=json.dumps(argvs), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results: list[list[Any]] = json.loads(done.stdout)
    return results


def write(tmp: Path, case: Case) -> Path:
    path = tmp / case.name / case.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case.data)
    return path


@pytest.fixture(scope="module")
def programme_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    tmp = tmp_path_factory.mktemp("programmes")
    argvs = [["programmes", "validate", str(write(tmp, c))] for c in PROGRAMMES]
    return dict(zip((c.name for c in PROGRAMMES), run_batch(argvs), strict=True))


@pytest.fixture(scope="module")
def firm_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    tmp = tmp_path_factory.mktemp("firms")
    argvs = [
        ["check", str(write(tmp, c)), "--on", "2025-09-30", "--pack", "shanghai", "--lang", "zh"]
        for c in FIRMS
    ]
    return dict(zip((c.name for c in FIRMS), run_batch(argvs), strict=True))


def judge(case: Case, result: list[Any], *, accepted_shows: str) -> None:
    code, out, err, seconds, trace = result
    assert not trace, trace
    assert "Traceback" not in out + err
    assert seconds < FAST, f"{case.name} took {seconds:.1f} s"
    if case.expect is None:
        assert code == 0, err
        assert accepted_shows in out, out[:500]
        return
    assert code == 2, (code, out, err)
    assert err.startswith("error: "), err
    assert case.expect in err, err
    assert case.filename in err, err  # the file is named


@pytest.mark.parametrize("case", PROGRAMMES, ids=lambda c: c.name)
def test_programme_files(case: Case, programme_results: dict[str, list[Any]]) -> None:
    judge(case, programme_results[case.name], accepted_shows="shanghai.hq.startup-grant")


@pytest.mark.parametrize("case", FIRMS, ids=lambda c: c.name)
def test_firm_files(case: Case, firm_results: dict[str, list[Any]]) -> None:
    judge(case, firm_results[case.name], accepted_shows="上海青图智能科技有限公司")


def test_a_programme_position_is_the_line_and_column_of_the_bad_date(
    programme_results: dict[str, list[Any]],
) -> None:
    text = next(c for c in PROGRAMMES if c.name == "impossible-date").text
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "2023-02-30" in s)
    column = text.splitlines()[line - 1].index("2023-02-30") + 1
    stderr = programme_results["impossible-date"][2]
    assert f"impossible-date.programme.yaml:{line}:{column}: '2023-02-30'" in stderr


# --- as separate processes ----------------------------------------------------------------------------------


def huiqi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUIQI, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def sqlite_digest(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


def test_a_refused_amount_writes_nothing(tmp_path: Path) -> None:
    """Each refused size in this process (Typer's runner, the settings read again for the database: a process
    each cost an interpreter start of 2-3 CPU-s), the database's digest unchanged after each; the accepted
    bound as a separate ``huiqi`` process, which writes."""
    db = tmp_path / "huiqi.db"
    upgrade(f"sqlite:///{db}")
    env = {"HUIQI_DATABASE_URL": f"sqlite:///{db}"}
    before = sqlite_digest(db)
    for size in ("1e400", "9" * 27, "1E+20", "NaN", "12.345"):
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                app,
                ["ledger", "pool-create", "--id", "p", "--name", "池", "--size", size,
                 "--start", "2025-01-01", "--end", "2025-12-31"],
                env=env,
            )  # fmt: skip
        finally:
            get_settings.cache_clear()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a crash, not a refusal
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("error: --size:"), result.stderr
        assert "Traceback" not in result.stderr
        assert sqlite_digest(db) == before
    done = huiqi(
        "ledger", "pool-create", "--id", "p", "--name", "池", "--size", "1000000000000000",
        "--start", "2025-01-01", "--end", "2025-12-31", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # the bound itself is accepted
    assert sqlite_digest(db) != before


def test_the_real_command_reads_a_gbk_firm_and_refuses_a_bomb(tmp_path: Path) -> None:
    gbk = write(tmp_path, next(c for c in FIRMS if c.name == "firm-gbk"))
    done = huiqi("check", str(gbk), "--on", "2025-09-30", "--pack", "shanghai", "--lang", "zh")
    assert done.returncode == 0, done.stderr
    assert "上海青图智能科技有限公司" in done.stdout
    bomb = tmp_path / "bomb.programme.yaml"
    bomb.write_bytes(billion_laughs())
    done = huiqi("programmes", "validate", str(bomb))
    assert done.returncode == 2
    assert "more than 50,000 values" in done.stderr
    assert "Traceback" not in done.stderr
    done = huiqi("check", str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "missing.json" in done.stderr
    assert "Traceback" not in done.stderr
