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
from collections.abc import Mapping
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
        match node:
            case ast.Number(value=v) | ast.String(value=v) | ast.Boolean(value=v) | ast.DateLit(value=v):
                return v
            case ast.ListLit(items=items):
                return tuple(self.ev(i) for i in items)
            case ast.Name(id=name):
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
            case ast.Attr(obj=obj, name=attr):
                base = self.ev(obj)
                return None if base is None else _scalar(getattr(base, attr))
            case ast.Index(obj=obj, index=index):
                mapping = self.ev(obj)
                year = self.ev(index)
                if year is None or year != year.to_integral_value():
                    return None
                return mapping.get(int(year))
            case ast.Neg(operand=o):
                v = self.ev(o)
                return None if v is None else -v
            case ast.Not(operand=o):
                v = self.ev(o)
                return None if v is None else not v
            case ast.BoolOp(op=op, values=vs):
                results = [self.ev(v) for v in vs]
                return _kleene_and(results) if op == "and" else _kleene_or(results)
            case ast.BinOp(op=op, left=a, right=b):
                x, y = self.ev(a), self.ev(b)
                if x is None or y is None:
                    return None
                if op == "*":
                    return mul(x, y)
                if isinstance(x, Duration):
                    return shift(y, x, 1)
                if isinstance(y, Duration):
                    return shift(x, y, 1 if op == "+" else -1)
                return EXACT.add(x, y) if op == "+" else EXACT.subtract(x, y)
            case ast.Compare(op=op, left=a, right=b):
                return _cmp(op, self.ev(a), self.ev(b))
            case ast.IfExp(cond=c, then=t, orelse=e):
                cond = self.ev(c)
                then, orelse = self.ev(t), self.ev(e)
                return then if cond is True else orelse
            case ast.Call(func=func, args=args):
                return self._call(func, args)
            case ast.Comprehension():
                return self._aggregate(node)
        raise EvaluationError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover

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
