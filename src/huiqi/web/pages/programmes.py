"""The officer's programmes page: the programmes in force, validating a programme file and loading one
(the same use cases as ``/api/v1/programmes``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from huiqi.app import programmes as use
from huiqi.rules.errors import ProgrammeError
from huiqi.web.api.common import actor
from huiqi.web.i18n import _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/officer/programmes")
def programmes_admin(request: Request) -> Response:
    return _programmes_page(request, None)


def _programmes_page(request: Request, result: dict[str, Any] | None) -> Response:
    """The programmes in force, with the outcome of a validation or a load when there was one."""
    return render(
        request,
        "officer_programmes.html",
        {"programmes": use.list_programmes(state_of(request).registry, lang=language()), "result": result},
        status=422 if result is not None and not result["ok"] else 200,
    )


def _accepted(message: str) -> dict[str, Any]:
    return {"ok": True, "message": message, "problems": []}


def _refused(exc: ProgrammeError) -> dict[str, Any]:
    return {
        "ok": False,
        "message": _("The file was refused; nothing was loaded."),
        "problems": [str(pr) for pr in exc.problems],
    }


async def _upload(file: UploadFile) -> use.ProgrammeUpload:
    raw = await file.read(1_000_001)
    try:
        return use.ProgrammeUpload(file.filename or "upload.programme.yaml", raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProgrammeError([]) from None


@router.post("/officer/programmes/validate")
async def programme_validate(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    try:
        upload = await _upload(file)
        (checked,) = use.validate_programmes(state_of(request).registry, uploads=[upload], lang=language())
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    p = checked.programme
    message = _("%(id)s version %(version)s is valid.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))


@router.post("/officer/programmes/load")
async def programme_load(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    st = state_of(request)
    try:
        upload = await _upload(file)
        p = use.load_programme(
            st.store,
            registry=st.registry,
            filename=upload.filename,
            text=upload.text,
            actor=actor(principal_of(request)),
            lang=language(),
        )
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    message = _("%(id)s version %(version)s is now in force.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))
