"""Evidence uploads (issue 8, part 5): a corpus of bad files, generated here, is refused through the API and
through the application page's form with an answer a person can act on, and nothing is stored (the evidence
directory, the evidence rows and the audit log are unchanged); good files of every accepted type go in and
come back as downloads with Content-Disposition, nosniff and their stored type."""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dbfixtures import Db
from huiqi.applications import evidence
from huiqi.applications.errors import ApplicationsError
from huiqi.applications.models import ApplicationEvidence, EvidenceFile
from huiqi.audit.models import AuditEntry
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.web import i18n
from huiqi.web.errors import page_message
from web.conftest import Web, build

# --- good files of every accepted type ---------------------------------------------------------------------


def real_pdf(text: str = "Invoice HT-2025-0902: model use, 150,000.00 yuan") -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 770, text)
    c.showPage()
    c.save()
    return buf.getvalue()


def real_image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def real_xlsx() -> bytes:
    import openpyxl

    buf = io.BytesIO()
    book = openpyxl.Workbook()
    book.active["A1"] = "合同金额"
    book.active["B1"] = 150000
    book.save(buf)
    return buf.getvalue()


def office_zip(main: str = "word/document.xml", extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr(main, "<document/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good() -> list[tuple[str, bytes, str]]:
    return [
        ("invoice.pdf", real_pdf(), "application/pdf"),
        ("发票 2025年9月.pdf", real_pdf("second invoice"), "application/pdf"),
        ("site photo.png", real_image("PNG"), "image/png"),
        ("scan.2025.v2.jpeg", real_image("JPEG"), "image/jpeg"),
        ("ledger.xlsx", real_xlsx(), evidence.XLSX),
        ("contract.docx", office_zip(), evidence.DOCX),
        # objects in a compressed object stream, nothing active among them
        (
            "annual report.pdf",
            pdf_with_object_stream(b"<< /Type /Action /S /URI /URI (https://example.org/report) >>"),
            "application/pdf",
        ),
    ]


# --- the bad corpus ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    filename: str
    content: bytes
    status: int
    says: str  # a fragment the answer must contain (what was wrong or what to do)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(chunk: bytes) -> bytes:
    """A valid PNG with one more chunk after IHDR."""
    png = real_image("PNG")
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def bomb_docx() -> bytes:
    """A DOCX whose one entry unpacks ~1,000 times its packed size (8 MiB of zeros)."""
    return office_zip(extra={"word/media/image1.bin": b"\0" * (8 * 1024 * 1024)})


def big_bomb_docx() -> bytes:
    """Two stored 1 MiB entries whose directory declares 60 MiB each: every entry under the ratio limit, the
    whole over the unpacked total (what a reader trusting the directory would allocate)."""
    buf = io.BytesIO()
    chunk = bytes(range(256)) * 4096
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
        for name in ("word/media/a.bin", "word/media/b.bin"):
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED
            z.writestr(info, chunk)
    data = bytearray(buf.getvalue())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_len].startswith(b"word/media/"):
            data[at + 24 : at + 28] = struct.pack("<I", 60 * 1024 * 1024)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def overlapping_docx() -> bytes:
    """Two directory entries pointing at the same data (how the densest ZIP bombs are built)."""
    data = bytearray(office_zip(extra={"word/media/a.xml": b"<a/>" * 10}))
    first_local = data.find(b"PK\x03\x04", 1)  # the second entry's local header (word/document.xml)
    at = data.rfind(b"PK\x01\x02")  # the last directory entry (word/media/a.xml)
    data[at + 42 : at + 46] = struct.pack("<I", first_local)
    return bytes(data)


def pdf_with_js() -> bytes:
    pdf = real_pdf()
    return pdf.replace(
        b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>"
    )


def pdf_with_object_stream(
    inner: bytes, *, filters: bytes = b"/Filter /FlateDecode", pack: bool = True, version: bytes = b"1.5"
) -> bytes:
    """A PDF 1.5 whose action object (5 0) lives in a compressed object stream (4 0), as Acrobat and most
    libraries write them: the bytes of ``inner`` never appear in the file as they are."""
    index = b"5 0 "
    data = index + inner
    body = zlib.compress(data) if pack else data
    stream = b"<< /Type /ObjStm /N 1 /First %d %s /Length %d >>" % (len(index), filters, len(body))
    return b"".join(
        [
            b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n",
            b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>\nendobj\n",
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n",
            b"4 0 obj\n" + stream + b"\nstream\n" + body + b"\nendstream\nendobj\n",
            b"trailer\n<< /Size 6 /Root 1 0 R >>\n%%EOF\n",
        ]
    )


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


def corpus() -> list[Bad]:
    pdf, png, jpeg = real_pdf(), real_image("PNG"), real_image("JPEG")
    return [
        # content that is none of the accepted types, whatever the name says (415)
        Bad("exe-named-pdf", "invoice.pdf", b"MZ\x90\x00\x03" + b"\0" * 200, 415, "Windows program"),
        Bad("elf-named-pdf", "invoice.pdf", b"\x7fELF\x02\x01\x01" + b"\0" * 200, 415, "Linux program"),
        Bad("html-named-pdf", "invoice.pdf", b"<!DOCTYPE html><html><script>x()</script>", 415, "HTML"),
        Bad("gif-named-png", "photo.png", b"GIF89a" + b"\0" * 50, 415, "GIF"),
        Bad("empty", "invoice.pdf", b"", 415, "empty"),
        Bad("text", "notes.pdf", b"just some text\n", 415, "only a PDF, PNG, JPEG"),
        Bad("plain-zip-as-docx", "contract.docx", plain_zip(), 415, "ZIP archive that is not"),
        Bad("old-office", "table.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, 415, "old Office"),
        # the name does not agree with the content
        Bad("pdf-named-png", "photo.png", pdf, 422, "rename it to end in .pdf"),
        Bad("png-named-jpg", "scan.jpg", png, 422, "rename it to end in .png"),
        Bad("docx-named-xlsx", "table.xlsx", office_zip(), 422, "rename it to end in .docx"),
        Bad("no-extension", "invoice", pdf, 422, "no extension"),
        Bad("exe-extension", "invoice.exe", pdf, 422, ".exe files are not accepted"),
        Bad("svg-extension", "logo.svg", b"<svg onload='x()'/>", 422, ".svg files are not accepted"),
        # double extensions
        Bad("pdf-exe", "invoice.pdf.exe", pdf, 422, "more than one file-type extension"),
        Bad("php-pdf", "shell.php.pdf", pdf, 422, "more than one file-type extension"),
        Bad("html-pdf", "page.html.pdf", pdf, 422, "more than one file-type extension"),
        Bad("jpg-png", "photo.JPG.png", png, 422, "more than one file-type extension"),
        # path tricks and misleading names
        Bad("dotdot-slash", "../../etc/passwd.pdf", pdf, 422, "path separator"),
        Bad("absolute", "/etc/cron.d/x.pdf", pdf, 422, "path separator"),
        Bad("backslash", "..\\..\\windows\\win.pdf", pdf, 422, "path separator"),
        Bad("dotdot", "invoice..pdf", pdf, 422, "'..'"),
        Bad("hidden", ".htaccess.pdf", pdf, 422, "starts with a dot"),
        Bad("rtl-override", "invoice\u202efdp.exe", pdf, 422, "U+202E"),
        Bad("zero-width", "inv\u200boice.pdf", pdf, 422, "U+200B"),
        Bad("tab", "invoice\t.pdf", pdf, 422, "U+0009"),
        Bad("nul", "invoice\x00.exe.pdf", pdf, 422, "U+0000"),
        Bad("ads-stream", "invoice.pdf:evil.exe", pdf, 422, "treat specially"),
        Bad("windows-device", "CON.pdf", pdf, 422, "reserved device name"),
        Bad("trailing-dot", "invoice.pdf.", pdf, 422, "ends with a dot"),
        Bad("leading-space", " invoice.pdf", pdf, 422, "starts or ends with a space"),
        Bad("markup-name", "<script>alert(1)<.pdf", pdf, 422, "treat specially"),
        Bad("over-long", "a" * 240 + ".pdf", pdf, 422, "at most 200"),
        # size
        Bad(
            "oversize",
            "huge.pdf",
            b"%PDF-1.4\n" + b"0" * evidence.MAX_BYTES + b"\n%%EOF\n",
            413,
            f"the limit is {evidence.MAX_BYTES:,} bytes",
        ),
        # ZIP bombs and archive tricks (DOCX/XLSX/PPTX)
        Bad("bomb-ratio", "contract.docx", bomb_docx(), 422, "ZIP bomb"),
        Bad(
            "bomb-total",
            "contract.docx",
            big_bomb_docx(),
            422,
            f"at most {evidence.MAX_UNPACKED_BYTES:,} are",
        ),
        Bad("bomb-overlap", "contract.docx", overlapping_docx(), 422, "overlapping entries"),
        Bad(
            "zip-slip",
            "contract.docx",
            office_zip(extra={"../../evil.sh": b"rm -rf /"}),
            422,
            "leaves the archive",
        ),
        Bad("macros", "contract.docx", office_zip(extra={"word/vbaProject.bin": b"\0" * 64}), 422, "macros"),
        Bad("zip-trailer", "contract.docx", office_zip() + b"#!/bin/sh\necho hi\n", 422, "after its end"),
        # polyglots and active content
        Bad("pdf-plus-zip", "invoice.pdf", pdf + plain_zip(), 422, "also a ZIP archive"),
        Bad(
            "pdf-plus-html", "invoice.pdf", pdf + b"<html><script>alert(1)</script></html>", 422, "web markup"
        ),
        Bad(
            "pdf-html-head",
            "invoice.pdf",
            b"%PDF-1.4\n<html><body>hi</body></html>\n" + pdf[9:],
            422,
            "markup",
        ),
        Bad("pdf-javascript", "invoice.pdf", pdf_with_js(), 422, "active content"),
        Bad(
            "pdf-launch",
            "invoice.pdf",
            pdf.replace(b"/Type /Catalog", b"/Type /Catalog /A<</S/Launch>>"),
            422,
            "active content",
        ),
        Bad(
            "pdf-escaped-js",
            "invoice.pdf",
            pdf.replace(b"/Type /Catalog", b"/Type /Catalog /J#53 (x)"),
            422,
            "active content",
        ),
        # active content hidden in a compressed object stream (PDF 1.5+)
        Bad(
            "pdf-objstm-javascript",
            "invoice.pdf",
            pdf_with_object_stream(b"<< /S /JavaScript /JS (app.alert(1)) >>"),
            422,
            "active content (/JavaScript",
        ),
        Bad(
            "pdf-objstm-escaped-launch",
            "invoice.pdf",
            pdf_with_object_stream(b"<< /S /L#61unch /F (cmd.exe) >>"),
            422,
            "active content (/Launch",
        ),
        Bad(
            "pdf-objstm-plain-js",
            "invoice.pdf",
            pdf_with_object_stream(b"<< /S /JavaScript /JS (x) >>", filters=b"", pack=False),
            422,
            "active content",
        ),
        Bad(
            "pdf-objstm-unreadable-filter",
            "invoice.pdf",
            pdf_with_object_stream(b"<< /S /URI >>", filters=b"/Filter [/ASCIIHexDecode /FlateDecode]"),
            422,
            "encoded with ASCIIHexDecode FlateDecode",
        ),
        Bad(
            "pdf-objstm-damaged",
            "invoice.pdf",
            pdf_with_object_stream(b"<< >>").replace(b"x\x9c", b"x\x00", 1),
            422,
            "damaged",
        ),
        Bad(
            "pdf-objstm-bomb",
            "invoice.pdf",
            pdf_with_object_stream(b"<<" + b" " * (evidence.MAX_PDF_OBJECT_BYTES + 10) + b">>"),
            422,
            f"more than {evidence.MAX_PDF_OBJECT_BYTES:,} bytes",
        ),
        Bad("pdf-appended-junk", "invoice.pdf", pdf + b"\0" * 4096, 422, "%%EOF"),
        Bad("zip-with-pdf-header", "invoice.pdf", b"%PDF-1.4\n" + plain_zip(), 422, "ZIP archive"),
        Bad("png-plus-zip", "photo.png", png + plain_zip(), 422, "also a ZIP archive"),
        Bad("png-appended", "photo.png", png + b"#!/bin/sh\n", 422, "after its end"),
        Bad(
            "png-script-chunk",
            "photo.png",
            png_with(png_chunk(b"tEXt", b"c\0<script>x()</script>")),
            422,
            "web markup",
        ),
        Bad(
            "png-php-chunk",
            "photo.png",
            png_with(png_chunk(b"tEXt", b"c\0<?php system($_GET[0]); ?>")),
            422,
            "web markup",
        ),
        Bad("png-bad-crc", "photo.png", png[:-1] + bytes([png[-1] ^ 1]), 422, "checksum"),
        Bad(
            "png-pixel-flood",
            "photo.png",
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
            + png_chunk(b"IEND", b""),
            422,
            "pixels",
        ),
        Bad("jpeg-appended", "photo.jpg", jpeg + b"<script>alert(1)</script>", 422, "markup"),
        Bad(
            "jpeg-php-comment",
            "photo.jpg",
            jpeg[:2] + b"\xff\xfe\x00\x1a<?php system($_GET[0]);?>" + jpeg[2:],
            422,
            "web markup",
        ),
        Bad("jpeg-truncated", "photo.jpg", jpeg[:-2], 422, "end-of-image"),
    ]


CORPUS = corpus()


# --- the site --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One site for the whole module (building it hashes seven passwords): every test here either leaves
    nothing behind (the point of the corpus) or only adds evidence to the firm's open application."""
    tmp = tmp_path_factory.mktemp("uploads")
    url = f"sqlite:///{tmp / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    web = build(Db("sqlite", url, engine, make_session_factory(engine)), tmp)
    yield web
    web.app.state.huiqi.store.close()
    engine.dispose()


def stored(web: Web) -> tuple[Any, ...]:
    """Everything an upload could leave behind: files under the evidence directory, evidence rows, audit."""
    root = web.settings.evidence_dir
    files = sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
    with web.app.state.huiqi.store.factory() as s:
        rows = sorted(s.scalars(select(EvidenceFile.sha256)))
        links = sorted(
            (a, b, c)
            for a, b, c in s.execute(
                select(
                    ApplicationEvidence.application_id,
                    ApplicationEvidence.sha256,
                    ApplicationEvidence.filename,
                )
            )
        )
        audit = s.scalar(select(func.count()).select_from(AuditEntry))
    return tuple(files), tuple(rows), tuple(links), audit


def page_client(web: Web) -> tuple[TestClient, str]:
    """A browser-like session: cookie login through the API, the CSRF token as the form field."""
    c = web.client("firm_member")
    token = c.headers.pop("X-CSRF-Token")
    return c, token


def multipart(filename: str, content: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body with the file name as raw UTF-8 bytes, as an attacker would send it (an HTTP client
    would percent-encode control characters and so test something else)."""
    boundary = "----huiqi-corpus-boundary-7d4a"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    name = filename.replace('"', "%22").encode("utf-8")
    parts.append(
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def detail_of(r: Any) -> str:
    """The refusal's message: the problem's detail, or the error page's."""
    if r.headers["content-type"].startswith("application/problem+json"):
        return str(r.json()["detail"])
    found = re.search(r'<p class="detail">(.*?)</p>', r.text, re.S)
    assert found is not None, r.text[:2000]
    return html.unescape(found.group(1))


@pytest.mark.parametrize("bad", CORPUS, ids=[b.id for b in CORPUS])
def test_a_bad_file_is_refused_and_nothing_is_stored(site: Web, bad: Bad) -> None:
    app_id = site.ids["open_own"]
    before = stored(site)
    api = site.client("firm_member")
    body, headers = multipart(bad.filename, bad.content)
    r = api.post(f"/api/v1/applications/{app_id}/evidence", content=body, headers=headers)
    assert r.status_code == bad.status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = detail_of(r)
    assert bad.says in detail, detail
    assert evidence.shown(bad.filename)[:40] in detail, "the answer must name the file"
    assert stored(site) == before

    form, csrf = page_client(site)
    body, headers = multipart(bad.filename, bad.content, csrf_token=csrf, description="corpus")
    r = form.post(f"/applications/{app_id}/evidence", content=body, headers=headers)
    assert r.status_code == bad.status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    assert detail_of(r) == on_the_page(bad), "the page words the refusal in its language (zh), with the file"
    assert stored(site) == before


def on_the_page(bad: Bad) -> str:
    """The refusal of ``bad`` as a zh page words it (the reason and its figures, no English left)."""
    try:
        evidence.store(bad.content, filename=bad.filename, evidence_dir=Path("/nonexistent"))
    except ApplicationsError as exc:
        i18n.set_language("zh")
        try:
            return page_message(exc)
        finally:
            i18n.set_language(i18n.DEFAULT_LANGUAGE)
    raise AssertionError(f"{bad.id} was not refused")


def test_good_files_are_stored_and_served_as_attachments(
    site: Web, good: list[tuple[str, bytes, str]]
) -> None:
    app_id = site.ids["open_own"]
    api = site.client("firm_member")
    for filename, content, media in good:
        before = stored(site)
        r = api.post(f"/api/v1/applications/{app_id}/evidence", files={"file": (filename, content)})
        assert r.status_code == 201, (filename, r.text)
        assert r.json()["media_type"] == media
        sha = r.json()["sha256"]
        assert stored(site) != before
        assert evidence.path_of(sha, evidence_dir=site.settings.evidence_dir).read_bytes() == content

        down = api.get(f"/api/v1/applications/{app_id}/evidence/{sha}")
        assert down.status_code == 200 and down.content == content
        assert down.headers["content-type"].split(";")[0] == media
        assert down.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in down.headers["content-security-policy"]
        assert "no-store" in down.headers["cache-control"]
        disposition = down.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        fallback = re.search(r'filename="([^"]*)"', disposition)
        assert fallback is not None and fallback.group(1).isascii()
        assert fallback.group(1).endswith(filename.rsplit(".", 1)[1])
        assert f"filename*=UTF-8''{quote(filename, safe='')}" in disposition


def test_the_page_form_accepts_a_good_file_and_says_what_it_accepts(site: Web) -> None:
    app_id = site.ids["open_own"]
    form, csrf = page_client(site)
    page = form.get(f"/applications/{app_id}")
    assert page.status_code == 200
    assert 'accept=".pdf,.png,.jpg,.jpeg,.docx,.xlsx,.pptx"' in page.text
    r = form.post(
        f"/applications/{app_id}/evidence",
        data={"csrf_token": csrf, "description": "invoice"},
        files={"file": ("invoice-page.pdf", real_pdf("page upload"))},
    )
    assert r.status_code == 303, r.text[:500]
    assert "invoice-page.pdf" in form.get(f"/applications/{app_id}").text


def test_every_answer_carries_the_security_headers(site: Web) -> None:
    anon = site.client()
    for path in ("/", "/api/v1/programmes", "/static/htmx.min.js", "/nothing-here", "/api/v1/nothing"):
        r = anon.get(path)
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("x-frame-options") == "DENY", path
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), path
        assert r.headers.get("referrer-policy") == "same-origin", path


def test_an_old_unsafe_stored_name_is_sanitised_on_download(site: Web) -> None:
    """Names stored before these rules (or by the CLI) are still served safely: quotes, CR/LF and slashes
    never reach the header unencoded."""
    app_id, sha = site.ids["app_own"], site.ids["sha_own"]
    with site.app.state.huiqi.store.factory() as s:
        link = s.get(ApplicationEvidence, (app_id, sha))
        assert link is not None
        link.filename = 'a"b\r\nX-Evil: 1/../c.pdf'
        s.commit()
    r = site.client("officer").get(f"/api/v1/applications/{app_id}/evidence/{sha}")
    assert r.status_code == 200
    assert "x-evil" not in r.headers
    disposition = r.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition and disposition.count('"') == 2
    assert "filename*=UTF-8''a%22b%0D%0AX-Evil%3A%201%2F..%2Fc.pdf" in disposition
