"""The scalar evaluator: one firm, one date, every programme, with the trace an explanation needs.

Semantics shared with the vectorised compiler (``compiler.py``), which must agree to the fen:
- numbers are exact Decimals; a product keeps at most ``PRODUCT_SCALE`` places, rounded half-up;
- a missing value is unknown (SQL NULL): arithmetic and comparisons with it are unknown, ``and``/``or``
  follow three-valued logic, ``if`` takes the ``else`` branch on unknown, min/max of unknown is unknown;
- aggregates skip items whose ``if`` is not true; an empty sum or count is 0, ``any`` false, ``all`` true;
- a condition that is unknown is not met; an amount is rounded to the fen, half-up.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiqi.firms.profile import Firm
from huiqi.money import quantize_fen
from huiqi.money.amount import EXACT
from huiqi.rules import ast
from huiqi.rules.errors import EvaluationError, UnknownProgramme
from huiqi.rules.programme import Expression, Programme

PRODUCT_SCALE = 8
_PRODUCT_QUANTUM = Decimal(1).scaleb(-PRODUCT_SCALE)
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0


def mul(a: Decimal, b: Decimal) -> Decimal:
    product = EXACT.multiply(a, b)
    if product.as_tuple().exponent < -PRODUCT_SCALE:  # type: ignore[operator]
        product = product.quantize(_PRODUCT_QUANTUM, rounding=ROUND_HALF_UP, context=EXACT)
    return product


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month = Feb 28/29), as SQL engines do."""
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    return dt.date(year, month + 1, day)


def shift(d: dt.date, dur: Duration, sign: int) -> dt.date:
    d = add_months(d, sign * (dur.years * 12 + dur.months))
    return d + dt.timedelta(days=sign * dur.days)


@dataclass
class Trace:
    """The value of every node of one expression, as evaluated."""

    expression: Expression
    values: dict[ast.Node, Any] = field(default_factory=dict)

    @property
    def result(self) -> Any:
        return self.values.get(self.expression.node)


@dataclass
class Outcome:
    """One condition or exclusion: its id, whether it held (None: unknown), and its trace."""

    id: str
    kind: str  # "condition" or "exclusion"
    holds: bool | None
    trace: Trace


@dataclass
class Result:
    """A programme evaluated for one firm on one date."""

    programme: Programme
    firm: Firm
    on: dt.date
    in_force: bool
    eligible: bool
    amount: Decimal
    outcomes: list[Outcome]
    amount_trace: Trace | None
    value_traces: dict[str, Trace]
    programme_refs: dict[str, Result]

    @property
    def unmet(self) -> list[str]:
        """Ids of conditions not met and exclusions that apply (``in-force`` if the date is outside)."""
        out = [] if self.in_force else ["in-force"]
        for o in self.outcomes:
            if (o.kind == "condition" and o.holds is not True) or (o.kind == "exclusion" and o.holds is True):
                out.append(o.id)
        return out


def _kleene_and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _kleene_or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _cmp(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "in":
        return a in b
    return a not in b  # "not in"


def _scalar(value: Any) -> Any:
    """Profile values as the language sees them: ints become Decimals, enums their text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return str(value)  # StrEnum -> plain text
    return value


class _ProgrammeRun:
    def __init__(self, engine: Engine, programme: Programme) -> None:
        self.engine = engine
        self.programme = programme
        self.firm = engine.firm
        self.on = engine.on
        self.value_traces: dict[str, Trace] = {}
        self.refs: dict[str, Result] = {}
        self.locals: dict[str, Any] = {}
        self.trace: dict[ast.Node, Any] = {}

    def run(self, expression: Expression) -> Trace:
        saved = self.trace
        self.trace = {}
        try:
            self.ev(expression.node)
            return Trace(expression, self.trace)
        finally:
            self.trace = saved

    def value(self, name: str) -> Any:
        if name not in self.value_traces:
            self.value_traces[name] = self.run(self.programme.values[name])
        return self.value_traces[name].result

    def ev(self, node: ast.Node) -> Any:
        v = self._ev(node)
        self.trace[node] = v
        return v

    def _ev(self, node: ast.Node) -> Any:
        return _DISPATCH[type(node)](self, node)

    def _literal(self, node: Any) -> Any:
        return node.value

    def _list(self, node: ast.ListLit) -> Any:
        return tuple(self.ev(i) for i in node.items)

    def _name(self, node: ast.Name) -> Any:
        name = node.id
        if name in self.locals:
            return self.locals[name]
        if name == "firm":
            return self.firm
        if name == "as_of":
            return self.on
        param = self.programme.params.get(name)
        if param is not None:
            return param.at(self.on)[0]
        return self.value(name)

    def _attr(self, node: ast.Attr) -> Any:
        base = self.ev(node.obj)
        return None if base is None else _scalar(getattr(base, node.name))

    def _index(self, node: ast.Index) -> Any:
        mapping = self.ev(node.obj)
        year = self.ev(node.index)
        if year is None or year != year.to_integral_value():
            return None
        return mapping.get(int(year))

    def _neg(self, node: ast.Neg) -> Any:
        v = self.ev(node.operand)
        return None if v is None else -v

    def _not(self, node: ast.Not) -> Any:
        v = self.ev(node.operand)
        return None if v is None else not v

    def _boolop(self, node: ast.BoolOp) -> Any:
        results = [self.ev(v) for v in node.values]
        return _kleene_and(results) if node.op == "and" else _kleene_or(results)

    def _binop(self, node: ast.BinOp) -> Any:
        op = node.op
        x, y = self.ev(node.left), self.ev(node.right)
        if x is None or y is None:
            return None
        if op == "*":
            return mul(x, y)
        if isinstance(x, Duration):
            return shift(y, x, 1)
        if isinstance(y, Duration):
            return shift(x, y, 1 if op == "+" else -1)
        return EXACT.add(x, y) if op == "+" else EXACT.subtract(x, y)

    def _compare(self, node: ast.Compare) -> Any:
        return _cmp(node.op, self.ev(node.left), self.ev(node.right))

    def _ifexp(self, node: ast.IfExp) -> Any:
        cond = self.ev(node.cond)
        then, orelse = self.ev(node.then), self.ev(node.orelse)
        return then if cond is True else orelse

    def _callnode(self, node: ast.Call) -> Any:
        return self._call(node.func, node.args)

    def _call(self, func: str, args: tuple[ast.Node, ...]) -> Any:
        if func in ("eligible", "amount"):
            pid = args[0].value  # type: ignore[attr-defined]
            ref = self.engine.evaluate(pid)
            self.refs[pid] = ref
            return ref.eligible if func == "eligible" else ref.amount
        vals = [self.ev(a) for a in args]
        if func == "default":
            return vals[0] if vals[0] is not None else vals[1]
        if func == "is_known":
            return vals[0] is not None
        if func in ("years", "months", "days"):
            n = int(vals[0])
            return Duration(**{func: n})
        if any(v is None for v in vals):
            return None
        if func == "min":
            return min(vals)
        if func == "max":
            return max(vals)
        if func == "clamp":
            return min(max(vals[0], vals[1]), vals[2])
        if func == "year":
            return Decimal(vals[0].year)
        raise EvaluationError(f"unknown function {func}")  # pragma: no cover

    def _aggregate(self, node: ast.Comprehension) -> Any:
        items = getattr(self.firm, node.collection.name)  # type: ignore[attr-defined]
        picked: list[Any] = []
        saved = self.trace
        self.trace = {}  # per-item values are not kept: an explanation shows the aggregate
        try:
            for item in items:
                self.locals[node.var] = item
                if node.cond is not None and self.ev(node.cond) is not True:
                    continue
                picked.append(self.ev(node.element))
        finally:
            self.locals.pop(node.var, None)
            self.trace = saved
        f = node.func
        if f == "count":
            return Decimal(len(picked))
        known = [v for v in picked if v is not None]
        if f == "sum":
            total = Decimal(0)
            for v in known:
                total = EXACT.add(total, v)
            return total
        if f == "any":
            return any(known)
        if f == "all":
            return all(known)
        if not known:
            return None
        return min(known) if f == "min" else max(known)


#: one handler a node type: a dictionary lookup instead of a chain of isinstance tests
_DISPATCH: dict[type[ast.Node], Callable[[_ProgrammeRun, Any], Any]] = {
    ast.Number: _ProgrammeRun._literal,
    ast.String: _ProgrammeRun._literal,
    ast.Boolean: _ProgrammeRun._literal,
    ast.DateLit: _ProgrammeRun._literal,
    ast.ListLit: _ProgrammeRun._list,
    ast.Name: _ProgrammeRun._name,
    ast.Attr: _ProgrammeRun._attr,
    ast.Index: _ProgrammeRun._index,
    ast.Neg: _ProgrammeRun._neg,
    ast.Not: _ProgrammeRun._not,
    ast.BoolOp: _ProgrammeRun._boolop,
    ast.BinOp: _ProgrammeRun._binop,
    ast.Compare: _ProgrammeRun._compare,
    ast.IfExp: _ProgrammeRun._ifexp,
    ast.Call: _ProgrammeRun._callnode,
    ast.Comprehension: _ProgrammeRun._aggregate,
}


class Engine:
    """Evaluates programmes for one firm on one date, each at most once (they may refer to each other)."""

    def __init__(self, programmes: Mapping[str, Programme], firm: Firm, on: dt.date) -> None:
        self.programmes = programmes
        self.firm = firm
        self.on = on
        self.results: dict[str, Result] = {}
        self._active: list[str] = []

    def evaluate(self, pid: str) -> Result:
        if pid in self.results:
            return self.results[pid]
        if pid in self._active:
            raise EvaluationError("programmes refer to each other: " + " -> ".join([*self._active, pid]))
        programme = self.programmes.get(pid)
        if programme is None:
            raise UnknownProgramme(pid)
        self._active.append(pid)
        try:
            result = self._evaluate(programme)
        finally:
            self._active.pop()
        self.results[pid] = result
        return result

    def _evaluate(self, programme: Programme) -> Result:
        run = _ProgrammeRun(self, programme)
        eff = programme.spec.effective
        in_force = eff.start <= self.on and (eff.end is None or self.on <= eff.end)
        outcomes = []
        for cid, expr in programme.conditions.items():
            trace = run.run(expr)
            outcomes.append(Outcome(cid, "condition", trace.result, trace))
        for xid, expr in programme.exclusions.items():
            trace = run.run(expr)
            outcomes.append(Outcome(xid, "exclusion", trace.result, trace))
        eligible = in_force and all(
            (o.holds is True) if o.kind == "condition" else (o.holds is not True) for o in outcomes
        )
        amount = ZERO
        amount_trace = None
        if programme.amount is not None:
            amount_trace = run.run(programme.amount)
            if eligible and amount_trace.result is not None:
                amount = quantize_fen(amount_trace.result)
        return Result(
            programme=programme,
            firm=self.firm,
            on=self.on,
            in_force=in_force,
            eligible=eligible,
            amount=amount,
            outcomes=outcomes,
            amount_trace=amount_trace,
            value_traces=run.value_traces,
            programme_refs=run.refs,
        )


def evaluate(
    programmes: Mapping[str, Programme], firm: Firm, on: dt.date, ids: list[str] | None = None
) -> list[Result]:
    """Every programme (or those named) for one firm on one date, in id order."""
    engine = Engine(programmes, firm, on)
    return [engine.evaluate(pid) for pid in (ids if ids is not None else sorted(programmes))]
