"""Parsing expression text into the tree of ``huiqi.rules.ast`` with lark (LALR); never ``eval``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from huiqi.rules import ast
from huiqi.rules.errors import ExprError

MAX_LENGTH = 10_000
MAX_DEPTH = 64
#: How deep the tree may nest (operators included): the checker and evaluators recurse over it.
MAX_TREE_DEPTH = 120

_TOKEN_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "DOT": "'.'",
    "NAME": "a name",
    "DECIMAL": "a number",
    "PERCENT": "a percentage",
    "DATE": "a date",
    "STRING": "a string",
    "COMPOP": "a comparison",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*'",
    "THEN": "'then'",
    "ELSE": "'else'",
    "IN": "'in'",
    "IF": "'if'",
    "FOR": "'for'",
    "$END": "the end",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("huiqi.rules").joinpath("expr.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(meta: Meta | Token) -> ast.Span:
    if isinstance(meta, Token):
        return ast.Span(meta.line or 1, meta.column or 1, meta.start_pos or 0, meta.end_pos or 0)
    return ast.Span(meta.line, meta.column, meta.start_pos, meta.end_pos)


def _number(text: str) -> Decimal:
    return Decimal(text.replace("_", ""))


@v_args(meta=True)
class _Build(Transformer[Token, ast.Node]):
    def number(self, meta: Meta, items: list[Token]) -> ast.Node:
        return ast.Number(_span(meta), _number(items[0]))

    def percent(self, meta: Meta, items: list[Token]) -> ast.Node:
        return ast.Number(_span(meta), _number(items[0][:-1]).scaleb(-2))

    def date(self, meta: Meta, items: list[Token]) -> ast.Node:
        try:
            value = dt.date.fromisoformat(str(items[0]))
        except ValueError:
            raise ExprError(
                f"{items[0]} is not a calendar date", line=meta.line, column=meta.column
            ) from None
        return ast.DateLit(_span(meta), value)

    def string(self, meta: Meta, items: list[Token]) -> ast.Node:
        return ast.String(_span(meta), str(items[0])[1:-1])

    def true(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Boolean(_span(meta), True)

    def false(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Boolean(_span(meta), False)

    def name(self, meta: Meta, items: list[Token]) -> ast.Node:
        return ast.Name(_span(meta), str(items[0]))

    def attr(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Attr(_span(meta), items[0], str(items[1]))

    def index(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Index(_span(meta), items[0], items[1])

    def neg(self, meta: Meta, items: list[Any]) -> ast.Node:
        if isinstance(items[0], ast.Number):
            return ast.Number(_span(meta), -items[0].value)
        return ast.Neg(_span(meta), items[0])

    def not_(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Not(_span(meta), items[0])

    def binop(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.BinOp(_span(meta), str(items[1]), items[0], items[2])

    def compare(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Compare(_span(meta), str(items[1]), items[0], items[2])

    def in_(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Compare(_span(meta), "in", items[0], items[1])

    def not_in(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.Compare(_span(meta), "not in", items[0], items[1])

    def and_(self, meta: Meta, items: list[Any]) -> ast.Node:
        return items[0] if len(items) == 1 else ast.BoolOp(_span(meta), "and", tuple(items))

    def or_(self, meta: Meta, items: list[Any]) -> ast.Node:
        return items[0] if len(items) == 1 else ast.BoolOp(_span(meta), "or", tuple(items))

    def ifexpr(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.IfExp(_span(meta), items[0], items[1], items[2])

    def call(self, meta: Meta, items: list[Any]) -> ast.Node:
        args = tuple(a for a in items[1:] if a is not None)
        return ast.Call(_span(meta), str(items[0]), args)

    def list_(self, meta: Meta, items: list[Any]) -> ast.Node:
        return ast.ListLit(_span(meta), tuple(a for a in items if a is not None))

    def comprehension(self, meta: Meta, items: list[Any]) -> ast.Node:
        func, element, var, collection, cond = items
        return ast.Comprehension(_span(meta), str(func), element, str(var), collection, cond)


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TOKEN_NAMES.get(t, t.lower()) for t in getattr(exc, "expected", set()) or set()})
    if not names:
        return ""
    if len(names) > 6:
        names = [*names[:6], "..."]
    return "; expected " + ", ".join(names)


def _depth(text: str) -> int:
    depth = best = 0
    for ch in text:
        if ch in "([":
            depth += 1
            best = max(best, depth)
        elif ch in ")]":
            depth -= 1
    return best


def parse(text: str) -> ast.Node:
    """Parse one expression; ExprError with line and column on any syntax error."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed", text=text
        )
    if _depth(text) > MAX_DEPTH:
        raise ExprError(f"expression nests deeper than {MAX_DEPTH} brackets", text=text)
    if not text.strip():
        raise ExprError("empty expression", text=text)
    try:
        tree = _lark().parse(text)
        node = _Build().transform(tree)
    except UnexpectedCharacters as exc:
        char = text[exc.pos_in_stream or 0]
        hint = (
            "; there is no division (it cannot be exact on every engine): write a ratio as a product, "
            "e.g. rd >= 5% * sales"
            if char == "/"
            else _expected(exc)
        )
        raise ExprError(
            f"unexpected character {char!r}{hint}",
            line=exc.line,
            column=exc.column,
            text=text,
        ) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            raise ExprError(
                f"the expression ends too early{_expected(exc)}",
                line=len(lines),
                column=len(lines[-1].rstrip()) + 1,
                text=text,
            ) from None
        raise ExprError(
            f"unexpected {str(tok)!r}{_expected(exc)}", line=exc.line or 1, column=exc.column or 1, text=text
        ) from None
    except UnexpectedEOF as exc:
        lines = text.splitlines() or [""]
        raise ExprError(
            f"the expression ends too early{_expected(exc)}",
            line=len(lines),
            column=len(lines[-1]) + 1,
            text=text,
        ) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExprError):
            err = exc.orig_exc
            raise ExprError(err.message, line=err.line, column=err.column, text=text) from None
        raise
    except RecursionError:
        raise ExprError("expression is too deeply nested", text=text) from None
    if not isinstance(node, ast.Node):
        raise ExprError("not an expression", text=text)
    depth = _tree_depth(node)
    if depth > MAX_TREE_DEPTH:
        raise ExprError(
            f"expression nests {depth} operations deep; at most {MAX_TREE_DEPTH} are allowed "
            "(split it into named values)",
            text=text,
        )
    return node


def _tree_depth(root: ast.Node) -> int:
    """Depth without recursion, so a pathological tree cannot exhaust the stack while being measured."""
    best = 0
    stack = [(root, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((child, d + 1) for child in ast.children(node))
    return best
