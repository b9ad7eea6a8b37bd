#!/usr/bin/env python3
"""Set up and run huiqi on a fresh machine with only Python: `python3 dev.py demo` or `python3 dev.py test`.

Creates .venv, installs the project with what the chosen job needs, then runs it. Safe to run again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, env=env).returncode


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools")
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
    """Lint, type-check and run the suite. ``--fast``: the edit-run loop (ruff, the import contracts and the
    tests not marked slow, over both cores; no mypy, bandit, pip-audit or browser install)."""
    fast = "--fast" in args
    args = [a for a in args if a != "--fast"]
    ensure_venv("dev")
    compile_catalogues()
    if not fast:
        ensure_chromium()
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci" if env.get("CI") else "dev")
    # pip-audit waits on the network, and mypy and bandit use one core each (mypy about 20 CPU-s on a clean
    # clone), which left the other core idle before the suite started: the three run beside ruff, the
    # contracts and the suite, their reports printed at the end
    with ThreadPoolExecutor(3) as background:
        later = (
            []
            if fast
            else [
                background.submit(quietly, BIN / "mypy"),
                background.submit(bandit_quietly),
                background.submit(audit_dependencies_quietly, strict=bool(env.get("CI"))),
            ]
        )
        code = run(BIN / "ruff", "check", ".", check=False)
        code |= run(BIN / "lint-imports", "--no-cache", check=False)
        workers = ["-n", env.get("HUIQI_TEST_WORKERS", "auto")] if "-n" not in args else []
        lane = ["-m", "not slow"] if fast else []
        code |= run(BIN / "python", "-m", "pytest", *workers, *lane, *args, check=False, env=env)
        for job in later:
            report, job_code = job.result()
            print(report, end="", flush=True)
            code |= job_code
    return code


def quietly(*cmd: str | Path) -> tuple[str, int]:
    """A command run with its output kept (its report and exit code), so that it can run beside others."""
    done = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    return f"+ {' '.join(str(c) for c in cmd)}\n{done.stdout}{done.stderr}", done.returncode


def audit_dependencies_quietly(*, strict: bool) -> tuple[str, int]:
    """``audit_dependencies`` with its report kept, so that it can run beside the tests."""
    lines: list[str] = []
    result = audit_dependencies(strict=strict, echo=lines.append)
    return "".join(f"{line}\n" for line in lines), result


def bandit_quietly() -> tuple[str, int]:
    """bandit over src/ with [tool.bandit], its report kept. Its "nosec encountered, but no failed test"
    warnings are dropped: bandit repeats them for each fragment of a multi-line f-string whose SQL finding
    is recorded (nosec)."""
    report, code = quietly(BIN / "bandit", "-c", "pyproject.toml", "-r", "src", "-q")
    return "".join(f"{line}\n" for line in report.splitlines() if "nosec encountered (" not in line), code


PIP_AUDIT_IGNORE = ROOT / ".ci/pip-audit-ignore.txt"
PYPI_JSON = "https://pypi.org/pypi/{name}/json"


def audit_ignores() -> dict[str, str]:
    """Accepted advisories: one ID a line followed by the reason; '#' starts a comment."""
    ignores: dict[str, str] = {}
    for line in PIP_AUDIT_IGNORE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            vuln, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{PIP_AUDIT_IGNORE}: {vuln} has no reason; write one after the ID")
            ignores[vuln] = reason.strip()
    return ignores


def _latest_advisories(name: str) -> tuple[str, list[dict[str, Any]]] | str:
    """PyPI's project JSON: its newest version and the advisories that affect that version, or an error."""
    try:
        with urllib.request.urlopen(PYPI_JSON.format(name=name), timeout=60) as answer:
            data = json.load(answer)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    vulns = [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return str(data["info"]["version"]), vulns


def audit_dependencies(*, strict: bool, echo: Callable[[str], None] = print) -> int:
    """pip-audit over the installed environment (the project itself is editable and not on PyPI).

    pip-audit asks PyPI's per-version JSON API (/pypi/NAME/VERSION/json). A registry mirror that serves only
    the per-project API (/pypi/NAME/json) answers 404 there, and pip-audit then skips every package and
    reports "no known vulnerabilities" having checked nothing. So each package pip-audit skipped is checked
    here against the per-project API, whose advisories are those of the newest release: that covers every
    package installed at its newest version; the others are named as not audited. Any advisory not in
    .ci/pip-audit-ignore.txt fails the run; so does an unreachable vulnerability service under CI (a check
    that cannot run must not pass), while on a developer's machine it only warns.
    """
    ignores = audit_ignores()
    cmd = [BIN / "pip-audit", "--skip-editable", "--progress-spinner", "off", "--format", "json"]
    for vuln in ignores:
        cmd += ["--ignore-vuln", vuln]
    echo("+ " + " ".join(str(c) for c in cmd))
    done = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        echo(done.stderr.strip() or done.stdout.strip())
        echo("! pip-audit could not reach its vulnerability service (PyPI): dependencies NOT audited")
        return 1 if strict else 0
    findings: list[str] = []
    skipped: dict[str, str] = {}
    audited = 0
    for dep in report["dependencies"]:
        if "skip_reason" in dep:
            if "editable" not in dep["skip_reason"]:
                skipped[dep["name"]] = dep.get("version") or dep["skip_reason"].rsplit("(", 1)[-1].strip(")")
            continue
        audited += 1
        for v in dep["vulns"]:
            fix = ", ".join(v["fix_versions"]) or "none yet"
            findings.append(f"{dep['name']} {dep['version']}: {v['id']} (fixed in {fix})")
    behind: list[str] = []
    unreachable: list[str] = []
    if skipped:
        with ThreadPoolExecutor(8) as pool:
            answers = dict(zip(skipped, pool.map(_latest_advisories, skipped), strict=True))
        for name, answer in sorted(answers.items()):
            if isinstance(answer, str):
                unreachable.append(f"{name}: {answer}")
            elif answer[0] != skipped[name]:
                behind.append(f"{name} {skipped[name]} (newest {answer[0]})")
            else:
                audited += 1
                for v in answer[1]:
                    ids = {str(v["id"]), *(str(a) for a in v.get("aliases") or [])}
                    if not ids & ignores.keys():
                        fix = ", ".join(v.get("fixed_in") or []) or "none yet"
                        findings.append(f"{name} {skipped[name]}: {v['id']} (fixed in {fix})")
    echo(
        f"pip-audit: {audited} installed distributions audited, {len(findings)} known vulnerabilities "
        f"not accepted in {PIP_AUDIT_IGNORE.relative_to(ROOT)} ({len(ignores)} accepted there)"
    )
    for line in findings:
        echo(f"  VULNERABLE {line}")
    if behind:
        echo(
            f"  not audited ({len(behind)}): older than the newest release, and this registry serves "
            "advisories for the newest release only: " + "; ".join(behind)
        )
    if unreachable:
        echo(
            f"! the vulnerability service did not answer for {len(unreachable)} distributions: "
            + "; ".join(unreachable)
        )
    if audited == 0 or unreachable:
        echo("! dependencies NOT (fully) audited" + ("" if strict else " (a failure under CI)"))
        return 1 if strict or findings else 0
    return 1 if findings else 0


def main() -> int:
    jobs = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        print(__doc__)
        return 2
    return jobs[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
