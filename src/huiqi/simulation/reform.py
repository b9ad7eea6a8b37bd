"""Reforms: changes to the parameters, conditions, values, amounts and dates of loaded programmes.

A reform is data, like a programme (OpenFisca's reforms are parameter overrides; here conditions, values,
amounts and dates may change too). It is read from a YAML file or from ``--set programme.parameter=value``
options, checked against the loaded programmes and refused whole, with ``file:line:column``, when it names an
unknown programme, parameter, value, condition or exclusion, gives a value of the wrong type, or makes an
expression that does not check. Applying it rebuilds only the programmes it touches; the programmes that
refer to them (``eligible()``/``amount()``) are *affected*: their results may change although their files
do not.

File format (docs/simulation.md)::

    id: startup-cap-8m
    title: {en: Start-up grant cap 8 million, zh: 开办补贴上限提高至800万元}
    programmes:
      shanghai.hq.startup-grant:
        parameters:
          max_grant: 8_000_000                          # every date
          # max_grant: {from: 2026-01-01, value: 8_000_000}   # from a date on (earlier values kept)
        conditions:
          paid-in-capital: firm.paid_in_capital > 50_000_000   # a new test; `true` drops a condition
        exclusions: {received: "false"}                      # `false` drops an exclusion
        values: {name: expression}
        amount: expression
        effective: {from: 2023-03-01, to: 2030-12-31}
        pool_size: 800_000_000
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huiqi.firms.errors import format_loc
from huiqi.firms.io import TextFileError, read_text_any_encoding
from huiqi.money import MoneyError, yuan
from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.loader import expr_location, find_cycles
from huiqi.rules.programme import NUMERIC_UNITS, Param, Problems, Programme, build_programme, param_value
from huiqi.rules.spec import DatedValue, Text
from huiqi.rules.types import BOOL, DATE, NUM, STR, Type, literal_type
from huiqi.rules.yamlpos import Pos, YamlError, load_with_positions, nearest

ChangeKind = Literal[
    "parameter", "value", "condition", "exclusion", "amount", "effective", "application_window", "pool_size"
]


class ReformError(ProgrammeError):
    """A reform that is refused whole; every problem with where it is written."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class _PeriodChange(_Spec):
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")


class _ProgrammeChanges(_Spec):
    parameters: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict)
    conditions: dict[str, str] = Field(default_factory=dict)
    exclusions: dict[str, str] = Field(default_factory=dict)
    amount: str | None = None
    effective: _PeriodChange | None = None
    application_window: _PeriodChange | None = None
    pool_size: Any = None


class ReformSpec(_Spec):
    """The shape of a reform file (the JSON Schema of reforms is generated from it)."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    title: Text
    note: str | None = None
    programmes: dict[str, _ProgrammeChanges] = Field(min_length=1)


@dataclass(frozen=True)
class Change:
    """One change: what it changes, the new value (raw, as written), and where it is written."""

    programme: str
    kind: ChangeKind
    name: str | None
    value: Any
    where: Location
    #: for parameters: the date the new value applies from (None: every date)
    start: dt.date | None = None
    #: for expressions: the file's text and the scalar's position, to point inside the expression
    text: str = ""
    pos: Pos | None = None
    #: for periods: which ends are given
    ends: frozenset[str] = frozenset()

    def describe(self) -> str:
        what = f"{self.kind} {self.name}" if self.name else self.kind
        value = self.value
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        since = f" from {self.start}" if self.start else ""
        return f"{self.programme}: {what} = {value}{since}"


@dataclass(frozen=True)
class Reform:
    """A reform read and shape-checked, not yet checked against programmes (see ``apply_reform``)."""

    id: str
    title: Text
    changes: tuple[Change, ...]
    note: str | None = None
    source: str = ""

    def combine(self, other: Reform) -> Reform:
        """This reform followed by another (its changes win): a file plus ``--set`` options."""
        return Reform(self.id, self.title, self.changes + other.changes, self.note, self.source)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": {"en": self.title.en, "zh": self.title.zh},
            "note": self.note,
            "changes": [c.describe() for c in self.changes],
        }


def _problems_from_validation(exc: ValidationError, source: str, positions: dict[Any, Pos]) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        pos = nearest(positions, loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r} (see docs/simulation.md)"
        elif err["type"] == "missing":
            msg = f"required field {loc[-1]!r} is missing"
        out.append(Problem(Location(source, pos.line, pos.column), f"{format_loc(loc)}: {msg}"))
    return out


def parse_reform(text: str, *, source: str) -> Reform:
    """A reform from YAML text; shape errors with ``source:line:column``."""
    try:
        data, positions = load_with_positions(text)
    except YamlError as exc:
        raise ReformError([Problem(Location(source, exc.line, exc.column), exc.message)]) from None
    if not isinstance(data, dict):
        raise ReformError([Problem(Location(source, 1, 1), "a reform file must be a mapping")])
    try:
        spec = ReformSpec.model_validate(data)
    except ValidationError as exc:
        raise ReformError(_problems_from_validation(exc, source, positions)) from None

    def at(*path: str | int) -> tuple[Location, Pos]:
        pos = nearest(positions, path)
        return Location(source, pos.line, pos.column), pos

    changes: list[Change] = []
    for pid, ch in spec.programmes.items():
        base = ("programmes", pid)
        for name, raw in ch.parameters.items():
            where, _ = at(*base, "parameters", name)
            start = None
            if isinstance(raw, dict):
                unknown = set(raw) - {"from", "value"}
                if unknown or "value" not in raw:
                    changes.append(Change(pid, "parameter", name, raw, where))  # refused in apply
                    continue
                start = raw.get("from")
                if start is not None and not isinstance(start, dt.date):
                    start = None
                    raw = {"bad_from": raw["from"]}
                else:
                    where, _ = at(*base, "parameters", name, "value")
                    raw = raw["value"]
            changes.append(Change(pid, "parameter", name, raw, where, start=start))
        for kind, key, exprs in (
            ("value", "values", ch.values),
            ("condition", "conditions", ch.conditions),
            ("exclusion", "exclusions", ch.exclusions),
        ):
            for name, expr in exprs.items():
                where, pos = at(*base, key, name)
                changes.append(Change(pid, kind, name, expr, where, text=text, pos=pos))  # type: ignore[arg-type]
        if ch.amount is not None:
            where, pos = at(*base, "amount")
            changes.append(Change(pid, "amount", None, ch.amount, where, text=text, pos=pos))
        for kind in ("effective", "application_window"):
            period = getattr(ch, kind)
            if period is not None:
                where, _ = at(*base, kind)
                ends = frozenset(
                    {"from": "start", "to": "end"}[k]
                    for k in ("from", "to")
                    if k in data["programmes"][pid][kind]
                )
                value = {"start": period.start, "end": period.end}
                changes.append(Change(pid, kind, None, value, where, ends=ends))  # type: ignore[arg-type]
        if ch.pool_size is not None:
            where, _ = at(*base, "pool_size")
            changes.append(Change(pid, "pool_size", None, ch.pool_size, where))
        if not any(c.programme == pid for c in changes):
            changes.append(Change(pid, "parameter", None, None, at(*base)[0]))  # an empty entry: refused
    return Reform(spec.id, spec.title, tuple(changes), spec.note, source)


def load_reform(path: str | Path) -> Reform:
    p = Path(path)
    try:  # UTF-8, or GB18030/UTF-16 as a Chinese Windows editor may save it
        text = read_text_any_encoding(p)
    except TextFileError as exc:
        raise ReformError([Problem(Location(str(p)), exc.message)]) from None
    return parse_reform(text, source=str(p))


_SET = re.compile(
    r"^(?P<pid>[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)+)\.(?P<name>[a-z_][a-z0-9_]*)"
    r"(?:@(?P<from>\d{4}-\d{2}-\d{2}))?=(?P<value>.*)$",
    re.S,
)


def parse_sets(options: Sequence[str]) -> Reform:
    """``--set programme.id.parameter[@FROM]=VALUE`` options as one reform; VALUE is read as YAML
    (``8_000_000``, ``40%``, ``2026-01-01``, ``[a, b]``)."""
    changes: list[Change] = []
    problems: list[Problem] = []
    for i, opt in enumerate(options, 1):
        source = f"--set #{i} ({opt})"
        m = _SET.match(opt)
        if not m:
            problems.append(
                Problem(
                    Location(source, 1, 1), "expected programme.id.parameter=value (or @YYYY-MM-DD=value)"
                )
            )
            continue
        column = m.start("value") + 1
        try:
            value, _ = load_with_positions(m["value"]) if m["value"].strip() else (None, {})
        except YamlError as exc:
            problems.append(Problem(Location(source, 1, column + exc.column - 1), exc.message))
            continue
        if value is None:
            problems.append(Problem(Location(source, 1, column), "a value is missing after '='"))
            continue
        start = dt.date.fromisoformat(m["from"]) if m["from"] else None
        changes.append(
            Change(m["pid"], "parameter", m["name"], value, Location(source, 1, column), start=start)
        )
    if problems:
        raise ReformError(problems)
    text = Text(en="parameters set on the command line", zh="命令行设定的参数")
    return Reform("command-line", text, tuple(changes), source="--set")


@dataclass
class AppliedReform:
    """The programmes with a reform applied: every id maps to a programme, the touched ones rebuilt."""

    reform: Reform
    baseline: Mapping[str, Programme]
    programmes: dict[str, Programme]
    #: programmes whose files the reform changes
    touched: set[str]
    #: touched, and every programme that refers to one of them (transitively): results may change
    affected: set[str] = field(default_factory=set)


def _period(old: Any, change: Change) -> Any:
    value = change.value
    update = {k: value[k] for k in change.ends}
    return old.model_copy(update=update) if old is not None else None


def _param_problem(change: Change, param: Param, unit: str) -> tuple[Any, str | None]:
    """The new value, checked: exact money, a rate written as a rate, the parameter's type."""
    raw = change.value
    if isinstance(raw, dict):
        if "bad_from" in raw:
            return None, f"'from' must be a date (YYYY-MM-DD), got {raw['bad_from']!r}"
        return None, "a dated change is {from: YYYY-MM-DD, value: ...}; got keys " + ", ".join(map(str, raw))
    if unit in ("yuan", "yuan/m2/day") and isinstance(raw, str) and raw.strip().endswith("%"):
        return None, f"expected an amount in {unit}, got a percentage {raw!r}"
    written = _written_type(raw, unit)
    if written is not None and written != param.type:
        shown = raw if not isinstance(raw, str) else repr(raw)
        return None, f"expected a {param.type} ({unit}), got a {written}: {shown}"
    try:
        value = param_value(str(raw) if not isinstance(raw, str | bool | int | list | dt.date) else raw, unit)
        if unit in ("yuan", "yuan/m2/day"):
            value = yuan(value, what="value")
        new_type = literal_type(value)
    except (MoneyError, ArithmeticError, TypeError) as exc:
        return None, f"expected a {param.type} ({unit}): {exc}"
    if new_type != param.type:
        shown = raw if not isinstance(raw, str) else repr(raw)
        return None, f"expected a {param.type} ({unit}), got a {new_type}: {shown}"
    return raw, None


def _written_type(raw: Any, unit: str) -> Type | None:
    """The type a value is written as (a quoted number is a number only for a numeric unit)."""
    if isinstance(raw, bool):
        return BOOL
    if isinstance(raw, dt.date):
        return DATE
    if isinstance(raw, int | Decimal):
        return NUM
    if isinstance(raw, str):
        text = raw.strip().replace("_", "")
        if text.endswith("%") or (unit in NUMERIC_UNITS and _NUMBER.match(text)):
            return NUM
        return STR
    return None


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _digest(programme: Programme, changes: Sequence[Change]) -> str:
    payload = json.dumps([c.describe() for c in changes], ensure_ascii=False, default=str)
    return hashlib.sha256((programme.digest + payload).encode("utf-8")).hexdigest()


def apply_reform(programmes: Mapping[str, Programme], reform: Reform) -> AppliedReform:
    """Check a reform against the programmes and rebuild the ones it changes; refuse it whole on a problem."""
    problems: list[Problem] = []
    by_programme: dict[str, list[Change]] = {}
    for c in reform.changes:
        if c.programme not in programmes:
            near = [p for p in sorted(programmes) if p.split(".")[0] == c.programme.split(".")[0]]
            hint = f"; known: {', '.join(near)}" if near else ""
            problems.append(Problem(c.where, f"unknown programme {c.programme!r}{hint}"))
            continue
        if c.name is None and c.kind == "parameter":
            problems.append(Problem(c.where, f"no changes given for {c.programme}"))
            continue
        by_programme.setdefault(c.programme, []).append(c)

    rebuilt: dict[str, Programme] = {}
    for pid, changes in by_programme.items():
        prog = programmes[pid]
        spec = prog.spec
        params = dict(spec.parameters)
        values = dict(spec.values)
        conditions = list(spec.conditions)
        exclusions = list(spec.exclusions)
        update: dict[str, Any] = {}
        expr_changes: dict[tuple[str | int, ...], Change] = {}
        before = len(problems)
        for c in changes:
            name = c.name or ""
            if c.kind == "parameter":
                if name not in prog.params:
                    known = ", ".join(sorted(prog.params)) or "none"
                    problems.append(
                        Problem(c.where, f"{pid} has no parameter {name!r}; its parameters: {known}")
                    )
                    continue
                p = params[name]
                raw, message = _param_problem(c, prog.params[name], p.unit)
                if message:
                    problems.append(Problem(c.where, f"{pid}.{name}: {message}"))
                    continue
                if c.start is None:
                    dated = [
                        DatedValue.model_validate({"from": p.values[0].start, "value": raw, "clause": None})
                    ]
                else:
                    kept = [dv for dv in p.values if dv.start < c.start]
                    dated = [*kept, DatedValue.model_validate({"from": c.start, "value": raw})]
                params[name] = p.model_copy(update={"values": dated})
            elif c.kind == "value":
                if name not in values:
                    known = ", ".join(values) or "none"
                    problems.append(Problem(c.where, f"{pid} has no value {name!r}; its values: {known}"))
                    continue
                values[name] = values[name].model_copy(update={"expr": c.value})
                expr_changes[("values", name, "expr")] = c
            elif c.kind in ("condition", "exclusion"):
                items: list[Any] = conditions if c.kind == "condition" else exclusions
                index = next((i for i, x in enumerate(items) if x.id == name), None)
                if index is None:
                    known = ", ".join(x.id for x in items) or "none"
                    problems.append(
                        Problem(c.where, f"{pid} has no {c.kind} {name!r}; its {c.kind}s: {known}")
                    )
                    continue
                key = "test" if c.kind == "condition" else "when"
                items[index] = items[index].model_copy(update={key: c.value})
                expr_changes[(f"{c.kind}s", index, key)] = c
            elif c.kind == "amount":
                if spec.amount is None:
                    problems.append(Problem(c.where, f"{pid} is a designation: it has no amount to change"))
                    continue
                update["amount"] = spec.amount.model_copy(update={"expr": c.value})
                expr_changes[("amount", "expr")] = c
            elif c.kind in ("effective", "application_window"):
                old = update.get(c.kind, getattr(spec, c.kind))
                if old is None:
                    problems.append(Problem(c.where, f"{pid} has no {c.kind} to change"))
                    continue
                update[c.kind] = _period(old, c)
            elif c.kind == "pool_size":
                if spec.pool is None:
                    problems.append(Problem(c.where, f"{pid} has no pool whose size could change"))
                    continue
                try:
                    size = yuan(c.value, what="pool_size")
                except MoneyError as exc:
                    problems.append(Problem(c.where, f"pool_size: {exc}"))
                    continue
                update["pool"] = spec.pool.model_copy(update={"size": size})
        if len(problems) > before:
            continue
        new_spec = spec.model_copy(
            update={
                **update,
                "parameters": params,
                "values": values,
                "conditions": conditions,
                "exclusions": exclusions,
            }
        )
        found = Problems()
        new = build_programme(
            new_spec,
            source=prog.source,
            digest=_digest(prog, changes),
            knows_programme=programmes.__contains__,
            problems=found,
        )
        for path, message, line, column in found:
            change = expr_changes.get(path)
            if change is None:
                # a problem in the unchanged file that the reform causes (a value whose type changed...)
                anchor = changes[0].where
                for c in changes:
                    if c.kind == "parameter" and c.name and c.name in message:
                        anchor = c.where
                problems.append(
                    Problem(anchor, f"after this reform, {prog.source} {format_loc(path)}: {message}")
                )
                continue
            assert change.pos is not None  # nosec B101  # narrows the type for mypy
            if line:
                location = expr_location(change.where.path, change.text, change.pos, line, column)
            else:
                location = change.where
            problems.append(
                Problem(location, f"{pid} {change.kind} {change.name or ''}: {message}".replace("  ", " "))
            )
        if new is not None:
            rebuilt[pid] = new
    if problems:
        raise ReformError(problems)
    out = {**programmes, **rebuilt}
    cycles = find_cycles(out)
    if cycles:
        raise ReformError(
            [Problem(reform.changes[0].where, f"after this reform, {p.message}") for p in cycles]
        )
    touched = set(rebuilt)
    return AppliedReform(reform, programmes, out, touched, dependents(out, touched))


def dependents(programmes: Mapping[str, Programme], ids: set[str]) -> set[str]:
    """``ids`` and every programme that refers to one of them through eligible()/amount(), transitively."""
    out = set(ids)
    grew = True
    while grew:
        grew = False
        for pid, p in programmes.items():
            if pid not in out and p.depends_on & out:
                out.add(pid)
                grew = True
    return out
