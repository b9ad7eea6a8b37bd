"""benchmarks/load.py cannot rot: a three-second run with four clients on PostgreSQL must finish with every
kind of request answered, no error, and the ledger and the audit chain verified (its exit status says so)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from dbfixtures import PG_ADMIN_URL, pg_unavailable


def load_script() -> ModuleType:
    """benchmarks/load.py by its path (a module called ``load`` on sys.path could be anything)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
    spec = importlib.util.spec_from_file_location("huiqi_benchmark_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.postgres


def test_a_short_mixed_load_run_has_no_errors_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        sa.create_engine(PG_ADMIN_URL).connect().close()
    except sa.exc.OperationalError as exc:
        pg_unavailable(str(exc).splitlines()[0])
    load = load_script()
    code = load.main(
        ["--seconds", "3", "--clients", "4", "--warmup", "0", "--workers", "1", "--admin-url", PG_ADMIN_URL]
    )
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    counts = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^(\w+)\s+([\d,]+)\s", out, re.M)}
    for kind in load.KINDS:
        assert counts.get(kind, 0) > 0, (kind, out)
    assert "errors: 0\n" in out
    assert "ledger verify: ok" in out and "audit chain: ok" in out
    awards = re.search(r"awards stored: ([\d,]+); grants acknowledged: ([\d,]+)", out)
    assert awards is not None and awards[1] == awards[2] != "0", out
