"""The public catalogue: every programme of every city, searched and filtered, and each programme's page
(its conditions beside their clauses, its versions and their dates)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from huiqi.app import programmes as use
from huiqi.web.i18n import language
from huiqi.web.security import state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/programmes")
def programmes_page(request: Request) -> Response:
    """The catalogue of programmes, so a firm finds what it may apply for."""
    programmes = use.list_programmes(state_of(request).registry, lang=language())
    return render(request, "programmes.html", {"programmes": programmes})


@router.get("/programmes/{programme_id}")
def programme_page(programme_id: str, request: Request, version: str | None = None) -> Response:
    """One programme as a document, so a firm reads each condition beside its clause."""
    doc = use.show_programme(
        state_of(request).registry, programme_id=programme_id, version=version, lang=language()
    )
    return render(request, "programme.html", {"doc": doc})
