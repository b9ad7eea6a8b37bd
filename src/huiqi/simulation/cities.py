"""The five-city comparison: one firm's plan evaluated as if the firm were registered in each city.

The profile has no "planned spending" of its own; the plan is read from it (docs/simulation.md):

- the planned compute, model and corpus spending is the profile's ``contracts`` (every contract, at its value;
  its kind, term, signing date, seller and ``claimed`` flag as written), and the planned office is its
  ``offices``, each costing area x rent per m2 per day x 365 days for a year (an owned office at its assessed
  rent, as the profile defines ``rent_per_m2_day``);
- for each city the firm is the same firm registered there: ``registration_city`` becomes the city and the
  districts of the firm and of its offices are cleared (they name the home city's districts); everything
  else - size, sector, dates, designations, incentives, credit file - stays as it is;
- the city's subsidies are the amounts of every programme of that city's pack for that firm on the date;
  the net cost is the planned spending less the subsidies. A once-off grant counts in full, an annual benefit
  for one year; nothing is discounted.

``compare_cities`` is what the CLI and the web page call.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from huiqi.firms.profile import Firm
from huiqi.money import format_yuan, quantize_fen
from huiqi.rules.evaluator import Engine, Result
from huiqi.rules.explain import explain, render_text
from huiqi.rules.programme import Programme

ZERO = Decimal("0.00")
DAYS_PER_YEAR = 365
CATEGORIES = ("compute", "model", "corpus", "office", "other")

#: the comparison's fixed words in Chinese (``lang="zh"``: the terminal's table and the HTML page)
ZH = {
    "{name} ({uscc}) - plan for one year, as of {on}": "{name}（{uscc}）一年计划，截至 {on}",
    "planned spending": "计划支出",
    "planned spending (one year)": "计划支出（一年）",
    "compute": "算力",
    "model": "模型",
    "corpus": "语料",
    "office": "办公用房",
    "other": "其他",
    "total": "合计",
    "subsidies": "补贴",
    "net cost": "净成本",
    "Lowest net cost: {city} ({amount} yuan).": "净成本最低：{city}（{amount}元）。",
    "{programme} — {name}: not eligible ({unmet})": "{programme} — {name}：不符合（{unmet}）",
    "Where does the plan cost least?": "计划在哪座城市成本最低？",
    "City comparison": "城市比较",
    "{name} ({uscc}), as of {on}. The plan is the profile's contracts and offices for one year, evaluated as "
    "if the firm were registered in each city (districts cleared); assumptions are marked in each "
    "explanation.": "{name}（{uscc}），截至 {on}。计划为企业档案中一年的合同与办公用房，按企业注册于各城市"
    "分别评估（区已清除）；各项说明中标明了假设。",
}


def say(text: str, lang: str, **values: object) -> str:
    """The comparison's fixed words in the reader's language, its blanks filled in, so ``--lang zh`` reads
    in Chinese around the programmes' own text."""
    said = ZH.get(text, text) if lang == "zh" else text
    return said.format(**values) if values else said


def ljust_columns(text: str, width: int, right: bool = False) -> str:
    """``text`` filled to ``width`` terminal columns (a Chinese character takes two), so columns line up."""
    fill = " " * max(width - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text), 0)
    return fill + text if right else text + fill


CONTRACT_CATEGORY = {
    "compute_rental": "compute",
    "compute_purchase": "compute",
    "compute_selfbuild": "compute",
    "model_use": "model",
    "corpus_purchase": "corpus",
}


@dataclass(frozen=True)
class City:
    key: str  # the pack's name and the first part of its programme ids
    name: str  # as the profile's registration_city spells it
    zh: str


CITIES: tuple[City, ...] = (
    City("shanghai", "Shanghai", "上海"),
    City("beijing", "Beijing", "北京"),
    City("shenzhen", "Shenzhen", "深圳"),
    City("hangzhou", "Hangzhou", "杭州"),
    City("chengdu", "Chengdu", "成都"),
)


def category(programme: Programme) -> str:
    """Which planned spending a programme pays towards, from its id (``*.compute-voucher`` -> compute)."""
    pid = programme.id
    for cat in ("compute", "model", "corpus"):
        if f"{cat}-" in pid.rsplit(".", 1)[-1]:
            return cat
    return "office" if "rent" in pid else "other"


def as_registered_in(firm: Firm, city: City) -> Firm:
    """The same firm registered in another city (see the module docstring)."""
    if firm.registration_city == city.name:
        return firm
    offices = tuple(o.model_copy(update={"district": None}) for o in firm.offices)
    return firm.model_copy(update={"registration_city": city.name, "district": None, "offices": offices})


def planned_spending(firm: Firm) -> dict[str, Decimal]:
    """A year of the plan by category: contracts at their value, offices at area x rent x 365."""
    out = dict.fromkeys(CATEGORIES, ZERO)
    for c in firm.contracts:
        out[CONTRACT_CATEGORY[c.kind]] += c.value
    for o in firm.offices:
        out["office"] += quantize_fen(o.area_m2 * o.rent_per_m2_day * DAYS_PER_YEAR)
    return out


@dataclass
class Subsidy:
    programme: str
    name: str
    category: str
    eligible: bool
    amount: Decimal
    unmet: list[str]
    result: Result
    name_zh: str = ""

    def name_in(self, lang: str) -> str:
        """The programme's name in ``lang`` (its English when no Chinese is known)."""
        return self.name_zh if lang == "zh" and self.name_zh else self.name


@dataclass
class CityResult:
    city: City
    spending: dict[str, Decimal]
    subsidies: list[Subsidy]

    @property
    def subsidy_by_category(self) -> dict[str, Decimal]:
        out = dict.fromkeys(CATEGORIES, ZERO)
        for s in self.subsidies:
            out[s.category] += s.amount
        return out

    @property
    def total_subsidy(self) -> Decimal:
        return sum((s.amount for s in self.subsidies), ZERO)

    @property
    def total_spending(self) -> Decimal:
        return sum(self.spending.values(), ZERO)

    @property
    def net_cost(self) -> Decimal:
        return self.total_spending - self.total_subsidy


@dataclass
class CityComparison:
    firm: Firm
    on: dt.date
    cities: list[CityResult] = field(default_factory=list)

    def cheapest(self) -> CityResult:
        return min(self.cities, key=lambda c: (c.net_cost, c.city.key))

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        return {
            "firm": {
                "uscc": self.firm.uscc,
                "name": self.firm.name_zh if lang == "zh" else (self.firm.name_en or self.firm.name_zh),
            },
            "date": self.on.isoformat(),
            "plan": "the profile's contracts and offices, for one year, as if registered in each city",
            "cheapest": self.cheapest().city.key,
            "cities": [
                {
                    "city": c.city.key,
                    "name": c.city.zh if lang == "zh" else c.city.name,
                    "spending": {k: str(v) for k, v in c.spending.items()},
                    "spending_total": str(c.total_spending),
                    "subsidies": [
                        {
                            "programme": s.programme,
                            "name": s.name_in(lang),
                            "category": s.category,
                            "eligible": s.eligible,
                            "amount": str(s.amount),
                            "unmet": s.unmet,
                            "explanation": explain(s.result, lang),
                        }
                        for s in c.subsidies
                    ],
                    "subsidy_by_category": {k: str(v) for k, v in c.subsidy_by_category.items()},
                    "subsidy_total": str(c.total_subsidy),
                    "net_cost": str(c.net_cost),
                }
                for c in self.cities
            ],
        }


def compare_cities(
    firm: Firm,
    on: dt.date,
    programmes: Mapping[str, Programme] | None = None,
    cities: tuple[City, ...] = CITIES,
) -> CityComparison:
    """Evaluate the firm's plan in each city (all bundled packs unless ``programmes`` is given)."""
    if programmes is None:
        from huiqi.rules.loader import load_pack

        programmes = load_pack()
    out = CityComparison(firm, on)
    spending = planned_spending(firm)
    for city in cities:
        moved = as_registered_in(firm, city)
        engine = Engine(programmes, moved, on)
        subsidies = []
        for pid in sorted(p for p in programmes if p.split(".")[0] == city.key):
            result = engine.evaluate(pid)
            prog = programmes[pid]
            if prog.spec.benefit == "designation":
                continue  # a designation pays nothing itself; the benefits that need it are listed
            subsidies.append(
                Subsidy(
                    pid,
                    prog.spec.name.en,
                    category(prog),
                    result.eligible,
                    result.amount,
                    result.unmet,
                    result,
                    prog.spec.name.zh,
                )
            )
        out.cities.append(CityResult(city, dict(spending), subsidies))
    return out


def render_comparison(comp: CityComparison, *, lang: str = "en", explanations: bool = True) -> str:
    """The side-by-side table, then each city's explanations."""
    names = [c.city.zh if lang == "zh" else c.city.name for c in comp.cities]
    width = max(16, *(len(n) + 2 for n in names))
    label_w = 26

    def row(label: str, values: list[str]) -> str:
        """A label (its words in ``lang``, indented by its leading spaces) and the cities' figures."""
        shown = label[: len(label) - len(label.lstrip())] + say(label.strip(), lang) if label else ""
        return ljust_columns(shown, label_w) + "".join(ljust_columns(v, width, right=True) for v in values)

    def money(v: Decimal) -> str:
        return format_yuan(v, lang=lang, unit=False)

    firm = comp.firm
    lines = [
        say(
            "{name} ({uscc}) - plan for one year, as of {on}",
            lang,
            name=firm.name_zh if lang == "zh" else (firm.name_en or firm.name_zh),
            uscc=firm.uscc,
            on=comp.on,
        ),
        "",
        row("", names),
        say("planned spending", lang),
    ]
    for cat in ("compute", "model", "corpus", "office"):
        lines.append(row(f"  {cat}", [money(c.spending[cat]) for c in comp.cities]))
    lines.append(row("  total", [money(c.total_spending) for c in comp.cities]))
    lines.append(say("subsidies", lang))
    for cat in CATEGORIES:
        values = [c.subsidy_by_category[cat] for c in comp.cities]
        if any(values):
            lines.append(row(f"  {cat}", [money(v) for v in values]))
    lines.append(row("  total", [money(c.total_subsidy) for c in comp.cities]))
    lines.append(row("net cost", [money(c.net_cost) for c in comp.cities]))
    best = comp.cheapest()
    city = best.city.zh if lang == "zh" else best.city.name
    lines += [
        "",
        say("Lowest net cost: {city} ({amount} yuan).", lang, city=city, amount=money(best.net_cost)),
    ]
    if not explanations:
        return "\n".join(lines)
    for c in comp.cities:
        heading = c.city.zh if lang == "zh" else f"{c.city.name} {c.city.zh}"
        lines += ["", f"== {heading} " + "=" * 60]
        for s in c.subsidies:
            if s.eligible or s.category in ("compute", "model", "corpus"):
                lines.append(render_text(s.result, lang))
            else:
                unmet = ", ".join(s.unmet)
                lines.append(
                    say(
                        "{programme} — {name}: not eligible ({unmet})",
                        lang,
                        programme=s.programme,
                        name=s.name_in(lang),
                        unmet=unmet,
                    )
                )
    return "\n".join(lines)
