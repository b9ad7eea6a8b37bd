"""Issue, verify and revoke certificates. Services flush and never commit.

Verification answers one of: ``valid``; ``altered`` with what was altered (content fields that differ
from what was issued, or the byte offsets where the file differs); ``revoked`` with when and why; or
``unknown`` (not a certificate this system issued, or signed by a key it does not trust).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.certificates import pdf
from huiqi.certificates.errors import AlreadyRevoked, CertificateNotFound
from huiqi.certificates.keys import CertificateSettings, SigningKey
from huiqi.certificates.models import Certificate, CertificateKey, Revocation
from huiqi.db.types import utcnow


def _register_key(session: Session, key: SigningKey) -> None:
    if session.get(CertificateKey, key.key_id) is None:
        session.add(CertificateKey(key_id=key.key_id, public_key=key.public_hex, created_at=utcnow()))
        session.flush()


def next_serial(session: Session, prefix: str) -> str:
    count = session.scalar(
        select(func.count()).select_from(Certificate).where(Certificate.serial.like(f"{prefix}-%"))
    )
    return f"{prefix}-{int(count or 0) + 1:04d}"


def issue(
    *,
    session: Session,
    serial: str,
    subject: str,
    content: dict[str, Any],
    key: SigningKey,
    actor: str,
    settings: CertificateSettings | None = None,
) -> Certificate:
    """Sign ``content`` (firm, programme, batch, sector, date, issuer) and render the PDF.

    ``content`` needs ``firm`` {name_zh, name_en, uscc}, ``programme`` {id, name_zh, name_en}, ``batch``
    {zh, en}, ``sector`` {zh, en}, ``date`` and ``issuer`` {zh, en}; the serial, key id and verification
    address are added here.
    """
    settings = settings or CertificateSettings()
    _register_key(session, key)
    payload = {
        **content,
        "serial": serial,
        "key_id": key.key_id,
        "verify_url": settings.verify_url.format(serial=serial),
    }
    payload_sig = key.private.sign(pdf.canonical(payload))
    body = pdf.render(payload, payload_sig)
    data = body + pdf.signature_line(serial, key.key_id, key.private.sign(body))
    cert = Certificate(
        serial=serial,
        firm_uscc=str(content["firm"]["uscc"]),
        subject=subject,
        payload=payload,
        payload_signature=payload_sig.hex(),
        key_id=key.key_id,
        file_sha256=hashlib.sha256(data).hexdigest(),
        pdf=data,
        issued_at=utcnow(),
    )
    session.add(cert)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"certificate:{serial}",
        action="issued",
        payload={"subject": subject, "file_sha256": cert.file_sha256, "key_id": key.key_id},
    )
    return cert


def get(*, session: Session, serial: str) -> Certificate:
    cert = session.get(Certificate, serial)
    if cert is None:
        raise CertificateNotFound(serial)
    return cert


def of_subject(*, session: Session, subject: str) -> list[Certificate]:
    return list(session.scalars(select(Certificate).where(Certificate.subject == subject)))


def revoke(*, session: Session, serial: str, reason: str, actor: str) -> Revocation:
    get(session=session, serial=serial)
    if session.get(Revocation, serial) is not None:
        raise AlreadyRevoked(serial)
    row = Revocation(serial=serial, revoked_at=utcnow(), reason=reason, actor=actor)
    session.add(row)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"certificate:{serial}",
        action="revoked",
        payload={"reason": reason},
    )
    return row


@dataclass(frozen=True)
class Verification:
    status: str  # valid | altered | revoked | unknown
    serial: str | None
    findings: list[str] = field(default_factory=list)
    payload: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    def text(self) -> str:
        head = f"{self.status}" + (f": certificate {self.serial}" if self.serial else "")
        if self.status == "valid" and self.payload:
            firm = self.payload["firm"]
            head += f" for {firm['name_zh']} ({firm['uscc']}), {self.payload['programme']['name_en']}"
        return "\n".join([head, *(f"  - {f}" for f in self.findings)])


def _verifies(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
        return True
    except InvalidSignature:
        return False


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _diff_fields(issued: dict[str, Any], found: dict[str, Any]) -> list[str]:
    a, b = _flatten(issued), _flatten(found)
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"content field {k!r} reads {b.get(k)!r}; it was issued as {a.get(k)!r}")
    return out


def _diff_bytes(issued: bytes, found: bytes) -> str:
    n = min(len(issued), len(found))
    offsets = [i for i in range(n) if issued[i] != found[i]]
    parts = []
    if offsets:
        shown = ", ".join(str(o) for o in offsets[:5]) + (" ..." if len(offsets) > 5 else "")
        parts.append(f"{len(offsets)} byte(s) differ from the issued file, at offset {shown}")
    if len(issued) != len(found):
        parts.append(f"the file is {len(found)} bytes, the issued one {len(issued)}")
    return "; ".join(parts) or "the file differs from the issued one"


def verify(*, session: Session, data: bytes) -> Verification:
    """Check a presented file against its signatures, the issued record and the revocation list."""
    cut = pdf.split(data)
    payload, payload_sig, unreadable = pdf.embedded(cut.body)
    serial = cut.serial or (str(payload.get("serial")) if payload else None)
    record = session.get(Certificate, serial) if serial else None
    findings: list[str] = []
    key_id = cut.key_id or (record.key_id if record else None)
    key_row = session.get(CertificateKey, key_id) if key_id else None
    if record is None and key_row is None:
        why = unreadable or "no certificate with this serial was issued here, and its key is not trusted"
        return Verification("unknown", serial, [why], payload)
    if key_row is None and record is not None:
        key_row = session.get(CertificateKey, record.key_id)
    if key_row is None:
        return Verification(
            "unknown", serial, [f"signed by key {key_id}, which is not trusted here"], payload
        )
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_row.public_key))
    if cut.signature is None:
        findings.append("the signature line after %%EOF is missing or damaged")
    elif not _verifies(public, cut.signature, cut.body):
        findings.append("the file's signature does not match its bytes")
    if unreadable:
        findings.append(unreadable)
    elif payload is not None and payload_sig is not None:
        if not _verifies(public, payload_sig, pdf.canonical(payload)):
            findings.append("the signed content does not match its signature")
        if record is not None:
            findings.extend(_diff_fields(record.payload, payload))
    if record is not None and data != record.pdf:
        findings.append(_diff_bytes(record.pdf, data))
    if findings:
        return Verification("altered", serial, findings, payload)
    if record is None:
        return Verification(
            "unknown", serial, ["signed by a trusted key, but not in this register of certificates"], payload
        )
    revoked = session.get(Revocation, record.serial)
    if revoked is not None:
        return Verification(
            "revoked",
            serial,
            [f"revoked on {revoked.revoked_at.date().isoformat()} by {revoked.actor}: {revoked.reason}"],
            payload,
        )
    return Verification("valid", serial, [], payload)
