"""The expression tree. Every node keeps its position so that errors and explanations can point at it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node stands in its expression text (1-based line and column, 0-based offsets)."""

    line: int
    column: int
    start: int
    end: int


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Number(Node):
    value: Decimal


@dataclass(frozen=True, slots=True, eq=False)
class String(Node):
    value: str


@dataclass(frozen=True, slots=True, eq=False)
class Boolean(Node):
    value: bool


@dataclass(frozen=True, slots=True, eq=False)
class DateLit(Node):
    value: dt.date


@dataclass(frozen=True, slots=True, eq=False)
class Name(Node):
    id: str


@dataclass(frozen=True, slots=True, eq=False)
class Attr(Node):
    obj: Node
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class Index(Node):
    obj: Node
    index: Node


@dataclass(frozen=True, slots=True, eq=False)
class Neg(Node):
    operand: Node


@dataclass(frozen=True, slots=True, eq=False)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True, eq=False)
class BinOp(Node):
    op: str  # "+", "-", "*"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True, eq=False)
class Compare(Node):
    op: str  # "<", "<=", ">", ">=", "==", "!=", "in", "not in"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True, eq=False)
class BoolOp(Node):
    op: str  # "and", "or"
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class IfExp(Node):
    cond: Node
    then: Node
    orelse: Node


@dataclass(frozen=True, slots=True, eq=False)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Comprehension(Node):
    """``sum(c.value for c in firm.contracts if c.kind == "model_use")``: an aggregate over a firm's list."""

    func: str  # sum, count, any, all, min, max
    element: Node
    var: str
    collection: Node
    cond: Node | None


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Attr(obj=o):
            return (o,)
        case Index(obj=o, index=i):
            return (o, i)
        case Neg(operand=o) | Not(operand=o):
            return (o,)
        case BinOp(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case BoolOp(values=vs):
            return vs
        case IfExp(cond=c, then=t, orelse=e):
            return (c, t, e)
        case Call(args=args):
            return args
        case ListLit(items=items):
            return items
        case Comprehension(element=el, collection=col, cond=cond):
            return (el, col) if cond is None else (el, col, cond)
    return ()


def walk(node: Node) -> list[Node]:
    out = [node]
    for child in children(node):
        out.extend(walk(child))
    return out
