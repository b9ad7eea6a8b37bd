"""The policy calculator for the web: the API (``api/programmes.py``, with its lean route) and the public
page answer with the same use case, ``huiqi.app.programmes.check_firm``, and the same read model
(``Calculation``: JSON-ready, serialised once by ``to_json_bytes``; the pages render the same data). The
scope (the firm's city in force on the date, every city's, or the ids asked) is the use case's, see
``huiqi.app.programmes``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from huiqi.app.programmes import (
    Calculation,
    Scope,
    calculate,
    check_firm,
    example_firms,
    in_force,
    pack_of,
    parse_firm,
    scope_of,
    to_json_bytes,
    today,
    warm_up,
)
from huiqi.firms import FieldProblem, Firm, ProfileError
from huiqi.firms.numbers import UNITS, NumberError, normalise, parse_amount, parse_count
from huiqi.firms.uscc import UsccError, make_uscc, validate_uscc
from huiqi.rules.labels import WORDS
from huiqi.web.i18n import N_, _, language

__all__ = [
    "Answers",
    "Calculation",
    "Scope",
    "answers_from_form",
    "answers_of",
    "calculate",
    "check_firm",
    "example_firms",
    "in_force",
    "pack_of",
    "parse_firm",
    "plain_check",
    "plain_gap",
    "problem_text",
    "scope_of",
    "to_json_bytes",
    "today_in_shanghai",
    "warm_up",
]


def today_in_shanghai() -> dt.date:
    """Today in Shanghai, the date a form or a request without one answers for."""
    return today()


# -- the questionnaire ------------------------------------------------------------------------------------
# The calculator's form: the profile's fields one by one (amounts as people type them: 500万元, 1.2亿,
# 1,200,000, full-width digits), each error beside its field with what was typed kept. Field names are the
# profile's paths (``sales.2024``, ``ip.invention_patents``, ``contracts[0].value``) so that a problem the
# profile's own validation finds lands beside the field it is about.

#: The cities with a bundled programme pack, as profiles name them.
CITIES = ("Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu")
#: A recognition a firm may tick (its code in ``designations``) and its label.
DESIGNATIONS = {"shanghai.hq.designation": N_("Shanghai innovative enterprise headquarters (recognised)")}
#: ``Firm.service_subsector``: the service sectors with higher R&D thresholds.
SUBSECTORS = ("software", "ic_design", "biotech_cro")
#: Credit records the questionnaire offers (``credit_events[].kind``).
CREDIT_KINDS = ("serious_dishonesty", "administrative_penalty")
#: Rows offered for contracts, offices, incentives received and credit records (more when prefilled).
ROWS = {"contracts": 3, "offices": 1, "incentives": 2, "credit_events": 1}
#: The credit code used when the questionnaire leaves it empty (no answer depends on it).
PLACEHOLDER_USCC = make_uscc("91310000MA1K00000")
AMOUNTS = ("registered_capital", "paid_in_capital", "total_assets", "market_value")
YEARLY = ("sales", "rd_spending", "rd_spending_in_china", "district_contribution")
COUNTS = (
    "employees",
    "rd_staff",
    "branches_outside_city",
    "ip.invention_patents",
    "ip.ic_layout_designs",
    "ip.software_copyrights",
)
FLAGS = ("innovative_drug_or_device", "hq_functions.rd", "hq_functions.sales", "hq_functions.settlement")
_ROW_FIELDS = {
    "contracts": (
        "id",
        "kind",
        "counterparty",
        "value",
        "signed",
        "term_months",
        "affiliated",
        "claimed",
        "invoiced",
        "paid",
        "delivered",
    ),
    "offices": ("district", "area_m2", "rent_per_m2_day", "tenure", "hq", "since"),
    "incentives": ("programme", "item", "amount", "date"),
    "credit_events": ("date", "kind"),
}
_ROW_MONEY = {"value", "invoiced", "paid", "delivered", "rent_per_m2_day", "amount", "area_m2"}
_ROW_FLAGS = {"affiliated", "claimed", "hq"}
_ROW_DATES = {"signed", "since", "date"}
USCC_PROBLEM = N_("Not a valid unified social credit code (18 characters).")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


@dataclass
class Answers:
    """A questionnaire as typed (``values``: field name -> text), its problems by field, and the profile it
    makes when there are none."""

    values: dict[str, str]
    years: list[int]
    rows: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> str:
        """What the field holds (for the template)."""
        return self.values.get(name, "")

    def checked(self, name: str) -> bool:
        """Whether a checkbox is ticked."""
        return self.values.get(name, "") in ("true", "on", "1")


def years_for(on: dt.date, extra: Iterable[int] = ()) -> list[int]:
    """The years the form asks sales and R&D for: the four before the date's and its own, newest first, and
    any other year a prefilled profile holds (programmes compare growth over three years)."""
    return sorted({*range(on.year - 4, on.year + 1), *extra}, reverse=True)


def read_amount(text: str) -> Decimal:
    """Yuan from an amount typed as people write it (``500万元``, ``1.2亿``, ``1,200,000``, ``１２００``); its
    unit is the one it names, yuan if none. NumberError when it is not one."""
    t = normalise(text).replace("￥", "¥")
    body = t.rstrip()
    for suffix in sorted(UNITS, key=len, reverse=True):
        if body.endswith(suffix):
            return parse_amount(t, UNITS[suffix])
    return parse_amount(t)


def read_date(text: str) -> dt.date:
    """A date typed as 2025-03-01, 2025/3/1 or 2025年3月1日; ValueError otherwise."""
    m = _DATE.fullmatch(normalise(text))
    if m is None:
        raise ValueError(text)
    return dt.date(int(m[1]), int(m[2]), int(m[3]))


def _plain(value: object) -> str:
    """A profile's value as the form shows it (whole yuan without decimals)."""
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}".removesuffix(".00")
    return "" if value is None else str(value)


def answers_of(firm: Firm | None, on: dt.date) -> Answers:
    """The questionnaire filled in from a profile (a logged-in firm's, an example), or empty."""
    values: dict[str, str] = {}
    rows = dict(ROWS)
    years: list[int] = []
    if firm is not None:
        data = firm.model_dump()
        for name in (
            "uscc",
            "name_zh",
            "name_en",
            "sector",
            "service_subsector",
            "enterprise_type",
            "district",
            "registration_city",
            "registration_date",
            "hq_move_in_date",
            *AMOUNTS,
        ):
            values[name] = _plain(data.get(name))
        for name in YEARLY:
            for year, amount in data[name].items():
                values[f"{name}.{year}"] = _plain(amount)
                years.append(year)
        for name in (*COUNTS, *FLAGS):
            head, _dot, tail = name.partition(".")
            values[name] = _plain(data[head][tail] if tail else data[head])
        for d in data["designations"]:
            values[f"designation.{d['code']}"] = "true"
            values[f"designation_since.{d['code']}"] = _plain(d["since"])
        for group, columns in _ROW_FIELDS.items():
            rows[group] = max(rows[group], len(data[group]) + 1)
            for i, item in enumerate(data[group]):
                for column in columns:
                    values[f"{group}[{i}].{column}"] = _plain(item.get(column))
    return Answers(values, years_for(on, years), rows)


def row_numbers(values: Iterable[str], group: str) -> list[int]:
    """The row numbers a submitted form holds for a group (``contracts[3].value`` -> 3)."""
    return [int(m[1]) for k in values if (m := re.match(rf"{group}\[(\d+)\]", k))]


def _problem(message: str) -> str:
    """A profile validation's message as a person reads it (no Python reprs, in the page's language)."""
    known = (
        ("cannot exceed employees", N_("R&D staff cannot be more than the employees.")),
        ("at most one office", N_("Only one office can be the headquarters.")),
        ("more than two years in the future", N_("A registration date at most two years ahead.")),
        ("not a plausible date", N_("A date between 1900 and 2200.")),
        ("not a valid unified social credit code", USCC_PROBLEM),
        ("required field is missing", N_("Required.")),
        ("greater than or equal to 0", N_("Cannot be negative.")),
    )
    for needle, text in known:
        if needle in message:
            return _(text)
    return _("This value is not accepted.")


def problem_text(problem: FieldProblem) -> str:
    """A profile's problem for a page: its field and what is wrong, in the page's language, without a Python
    repr (``got Decimal('-1000000.00')`` reads ``got -1000000.00``)."""
    message = re.sub(r"\b(?:Decimal|datetime\.date)\((['\"]?)(.*?)\1\)", r"\2", problem.message)
    if language() == "zh":
        message = _problem(message)
    return f"{problem.path}: {message}" if problem.path else message


def answers_from_form(form: Mapping[str, str], on: dt.date) -> Answers:
    """Read a submitted questionnaire: each field's text checked and converted, the profile assembled and
    validated; ``errors`` holds each problem by field name, ``profile`` the firm's data when there is none."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    rows = {g: max(n, 1 + max(row_numbers(values, g), default=-1)) for g, n in ROWS.items()}
    extra_years = {int(m[1]) for k in values if (m := re.fullmatch(r"\w+\.(\d{4})", k))}
    ans = Answers(values, years_for(on, (y for y in extra_years if 1900 <= y <= 2200)), rows)
    err = ans.errors
    text = {k: v.strip() for k, v in values.items()}

    def amount(name: str) -> Decimal | None:
        if not text.get(name):
            return None
        try:
            value = read_amount(text[name])
        except NumberError:
            err[name] = _("Expected an amount such as 5,000,000 or 500万元.")
            return None
        if value < 0:
            err[name] = _("Cannot be negative.")
            return None
        return value

    def count(name: str) -> int | None:
        if not text.get(name):
            return None
        try:
            value = parse_count(text[name])
        except NumberError:
            err[name] = _("Expected a whole number such as 25.")
            return None
        if value < 0 or value != value.to_integral_value():
            err[name] = _("Expected a whole number such as 25.")
            return None
        return int(value)

    def date(name: str) -> str | None:
        if not text.get(name):
            return None
        try:
            return read_date(text[name]).isoformat()
        except ValueError:
            err[name] = _("Expected a date such as 2025-03-01.")
            return None

    profile: dict[str, Any] = {
        "uscc": text.get("uscc") or PLACEHOLDER_USCC,
        "name_zh": text.get("name_zh") or _("My firm"),
        "registration_city": text.get("registration_city") or "",
    }
    for name in ("name_en", "sector", "service_subsector", "enterprise_type", "district"):
        if text.get(name):
            profile[name] = text[name]
    for name, required in (("sector", True), ("registration_city", True)):
        if required and not text.get(name):
            err[name] = _("Required.")
    if not text.get("registration_date"):
        err["registration_date"] = _("Required.")
    for name in ("registration_date", "hq_move_in_date"):
        if (d := date(name)) is not None:
            profile[name] = d
    for name in AMOUNTS:
        a = amount(name)
        if a is not None:
            profile[name] = a
        elif name != "market_value" and name not in err:
            profile[name] = Decimal(0)
    for name in YEARLY:
        by_year = {}
        for year in ans.years:
            if (a := amount(f"{name}.{year}")) is not None:
                by_year[str(year)] = a
        profile[name] = by_year
    for name in COUNTS:
        head, _dot, tail = name.partition(".")
        if (n := count(name)) is not None:
            if tail:
                profile.setdefault(head, {})[tail] = n
            else:
                profile[name] = n
    for name in FLAGS:
        head, _dot, tail = name.partition(".")
        if tail:
            profile.setdefault(head, {})[tail] = ans.checked(name)
        else:
            profile[name] = ans.checked(name)
    profile["designations"] = [
        {"code": code, "since": date(f"designation_since.{code}")}
        for k in values
        if k.startswith("designation.") and ans.checked(k) and (code := k.removeprefix("designation."))
    ]
    for group, columns in _ROW_FIELDS.items():
        items = []
        for i in range(rows[group]):
            row = {c: text.get(f"{group}[{i}].{c}", "") for c in columns}
            if not any(v for c, v in row.items() if c not in _ROW_FLAGS and c not in ("id", "tenure")):
                continue  # an empty row
            item: dict[str, Any] = {}
            for c, v in row.items():
                key = f"{group}[{i}].{c}"
                if c in _ROW_FLAGS:
                    item[c] = ans.checked(key)
                elif not v:
                    continue
                elif c in _ROW_MONEY:
                    if (a := amount(key)) is not None:
                        item[c] = a
                elif c in _ROW_DATES:
                    if (d := date(key)) is not None:
                        item[c] = d
                elif c == "term_months":
                    if (n := count(key)) is not None:
                        item[c] = n
                else:
                    item[c] = v
            if group == "contracts":
                item.setdefault("id", f"C{i + 1}")
                item.setdefault("counterparty", "—")
            items.append(item)
            for c in _REQUIRED_IN_ROW[group]:
                if c not in item and f"{group}[{i}].{c}" not in err:
                    err[f"{group}[{i}].{c}"] = _("Required.")
        profile[group] = items
    employees, rd_staff = profile.get("employees", 0), profile.get("rd_staff", 0)
    if rd_staff > employees and "rd_staff" not in err:
        err["rd_staff"] = _("R&D staff cannot be more than the employees.")
    if text.get("uscc"):
        try:
            validate_uscc(text["uscc"])
        except UsccError:
            err["uscc"] = _(USCC_PROBLEM)
    if not err:
        try:
            ans.profile = parse_firm(profile).model_dump(mode="json")
        except ProfileError as exc:
            for p in exc.problems:
                name = re.sub(r"^(\w+)\[(\d{4})\]$", r"\1.\2", p.path) or "profile"
                err.setdefault(name, _problem(p.message))
    return ans


_REQUIRED_IN_ROW = {
    "contracts": ("kind", "value", "signed"),
    "offices": ("area_m2", "rent_per_m2_day", "tenure"),
    "incentives": ("programme", "amount", "date"),
    "credit_events": ("date", "kind"),
}


# -- what a firm is shown of a check ----------------------------------------------------------------------
#: A rule's expression where a label should be: ``any(c.kind == "model_use" for c in firm.contracts ...)``.
FORMULA = re.compile(r"==|!=|\bfor \w+ in\b|\b(?:any|all|sum|min|max|count)\(|\bfirm\.\w")
#: What a firm reads instead of a formula that does not hold, by the profile's list the formula looks into.
_NOTHING_STATED = (
    ("firm.contracts", N_("no contract in the profile meets this condition")),
    ("firm.offices", N_("no office in the profile meets this condition")),
    ("firm.designations", N_("no recognition in the profile meets this condition")),
    ("firm.incentives", N_("no incentive received in the profile meets this condition")),
    ("firm.credit_events", N_("no credit record in the profile meets this condition")),
)


def plain_gap(gap: str, lang: str) -> str:
    """A gap as a firm reads it: a rule's formula (``any(c.kind == ...): does not hold``) becomes what the
    profile lacks in words ("no contract in the profile meets this condition"); any other gap as it is."""
    words = WORDS[lang]
    for formula, negated in reversed(formulas_in(gap, words["does_not_hold"], words["must_not"])):
        text = gap[formula[0] : formula[1]]
        if not FORMULA.search(text):
            continue
        if negated:
            shown = _("the profile shows a case this condition excludes")
        else:
            shown = next(
                (_(t) for where, t in _NOTHING_STATED if where in text),
                _("the profile does not meet this condition"),
            )
        gap = gap[: formula[0]] + shown + gap[formula[1] :]
    return gap


def formulas_in(gap: str, does_not_hold: str, must_not: str) -> list[tuple[tuple[int, int], bool]]:
    """Where a gap says "<formula>: does not hold" or "must not hold: <formula>" (the span of the whole
    phrase, and whether it is the second kind), in order: the formula is the balanced text back to the
    separator before it (``;``, ``: ``, an unbalanced ``(``)."""
    found: list[tuple[tuple[int, int], bool]] = []
    tail = f": {does_not_hold}"
    for m in re.finditer(re.escape(tail), gap):
        i, depth = m.start(), 0
        while i > 0:
            ch = gap[i - 1]
            if ch == ")":
                depth += 1
            elif ch == "(":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (ch in ";；" or gap[i - 2 : i] == ": "):
                break
            i -= 1
        start = i + len(gap[i:]) - len(gap[i:].lstrip())
        if gap[:start].endswith(f"{must_not}: "):
            start -= len(f"{must_not}: ")
        found.append(((start, m.end()), False))
    head = f"{must_not}: "
    for m in re.finditer(re.escape(head), gap):
        end = gap.find(";", m.end())
        end = len(gap) if end < 0 else end
        if not any(a <= m.start() < b for (a, b), _neg in found):
            found.append(((m.start(), end), True))
    return sorted(found)


def plain_check(check: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """A check (``rules.explain.Check``) as a firm is shown it: no figure labelled by a formula, gaps in words
    (issue 14: rule formulas are for officers and the API, never for firms)."""
    return {
        **check,
        "reads": [r for r in check.get("reads", []) if not FORMULA.search(str(r.get("label", "")))],
        "gap": [plain_gap(g, lang) for g in check.get("gap", [])],
    }
