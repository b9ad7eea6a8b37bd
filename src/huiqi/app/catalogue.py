"""The public catalogue: every version of every programme of every city, searched and filtered, once for the
CLI (``huiqi programmes list --q/--city/--sector/--benefit/--min-amount/--status``), the API
(``GET /api/v1/programmes?q=&city=&sector=&benefit=&min_amount=&status=``) and the catalogue page.

What each filter means (all optional, all must hold):

- ``q``: words that must each appear (case-folded) in the programme's id, its names, summaries and
  authority in both languages, its documents' titles and numbers, or its conditions' labels, so a search in
  Chinese or English finds the same programme whatever the page's language.
- ``city``: the pack (the first part of the id: shanghai, beijing, shenzhen, hangzhou, chengdu).
- ``sector``: programmes a firm of that sector may qualify for: those that name the sector in a list of
  sectors they are limited to, and those not limited to sectors at all.
- ``benefit``: the kind of benefit (designation, grant, rent_subsidy, voucher, award).
- ``min_amount``: programmes that may pay a firm at least this much: a stated cap per firm (a yuan
  parameter named ``max_...``) of at least the amount, or an amount without a stated cap; a programme that
  pays nothing itself (a designation) never. Written as yuan from 0 to under 10^15 with at most two
  decimals, its thousands optionally grouped by commas (``1000000``, ``1,000,000``, ``2500.50``; digits of
  any script, so a full-width ``１０`` is 10); blank is no minimum; anything else (``abc``, ``-1``,
  ``1e400``, ``1e3``, ``1000.005``) is refused naming the filter, alike by the API (422), the page and the
  CLI (``min_amount_of``, ``MIN_AMOUNT_PATTERN``).
- ``status`` on the date (default today): ``in-force``, ``upcoming``, ``ended``, ``withdrawn`` (taken out of
  force with a reason, still readable), ``current`` (in force or upcoming: what a firm can still apply for;
  ended and withdrawn versions are not current) or ``all`` (the default).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

from huiqi.app.programmes import ProgrammeSummary, today
from huiqi.app.registry import ProgrammeSource
from huiqi.firms.profile import Sector
from huiqi.rules.programme import Programme
from huiqi.rules.versions import Versions
from huiqi.simulation.cities import CITIES

#: the statuses a search may ask for
STATUS_FILTERS = ("all", "current", "in-force", "upcoming", "ended", "withdrawn")
#: the kinds of benefit (``rules.spec.Benefit``)
BENEFITS = ("designation", "grant", "rent_subsidy", "voucher", "award")
#: the city packs, in the order the catalogue offers them
CITY_KEYS = tuple(c.key for c in CITIES)
#: each city pack's name in English and in Chinese
CITY_NAMES: dict[str, tuple[str, str]] = {c.key: (c.name, c.zh) for c in CITIES}
#: the sectors of the firm profile's taxonomy, in its order
SECTOR_KEYS = tuple(s.value for s in Sector)
_SECTORS = frozenset(SECTOR_KEYS)
#: the same as types, for the adapters' parameters
StatusFilter = Literal["all", "current", "in-force", "upcoming", "ended", "withdrawn"]
BenefitKind = Literal["designation", "grant", "rent_subsidy", "voucher", "award"]
City = Literal["shanghai", "beijing", "shenzhen", "hangzhou", "chengdu"]


class CatalogueQueryError(ValueError):
    """A filter with a value the catalogue does not know (the message names the values it takes)."""


#: what ``min_amount`` takes (the API's schema states it): yuan below 10^15, at most two decimals, thousands
#: optionally grouped by commas; or blank
MIN_AMOUNT_PATTERN = r"^\s*((\d{1,15}|\d{1,3}(,\d{3}){1,4})(\.\d{1,2})?)?\s*$"
_MIN_AMOUNT = re.compile(MIN_AMOUNT_PATTERN)


def min_amount_of(text: object, *, what: str = "min_amount") -> Decimal | None:
    """The ``min_amount`` filter from what a person typed, read alike by the API, the page and the CLI so
    that the same text is the same filter (or the same refusal, naming ``what``) everywhere; blank: none."""
    if text is None or isinstance(text, Decimal):
        return text
    if not isinstance(text, str) or not _MIN_AMOUNT.fullmatch(text):
        raise CatalogueQueryError(
            f"{what}: expected yuan from 0 to 999,999,999,999,999.99 with at most two decimals "
            f"(e.g. 1000000 or 1,000,000), got {str(text)[:40]!r}"
        )
    digits = text.strip().replace(",", "")
    return Decimal(digits) if digits else None


@dataclass(frozen=True)
class CatalogueEntry(ProgrammeSummary):
    """A programme version in the catalogue: its summary (the keys of ``GET /api/v1/programmes``) with its
    city, the sectors it is limited to (empty: every sector) and its cap per firm on the date (None: no
    stated cap)."""

    city: str
    sectors: tuple[str, ...]
    max_amount: Decimal | None
    pays: bool


@dataclass(frozen=True)
class CatalogueSearch:
    """The outcome of a search: the entries found, how many there are of all, and the filters applied."""

    on: dt.date
    count: int
    total: int
    entries: tuple[CatalogueEntry, ...]
    q: str
    city: str | None
    sector: str | None
    benefit: str | None
    min_amount: Decimal | None
    status: str


def _sectors(p: Programme, on: dt.date) -> tuple[str, ...]:
    """The sectors a programme is limited to: the values of its list parameters made only of sectors."""
    found: list[str] = []
    for name, param in p.spec.parameters.items():
        if param.unit != "list":
            continue
        value, _i = p.params[name].at(on)
        items = [str(v) for v in value] if isinstance(value, (list, tuple)) else []
        if items and all(i in _SECTORS for i in items):
            found += [i for i in items if i not in found]
    return tuple(found)


def _cap(p: Programme, on: dt.date) -> Decimal | None:
    """The most a firm may receive as the file states it: its first yuan parameter named ``max_...``."""
    for name, param in p.spec.parameters.items():
        if param.unit == "yuan" and name.startswith("max_"):
            value, _i = p.params[name].at(on)
            return Decimal(value)
    return None


def _haystack(p: Programme) -> str:
    s = p.spec
    texts = [p.id, s.name.en, s.name.zh, s.authority.en, s.authority.zh]
    if s.summary:
        texts += [s.summary.en, s.summary.zh]
    for d in s.legal_basis:
        texts += [d.title.en, d.title.zh, d.number]
    for c in s.conditions:
        texts += [c.label.en, c.label.zh]
    return "\n".join(texts).casefold()


def entry_of(p: Programme, lang: str, versions: Versions, on: dt.date) -> CatalogueEntry:
    """A programme version as the catalogue lists it on a date."""
    summary = ProgrammeSummary.of(p, lang, versions, on)
    base = {f.name: getattr(summary, f.name) for f in fields(summary)}
    return CatalogueEntry(
        **base,
        city=p.id.split(".", 1)[0],
        sectors=_sectors(p, on),
        max_amount=_cap(p, on),
        pays=p.spec.amount is not None,
    )


def _status_holds(status: str, wanted: str) -> bool:
    if wanted == "all":
        return True
    if wanted == "current":
        return status in ("in-force", "upcoming")
    return status == wanted


def _check(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise CatalogueQueryError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


def search_programmes(
    programmes: ProgrammeSource,
    *,
    q: str = "",
    city: str | None = None,
    sector: str | None = None,
    benefit: str | None = None,
    min_amount: Decimal | None = None,
    status: str = "all",
    on: dt.date | None = None,
    lang: str = "en",
) -> CatalogueSearch:
    """Find the programmes a firm may look for, by text (zh or en), city, sector, benefit, amount and status
    on a date (see the module docstring); ``CatalogueQueryError`` names a filter value that is not known."""
    _check("status", status, STATUS_FILTERS)
    _check("benefit", benefit, BENEFITS)
    _check("sector", sector, SECTOR_KEYS)
    if min_amount is not None and (not min_amount.is_finite() or min_amount < 0):
        raise CatalogueQueryError(f"min_amount: {min_amount} is not an amount of at least 0 yuan")
    day = on or today()
    versions = programmes.programmes()
    words = q.casefold().split()
    city_key = city.strip().casefold() if city else None
    total = 0
    found: list[CatalogueEntry] = []
    for p in versions.every():
        total += 1
        if city_key and p.id.split(".", 1)[0] != city_key:
            continue
        if benefit and p.spec.benefit != benefit:
            continue
        if words:
            hay = _haystack(p)
            if not all(w in hay for w in words):
                continue
        e = entry_of(p, lang, versions, day)
        if not _status_holds(e.status, status):
            continue
        if sector and e.sectors and sector not in e.sectors:
            continue
        if min_amount is not None and not (e.pays and (e.max_amount is None or e.max_amount >= min_amount)):
            continue
        found.append(e)
    return CatalogueSearch(
        on=day,
        count=len(found),
        total=total,
        entries=tuple(found),
        q=q,
        city=city_key,
        sector=sector,
        benefit=benefit,
        min_amount=min_amount,
        status=status,
    )


#: the columns of the catalogue's CSV export
CSV_COLUMNS = (
    "id",
    "version",
    "name_zh",
    "name_en",
    "city",
    "benefit",
    "sectors",
    "max_amount",
    "effective_from",
    "effective_to",
    "status",
    "document",
    "authority",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    text = str(value)
    # a cell a spreadsheet would run as a formula is written as text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def catalogue_csv(found: CatalogueSearch) -> str:
    """The entries of a search as CSV (UTF-8 text, a header row, yuan as exact decimals), so a list can be
    taken into a spreadsheet; formula-like cells are written as text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in found.entries:
        writer.writerow([_cell(getattr(e, c)) for c in CSV_COLUMNS])
    return out.getvalue()
