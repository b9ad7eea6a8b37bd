"""Small register files for the hostile tests: a synthetic register exported as CSV or a workbook, and the
real import command run on a register directory."""

from __future__ import annotations

import subprocess  # nosec B404  # the real command, as officers run it
import sys
from pathlib import Path

from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register

HUIQI = Path(sys.executable).with_name("huiqi")


def firms_csv(tmp_path: Path, n: int = 5) -> Path:
    """A register of ``n`` firms exported as CSV files; its firms file."""
    return write_tables(synth_register(n, 1), tmp_path / "csv") / "firms.csv"


def firms_workbook(tmp_path: Path, n: int = 5) -> Path:
    """The same register exported as one workbook (a sheet a table)."""
    return write_tables(synth_register(n, 1), tmp_path / "register.xlsx")


def run_import(source: Path, register: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``huiqi register import SOURCE --register DIR`` as a separate process (it must not abort)."""
    return subprocess.run(  # nosec B603  # our own command, arguments from the test
        [str(HUIQI), "register", "import", str(source), "--register", str(register), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
