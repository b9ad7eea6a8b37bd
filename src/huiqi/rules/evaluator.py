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
from huiqi.rules.closures import Closures
from huiqi.rules.errors import EvaluationError, UnknownProgramme
from huiqi.rules.programme import Expression, Programme
from huiqi.rules.versions import for_date

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
    try:
        moved = add_months(d, sign * (dur.years * 12 + dur.months))
        return moved + dt.timedelta(days=sign * dur.days)
    except (ValueError, OverflowError):  # past year 9999 or before year 1: a refusal, not a crash
        by = f"{dur.years} years, {dur.months} months, {dur.days} days"
        message = f"{d.isoformat()} moved by {by} is outside the calendar (years 1-9999)"
        raise EvaluationError(message) from None


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
    #: what explanations of this result work out once (a referenced programme's reasons)
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def unmet(self) -> list[str]:
        """Ids of conditions not met and exclusions that apply (``in-force`` if the date is outside)."""
        out = [] if self.in_force else ["in-force"]
        for o in self.outcomes:
            if (o.kind == "condition" and o.holds is not True) or (o.kind == "exclusion" and o.holds is True):
                out.append(o.id)
        return out


class ProgrammeRun:
    def __init__(self, engine: Engine, programme: Programme) -> None:
        self.engine = engine
        self.programme = programme
        self.firm = engine.firm
        self.on = engine.on
        self.value_traces: dict[str, Trace] = {}
        self.refs: dict[str, Result] = {}
        self.locals: dict[str, Any] = {}
        self.trace: dict[ast.Node, Any] = {}
        memo = programme.memo
        closures = memo.get("closures")
        if closures is None:
            closures = memo["closures"] = Closures(programme.params)
        self.closures: Closures = closures

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
        return self.closures.of(node)(self)


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
        run = ProgrammeRun(self, programme)
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
    """Every programme (or those named) for one firm on one date, in id order; of several versions of a
    programme, the one in force on the date (``rules.versions``)."""
    programmes = for_date(programmes, on)
    engine = Engine(programmes, firm, on)
    return [engine.evaluate(pid) for pid in (ids if ids is not None else sorted(programmes))]
