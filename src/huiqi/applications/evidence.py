"""Evidence files: stored once under their sha256, typed by their first bytes, never by their name."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

from huiqi.applications.errors import EvidenceTooLarge, EvidenceTypeRefused

MAX_BYTES = 20 * 1024 * 1024

_OFFICE = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def sniff(content: bytes) -> str | None:
    """The media type the content really has, or None when it is not one we accept."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        for prefix, media in _OFFICE.items():
            if any(n.startswith(prefix) for n in names):
                return media
    return None


def store(
    content: bytes, *, filename: str, evidence_dir: Path, max_bytes: int = MAX_BYTES
) -> tuple[str, str]:
    """Check and store the bytes; returns (sha256, media type). Writing is atomic and idempotent."""
    if len(content) > max_bytes:
        raise EvidenceTooLarge(filename, len(content), max_bytes)
    media = sniff(content)
    if media is None:
        raise EvidenceTypeRefused(filename)
    digest = hashlib.sha256(content).hexdigest()
    target = evidence_dir / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return digest, media


def path_of(digest: str, *, evidence_dir: Path) -> Path:
    return evidence_dir / digest[:2] / digest
