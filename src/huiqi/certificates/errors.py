"""Conditions of the certificates domain."""

from __future__ import annotations


class CertificateError(Exception):
    """Base class: the operation was refused and nothing was written."""


class SigningKeyMissing(CertificateError):
    def __init__(self, environment: str) -> None:
        super().__init__(
            f"no certificate signing key in {environment}: set HUIQI_CERTIFICATE_SIGNING_KEY to the base64 "
            "of a 32-byte Ed25519 seed (`huiqi certificates keygen` prints one); generated keys are for "
            "development only"
        )
        self.environment = environment


class BadSigningKey(CertificateError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"HUIQI_CERTIFICATE_SIGNING_KEY: {detail}; expected the base64 of 32 bytes")
        self.detail = detail


class CertificateNotFound(CertificateError):
    def __init__(self, serial: str) -> None:
        super().__init__(f"no certificate {serial!r}")
        self.serial = serial


class AlreadyRevoked(CertificateError):
    def __init__(self, serial: str) -> None:
        super().__init__(f"certificate {serial} is already revoked")
        self.serial = serial
