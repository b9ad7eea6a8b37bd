"""The public catalogue: every programme of every city, searched and filtered (text in zh or en, city,
sector, benefit, amount, status on a date), its list exported as CSV, and each programme's page (its
conditions beside their clauses, its versions and their dates)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from huiqi.app import catalogue as cat
from huiqi.app import lifecycle
from huiqi.app import programmes as use
from huiqi.web.i18n import N_, _, language
from huiqi.web.security import state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)

#: the kinds of benefit and the statuses, as the catalogue's labels (msgids translated in both catalogues)
BENEFIT_LABELS = (N_("designation"), N_("grant"), N_("rent_subsidy"), N_("voucher"), N_("award"))
STATUS_LABELS = (N_("all"), N_("current"), N_("in-force"), N_("upcoming"), N_("ended"), N_("withdrawn"))


@dataclass(frozen=True)
class Filters:
    """The catalogue's form as sent: the text typed, and the use case's arguments when they parse."""

    form: dict[str, str]
    args: dict[str, object]
    problems: tuple[str, ...]


def city_label(key: str) -> str:
    """A city pack's name in the page's language (the pack key for a pack that is not one of the five)."""
    en, zh = cat.CITY_NAMES.get(key, (key, key))
    return zh if language() == "zh" else en


def read_filters(request: Request) -> Filters:
    """The filters of the query string, each wrong one named with what is expected (never a 500)."""
    q = request.query_params
    form = {k: q.get(k, "").strip() for k in ("q", "city", "sector", "benefit", "min_amount", "status", "on")}
    form["status"] = form["status"] or "current"
    problems: list[str] = []
    args: dict[str, object] = {"q": form["q"][:200], "status": form["status"]}
    if form["status"] not in cat.STATUS_FILTERS:
        problems.append(_("Status: expected one of in force, upcoming, ended, withdrawn, current or all."))
    named = {"city": _("City"), "benefit": _("Benefit"), "sector": _("Sector")}
    for key, allowed in (("city", cat.CITY_KEYS), ("benefit", cat.BENEFITS), ("sector", cat.SECTOR_KEYS)):
        if form[key] and form[key] not in allowed:
            wrong = {"field": named[key], "value": form[key]}
            problems.append(_("%(field)s: %(value)s is not one of those offered.") % wrong)
        args[key] = form[key] or None
    try:
        args["min_amount"] = cat.min_amount_of(form["min_amount"])
    except cat.CatalogueQueryError:
        problems.append(_("Amount: expected a number of yuan like 1000000."))
    if form["on"]:
        try:
            args["on"] = dt.date.fromisoformat(form["on"])
        except ValueError:
            problems.append(_("Date: expected a date like 2025-12-01."))
    return Filters(form, args, tuple(problems))


def _search(request: Request) -> tuple[Filters, cat.CatalogueSearch | None]:
    filters = read_filters(request)
    if filters.problems:
        return filters, None
    found = cat.search_programmes(state_of(request).registry, lang=language(), **filters.args)  # type: ignore[arg-type]
    return filters, found


@router.get("/programmes")
def programmes_page(request: Request) -> Response:
    """The catalogue of programmes, searched and filtered, so a firm finds what it may apply for."""
    filters, found = _search(request)
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "results"
    context = {
        "found": found,
        "form": filters.form,
        "problems": filters.problems,
        "query": request.url.query,
        "cities": [(c, city_label(c)) for c in cat.CITY_KEYS],
        "benefits": cat.BENEFITS,
        "sectors": cat.SECTOR_KEYS,
        "statuses": cat.STATUS_FILTERS,
        "city_label": city_label,
    }
    template = "catalogue_results.html" if fragment else "programmes.html"
    return render(request, template, context, status=422 if filters.problems else 200)


@router.get("/programmes.csv")
def programmes_csv(request: Request) -> Response:
    """The catalogue's list as filtered, as CSV for a spreadsheet."""
    filters, found = _search(request)
    if found is None:
        return Response("\n".join(filters.problems) + "\n", status_code=422, media_type="text/plain")
    body = "\ufeff" + cat.catalogue_csv(found)  # the BOM: spreadsheets then read the Chinese names as UTF-8
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="programmes.csv"'},
    )


@router.get("/programmes/{programme_id}")
def programme_page(programme_id: str, request: Request, version: str | None = None) -> Response:
    """One programme as a document, so a firm reads each condition beside its clause."""
    st = state_of(request)
    doc = use.show_programme(st.registry, programme_id=programme_id, version=version, lang=language())
    life: dict[str, lifecycle.DraftView] = {}
    for d in lifecycle.list_drafts(st.store, programme_id=programme_id):  # newest first
        if d.status in ("published", "withdrawn"):
            life.setdefault(d.version, d)
    city = city_label(programme_id.split(".", 1)[0])
    return render(request, "programme.html", {"doc": doc, "city": city, "life": life})
