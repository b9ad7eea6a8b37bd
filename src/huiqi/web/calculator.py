"""The policy calculator, shared by the API and the public page: a profile in, the verdicts of the programmes
that concern the firm out, with how much, why (each condition with its clause and the figures read) and what
is missing (the gaps).

Which programmes (the scope): by default those of the firm's registration city pack (``registration_city``
-> pack, e.g. Shanghai -> the programmes whose id starts with ``shanghai.``) that are in force on the date;
asked for every city (``?all=true``, the page's checkbox), every city's programmes in force on the date; a
list of ids, exactly those (in force or not: the explanation says so). A firm registered where no pack
exists gets an empty answer that says why, not another city's programmes.

The answer is JSON-ready data built once: the API serialises it once, the page renders the same data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

import orjson

from huiqi.firms import Firm, firm_from_data
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.programme import Programme
from huiqi.simulation.cities import CITIES
from huiqi.web.i18n import SHANGHAI

#: how a profile may spell each city (pack key, English and Chinese names, with or without 市) -> pack key
_CITY_PACK: dict[str, str] = {}
for _c in CITIES:
    for _name in (_c.key, _c.name, _c.zh, _c.zh + "市", _c.name + " city"):
        _CITY_PACK[_name.casefold()] = _c.key


def today_in_shanghai() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def pack_of(registration_city: str) -> str:
    """The pack (first part of its programme ids) of a registration city; the city itself, normalised, when
    it is not one of the five (an uploaded pack may carry it)."""
    name = registration_city.strip().casefold()
    return _CITY_PACK.get(name, name)


def in_force(programme: Programme, on: dt.date) -> bool:
    eff = programme.spec.effective
    return eff.start <= on and (eff.end is None or on <= eff.end)


@dataclass(frozen=True)
class Scope:
    """Which programmes were evaluated and why; ``not_in_force`` counts those left out for their dates."""

    pack: str | None  # None: every city
    ids: list[str]
    not_in_force: int
    explicit: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "all_cities": self.pack is None and not self.explicit,
            "pack": self.pack,
            "explicit": self.explicit,
            "programmes": len(self.ids),
            "not_in_force": self.not_in_force,
        }


def scope_of(
    programmes: Mapping[str, Programme],
    firm: Firm,
    on: dt.date,
    ids: list[str] | None = None,
    all_cities: bool = False,
) -> Scope:
    """The programmes the calculator evaluates (see the module docstring), in id order."""
    if ids is not None:
        return Scope(None, list(ids), 0, explicit=True)
    pack = None if all_cities else pack_of(firm.registration_city)
    candidates = [pid for pid in sorted(programmes) if pack is None or pid.startswith(pack + ".")]
    chosen = [pid for pid in candidates if in_force(programmes[pid], on)]
    return Scope(pack, chosen, len(candidates) - len(chosen))


def calculate(
    programmes: Mapping[str, Programme],
    firm: Firm,
    on: dt.date,
    ids: list[str] | None = None,
    lang: str = "en",
    scope: Scope | None = None,
) -> dict[str, Any]:
    """The answer for one firm on one date: each programme's verdict, amount and explanation (built once a
    result), the eligible count and the total. With a ``scope`` (the calculator's), its programmes and a
    ``scope`` entry; without, ``ids`` or every programme (the firm pages' inbox)."""
    if scope is not None:
        ids = scope.ids
    results = evaluate(programmes, firm, on, ids)
    out = []
    for r in results:
        explanation = explain(r, lang)
        out.append(
            {
                "programme": r.programme.id,
                "version": r.programme.version,
                "eligible": r.eligible,
                "amount": explanation["amount"],
                "unmet": r.unmet,
                "explanation": explanation,
            }
        )
    total = sum((r.amount for r in results if r.eligible), start=Decimal(0))
    answer: dict[str, Any] = {
        "firm": {
            "uscc": firm.uscc,
            "name_zh": firm.name_zh,
            "name_en": firm.name_en,
            "registration_city": firm.registration_city,
        },
        "date": on.isoformat(),
        "eligible_count": sum(1 for r in results if r.eligible),
        "total": str(total),
        "results": out,
    }
    if scope is not None:
        answer["scope"] = scope.to_json()
    return answer


def to_json_bytes(answer: Mapping[str, Any]) -> bytes:
    """The answer as compact UTF-8 JSON, in one pass (orjson, in C): the data is already JSON-ready (strings
    for amounts and dates), so FastAPI's generic encoder, which walks every value of the explanations
    again, is skipped. A Decimal or float that slipped in is refused, never written as a float."""
    return orjson.dumps(answer)


def parse_firm(data: Any, source: str = "firm") -> Firm:
    return firm_from_data(data, source=source)


def warm_up(programmes: Mapping[str, Programme], on: dt.date | None = None) -> int:
    """Answer the bundled example profiles once, in both languages and for every city, so that what the
    evaluator and the explanations work out once an expression is done before the first visitor; returns
    how many answers that took."""
    on = on or today_in_shanghai()
    examples = resources.files("huiqi.firms").joinpath("examples")
    done = 0
    for entry in sorted(examples.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        firm = parse_firm(orjson.loads(entry.read_bytes()), source=entry.name)
        scope = scope_of(programmes, firm, on, None, all_cities=True)
        for lang in ("en", "zh"):
            to_json_bytes(calculate(programmes, firm, on, lang=lang, scope=scope))
            done += 1
    return done
