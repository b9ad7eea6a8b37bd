"""The Ed25519 signing key, from settings.

``HUIQI_CERTIFICATE_SIGNING_KEY`` holds the base64 of the 32-byte private seed. In development (the
default ``HUIQI_ENVIRONMENT``) a missing key is generated once into ``HUIQI_CERTIFICATE_KEY_FILE``
(``var/certificate-signing.key``, mode 0600) so that a fresh checkout can issue certificates; any other
environment refuses to run without a configured key. The key id is the first 16 hex digits of the
sha256 of the public key, printed on every certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic_settings import BaseSettings, SettingsConfigDict

from huiqi.certificates.errors import BadSigningKey, SigningKeyMissing
from huiqi.config import get_settings


class CertificateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUIQI_CERTIFICATE_", extra="ignore")

    signing_key: str | None = None
    key_file: Path = Path("var/certificate-signing.key")
    #: The public verification page the QR code points to (``{serial}`` is filled in).
    verify_url: str = "https://huiqi.example.gov.cn/certificates/verify/{serial}"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_hex(self) -> str:
        return public_bytes(self.public).hex()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def from_seed(text: str) -> SigningKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise BadSigningKey(f"not base64 ({exc})") from None
    if len(raw) != 32:
        raise BadSigningKey(f"{len(raw)} bytes")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))


def new_seed() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def signing_key(settings: CertificateSettings | None = None) -> SigningKey:
    settings = settings or CertificateSettings()
    if settings.signing_key:
        return from_seed(settings.signing_key)
    environment = get_settings().environment
    if environment != "development":
        raise SigningKeyMissing(environment)
    path = settings.key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_seed() + "\n")
    return from_seed(path.read_text(encoding="ascii"))
