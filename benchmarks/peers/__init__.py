"""Peers for benchmarks/vectorised.py: the OpenFisca version of two Shanghai programmes, and the exact truth.

- ``run_openfisca(register_dir, on) -> PeerResult``: the start-up grant and rent subsidy computed by an
  OpenFisca tax-benefit system (openfisca_hq.py) over a register directory of Parquet files. By default it
  runs in a child process, so that its peak memory is its own: the child reports ``ru_maxrss``
  (RUSAGE_SELF) after the run, and its resident size before reading the register (interpreter, libraries
  and rules loaded).
- ``exact_reference(register_dir, on) -> ExactResult``: the same two programmes in exact decimal arithmetic.
- ``count_inexact(peer, exact) -> {programme: count}``: the peer's awards off by 0.01 yuan or more.

openfisca-core installs next to numpy 2 / pandas 3 in the project's venv (``pip install -e .[bench]``). When
it is not importable in the running interpreter, ``run_openfisca`` creates ``.venv-bench`` (openfisca-core
and pyarrow only) and runs the peer there.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from .exact_hq import (
    PROGRAMMES,
    RENT_SUBSIDY,
    STARTUP_GRANT,
    ExactResult,
    count_inexact,
    exact_reference,
    exact_reference_scalar,
    exact_reference_tables,
    float_to_fen,
)

__all__ = [
    "PROGRAMMES",
    "RENT_SUBSIDY",
    "STARTUP_GRANT",
    "BenchEnvironmentError",
    "ExactResult",
    "PeerResult",
    "bench_python",
    "count_inexact",
    "exact_reference",
    "exact_reference_scalar",
    "exact_reference_tables",
    "float_to_fen",
    "run_openfisca",
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().with_name("openfisca_hq.py")
BENCH_VENV = ROOT / ".venv-bench"


class BenchEnvironmentError(RuntimeError):
    """No interpreter with openfisca-core could be found or made."""


@dataclass(frozen=True)
class PeerResult:
    """One OpenFisca run over a register."""

    seconds: float  # build_seconds + compute_seconds
    build_seconds: float  # reading the Parquet files + building the input vectors and the Simulation
    compute_seconds: float  # calculate("startup_grant") + calculate("rent_subsidy")
    read_seconds: float  # the Parquet-reading part of build_seconds
    peak_rss_mib: float  # peak resident set size of the process that ran the peer
    baseline_rss_mib: float  # its resident size before reading the register (libraries and rules loaded)
    memory_method: str
    wall_seconds: float  # as seen by the caller: process start, imports, result transfer included
    interpreter: str
    uscc: pa.Array
    startup_grant: NDArray[np.float32]
    rent_subsidy: NDArray[np.float32]


def _has_openfisca(python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec("openfisca_core") is not None
    probe = subprocess.run([python, "-c", "import openfisca_core, pyarrow"], capture_output=True)
    return probe.returncode == 0


def bench_python() -> str:
    """An interpreter that has openfisca-core: this one if it does, else .venv-bench (created if missing)."""
    if _has_openfisca(sys.executable):
        return sys.executable
    python = BENCH_VENV / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True, capture_output=True)
        if not _has_openfisca(str(python)):
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "openfisca-core", "pyarrow"],
                check=True,
                capture_output=True,
                text=True,
            )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        raise BenchEnvironmentError(f"cannot set up {BENCH_VENV}: {exc}\n{detail[-2000:]}") from exc
    if not _has_openfisca(str(python)):
        raise BenchEnvironmentError(f"{python} still cannot import openfisca_core")
    return str(python)


def run_openfisca(register_dir: Path, on: dt.date, *, isolated: bool = True) -> PeerResult:
    """Run the OpenFisca peer over ``register_dir`` for evaluation date ``on``.

    ``isolated`` (the default) runs it in a child process, which gives a clean peak-memory figure. With
    ``isolated=False`` it runs here (openfisca-core must be importable) and the peak is this process's
    lifetime ``ru_maxrss``, which includes whatever ran before.
    """
    register_dir = Path(register_dir)
    start = time.perf_counter()
    if not isolated:
        from . import openfisca_hq

        baseline = _rss_mib()
        run = openfisca_hq.run(register_dir, on)
        return PeerResult(
            seconds=run.build_seconds + run.compute_seconds,
            build_seconds=run.build_seconds,
            compute_seconds=run.compute_seconds,
            read_seconds=run.read_seconds,
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            baseline_rss_mib=baseline,
            memory_method="in process: ru_maxrss of the calling process (its lifetime peak, not the peer's)",
            wall_seconds=time.perf_counter() - start,
            interpreter=sys.executable,
            uscc=run.uscc,
            startup_grant=run.startup_grant,
            rent_subsidy=run.rent_subsidy,
        )
    python = bench_python()
    with tempfile.TemporaryDirectory(prefix="huiqi-openfisca-") as tmp:
        out = Path(tmp) / "result.parquet"
        proc = subprocess.run(
            [python, str(SCRIPT), "--register", str(register_dir), "--on", on.isoformat(), "--out", str(out)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the OpenFisca peer failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result = pq.read_table(out)
    return PeerResult(
        seconds=report["seconds"],
        build_seconds=report["build_seconds"],
        compute_seconds=report["compute_seconds"],
        read_seconds=report["read_seconds"],
        peak_rss_mib=report["peak_rss_mib"],
        baseline_rss_mib=report["baseline_rss_mib"],
        memory_method="child process: its own ru_maxrss (RUSAGE_SELF) at the end of the run",
        wall_seconds=time.perf_counter() - start,
        interpreter=python,
        uscc=result.column("uscc").combine_chunks(),
        startup_grant=result.column("startup_grant").to_numpy().astype(np.float32),
        rent_subsidy=result.column("rent_subsidy").to_numpy().astype(np.float32),
    )


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return math.nan
