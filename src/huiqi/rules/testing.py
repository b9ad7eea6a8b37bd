"""Programme tests as data (as OpenFisca's YAML tests): a firm and a date in, eligibility and amount out.

A pack folder holds ``*.tests.yaml`` files beside its programmes, and may hold ``firms.fixtures.yaml``:
named base profiles that cases refer to and adjust with ``with:`` (deep-merged; lists are replaced).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from huiqi.firms.errors import ProfileError
from huiqi.firms.io import TextFileError, firm_from_data, read_text_any_encoding
from huiqi.money import MoneyError, yuan
from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.evaluator import Engine
from huiqi.rules.programme import Programme
from huiqi.rules.yamlpos import MAX_CHARS, Pos, YamlError, load_with_positions, nearest

TESTS_SUFFIX = ".tests.yaml"
FIXTURES_FILE = "firms.fixtures.yaml"


@dataclass(frozen=True)
class Case:
    programme: str
    name: str
    on: dt.date
    firm: dict[str, Any]
    eligible: bool | None
    amount: Decimal | None
    unmet: frozenset[str] | None
    location: Location


@dataclass(frozen=True)
class CaseResult:
    case: Case
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            if v is None:
                out.pop(k, None)  # null removes a field or a year: "this figure is not known"
            else:
                out[k] = deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def _load(path: Path) -> tuple[Any, dict[tuple[str | int, ...], Pos]]:
    try:
        text = read_text_any_encoding(path, max_bytes=MAX_CHARS)
    except TextFileError as exc:
        raise ProgrammeError([Problem(Location(str(path)), exc.message)]) from None
    try:
        return load_with_positions(text)
    except YamlError as exc:
        raise ProgrammeError([Problem(Location(str(path), exc.line, exc.column), exc.message)]) from None


def load_fixtures(directory: Path) -> dict[str, dict[str, Any]]:
    path = directory / FIXTURES_FILE
    if not path.exists():
        return {}
    data, _ = _load(path)
    if not isinstance(data, dict):
        raise ProgrammeError([Problem(Location(str(path), 1, 1), "fixtures must map names to firm profiles")])
    return data


def load_cases(path: Path, fixtures: Mapping[str, dict[str, Any]]) -> list[Case]:
    data, positions = _load(path)
    problems: list[Problem] = []

    def where(*p: str | int) -> Location:
        pos = nearest(positions, p)
        return Location(str(path), pos.line, pos.column)

    if not isinstance(data, dict) or "programme" not in data or not isinstance(data.get("cases"), list):
        raise ProgrammeError([Problem(where(), "a tests file needs 'programme' and a list of 'cases'")])
    local = {**fixtures, **(data.get("firms") or {})}
    cases = []
    for i, raw in enumerate(data["cases"]):
        if not isinstance(raw, dict):
            problems.append(Problem(where("cases", i), "a case must be a mapping"))
            continue
        unknown = set(raw) - {"name", "on", "firm", "with", "expect", "programme"}
        if unknown:
            problems.append(
                Problem(where("cases", i), f"unknown keys in a case: {', '.join(sorted(unknown))}")
            )
            continue
        base = raw.get("firm")
        if isinstance(base, str):
            if base not in local:
                problems.append(Problem(where("cases", i, "firm"), f"no fixture firm named {base!r}"))
                continue
            profile = local[base]
        elif isinstance(base, dict):
            profile = base
        else:
            problems.append(Problem(where("cases", i), "a case needs 'firm': a fixture name or a profile"))
            continue
        profile = deep_merge(profile, raw.get("with") or {})
        expect = raw.get("expect") or {}
        if not isinstance(raw.get("on"), dt.date):
            problems.append(Problem(where("cases", i), "a case needs 'on': the evaluation date (YYYY-MM-DD)"))
            continue
        try:
            amount = yuan(expect["amount"], what="expect.amount") if "amount" in expect else None
        except MoneyError as exc:
            problems.append(Problem(where("cases", i, "expect", "amount"), str(exc)))
            continue
        cases.append(
            Case(
                programme=str(raw.get("programme", data["programme"])),
                name=str(raw.get("name", f"case {i + 1}")),
                on=raw["on"],
                firm=profile,
                eligible=expect.get("eligible"),
                amount=amount,
                unmet=frozenset(expect["unmet"]) if "unmet" in expect else None,
                location=where("cases", i),
            )
        )
    if problems:
        raise ProgrammeError(problems)
    return cases


def test_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob(f"*{TESTS_SUFFIX}"))


def collect_cases(directories: Iterable[Path]) -> list[Case]:
    cases: list[Case] = []
    for d in directories:
        fixtures = load_fixtures(d)
        for f in test_files(d):
            cases += load_cases(f, fixtures)
    return cases


def run_case(programmes: Mapping[str, Programme], case: Case) -> CaseResult:
    try:
        firm = firm_from_data(case.firm, source=f"{case.location}")
    except ProfileError as exc:
        return CaseResult(case, (f"bad firm profile: {exc}",))
    if case.programme not in programmes:
        return CaseResult(case, (f"unknown programme {case.programme!r}",))
    result = Engine(programmes, firm, case.on).evaluate(case.programme)
    failures = []
    if case.eligible is not None and result.eligible != case.eligible:
        failures.append(
            f"eligible: expected {str(case.eligible).lower()}, got {str(result.eligible).lower()}"
            + (f" (unmet: {', '.join(result.unmet)})" if result.unmet else "")
        )
    if case.amount is not None and result.amount != case.amount:
        failures.append(f"amount: expected {case.amount}, got {result.amount}")
    if case.unmet is not None and frozenset(result.unmet) != case.unmet:
        failures.append(f"unmet: expected {sorted(case.unmet)}, got {sorted(result.unmet)}")
    return CaseResult(case, tuple(failures))


def run_cases(programmes: Mapping[str, Programme], cases: Iterable[Case]) -> list[CaseResult]:
    return [run_case(programmes, c) for c in cases]
