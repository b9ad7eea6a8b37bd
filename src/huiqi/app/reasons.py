"""The one renderer of the reasons in an application's history (issue 14): a stored code and its data
(``huiqi.applications.reasons``) become words in the reader's language, for the pages and the CLI alike.

Each code is shown through a Babel msgid (its English, with named placeholders; the web's catalogues hold
the Chinese). Figures and ids are kept; a stored key (a sector, a district) is shown with its catalogue
label; a nested reason is rendered in the same language; a person's words are shown as typed. A failed
condition of a "not eligible" reason is shown by its plain label and its gaps in the reader's language,
never by a rule's formula (``gap`` turns a formula's gap into words: the web passes its ``plain_gap``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from huiqi.applications.reasons import (
    AND,
    ENGLISH,
    NOT_ELIGIBLE,
    TEXT,
    Values,
    is_reason,
)
from huiqi.money import MoneyError, format_yuan

#: Every code the system writes.
CODES = (*ENGLISH, AND)
#: Between reasons (and failed conditions) shown one after the other, by language.
JOINS = {"zh": "；", "en": "; "}
#: Between the items of a list (condition ids), by language.
LIST_JOINS = {"zh": "、", "en": ", "}
#: Where a page's words differ from the system's English (the msgids of the shapes web/reasons.py keeps).
_SHOWN_AS = {
    "created": "application created",
    "grant": "grant awarded",
    NOT_ELIGIBLE: "not eligible: %(conditions)s",
}
#: The msgid each code is shown through (``TEXT`` and ``AND`` are not translated: words as typed, joins).
MSGIDS: dict[str, str] = {
    code: _SHOWN_AS.get(code, english) for code, english in ENGLISH.items() if code != TEXT
}
#: One failed condition of a "not eligible" reason: its plain label and what the firm lacks.
CONDITION_WITH_GAP = "%(label)s (gap: %(gap)s)"
#: Arguments that are stored keys (``artificial_intelligence``): shown with their catalogue label.
LABELLED = frozenset({"sector", "district"})
#: Arguments that are amounts in yuan (``150000.00``): a page shows them grouped (``150,000.00``).
AMOUNTS = frozenset({"amount", "remaining"})

Translate = Callable[[str], str]
Gap = Callable[[str, str], str]


def _as_is(text: str) -> str:
    return text


def grouped(amount: str) -> str:
    """An amount as the pages show money, grouped to the fen (``150,000.00``) in either language, so a
    history reads like the rest of the page; anything that is no amount (``None``) as it is."""
    try:
        return format_yuan(Decimal(amount), unit=False)
    except (ArithmeticError, ValueError, MoneyError):
        return amount


def _plain(gap: str, lang: str) -> str:
    del lang
    return gap


def render(
    code: str,
    args: Mapping[str, Any],
    *,
    lang: str = "en",
    gettext: Translate = _as_is,
    gap: Gap = _plain,
    amount: Translate = _as_is,
) -> str:
    """A stored reason (code and data) in ``lang``, through ``gettext`` (the page's catalogue; the CLI's
    English is the msgids as they are), its amounts through ``amount`` (pages: ``grouped``; the CLI: the
    stored words)."""
    if code == TEXT:
        return str(args.get("text", ""))
    join = JOINS.get(lang, "; ")
    if code == AND:
        return join.join(
            render(str(p["code"]), p.get("args") or {}, lang=lang, gettext=gettext, gap=gap, amount=amount)
            for p in args.get("parts", [])
        )
    if code == NOT_ELIGIBLE and not args.get("failed"):
        return gettext(ENGLISH[NOT_ELIGIBLE])
    msgid = MSGIDS.get(code)
    if msgid is None:  # a code this version does not know: its data's words, never an error on a page
        return str(args.get("text") or code)
    values: dict[str, str] = {}
    for name, value in args.items():
        if is_reason(value):
            values[name] = render(
                str(value["code"]), value["args"] or {}, lang=lang, gettext=gettext, gap=gap, amount=amount
            )
        elif name == "failed" and code == NOT_ELIGIBLE:
            values["conditions"] = join.join(_condition(c, lang, gettext, gap) for c in value)
        elif isinstance(value, list):
            values[name] = LIST_JOINS.get(lang, ", ").join(str(v) for v in value)
        elif name in LABELLED and value is not None:
            values[name] = gettext(str(value))
        elif name in AMOUNTS:
            values[name] = amount(str(value))
        else:
            values[name] = str(value)
    return gettext(msgid) % Values(values)


def _condition(failed: Mapping[str, Any], lang: str, gettext: Translate, gap: Gap) -> str:
    """A failed condition by its label in ``lang`` (English, then its id, when the verdict had no such
    language) and its gaps in words."""
    labels = failed.get("label") or {}
    label = str(labels.get(lang) or labels.get("en") or failed.get("id", ""))
    gaps = (failed.get("gap") or {}).get(lang) or []
    if not gaps:
        return label
    words = JOINS.get(lang, "; ").join(gap(str(g), lang) for g in gaps)
    return gettext(CONDITION_WITH_GAP) % Values(label=label, gap=words)


def shown(
    code: str | None,
    args: Mapping[str, Any] | None,
    *,
    lang: str = "en",
    gettext: Translate = _as_is,
    gap: Gap = _plain,
    amount: Translate = _as_is,
) -> str | None:
    """An event's reason in ``lang``; None for a row stored before codes existed (its words are all there
    is: the caller shows them, or its own translation of them)."""
    if code is None:
        return None
    return render(code, args or {}, lang=lang, gettext=gettext, gap=gap, amount=amount)
