"""Static checking of expressions: names resolve, types agree, constants stay constant.

A programme is refused at load time when any expression would fail at run time for type reasons,
so the evaluators never meet a type error on real data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from huiqi.rules import ast
from huiqi.rules.errors import ExprError
from huiqi.rules.types import BOOL, DATE, DUR, NUM, SCALARS, STR, YEARMAP, Kind, Record, Type, firm_records

#: Names that are always there: the firm and the evaluation date.
BUILTINS = {"firm": Type(Kind.RECORD, record="firm"), "as_of": DATE}

AGGREGATES = {"sum", "count", "any", "all", "min", "max"}
FUNCTIONS = {
    "min",
    "max",
    "clamp",
    "year",
    "years",
    "months",
    "days",
    "eligible",
    "amount",
    "default",
    "is_known",
}


@dataclass
class Checked:
    """What checking learned about an expression tree."""

    types: dict[ast.Node, Type] = field(default_factory=dict)
    #: nodes whose value depends on the firm (directly or through a value); the rest are constants.
    firm_dependent: set[ast.Node] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    programmes: set[str] = field(default_factory=set)

    def type_of(self, node: ast.Node) -> Type:
        return self.types[node]


class Scope:
    """What names mean where an expression is checked: parameters, named values, programmes."""

    def __init__(
        self,
        *,
        params: Mapping[str, Type],
        value_type: Callable[[str], tuple[Type, bool] | None] | None = None,
        programmes: Callable[[str], bool] | None = None,
    ) -> None:
        self.params = params
        self._value_type = value_type or (lambda name: None)
        self._programmes = programmes or (lambda pid: True)

    def value(self, name: str) -> tuple[Type, bool] | None:
        """(type, depends on firm) of a named value, or None if there is no such value."""
        return self._value_type(name)

    def knows_programme(self, pid: str) -> bool:
        return self._programmes(pid)


def _err(node: ast.Node, message: str) -> ExprError:
    return ExprError(message, line=node.span.line, column=node.span.column)


class _Checker:
    def __init__(self, scope: Scope, out: Checked) -> None:
        self.scope = scope
        self.out = out
        self.records = firm_records()
        self.locals: dict[str, str] = {}  # loop variable -> record name

    def check(self, node: ast.Node) -> Type:
        t, dep = self._check(node)
        self.out.types[node] = t
        if dep:
            self.out.firm_dependent.add(node)
        return t

    def dep(self, *nodes: ast.Node) -> bool:
        return any(n in self.out.firm_dependent for n in nodes)

    def expect(self, node: ast.Node, want: Type, what: str) -> None:
        got = self.check(node)
        if got != want:
            raise _err(node, f"{what} must be a {want}, but this is a {got}")

    def _check(self, node: ast.Node) -> tuple[Type, bool]:
        match node:
            case ast.Number():
                return NUM, False
            case ast.String():
                return STR, False
            case ast.Boolean():
                return BOOL, False
            case ast.DateLit():
                return DATE, False
            case ast.ListLit(items=items):
                if not items:
                    raise _err(node, "an empty list is not allowed here")
                types = {self.check(i) for i in items}
                if len(types) > 1:
                    raise _err(node, "a list mixes " + " and ".join(sorted(map(str, types))))
                if self.dep(*items):
                    raise _err(node, "list items must be constants")
                return Type(Kind.LIST, item=types.pop()), False
            case ast.Name(id=name):
                return self._name(node, name)
            case ast.Attr(obj=obj, name=attr):
                return self._attr(node, obj, attr)
            case ast.Index(obj=obj, index=index):
                if self.check(obj) != YEARMAP:
                    raise _err(node, f"only amounts by year can be indexed, not a {self.out.types[obj]}")
                self.expect(index, NUM, "a year")
                if self.dep(index):
                    raise _err(index, "the year must not depend on the firm (use as_of, parameters, numbers)")
                return NUM, True
            case ast.Neg(operand=o):
                self.expect(o, NUM, "the operand of '-'")
                return NUM, self.dep(o)
            case ast.Not(operand=o):
                self.expect(o, BOOL, "the operand of 'not'")
                return BOOL, self.dep(o)
            case ast.BoolOp(op=op, values=vs):
                for v in vs:
                    self.expect(v, BOOL, f"each side of '{op}'")
                return BOOL, self.dep(*vs)
            case ast.BinOp(op=op, left=a, right=b):
                return self._binop(node, op, a, b)
            case ast.Compare(op=op, left=a, right=b):
                return self._compare(node, op, a, b)
            case ast.IfExp(cond=c, then=t, orelse=e):
                self.expect(c, BOOL, "the condition of 'if'")
                tt, et = self.check(t), self.check(e)
                if tt != et or tt not in SCALARS:
                    raise _err(node, f"'then' and 'else' must have the same type; they are {tt} and {et}")
                return tt, self.dep(c, t, e)
            case ast.Call(func=func, args=args):
                return self._call(node, func, args)
            case ast.Comprehension():
                return self._comprehension(node)
        raise _err(node, "unsupported expression")  # pragma: no cover

    def _name(self, node: ast.Node, name: str) -> tuple[Type, bool]:
        if name in self.locals:
            return Type(Kind.RECORD, record=self.locals[name]), True
        if name in BUILTINS:
            return BUILTINS[name], name == "firm"
        if name in self.scope.params:
            self.out.params.add(name)
            return self.scope.params[name], False
        found = self.scope.value(name)
        if found is not None:
            self.out.values.add(name)
            return found
        known = sorted([*self.scope.params, "firm", "as_of"])
        raise _err(node, f"unknown name {name!r}; known here: {', '.join(known)} and the programme's values")

    def _attr(self, node: ast.Node, obj: ast.Node, attr: str) -> tuple[Type, bool]:
        t = self.check(obj)
        if t.kind is not Kind.RECORD or t.record is None:
            raise _err(node, f"a {t} has no fields")
        record: Record = self.records[t.record]
        f = record.fields.get(attr)
        if f is None:
            raise _err(node, f"{t.record} has no field {attr!r}; it has: {', '.join(record.fields)}")
        return f.type, True

    def _binop(self, node: ast.Node, op: str, a: ast.Node, b: ast.Node) -> tuple[Type, bool]:
        ta, tb = self.check(a), self.check(b)
        dep = self.dep(a, b)
        if ta == NUM and tb == NUM:
            return NUM, dep
        if op in "+-" and ta == DATE and tb == DUR:
            return DATE, dep
        if op == "+" and ta == DUR and tb == DATE:
            return DATE, dep
        raise _err(node, f"cannot apply '{op}' to a {ta} and a {tb}")

    def _compare(self, node: ast.Node, op: str, a: ast.Node, b: ast.Node) -> tuple[Type, bool]:
        ta, tb = self.check(a), self.check(b)
        dep = self.dep(a, b)
        if op in ("in", "not in"):
            if tb.kind is not Kind.LIST or tb.item != ta:
                raise _err(node, f"'{op}' needs a value and a list of the same type; got {ta} and {tb}")
            return BOOL, dep
        if ta != tb or ta not in SCALARS:
            raise _err(node, f"cannot compare a {ta} with a {tb}")
        if op not in ("==", "!=") and ta in (BOOL, STR):
            raise _err(node, f"'{op}' does not order {ta} values; use == or !=")
        return BOOL, dep

    def _call(self, node: ast.Node, func: str, args: tuple[ast.Node, ...]) -> tuple[Type, bool]:
        n = len(args)

        def arity(k: int) -> None:
            if n != k:
                raise _err(node, f"{func}() takes {k} argument{'s' if k != 1 else ''}, got {n}")

        if func in ("min", "max"):
            if n < 2:
                raise _err(node, f"{func}() needs at least two arguments")
            types = {self.check(a) for a in args}
            if len(types) != 1 or next(iter(types)) not in (NUM, DATE):
                raise _err(node, f"{func}() needs numbers or dates of one type")
            return types.pop(), self.dep(*args)
        if func == "clamp":
            arity(3)
            for a in args:
                self.expect(a, NUM, "each argument of clamp()")
            return NUM, self.dep(*args)
        if func == "year":
            arity(1)
            self.expect(args[0], DATE, "the argument of year()")
            return NUM, self.dep(*args)
        if func in ("years", "months", "days"):
            arity(1)
            self.expect(args[0], NUM, f"the argument of {func}()")
            if self.dep(args[0]):
                raise _err(args[0], f"{func}() needs a constant (a number or a parameter)")
            return DUR, False
        if func in ("eligible", "amount"):
            arity(1)
            if not isinstance(args[0], ast.String):
                raise _err(node, f"{func}() takes a programme id in quotes")
            pid = args[0].value
            if not self.scope.knows_programme(pid):
                raise _err(args[0], f"unknown programme {pid!r}")
            self.check(args[0])
            self.out.programmes.add(pid)
            return (BOOL if func == "eligible" else NUM), True
        if func == "default":
            arity(2)
            ta, tb = self.check(args[0]), self.check(args[1])
            if ta != tb or ta not in SCALARS:
                raise _err(node, f"default() needs two values of one type; got {ta} and {tb}")
            return ta, self.dep(*args)
        if func == "is_known":
            arity(1)
            if self.check(args[0]) not in SCALARS:
                raise _err(node, "is_known() takes a value")
            return BOOL, self.dep(*args)
        if func in AGGREGATES:
            raise _err(node, f"{func}() over a list is written {func}(x.field for x in firm.list if ...)")
        raise _err(node, f"unknown function {func!r}; known: {', '.join(sorted(FUNCTIONS))}")

    def _comprehension(self, node: ast.Comprehension) -> tuple[Type, bool]:
        if node.func not in AGGREGATES:
            raise _err(node, f"unknown aggregate {node.func!r}; known: {', '.join(sorted(AGGREGATES))}")
        if self.locals:
            raise _err(node, "aggregates cannot be nested")
        ct = self.check(node.collection)
        if ct.kind is not Kind.COLLECTION or ct.record is None:
            raise _err(
                node.collection, f"{node.func}() runs over a list of the firm (firm.contracts...), not a {ct}"
            )
        if node.var in self.scope.params or node.var in BUILTINS:
            raise _err(node, f"the loop name {node.var!r} hides another name; choose another")
        self.locals[node.var] = ct.record
        try:
            et = self.check(node.element)
            if node.cond is not None:
                self.expect(node.cond, BOOL, "the 'if' of an aggregate")
            for inner in ast.walk(node.element) + (ast.walk(node.cond) if node.cond else []):
                if isinstance(inner, ast.Name) and inner.id == "firm":
                    raise _err(inner, "inside an aggregate, read the item's fields, not the firm's")
                if (
                    isinstance(inner, ast.Name)
                    and inner.id in self.out.values
                    and inner in self.out.firm_dependent
                ):
                    raise _err(
                        inner,
                        f"value {inner.id!r} depends on the firm and cannot be used inside an aggregate",
                    )
        finally:
            del self.locals[node.var]
        if node.func == "sum" and et != NUM:
            raise _err(node.element, f"sum() adds numbers, not a {et}")
        if node.func in ("any", "all") and et != BOOL:
            raise _err(node.element, f"{node.func}() needs a condition, not a {et}")
        if node.func in ("min", "max") and et not in (NUM, DATE):
            raise _err(node.element, f"{node.func}() needs numbers or dates, not a {et}")
        result = {"sum": NUM, "count": NUM, "any": BOOL, "all": BOOL}.get(node.func, et)
        return result, True


def check(node: ast.Node, scope: Scope, out: Checked | None = None) -> tuple[Type, Checked]:
    """Check an expression tree; returns its type and what was learned. Raises ExprError."""
    out = out if out is not None else Checked()
    t = _Checker(scope, out).check(node)
    return t, out
