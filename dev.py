#!/usr/bin/env python3
"""Set up and run huiqi on a fresh machine with only Python: `python3 dev.py demo` or `python3 dev.py test`.

Creates .venv, installs the project with what the chosen job needs, then runs it. Safe to run again.
"""

from __future__ import annotations

import os
import shutil
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


CHROMIUM = Path("/usr/bin/chromium")
TRANSLATIONS = ROOT / "src/huiqi/web/translations"


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (never a downloaded one): install it with apt-get when it is
    missing, and a font with Chinese glyphs so that screenshots of Chinese pages are legible."""
    packages = []
    if not CHROMIUM.exists():
        packages.append("chromium")
    fc_list = shutil.which("fc-list")
    if fc_list is None or not subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout:
        packages.append("fonts-wqy-microhei")
    if not packages:
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"! cannot install {', '.join(packages)}: no apt-get here; the browser tests need {CHROMIUM}")
        return
    sudo: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        if shutil.which("sudo") is None:
            print(f"! cannot install {', '.join(packages)}: not root, no sudo; browser tests need {CHROMIUM}")
            return
        sudo = ["sudo", "-n"]
    print(f"installing {', '.join(packages)} with apt-get (for the browser tests)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ok = run(*sudo, apt, "update", check=False, env=env) == 0
    ok = ok and run(*sudo, apt, "install", "-y", *packages, check=False, env=env) == 0
    if not ok or not CHROMIUM.exists():
        print(f"! apt-get could not install {', '.join(packages)}; the browser tests will fail under CI")


def compile_catalogues() -> None:
    """Compile the web's Babel catalogues (.po -> .mo) where a .mo is missing. The .mo files are committed,
    so a fresh clone needs nothing; file times after a clone say nothing about which is newer."""
    if any(not po.with_suffix(".mo").exists() for po in TRANSLATIONS.glob("*/LC_MESSAGES/*.po")):
        run(BIN / "pybabel", "compile", "--use-fuzzy", "-d", TRANSLATIONS, "-D", "messages")


def demo(args: list[str]) -> int:
    ensure_venv("")
    compile_catalogues()
    return run(BIN / "huiqi", "demo", *args, check=False)


def test(args: list[str]) -> int:
    ensure_venv("dev")
    compile_catalogues()
    ensure_chromium()
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci" if env.get("CI") else "dev")
    code = run(BIN / "ruff", "check", ".", check=False)
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
