"""The certificate as a PDF: Chinese and English text, a QR code to the verification address, and two
Ed25519 signatures — one over the content (kept in the PDF's metadata, so the fields can be checked on
their own), one over every byte of the file before the signature line appended after ``%%EOF``.

The CJK text uses reportlab's built-in CID font ``STSong-Light`` (Adobe's Asian font pack names it; no
font file is needed to write the PDF, and readers substitute a Song face).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import qrcode
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

CJK_FONT = "STSong-Light"
SUBJECT_PREFIX = "huiqi-certificate-v1 "
SIGNATURE_MARK = b"\n%HUIQI-SIGNATURE v1 "


def canonical(payload: dict[str, Any]) -> bytes:
    """The bytes the content signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _font() -> str:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _qr(c: canvas.Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw a QR code from ``qrcode``'s module matrix as filled squares (no image library needed)."""
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    cell = size / len(matrix)
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        for col, on in enumerate(row):
            if on:
                c.rect(x + col * cell, y + size - (r + 1) * cell, cell, cell, stroke=0, fill=1)


def render(payload: dict[str, Any], payload_signature: bytes) -> bytes:
    """The unsigned PDF (deterministic: reportlab's invariant mode fixes dates and ids)."""
    font = _font()
    buf = io.BytesIO()
    width, height = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(width, height), invariant=True)
    c.setTitle(f"{payload['programme']['name_en']} — {payload['firm']['name_zh']}")
    c.setAuthor(payload["issuer"]["en"])
    c.setSubject(SUBJECT_PREFIX + base64.b64encode(canonical(payload)).decode("ascii"))
    c.setKeywords(base64.b64encode(payload_signature).decode("ascii"))
    c.setStrokeColorRGB(0.6, 0.1, 0.1)
    c.setLineWidth(3)
    c.rect(28, 28, width - 56, height - 56)
    c.setFillColorRGB(0.6, 0.1, 0.1)
    c.setFont(font, 30)
    c.drawCentredString(width / 2, height - 100, payload["programme"]["name_zh"])
    c.setFont("Helvetica-Bold", 16)
    c.drawCentredString(width / 2, height - 128, payload["programme"]["name_en"])
    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, 22)
    c.drawCentredString(width / 2, height - 190, payload["firm"]["name_zh"])
    if payload["firm"].get("name_en"):
        c.setFont("Helvetica", 14)
        c.drawCentredString(width / 2, height - 212, payload["firm"]["name_en"])
    lines = [
        (
            f"统一社会信用代码：{payload['firm']['uscc']}",
            f"Unified social credit code: {payload['firm']['uscc']}",
        ),
        (f"批次：{payload['batch']['zh']}", f"Batch: {payload['batch']['en']}"),
        (f"领域：{payload['sector']['zh']}", f"Sector: {payload['sector']['en']}"),
        (f"认定日期：{payload['date']}", f"Date of designation: {payload['date']}"),
        (f"证书编号：{payload['serial']}", f"Certificate no.: {payload['serial']}"),
    ]
    y = height - 260
    for zh, en in lines:
        c.setFont(font, 13)
        c.drawString(90, y, zh)
        c.setFont("Helvetica", 11)
        c.drawString(90, y - 15, en)
        y -= 40
    c.setFont(font, 13)
    c.drawString(90, 70, payload["issuer"]["zh"])
    c.setFont("Helvetica", 9)
    c.drawString(90, 56, f"{payload['issuer']['en']} · Ed25519 key {payload['key_id']}")
    _qr(c, payload["verify_url"], width - 230, 60, 150)
    c.setFont("Helvetica", 8)
    c.drawCentredString(width - 155, 50, "Scan to verify")
    c.setFont(font, 8)
    c.drawCentredString(width - 155, 40, "扫码验证")
    c.showPage()
    c.save()
    return buf.getvalue()


def signature_line(serial: str, key_id: str, signature: bytes) -> bytes:
    return SIGNATURE_MARK + f"{serial} {key_id} ".encode("ascii") + base64.b64encode(signature) + b"\n"


@dataclass(frozen=True)
class Split:
    """A presented file cut into the signed body and its signature line (None where missing or garbled)."""

    body: bytes
    serial: str | None
    key_id: str | None
    signature: bytes | None


def split(data: bytes) -> Split:
    at = data.rfind(SIGNATURE_MARK)
    if at < 0:
        return Split(data, None, None, None)
    body, line = data[:at], data[at + len(SIGNATURE_MARK) :]
    parts = line.strip().split(b" ")
    if len(parts) != 3:
        return Split(body, None, None, None)
    try:
        serial, key_id = parts[0].decode("ascii"), parts[1].decode("ascii")
        signature = base64.b64decode(parts[2], validate=True)
    except (UnicodeDecodeError, ValueError):
        return Split(body, None, None, None)
    return Split(body, serial, key_id, signature)


def embedded(body: bytes) -> tuple[dict[str, Any] | None, bytes | None, str | None]:
    """The content and content signature written in the PDF's metadata; (None, None, why) if unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        meta = PdfReader(io.BytesIO(body), strict=False).metadata
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        return None, None, f"the PDF cannot be read ({exc})"
    if meta is None or not str(meta.subject or "").startswith(SUBJECT_PREFIX):
        return None, None, "the PDF carries no huiqi certificate content"
    try:
        payload = json.loads(base64.b64decode(str(meta.subject)[len(SUBJECT_PREFIX) :], validate=True))
        signature = base64.b64decode(str(meta.keywords or ""), validate=True)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, None, f"the certificate content in the PDF is damaged ({exc})"
    if not isinstance(payload, dict):
        return None, None, "the certificate content in the PDF is not a record"
    return payload, signature, None
