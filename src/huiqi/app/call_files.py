"""Where a designation call's file comes from for the review and selection use cases: the file given (the
CLI's ``--call-file``) or the one an officer uploaded, kept with the call (``web_call_files``)."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from huiqi.accounts.models import CallFileText
from huiqi.applications import service as apps
from huiqi.selection.callfile import CallFile, parse_call_file
from huiqi.selection.errors import CallFileMismatch, CallFileMissing


def parse(text: str, call_id: str) -> CallFile:
    """The call file's text, validated (every problem at line:column) and checked to be this call's."""
    cf = parse_call_file(text, path=f"call file of {call_id}")
    if cf.call != call_id:
        raise CallFileMismatch(call_id, cf.call)
    return cf


def stored(session: Session, call_id: str) -> CallFileText | None:
    """The uploaded call file's row, if any."""
    return session.get(CallFileText, call_id)


def for_call(session: Session, call_id: str, given: CallFile | None = None) -> CallFile:
    """The call file to use: the one given, else the uploaded one (refused when there is none)."""
    if given is not None:
        return given
    row = stored(session, call_id)
    if row is None:
        apps.get_call(session=session, call_id=call_id)  # an unknown call is a 404, not a missing file
        raise CallFileMissing(call_id)
    return parse(row.text, call_id)


def for_application(session: Session, application_id: str, given: CallFile | None = None) -> CallFile:
    """The call file of the call an application belongs to."""
    if given is not None:
        return given
    app = apps.get_application(session=session, application_id=application_id)
    return for_call(session, app.call_id)


def keep(session: Session, call_id: str, text: str, actor: str) -> CallFileText:
    """Keep (or replace) the call's file text with its digest and who uploaded it."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    row = stored(session, call_id)
    if row is None:
        row = CallFileText(call_id=call_id, text=text, sha256=digest, uploaded_by=actor)
        session.add(row)
    else:
        row.text, row.sha256, row.uploaded_by = text, digest, actor
    session.flush()
    return row
