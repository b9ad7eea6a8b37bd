"""Explanations: for each condition, whether it held, the values it read, its clause, and the gap; for each
exclusion, whether it applies.

Built from the evaluator's trace after the fact, so evaluation stays cheap when nobody asks why. The
explanation is one model (``Explanation``, JSON-ready data): the API answers it, the pages render it and the
terminal prints it (``render_explanation``), so each says the same thing of every condition and exclusion:
its ``mark`` and its ``verdict`` in words (a condition holds, does not hold or is unknown; an exclusion
applies or does not apply), the figures read, the clause and the gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, TypeVar

from huiqi.money import format_yuan
from huiqi.rules import ast
from huiqi.rules.evaluator import Duration, Result, Trace
from huiqi.rules.labels import LIST_SEPARATORS, OPS, UNITS_ZH, WORDS, field_label, value_label
from huiqi.rules.programme import Expression, Programme

T = TypeVar("T")


class ReadEntry(TypedDict):
    """A figure a check or the amount read (``Read.to_json``)."""

    kind: str
    name: str
    label: str
    value: Any
    text: str
    clause: NotRequired[str]
    assumption: NotRequired[bool]


class Check(TypedDict):
    """A condition or an exclusion as every adapter shows it. ``holds``: the test's value (for an exclusion,
    whether it applies; None when unknown); ``met``: whether it lets the firm qualify; ``mark`` (✓ ✗ ?) and
    ``verdict`` (words in the explanation's language) say so alike everywhere; ``gap``: what is missing."""

    id: str
    kind: str
    label: str
    clause: str
    holds: bool | None
    met: bool
    mark: str
    verdict: str
    reads: list[ReadEntry]
    gap: NotRequired[list[str]]


class AmountDetail(TypedDict):
    """How the amount was worked out: label, formula, clause, value and the figures read."""

    label: str
    formula: str
    clause: str
    value: Any
    reads: list[ReadEntry]


class Explanation(TypedDict):
    """One programme's result for one firm on one date, explained (see the module docstring)."""

    programme: str
    version: str
    digest: str
    name: str
    document: str
    benefit: str
    date: str
    in_force: bool
    eligible: bool
    amount: str
    period: str
    checks: list[Check]
    in_force_detail: NotRequired[str]
    amount_detail: NotRequired[AmountDetail]


def _verdicts(lang: str) -> dict[tuple[str, bool | None], tuple[str, str]]:
    """(mark, verdict) of a check by (kind, holds), in a language."""
    w = WORDS[lang]
    return {
        ("condition", True): ("✓", w["holds"]),
        ("condition", False): ("✗", w["does_not_hold"]),
        ("condition", None): ("?", w["unknown"]),
        ("exclusion", True): ("✗", w["excluded"]),
        ("exclusion", False): ("✓", w["not_excluded"]),
        ("exclusion", None): ("✓", w["not_excluded"]),
    }


#: (mark, verdict) by language, then (kind, holds)
VERDICTS = {lang: _verdicts(lang) for lang in WORDS}


@dataclass(frozen=True)
class Read:
    """A value an expression read: a firm field, a parameter, a named value, a programme, an aggregate."""

    kind: str
    name: str
    label: str
    value: Any
    unit: str
    clause: str | None = None
    assumption: bool = False

    def to_json(self, lang: str) -> ReadEntry:
        out: ReadEntry = {
            "kind": self.kind,
            "name": self.name,
            "label": self.label,
            "value": json_value(self.value),
            "text": fmt(self.value, self.unit, lang),
        }
        if self.clause:
            out["clause"] = self.clause
        if self.assumption:
            out["assumption"] = True
        return out


@dataclass(frozen=True, slots=True)
class _Site:
    """One read an explanation reports, as far as it is known before evaluation: for a year-indexed firm
    field the name and label wait for the year's value (``index``); ``path`` is the field path or, for a
    programme reference, the programme id."""

    kind: str
    node: ast.Node
    name: str
    label: str
    unit: str
    clause: str | None = None
    index: ast.Node | None = None
    path: str = ""


def json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple | list):
        return [json_value(x) for x in v]
    if isinstance(v, Duration):
        return {"years": v.years, "months": v.months, "days": v.days}
    return v


def fmt(v: Any, unit: str, lang: str) -> str:
    """A value as a person reads it: grouped yuan, percentages for rates, dates, yes/no, stored keys in words
    (``artificial_intelligence`` -> 人工智能), so every adapter prints the same text."""
    w = WORDS[lang]
    if v is None:
        return "—" if lang == "zh" else "not given"
    if isinstance(v, bool):
        return w["yes"] if v else w["no"]
    if isinstance(v, Decimal):
        if unit == "yuan":
            return format_yuan(v, lang=lang)
        if unit == "rate":
            pct = (v * 100).normalize()
            return f"{pct:f}%"
        if unit == "year":
            return f"{v.normalize():f}"
        text = f"{v.normalize():,f}" if abs(v) >= 1000 else f"{v.normalize():f}"
        suffix = UNITS_ZH.get(unit, unit) if lang == "zh" else ("" if unit in ("count", "") else f" {unit}")
        return f"{text}{suffix}"
    if isinstance(v, tuple | list):
        return LIST_SEPARATORS[lang].join(fmt(x, "text", lang) for x in v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return value_label(v, lang)
    return str(v)


def _field_path(node: ast.Node) -> str | None:
    """``paid_in_capital`` / ``ip.invention_patents`` for a read of the firm (year index aside), or None."""
    if isinstance(node, ast.Index):
        node = node.obj
    parts: list[str] = []
    while isinstance(node, ast.Attr):
        parts.append(node.name)
        node = node.obj
    if isinstance(node, ast.Name) and node.id == "firm" and parts:
        return ".".join(reversed(parts))
    return None


class _Explainer:
    def __init__(self, result: Result, lang: str) -> None:
        self.result = result
        self.programme: Programme = result.programme
        self.lang = lang
        self.w = WORDS[lang]
        plans = self.programme.memo.get(("plans", lang))
        if plans is None:
            plans = self.programme.memo[("plans", lang)] = {}
        #: id(expression node) -> its plan, in this language
        self.plans: dict[int, tuple[tuple[_Site, ...], bool]] = plans

    # -- describing nodes -------------------------------------------------------------------------
    def firm_path(self, node: ast.Node) -> tuple[str, int | None] | None:
        """``paid_in_capital`` / ``ip.invention_patents`` / (``sales``, 2023) for a read of the firm."""
        path = _field_path(node)
        if path is None:
            return None
        year = None
        if isinstance(node, ast.Index):
            idx = self.trace_value(node.index)
            year = int(idx) if isinstance(idx, Decimal) else None
        return path, year

    def describe(self, node: ast.Node, expr: Expression) -> tuple[str, str]:
        """(label, unit) of a node."""
        fp = self.firm_path(node)
        if fp is not None:
            return field_label(fp[0], self.lang, fp[1])
        if isinstance(node, ast.Name):
            spec = self.programme.spec
            if node.id in spec.parameters:
                p = spec.parameters[node.id]
                return p.label.get(self.lang), p.unit
            if node.id in spec.values:
                return spec.values[node.id].label.get(self.lang), self.value_unit(node.id)
        return expr.source(node), self.guess_unit(node, expr)

    def value_unit(self, name: str) -> str:
        expr = self.programme.values[name]
        return self.guess_unit(expr.node, expr)

    def guess_unit(self, node: ast.Node, expr: Expression) -> str:
        """A product or sum of money is money: find a yuan read inside; ``year(...)`` gives a year."""
        key = ("unit", id(node))
        cache = self.programme.memo
        if key not in cache:
            cache[key] = self._guess_unit(node, expr)
        return str(cache[key])

    def _guess_unit(self, node: ast.Node, expr: Expression) -> str:
        if any(isinstance(n, ast.Call) and n.func == "year" for n in ast.walk(node)):
            return "year"
        for inner in ast.walk(node):
            if isinstance(inner, ast.Comprehension):
                col = inner.collection
                if (
                    isinstance(col, ast.Attr)
                    and col.name in ("contracts", "incentives")
                    and inner.func == "sum"
                ):
                    return "yuan"
            fp = self.firm_path(inner)
            if fp and field_label(fp[0], "en")[1] == "yuan":
                return "yuan"
            params = self.programme.spec.parameters
            if isinstance(inner, ast.Name) and inner.id in params and params[inner.id].unit == "yuan":
                return "yuan"
        return ""

    # -- traces -------------------------------------------------------------------------------------
    _trace: Trace | None = None

    def trace_value(self, node: ast.Node) -> Any:
        return self._trace.values.get(node) if self._trace else None

    def sites(self, expr: Expression) -> list[ast.Node]:
        """The nodes an explanation reports for an expression, in order: worked out once per expression."""
        key = ("sites", id(expr.node))
        cache = self.programme.memo
        if key in cache:
            return list(cache[key])
        spec = self.programme.spec
        found: list[ast.Node] = []

        def visit(node: ast.Node) -> None:
            if isinstance(node, ast.Comprehension):
                found.append(node)
                return
            if _field_path(node) is not None:
                found.append(node)
                if isinstance(node, ast.Index):
                    visit(node.index)
                return
            if isinstance(node, ast.Name) and (node.id in spec.parameters or node.id in spec.values):
                found.append(node)
            if isinstance(node, ast.Call) and node.func in ("eligible", "amount"):
                found.append(node)
                return
            for child in ast.children(node):
                visit(child)

        visit(expr.node)
        cache[key] = tuple(found)
        return found

    def plan(self, expr: Expression) -> tuple[tuple[_Site, ...], bool]:
        """What an explanation reports for an expression, with every label, unit and clause that does not
        depend on the firm worked out once per expression and language; ``True`` when a read's name depends
        on a value (a year index), so that repeats must be found at run time."""
        hit = self.plans.get(id(expr.node))
        if hit is not None:
            return hit
        spec = self.programme.spec
        sites: list[_Site] = []
        for node in self.sites(expr):
            if isinstance(node, ast.Comprehension):
                text = expr.source(node)
                sites.append(_Site("aggregate", node, text, text, self.guess_unit(node, expr)))
            elif (path := _field_path(node)) is not None:
                index = node.index if isinstance(node, ast.Index) else None
                label, unit = field_label(path, self.lang)
                sites.append(_Site("field", node, f"firm.{path}", label, unit, index=index, path=path))
            elif isinstance(node, ast.Name):
                if node.id in spec.parameters:
                    p = spec.parameters[node.id]
                    sites.append(_Site("parameter", node, node.id, p.label.get(self.lang), p.unit))
                elif node.id in spec.values:
                    v = spec.values[node.id]
                    clause = self.programme.cite(v.clause, v.doc, self.lang)
                    unit = self.value_unit(node.id)
                    sites.append(_Site("value", node, node.id, v.label.get(self.lang), unit, clause))
            elif isinstance(node, ast.Call) and node.func in ("eligible", "amount"):
                pid = node.args[0].value  # type: ignore[attr-defined]
                unit = "yuan" if node.func == "amount" else "flag"
                sites.append(_Site("programme", node, f"{node.func}({pid})", pid, unit, path=pid))
        dynamic = any(s.index is not None for s in sites)
        if not dynamic:  # a name is reported once (programme references every time)
            seen: set[str] = set()
            kept = []
            for site in sites:
                if site.kind != "programme":
                    if site.name in seen:
                        continue
                    seen.add(site.name)
                kept.append(site)
            sites = kept
        # what the firm's figures were first, then the parameters they were held against
        sites = [s for s in sites if s.kind != "parameter"] + [s for s in sites if s.kind == "parameter"]
        plan = (tuple(sites), dynamic)
        self.plans[id(expr.node)] = plan
        return plan

    def resolved(self, trace: Trace) -> list[tuple[_Site, str, str, Any]]:
        """(site, name, label, value) of every read of a trace, repeats removed."""
        sites, dynamic = self.plan(trace.expression)
        values = trace.values
        out: list[tuple[_Site, str, str, Any]] = []
        seen: set[str] = set()
        for s in sites:
            name, label = s.name, s.label
            if s.kind == "parameter":
                value: Any = self.programme.params[s.name].at(self.result.on)[0]
            else:
                value = values.get(s.node)
                if s.index is not None:
                    idx = values.get(s.index)
                    year = int(idx) if isinstance(idx, Decimal) else None
                    label = field_label(s.path, self.lang, year)[0]
                    name = f"firm.{s.path}" + (f"[{year}]" if year is not None else "")
                elif s.kind == "programme":
                    ref = self.result.programme_refs.get(s.path)
                    label = ref.programme.spec.name.get(self.lang) if ref else s.path
            if dynamic and s.kind != "programme":
                if name in seen:
                    continue
                seen.add(name)
            out.append((s, name, label, value))
        return out

    def reads_json(self, trace: Trace) -> list[ReadEntry]:
        """Each read as JSON (``Read.to_json``), with what does not depend on the firm built once: what the
        firm's figures were first, then the parameters they were held against (the plan's order)."""
        return [self._read_json(s, name, label, value) for s, name, label, value in self.resolved(trace)]

    def _read_json(self, s: _Site, name: str, label: str, value: Any) -> ReadEntry:
        if s.kind == "parameter":
            return self._param_json(name)
        entry: ReadEntry = {
            "kind": s.kind,
            "name": name,
            "label": label,
            "value": json_value(value),
            "text": fmt(value, s.unit, self.lang),
        }
        if s.clause:
            entry["clause"] = s.clause
        return entry

    def _param_json(self, name: str) -> ReadEntry:
        """A parameter's read as of the date: the same for every firm, so built once a period and language
        (shared by the answers; nobody edits them)."""
        param = self.programme.params[name]
        value, i = param.at(self.result.on)
        key = ("param-json", name, i, self.lang)
        cache = self.programme.memo
        hit: ReadEntry | None = cache.get(key)
        if hit is None:
            spec_p = self.programme.spec.parameters[name]
            clause = self.programme.cite(param.clauses[i] or spec_p.clause, spec_p.doc, self.lang)
            hit = Read(
                "parameter", name, spec_p.label.get(self.lang), value, spec_p.unit, clause, spec_p.assumption
            ).to_json(self.lang)
            cache[key] = hit
        return hit

    # -- gaps ---------------------------------------------------------------------------------------
    def gap(self, trace: Trace) -> list[str]:
        self._trace = trace
        try:
            return self._gap(trace.expression.node, trace.expression)
        finally:
            self._trace = None

    def _gap(self, node: ast.Node, expr: Expression) -> list[str]:
        value = self.trace_value(node)
        if value is True:
            return []
        w = self.w
        if value is None and not isinstance(node, ast.BoolOp):
            missing = self._missing(node, expr)
            if missing:
                return [f"{m} {w['not_known']}" for m in missing]
        if isinstance(node, ast.BoolOp):
            parts = [self._gap(v, expr) for v in node.values]
            if node.op == "and":
                return [g for p in parts for g in p]
            alternatives = ["; ".join(p) for p in parts if p]
            if len(alternatives) > 1:
                return [f"{w['either']}: " + f" {w['or']}: ".join(alternatives)]
            return alternatives
        if isinstance(node, ast.Compare):
            return [self._compare_gap(node, expr)]
        if isinstance(node, ast.Not):
            return [f"{w['must_not']}: {expr.source(node.operand)}"]
        if isinstance(node, ast.Call) and node.func == "eligible":
            pid = node.args[0].value  # type: ignore[attr-defined]
            ref = self.result.programme_refs.get(pid)
            if ref is not None:
                # the referenced programme's own gaps, so that "not designated" says why (worked out once
                # a result and language: several programmes may refer to the same one)
                reasons = ref.memo.get(("reasons", self.lang))
                if reasons is None:
                    sub = _Explainer(ref, self.lang)
                    inner = [
                        g
                        for o in ref.outcomes
                        if o.kind == "condition" and o.holds is not True
                        for g in sub.gap(o.trace)
                    ]
                    if not ref.in_force:
                        inner.insert(0, w["not_in_force"])
                    reasons = "; ".join(inner) or ", ".join(ref.unmet)
                    ref.memo[("reasons", self.lang)] = reasons
                return [f"{ref.programme.spec.name.get(self.lang)}: {w['fails']} ({reasons})"]
        label, _ = self.describe(node, expr)
        if value is False and (self.firm_path(node) is not None or isinstance(node, ast.Name)):
            return [
                f"{label} = {w['no']}; {w['needs']} {w['yes']}"
                if self.lang == "en"
                else f"{label} = {w['no']}；{w['needs']}{w['yes']}"
            ]
        return [f"{expr.source(node)}: {w['does_not_hold']}"]

    def _missing(self, node: ast.Node, expr: Expression) -> list[str]:
        """Labels of the values a sub-expression read that are unknown."""
        assert self._trace is not None  # nosec B101  # narrows the type for mypy
        sub = Expression(expr.text, node, expr.type, expr.checked, expr.path)
        sites, dynamic = self.plan(sub)
        values = self._trace.values
        params, on = self.programme.params, self.result.on
        if not dynamic and not any(
            (params[s.name].at(on)[0] if s.kind == "parameter" else values.get(s.node)) is None for s in sites
        ):  # the usual case: nothing unknown, nothing to label
            return []
        return [label for _, _, label, value in self.resolved(Trace(sub, values)) if value is None]

    def _compare_gap(self, node: ast.Compare, expr: Expression) -> str:
        left, right = node.left, node.right
        op = node.op
        dep = expr.checked.firm_dependent
        if left not in dep and right in dep and op in (">", ">=", "<", "<="):
            flip = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
            left, right, op = right, left, flip[op]
        llabel, lunit = self.describe(left, expr)
        _, runit = self.describe(right, expr)
        unit = lunit or runit
        lval = fmt(self.trace_value(left), unit, self.lang)
        rval = fmt(self.trace_value(right), runit or unit, self.lang)
        phrase = OPS[self.lang][op]
        if self.lang == "zh":
            return f"{llabel} {lval}；{self.w['needs']}{phrase} {rval}"
        return f"{llabel} {lval}; {self.w['needs']} {phrase} {rval}"


def _once(p: Programme, key: tuple[str, str], build: Callable[[], T]) -> T:
    """What ``build`` gives, worked out once a programme (kept in its memo under ``key``)."""
    hit: T | None = p.memo.get(key)
    if hit is None:
        hit = p.memo[key] = build()
    return hit


def _checks_of(p: Programme, lang: str) -> dict[str, tuple[str, str]]:
    """(label, clause) of each condition and exclusion, in a language."""

    def build() -> dict[str, tuple[str, str]]:
        checks = {c.id: (c.label.get(lang), p.cite(c.clause, c.doc, lang)) for c in p.spec.conditions}
        return checks | {x.id: (x.label.get(lang), p.cite(x.clause, x.doc, lang)) for x in p.spec.exclusions}

    return _once(p, ("checks", lang), build)


def _header_of(p: Programme, lang: str) -> dict[str, Any]:
    """The first entries of a programme's explanation, the same for every firm."""

    def build() -> dict[str, Any]:
        document = p.document(None)
        return {
            "programme": p.id,
            "version": p.version,
            "digest": p.digest[:12],
            "name": p.spec.name.get(lang),
            "document": f"{document.title.get(lang)} ({document.number})",
            "benefit": p.spec.benefit,
        }

    return _once(p, ("header", lang), build)


def _amount_header_of(p: Programme, lang: str) -> dict[str, Any]:
    """How the amount is worked out (label, formula, clause): the same for every firm."""

    def build() -> dict[str, Any]:
        amount = p.spec.amount
        assert amount is not None  # nosec B101  # only asked for a programme with an amount
        return {
            "label": amount.label.get(lang),
            "formula": amount.expr.strip(),
            "clause": p.cite(amount.clause, amount.doc, lang),
        }

    return _once(p, ("amount-header", lang), build)


def explain(result: Result, lang: str = "en") -> Explanation:
    """The whole explanation of one programme's result, as JSON-ready data (the one model every adapter
    renders)."""
    ex = _Explainer(result, lang)
    p = result.programme
    spec = p.spec
    checks: list[Check] = []
    labels = _checks_of(p, lang)
    verdicts = VERDICTS[lang]
    for o in result.outcomes:
        label, clause = labels[o.id]
        met = o.holds is True if o.kind == "condition" else o.holds is not True
        mark, verdict = verdicts[(o.kind, o.holds)]
        entry: Check = {
            "id": o.id,
            "kind": o.kind,
            "label": label,
            "clause": clause,
            "holds": o.holds,
            "met": met,
            "mark": mark,
            "verdict": verdict,
            "reads": ex.reads_json(o.trace),
        }
        if not met:
            entry["gap"] = ex.gap(o.trace) if o.kind == "condition" else []
        checks.append(entry)
    out: Explanation = {
        **_header_of(p, lang),  # type: ignore[typeddict-item]
        "date": result.on.isoformat(),
        "in_force": result.in_force,
        "eligible": result.eligible,
        "amount": str(result.amount),
        "period": spec.period,
        "checks": checks,
    }
    if not result.in_force:
        eff = spec.effective
        out["in_force_detail"] = f"{eff.start} – {eff.end or '…'}"
    if result.amount_trace is not None and spec.amount is not None:
        out["amount_detail"] = {
            **_amount_header_of(p, lang),  # type: ignore[typeddict-item]
            "value": json_value(result.amount_trace.result),
            "reads": ex.reads_json(result.amount_trace),
        }
    return out


#: how many figures a check shows (in the terminal and on the pages alike)
READS_SHOWN = 8


def check_line(check: Check) -> str:
    """The one line of a condition or an exclusion: mark, label, verdict and clause (the pages show the same
    parts, see ``templates/_explanation.html``)."""
    return f"{check['mark']} {check['label']} [{check['verdict']}]  〔{check['clause']}〕"


def render_explanation(data: Explanation, lang: str = "en") -> str:
    """An explanation as plain text, for the terminal and the "you qualify" messages."""
    w = WORDS[lang]
    verdict = w["eligible"] if data["eligible"] else w["not_eligible"]
    amount = format_yuan(Decimal(data["amount"]), lang=lang)
    per = f" {w['per_year']}" if data["period"] == "annual" and data["benefit"] != "designation" else ""
    lines = [
        f"{data['programme']} ({w['version']} {data['version']}, {data['digest']}) — {data['name']}",
        f"  {verdict}; {w['amount']} {amount}{per}; {w['as_of']} {data['date']}",
        f"  {data['document']}",
    ]
    if not data["in_force"]:
        lines.append(f"  ✗ {w['not_in_force']} ({data.get('in_force_detail', '')})")
    for c in data["checks"]:
        lines.append(f"  {check_line(c)}")
        for r in c["reads"][:READS_SHOWN]:
            flag = f" ({w['assumption']})" if r.get("assumption") else ""
            lines.append(f"      {r['label']} = {r['text']}{flag}")
        for g in c.get("gap", []):
            lines.append(f"      → {w['gap']}: {g}")
    detail = data.get("amount_detail")
    if detail is not None and data["eligible"]:
        lines.append(f"  = {detail['label']}: {amount}  〔{detail['clause']}〕")
    return "\n".join(lines)


def render_text(result: Result, lang: str = "en") -> str:
    """A plain-text explanation of a result, for the terminal."""
    return render_explanation(explain(result, lang), lang)
