"""Issued certificates (content, signature, the issued bytes), signing keys' public halves, revocations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base
from huiqi.db.types import UTCDateTime, utcnow


class CertificateKey(Base):
    """A public key that signed certificates; verification trusts only the keys listed here."""

    __tablename__ = "certificate_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # hex of the 32 raw bytes
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certificate(Base):
    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), index=True)
    #: What it certifies, e.g. ``designation:<application id>``.
    subject: Mapped[str] = mapped_column(String(80), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(ForeignKey("certificate_keys.key_id"))
    file_sha256: Mapped[str] = mapped_column(String(64))
    #: The issued PDF, so that verification can say which bytes of a presented file differ.
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Revocation(Base):
    """The revocation list: a certificate listed here no longer certifies anything."""

    __tablename__ = "certificate_revocations"

    serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
