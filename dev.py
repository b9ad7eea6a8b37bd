#!/usr/bin/env python3
"""Set up and run huiqi on a fresh machine that has only Python: `python3 dev.py demo` or `python3 dev.py test`.

Creates .venv, installs the project with what the chosen job needs, then runs it. Safe to run again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, env=env).returncode


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", f".[{extras}]" if extras else ".")


def demo(args: list[str]) -> int:
    ensure_venv("")
    return run(BIN / "huiqi", "demo", *args, check=False)


def test(args: list[str]) -> int:
    ensure_venv("dev")
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci" if env.get("CI") else "dev")
    code = run(BIN / "ruff", "check", "src", "tests", "benchmarks", check=False)
    code |= run(BIN / "mypy", check=False)
    code |= run(BIN / "python", "-m", "pytest", *args, check=False, env=env)
    return code


def main() -> int:
    jobs = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        print(__doc__)
        return 2
    return jobs[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
