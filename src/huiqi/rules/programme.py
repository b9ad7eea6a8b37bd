"""A loaded programme: its file's data with every expression parsed and checked, ready to evaluate."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from huiqi.money import MoneyError, parse_decimal, yuan
from huiqi.rules import ast
from huiqi.rules.checker import Checked, Scope, check
from huiqi.rules.errors import ExprError
from huiqi.rules.parser import parse
from huiqi.rules.spec import Clause, Document, ProgrammeSpec, in_language
from huiqi.rules.types import BOOL, NUM, Kind, Type, literal_type

NUMERIC_UNITS = frozenset({"yuan", "rate", "count", "m2", "yuan/m2/day", "days", "months", "years", "year"})
_PERCENT = re.compile(r"^-?\d[\d_]*(\.\d+)?%$")


@dataclass(frozen=True, slots=True)
class Expression:
    """One expression of a programme, parsed and checked, with where its text starts in the file."""

    text: str
    node: ast.Node
    type: Type
    checked: Checked
    path: tuple[str | int, ...]

    def source(self, node: ast.Node) -> str:
        """The text of a sub-expression, for explanations."""
        return self.text[node.span.start : node.span.end]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Type
    starts: tuple[dt.date, ...]
    values: tuple[Any, ...]
    clauses: tuple[Clause | None, ...]

    def at(self, on: dt.date) -> tuple[Any, int]:
        """The value in force on a date and its index; before the first date, the first value."""
        starts = self.starts
        if len(starts) < 2 or on < starts[1]:  # most parameters have one value: no search
            return self.values[0], 0
        i = max(bisect.bisect_right(self.starts, on) - 1, 0)
        return self.values[i], i


def param_value(raw: Any, unit: str) -> Any:
    """A parameter value from YAML: numbers exact, ``"30%"`` a rate, yuan checked to the fen."""
    if isinstance(raw, str) and _PERCENT.match(raw.strip()):
        return Decimal(raw.strip()[:-1].replace("_", "")).scaleb(-2)
    if isinstance(raw, bool) or raw is None:
        return raw
    if isinstance(raw, str) and unit in NUMERIC_UNITS:
        return (
            parse_decimal(raw, what="value")
            if unit not in ("yuan", "yuan/m2/day")
            else yuan(raw, what="value")
        )
    if isinstance(raw, int):
        raw = Decimal(raw)
    if isinstance(raw, float):  # pragma: no cover - the YAML reader never makes floats
        raise MoneyError("floats are not allowed")
    if unit in ("yuan", "yuan/m2/day") and isinstance(raw, Decimal):
        return yuan(raw, what="value")
    if isinstance(raw, list):
        return tuple(param_value(v, "text") for v in raw)
    return raw


@dataclass
class Programme:
    """A programme ready for both evaluators."""

    spec: ProgrammeSpec
    source: str
    digest: str
    params: dict[str, Param]
    values: dict[str, Expression]
    value_order: list[str]
    conditions: dict[str, Expression]
    exclusions: dict[str, Expression]
    amount: Expression | None
    #: programmes this one refers to with eligible()/amount()
    depends_on: set[str] = field(default_factory=set)
    #: what evaluations and explanations work out once (closures, read sites, units), keyed by node identity
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> str:
        return self.spec.version

    def document(self, doc_id: str | None) -> Document:
        if doc_id is None:
            return self.spec.legal_basis[0]
        return next(d for d in self.spec.legal_basis if d.id == doc_id)

    def cite(self, clause: Clause, doc_id: str | None, lang: str = "en") -> str:
        """How a page in ``lang`` cites a clause: the document's number, then its words in that language."""
        d = self.document(doc_id)
        return f"{d.number} {in_language(clause, lang)}"

    def expressions(self) -> list[Expression]:
        out = [*self.values.values(), *self.conditions.values(), *self.exclusions.values()]
        return out + ([self.amount] if self.amount else [])


class Problems(list[tuple[tuple[str | int, ...], str, int, int]]):
    """Problems found while building: (path in the file, message, line and column inside an expression)."""

    def add(self, path: tuple[str | int, ...], message: str, line: int = 0, column: int = 0) -> None:
        self.append((path, message, line, column))


def build_programme(
    spec: ProgrammeSpec,
    *,
    source: str,
    digest: str,
    knows_programme: Callable[[str], bool],
    problems: Problems,
) -> Programme | None:
    """Parse and check every expression of a spec; record problems rather than stop at the first."""
    doc_ids = {d.id for d in spec.legal_basis}
    if len(doc_ids) != len(spec.legal_basis):
        problems.add(("legal_basis",), "two documents share an id")

    def check_doc(path: tuple[str | int, ...], doc: str | None) -> None:
        if doc is not None and doc not in doc_ids:
            problems.add(
                (*path, "doc"), f"unknown document {doc!r}; legal_basis has {', '.join(sorted(doc_ids))}"
            )

    if spec.effective.end and spec.effective.end < spec.effective.start:
        problems.add(("effective", "to"), "the end of the effective period is before its start")

    params: dict[str, Param] = {}
    broken: dict[str, Type] = {}  # parameters with bad values: still known names, so nothing cascades
    for name, p in spec.parameters.items():
        broken[name] = NUM
        check_doc(("parameters", name), p.doc)
        values: list[Any] = []
        ok = True
        for i, dv in enumerate(p.values):
            try:
                values.append(
                    param_value(str(dv.value) if isinstance(dv.value, Decimal) else dv.value, p.unit)
                )
            except (MoneyError, ArithmeticError) as exc:
                problems.add(("parameters", name, "values", i, "value"), str(exc))
                ok = False
        if not ok:
            continue
        try:
            types = {literal_type(v) for v in values}
        except TypeError as exc:
            problems.add(("parameters", name, "values"), str(exc))
            continue
        if len(types) > 1:
            broken[name] = literal_type(values[0])
            problems.add(
                ("parameters", name, "values"),
                "values mix types: "
                + " and ".join(sorted(map(str, types)))
                + "; every dated value must have one type",
            )
            continue
        starts = [dv.start for dv in p.values]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            problems.add(
                ("parameters", name, "values"), "dated values must be in strictly increasing date order"
            )
            continue
        params[name] = Param(
            name, types.pop(), tuple(starts), tuple(values), tuple(dv.clause for dv in p.values)
        )
        del broken[name]

    for name in spec.values:
        if name in params:
            problems.add(("values", name), f"{name!r} is both a parameter and a value")

    param_types = {**broken, **{n: p.type for n, p in params.items()}}
    value_exprs: dict[str, Expression] = {}
    value_types: dict[str, tuple[Type, bool]] = {}
    order: list[str] = []
    visiting: list[str] = []
    failed: set[str] = set()

    def compile_expr(text: str, path: tuple[str | int, ...], want: Type | None) -> Expression | None:
        try:
            node = parse(text)
            t, checked = check(node, scope)
        except ExprError as exc:
            problems.add(path, exc.message, exc.line, exc.column)
            return None
        if want is not None and t != want:
            problems.add(path, f"expected a {want}, but the expression is a {t}", 1, 1)
            return None
        return Expression(text, node, t, checked, path)

    def value_type(name: str) -> tuple[Type, bool] | None:
        if name not in spec.values or name in failed:
            return None if name not in spec.values else (NUM, True)
        if name in value_types:
            return value_types[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ExprError(f"values refer to each other in a cycle: {cycle}")
        visiting.append(name)
        try:
            v = spec.values[name]
            check_doc(("values", name), v.doc)
            expr = compile_expr(v.expr, ("values", name, "expr"), None)
        finally:
            visiting.pop()
        if expr is None:
            failed.add(name)
            return (NUM, True)
        if expr.type.kind in (Kind.RECORD, Kind.COLLECTION, Kind.YEARMAP):
            problems.add(
                ("values", name, "expr"), f"a value must be a number, date, text or flag, not a {expr.type}"
            )
        value_exprs[name] = expr
        order.append(name)
        value_types[name] = (expr.type, expr.node in expr.checked.firm_dependent)
        return value_types[name]

    scope = Scope(params=param_types, value_type=value_type, programmes=knows_programme)
    for name in spec.values:
        value_type(name)

    conditions: dict[str, Expression] = {}
    seen_ids: set[str] = set()
    for i, c in enumerate(spec.conditions):
        check_doc(("conditions", i), c.doc)
        if c.id in seen_ids:
            problems.add(("conditions", i, "id"), f"condition id {c.id!r} is used twice")
        seen_ids.add(c.id)
        e = compile_expr(c.test, ("conditions", i, "test"), BOOL)
        if e:
            conditions[c.id] = e
    exclusions: dict[str, Expression] = {}
    for i, x in enumerate(spec.exclusions):
        check_doc(("exclusions", i), x.doc)
        if x.id in seen_ids:
            problems.add(("exclusions", i, "id"), f"id {x.id!r} is used twice")
        seen_ids.add(x.id)
        e = compile_expr(x.when, ("exclusions", i, "when"), BOOL)
        if e:
            exclusions[x.id] = e
    amount = None
    if spec.amount is not None:
        check_doc(("amount",), spec.amount.doc)
        amount = compile_expr(spec.amount.expr, ("amount", "expr"), NUM)
    elif spec.benefit != "designation":
        problems.add(("amount",), f"a {spec.benefit} needs an amount (only a designation has none)")
    if spec.pool is not None:
        try:
            yuan(spec.pool.size, what="pool size")
        except MoneyError as exc:
            problems.add(("pool", "size"), str(exc))

    if problems:
        return None
    programme = Programme(
        spec=spec,
        source=source,
        digest=digest,
        params=params,
        values=value_exprs,
        value_order=order,
        conditions=conditions,
        exclusions=exclusions,
        amount=amount,
    )
    for e in programme.expressions():
        programme.depends_on |= e.checked.programmes
    return programme


def unused_parameters(programme: Programme) -> list[str]:
    used: set[str] = set()
    for e in programme.expressions():
        used |= e.checked.params
    return [p for p in programme.params if p not in used]


def param_types(params: Mapping[str, Param]) -> dict[str, Type]:
    return {n: p.type for n, p in params.items()}
