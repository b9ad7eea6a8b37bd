"""The scalar evaluator's expressions, turned once into Python closures: one call a node instead of a
dispatch on its type, with every choice that does not depend on the firm (operator, function, parameter,
whether a name is a comprehension's variable) made when the closure is built.

A closure takes the run (``evaluator.ProgrammeRun``: firm, date, locals, trace) and returns the node's value,
recording it in ``run.trace`` as the explanation needs. The semantics are the evaluator's (see its docstring);
the vectorised compiler must agree with them to the fen.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from huiqi.money.amount import EXACT
from huiqi.rules import ast
from huiqi.rules.errors import EvaluationError

if TYPE_CHECKING:
    from huiqi.rules.evaluator import ProgrammeRun
    from huiqi.rules.programme import Param

Fn = Callable[["ProgrammeRun"], Any]
_Builder = Callable[["Closures", Any, frozenset[str]], Fn]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def scalar(value: Any) -> Any:
    """Profile values as the language sees them: ints become Decimals, enums their text."""
    if value is None or value.__class__ is bool:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return str(value)  # StrEnum -> plain text
    return value


def kleene_and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def kleene_or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


class Closures:
    """The closures of one programme's expressions, built on first use and kept (a programme's nodes live
    as long as it does; a reform's copy shares nodes with its baseline but not parameters, hence one set a
    programme)."""

    def __init__(self, params: dict[str, Param]) -> None:
        self.params = params
        self._fns: dict[Any, tuple[ast.Node, Fn]] = {}

    def of(self, node: ast.Node, bound: frozenset[str] = frozenset()) -> Fn:
        """The closure of a node; ``bound``: the comprehension variables in scope there."""
        key: Any = (id(node), bound) if bound else id(node)
        hit = self._fns.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        fn = _BUILDERS[type(node)](self, node, bound)
        self._fns[key] = (node, fn)
        return fn


def _literal(c: Closures, node: Any, bound: frozenset[str]) -> Fn:
    value = node.value

    def f(run: ProgrammeRun) -> Any:
        run.trace[node] = value
        return value

    return f


def _list(c: Closures, node: ast.ListLit, bound: frozenset[str]) -> Fn:
    items = [c.of(i, bound) for i in node.items]

    def f(run: ProgrammeRun) -> Any:
        v = tuple(g(run) for g in items)
        run.trace[node] = v
        return v

    return f


def _name(c: Closures, node: ast.Name, bound: frozenset[str]) -> Fn:
    name = node.id
    if name in bound:

        def local(run: ProgrammeRun) -> Any:
            v = run.locals[name]
            run.trace[node] = v
            return v

        return local
    if name == "firm":

        def firm(run: ProgrammeRun) -> Any:
            v = run.firm
            run.trace[node] = v
            return v

        return firm
    if name == "as_of":

        def as_of(run: ProgrammeRun) -> Any:
            v = run.on
            run.trace[node] = v
            return v

        return as_of
    param = c.params.get(name)
    if param is not None and len(param.starts) < 2:  # one value whatever the date: read it directly
        only = param.values[0]

        def constant(run: ProgrammeRun) -> Any:
            run.trace[node] = only
            return only

        return constant
    if param is not None:
        at = param.at

        def parameter(run: ProgrammeRun) -> Any:
            v = at(run.on)[0]
            run.trace[node] = v
            return v

        return parameter

    def value(run: ProgrammeRun) -> Any:
        v = run.value(name)
        run.trace[node] = v
        return v

    return value


def _attr(c: Closures, node: ast.Attr, bound: frozenset[str]) -> Fn:
    obj, attr = c.of(node.obj, bound), node.name

    def f(run: ProgrammeRun) -> Any:
        base = obj(run)
        v = None if base is None else scalar(getattr(base, attr))
        run.trace[node] = v
        return v

    return f


def _index(c: Closures, node: ast.Index, bound: frozenset[str]) -> Fn:
    obj, index = c.of(node.obj, bound), c.of(node.index, bound)

    def f(run: ProgrammeRun) -> Any:
        mapping = obj(run)
        year = index(run)
        v = None if year is None or year != year.to_integral_value() else mapping.get(int(year))
        run.trace[node] = v
        return v

    return f


def _neg(c: Closures, node: ast.Neg, bound: frozenset[str]) -> Fn:
    operand = c.of(node.operand, bound)

    def f(run: ProgrammeRun) -> Any:
        x = operand(run)
        v = None if x is None else -x
        run.trace[node] = v
        return v

    return f


def _not(c: Closures, node: ast.Not, bound: frozenset[str]) -> Fn:
    operand = c.of(node.operand, bound)

    def f(run: ProgrammeRun) -> Any:
        x = operand(run)
        v = None if x is None else not x
        run.trace[node] = v
        return v

    return f


def _boolop(c: Closures, node: ast.BoolOp, bound: frozenset[str]) -> Fn:
    parts = [c.of(v, bound) for v in node.values]
    combine = kleene_and if node.op == "and" else kleene_or

    def f(run: ProgrammeRun) -> Any:
        v = combine([g(run) for g in parts])  # every operand, so that the explanation has them all
        run.trace[node] = v
        return v

    return f


def _binop(c: Closures, node: ast.BinOp, bound: frozenset[str]) -> Fn:
    from huiqi.rules.evaluator import Duration, mul, shift

    left, right = c.of(node.left, bound), c.of(node.right, bound)
    if node.op == "*":

        def product(run: ProgrammeRun) -> Any:
            x, y = left(run), right(run)
            v = None if x is None or y is None else mul(x, y)
            run.trace[node] = v
            return v

        return product
    plus = node.op == "+"
    add = EXACT.add if plus else EXACT.subtract

    def f(run: ProgrammeRun) -> Any:
        x, y = left(run), right(run)
        v: Any
        if x is None or y is None:
            v = None
        elif isinstance(x, Duration):
            v = shift(y, x, 1)
        elif isinstance(y, Duration):
            v = shift(x, y, 1 if plus else -1)
        else:
            v = add(x, y)
        run.trace[node] = v
        return v

    return f


def _compare(c: Closures, node: ast.Compare, bound: frozenset[str]) -> Fn:
    left, right, op = c.of(node.left, bound), c.of(node.right, bound), _COMPARE[node.op]

    def f(run: ProgrammeRun) -> Any:
        a, b = left(run), right(run)
        v = None if a is None or b is None else bool(op(a, b))
        run.trace[node] = v
        return v

    return f


def _ifexp(c: Closures, node: ast.IfExp, bound: frozenset[str]) -> Fn:
    cond, then, orelse = c.of(node.cond, bound), c.of(node.then, bound), c.of(node.orelse, bound)

    def f(run: ProgrammeRun) -> Any:
        test = cond(run)
        a, b = then(run), orelse(run)  # both branches, so that the explanation has them
        v = a if test is True else b
        run.trace[node] = v
        return v

    return f


def _call(c: Closures, node: ast.Call, bound: frozenset[str]) -> Fn:
    from huiqi.rules.evaluator import Duration

    func = node.func
    if func in ("eligible", "amount"):
        pid = node.args[0].value  # type: ignore[attr-defined]
        want_eligible = func == "eligible"

        def reference(run: ProgrammeRun) -> Any:
            ref = run.engine.evaluate(pid)
            run.refs[pid] = ref
            v = ref.eligible if want_eligible else ref.amount
            run.trace[node] = v
            return v

        return reference
    args = [c.of(a, bound) for a in node.args]

    def compute(vals: list[Any]) -> Any:
        if func == "default":
            return vals[0] if vals[0] is not None else vals[1]
        if func == "is_known":
            return vals[0] is not None
        if func in ("years", "months", "days"):
            return Duration(**{func: int(vals[0])})
        if None in vals:
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

    def f(run: ProgrammeRun) -> Any:
        v = compute([g(run) for g in args])
        run.trace[node] = v
        return v

    return f


def _aggregate(c: Closures, node: ast.Comprehension, bound: frozenset[str]) -> Fn:
    inner = bound | {node.var}
    cond = c.of(node.cond, inner) if node.cond is not None else None
    element = c.of(node.element, inner)
    collection, var, func = node.collection.name, node.var, node.func  # type: ignore[attr-defined]

    def f(run: ProgrammeRun) -> Any:
        picked: list[Any] = []
        saved = run.trace
        run.trace = {}  # per-item values are not kept: an explanation shows the aggregate
        scope = run.locals
        try:
            for item in getattr(run.firm, collection):
                scope[var] = item
                if cond is not None and cond(run) is not True:
                    continue
                picked.append(element(run))
        finally:
            scope.pop(var, None)
            run.trace = saved
        v = _reduce(func, picked)
        saved[node] = v
        return v

    return f


def _reduce(func: str, picked: list[Any]) -> Any:
    if func == "count":
        return Decimal(len(picked))
    known = [v for v in picked if v is not None]
    if func == "sum":
        total = Decimal(0)
        for v in known:
            total = EXACT.add(total, v)
        return total
    if func == "any":
        return any(known)
    if func == "all":
        return all(known)
    if not known:
        return None
    return min(known) if func == "min" else max(known)


_BUILDERS: dict[type[ast.Node], _Builder] = {
    ast.Number: _literal,
    ast.String: _literal,
    ast.Boolean: _literal,
    ast.DateLit: _literal,
    ast.ListLit: _list,
    ast.Name: _name,
    ast.Attr: _attr,
    ast.Index: _index,
    ast.Neg: _neg,
    ast.Not: _not,
    ast.BoolOp: _boolop,
    ast.BinOp: _binop,
    ast.Compare: _compare,
    ast.IfExp: _ifexp,
    ast.Call: _call,
    ast.Comprehension: _aggregate,
}
