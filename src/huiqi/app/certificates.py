"""Signed certificates of designation: a firm's own, a call's set, public verification, revocation and the
revocation list. Certificates are issued when a firm is designated (``huiqi.app.selection.select_and_award``
and the promotion in ``end_designation``); the signing key comes from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.certificates import service as certs
from huiqi.certificates.errors import CertificateNotFound
from huiqi.certificates.keys import from_seed, new_seed
from huiqi.certificates.models import Certificate, Revocation
from huiqi.selection import service as selection

#: The largest file verification reads: a certificate is far smaller.
MAX_PDF = 10 * 1024 * 1024


@dataclass(frozen=True)
class CertificateView:
    serial: str
    subject: str
    issued_at: str
    key_id: str
    revoked: bool


@dataclass(frozen=True)
class CertificateFile:
    """A certificate's signed PDF as issued."""

    serial: str
    pdf: bytes


@dataclass(frozen=True)
class VerificationView:
    """valid, altered (with what), revoked (when, why) or unknown; ``content`` is what the file says."""

    ok: bool
    status: str
    serial: str | None
    findings: list[str]
    text: str
    content: dict[str, Any] | None


@dataclass(frozen=True)
class RevocationView:
    serial: str
    reason: str
    revoked_at: str


@dataclass(frozen=True)
class CertificateRecord:
    """What the register holds for a serial (where a certificate's QR code points)."""

    serial: str
    content: dict[str, Any]
    issued_at: str
    revoked: RevocationView | None


@dataclass(frozen=True)
class NewKey:
    """A new signing key: the secret seed for HUIQI_CERTIFICATE_SIGNING_KEY and its public key id."""

    seed: str
    key_id: str


def revocation_of(s: Session, serial: str) -> RevocationView | None:
    r = s.get(Revocation, serial)
    return None if r is None else RevocationView(r.serial, r.reason, r.revoked_at.isoformat())


def view_of(s: Session, c: Certificate) -> CertificateView:
    return CertificateView(
        c.serial, c.subject, c.issued_at.isoformat(), c.key_id, s.get(Revocation, c.serial) is not None
    )


def firm_certificates(store: Store, *, uscc: str) -> list[CertificateView]:
    """The certificates issued to a firm, newest first, with whether each is revoked."""

    def work(s: Session) -> list[CertificateView]:
        q = select(Certificate).where(Certificate.firm_uscc == uscc).order_by(Certificate.issued_at.desc())
        return [view_of(s, c) for c in s.scalars(q)]

    return store.read(work)


def certificate_file(store: Store, *, serial: str, firm_uscc: str | None = None) -> CertificateFile:
    """A certificate's PDF; with ``firm_uscc``, only if it was issued to that firm (else not found)."""

    def work(s: Session) -> CertificateFile:
        c = certs.get(session=s, serial=serial)
        if firm_uscc is not None and c.firm_uscc != firm_uscc:
            raise CertificateNotFound(serial)
        return CertificateFile(c.serial, c.pdf)

    return store.read(work)


def call_certificates(store: Store, *, call_id: str) -> list[CertificateFile]:
    """Every certificate of a call's designations, ended ones too (refused before the call is selected)."""

    def work(s: Session) -> list[CertificateFile]:
        selection.get_run(session=s, call_id=call_id)
        return [
            CertificateFile(c.serial, c.pdf)
            for d in selection.designations_of(session=s, call_id=call_id, active_only=False)
            for c in certs.of_subject(session=s, subject=f"designation:{d.application_id}")
        ]

    return store.read(work)


def verify_certificate(store: Store, *, data: bytes) -> VerificationView:
    """Check a presented PDF against its signatures, the issued record and the revocation list."""

    def work(s: Session) -> VerificationView:
        r = certs.verify(session=s, data=data)
        return VerificationView(r.ok, r.status, r.serial, list(r.findings), r.text(), r.payload)

    return store.read(work)


def certificate_record(store: Store, *, serial: str) -> CertificateRecord:
    """To whom and for what a serial was issued, and whether it is revoked."""

    def work(s: Session) -> CertificateRecord:
        c = certs.get(session=s, serial=serial)
        return CertificateRecord(c.serial, c.payload, c.issued_at.isoformat(), revocation_of(s, serial))

    return store.read(work)


def revoke_certificate(store: Store, *, serial: str, reason: str, actor: str) -> RevocationView:
    """Put a certificate on the revocation list, with the reason (verification then answers revoked)."""

    def work(s: Session) -> RevocationView:
        r = certs.revoke(session=s, serial=serial, reason=reason, actor=actor)
        return RevocationView(r.serial, r.reason, r.revoked_at.isoformat())

    return store.write(work)


def revocation_list(store: Store) -> list[RevocationView]:
    """Every revoked certificate, newest first: what anyone relying on a certificate checks."""

    def work(s: Session) -> list[RevocationView]:
        q = select(Revocation).order_by(Revocation.revoked_at.desc(), Revocation.serial)
        return [RevocationView(r.serial, r.reason, r.revoked_at.isoformat()) for r in s.scalars(q)]

    return store.read(work)


def new_signing_key() -> NewKey:
    """A new Ed25519 signing key for the operator's configuration (never stored here)."""
    seed = new_seed()
    return NewKey(seed, from_seed(seed).key_id)
