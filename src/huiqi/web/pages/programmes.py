"""The officer's programmes page: the programmes in force, validating a programme file and loading one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from huiqi.rules.errors import ProgrammeError
from huiqi.web.api.programmes import load_recorded
from huiqi.web.i18n import _, language
from huiqi.web.programmes import programme_summary
from huiqi.web.security import state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/officer/programmes")
def programmes_admin(request: Request) -> Response:
    return _programmes_page(request, None)


def _programmes_page(request: Request, result: dict[str, Any] | None) -> Response:
    """The programmes in force, with the outcome of a validation or a load when there was one."""
    progs = state_of(request).registry.programmes()
    return render(
        request,
        "officer_programmes.html",
        {
            "programmes": [programme_summary(p, language()) for _, p in sorted(progs.items())],
            "result": result,
        },
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


async def _upload_text(file: UploadFile) -> tuple[str, str]:
    raw = await file.read(1_000_001)
    try:
        return file.filename or "upload.programme.yaml", raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProgrammeError([]) from None


@router.post("/officer/programmes/validate")
async def programme_validate(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    name, text = await _upload_text(file)
    try:
        p = state_of(request).registry.validate(name, text)
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    message = _("%(id)s version %(version)s is valid.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))


@router.post("/officer/programmes/load")
async def programme_load(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    name, text = await _upload_text(file)
    try:
        p = load_recorded(request, name, text).programme
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    message = _("%(id)s version %(version)s is now in force.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))
