"""Evidence files: checked, then stored once under their sha256.

An officer opens what a firm uploads, so a file is accepted only when every rule below holds; otherwise it is
refused with a message naming the file and what was expected, and nothing is written. The rules (docs/web.md,
"Evidence uploads"):

* **Name.** At most ``MAX_NAME_CHARS`` characters; no path separators (``/``, ``\\``), no ``..``, no leading
  dot, no control or invisible formatting characters (bidi overrides that make ``exe.pdf`` out of
  ``fdp.exe``), none of ``<>:"|?*`` (Windows streams and wildcards), no leading or trailing space, no trailing
  dot, no Windows device name (``CON``, ``NUL``...). Names are refused, never rewritten: the firm sees what
  was wrong.
* **Type by content, name to agree.** The first bytes decide the type (PDF, PNG, JPEG, or a DOCX, XLSX or
  PPTX by its ZIP structure); the last extension must be one of that type's (``.pdf``; ``.png``; ``.jpg``,
  ``.jpeg``; ``.docx``; ``.xlsx``; ``.pptx``).
* **One extension.** No dot-separated part of the name before the last may itself be a file-type extension
  (``x.php.pdf``, ``scan.pdf.exe``, ``a.jpg.pdf``): servers and mail filters act on inner extensions.
  ``report.2024.v2.pdf`` is fine.
* **Size.** At most ``MAX_BYTES`` (the web refuses larger uploads from the upload's size, before reading).
* **Structure, no polyglots.** A PDF starts with ``%PDF-`` at byte 0 and has ``%%EOF`` in its last KiB, and
  carries no active content (``/JavaScript``, ``/JS``, ``/Launch``, ``/EmbeddedFile``, ``/RichMedia``,
  ``/XFA`` in its objects); a PNG is a chain of chunks with correct CRCs from IHDR to IEND and nothing after;
  a JPEG ends with its end-of-image marker; images have at most ``MAX_PIXELS``. No PDF or image may also be
  a ZIP archive, and no file may carry HTML or script markup (``<html``, ``<script``, ``<?php``, ...) in its
  first or last KiB (images: anywhere).
* **Office files (ZIP) without bombs.** Only stored or deflated entries, none encrypted, no macros
  (``vbaProject.bin``), no entry path leaving the archive, no duplicate or overlapping entries, no data
  before the first entry or after the archive's end, at most ``MAX_ENTRIES`` entries, at most
  ``MAX_UNPACKED_BYTES`` in total when unpacked and at most ``MAX_RATIO`` times the packed size: all read
  from the ZIP's directory and local headers, nothing is decompressed.

  Objects kept inside compressed object streams (``/Type /ObjStm``, PDF 1.5+) are unpacked and checked the
  same way: Flate only (other encodings cannot be read here and are refused), at most
  ``MAX_PDF_OBJECT_BYTES`` unpacked in all.

Limits of the PDF check: other streams (page content, images, fonts) are not unpacked, since objects cannot
hide in them; a viewer's own bugs are out of reach. Downloads are therefore still always served as
attachments with ``nosniff`` and a sandboxing CSP.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import unicodedata
import zipfile
import zlib
from pathlib import Path
from typing import NoReturn

from huiqi.applications.errors import ApplicationsError, EvidenceTooLarge, EvidenceTypeRefused

MAX_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 200
#: Office files, from the ZIP directory: unpacked total, unpacked/packed ratio (above 1 MiB), entries.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100
MAX_ENTRIES = 5000
#: An image's width x height (a decompression bomb for the viewer beyond this).
MAX_PIXELS = 100_000_000

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

#: Accepted media types and the extensions a name may end with for each.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
}
LABELS = {
    PDF: "a PDF",
    PNG: "a PNG image",
    JPEG: "a JPEG image",
    DOCX: "a DOCX",
    XLSX: "an XLSX",
    PPTX: "a PPTX",
}
ACCEPTED = "a PDF, PNG, JPEG, DOCX, XLSX or PPTX file"
_ALL_EXTENSIONS = tuple(e for exts in EXTENSIONS.values() for e in exts)
ACCEPTED_EXTENSIONS = ", ".join(_ALL_EXTENSIONS)
#: For an HTML ``accept`` attribute.
ACCEPT_ATTRIBUTE = ",".join(_ALL_EXTENSIONS)

_OFFICE_MAIN = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}

#: Parts of a name that are file types: an inner one (``x.php.pdf``) is refused.
_TYPE_WORDS = (
    "pdf png jpg jpeg jpe gif bmp tif tiff webp svg svgz ico heic doc docx docm dot dotx dotm "
    "xls xlsx xlsm xlsb xlt xltx xltm ppt pptx pptm pps ppsx ppsm odt ods odp rtf txt csv xml "
    "html htm xhtml shtml mht mhtml js mjs cjs jsx ts tsx json php php3 php4 php5 php7 phtml "
    "phar pl py pyc rb cgi asp aspx ashx asmx jsp jspx cfm sh bash zsh ps1 psm1 bat cmd com exe "
    "dll scr msi msp cpl jar war apk app dmg pkg deb rpm vbs vbe wsf wsh hta lnk url reg inf "
    "sys elf bin zip rar 7z gz tgz bz2 xz tar iso img swf"
)
_TYPE_EXTENSIONS = frozenset(_TYPE_WORDS.split())
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))]
)
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_RESERVED = set('<>:"|?*')

#: Markup a browser or an interpreter would act on. Checked in the first and last KiB of every file.
_MARKUP = re.compile(
    rb"<(?:!doctype|html|head|body|script|iframe|frame|svg|object|embed|meta|link|style|form|img|xml|\?php)\b"
    rb"|<\?=|javascript:",
    re.IGNORECASE,
)
#: In images (binary data, so only long or tell-tale patterns), anywhere in the file.
_IMAGE_MARKUP = re.compile(rb"<script|<\?php|<html|<iframe|<!doctype", re.IGNORECASE)
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)(?=[\s/<>\[\]()%{}]|$)")
_PDF_STREAM = re.compile(rb">>\s*stream(?:\r\n|\n|\r)")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_OBJSTM = re.compile(rb"/Type\s*/ObjStm(?=[\s/<>\[\]()%{}]|$)")
_PDF_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^\s/<>\[\]()%{}]+)")
#: Unpacked object-stream bytes a PDF may hold in all (its objects, not its pages' content).
MAX_PDF_OBJECT_BYTES = 32 * 1024 * 1024
_KIB = 1024

#: Recognisable but refused content, to say what the file is.
_KNOWN = [
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"#!", "a script"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP, WAV or AVI)"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls/.ppt)"),
    (b"PK\x03\x04", "a ZIP archive that is not a DOCX, XLSX or PPTX"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%!PS", "a PostScript file"),
    (b"{\\rtf", "an RTF document"),
]


class EvidenceRefused(ApplicationsError):
    """A file refused by the rules above (422); the message names the file, the problem and the fix."""

    def __init__(self, filename: str, problem: str, fix: str, *, why: str = "", **figures: object) -> None:
        super().__init__(f"evidence {shown(filename)}: {problem}; {fix}", why=why, **figures)
        self.filename = filename
        self.problem = problem
        self.fix = fix


class EvidenceNameRefused(EvidenceRefused):
    """The name breaks a rule (path tricks, control characters, double extension, length)."""


class EvidenceContentRefused(EvidenceRefused):
    """The bytes are of an accepted type but break its structure rules (polyglot, bomb, active content)."""


class EvidenceNotAccepted(EvidenceTypeRefused):
    """The content is none of the accepted types (415, like ``EvidenceTypeRefused``), said more precisely."""

    def __init__(self, filename: str, what: str, *, start: str = "") -> None:
        ApplicationsError.__init__(
            self,
            f"evidence {shown(filename)} is {what} by its content; only {ACCEPTED} is accepted (a scan or a "
            "document can be saved or printed as PDF)",
        )
        self.filename = filename
        self.what = what
        self.start = start  # the first bytes in hex, for a file of no kind it knows


def shown(filename: str, limit: int = 80) -> str:
    """The name as it can be quoted in a message (escaped, cut when long)."""
    return repr(filename if len(filename) <= limit else filename[:limit] + "...")


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def check_name(filename: str) -> str:
    """Refuse a name that could mislead a person or a program; returns its (lower-case) extension."""

    def refuse(problem: str, *, why: str, **figures: object) -> EvidenceNameRefused:
        return EvidenceNameRefused(
            filename,
            problem,
            "rename the file, e.g. invoice-2025-09.pdf, and upload it again",
            why=why,
            **figures,
        )

    if not filename:
        raise refuse("the file has no name", why="no_name")
    if len(filename) > MAX_NAME_CHARS:
        raise refuse(
            f"the name has {len(filename)} characters; at most {MAX_NAME_CHARS} are allowed",
            why="name_too_long",
            chars=len(filename),
            limit=MAX_NAME_CHARS,
        )
    bad = sorted({f"U+{ord(c):04X}" for c in filename if unicodedata.category(c) in _BAD_CATEGORIES})
    if bad:
        raise refuse(
            f"the name contains control or invisible formatting characters ({', '.join(bad[:5])})",
            why="name_control",
            characters=", ".join(bad[:5]),
        )
    if "/" in filename or "\\" in filename:
        raise refuse(
            "the name contains a path separator ('/' or '\\'); send the file's own name only", why="name_path"
        )
    if ".." in filename:
        raise refuse("the name contains '..'", why="name_dotdot")
    if filename.startswith("."):
        raise refuse("the name starts with a dot (a hidden file)", why="name_hidden")
    reserved = sorted(set(filename) & _WINDOWS_RESERVED)
    if reserved:
        raise refuse(
            f"the name contains {' '.join(reserved)}, which file systems treat specially",
            why="name_reserved",
            characters=" ".join(reserved),
        )
    if filename != filename.strip():
        raise refuse("the name starts or ends with a space", why="name_space")
    if filename.endswith("."):
        raise refuse("the name ends with a dot", why="name_ends_dot")
    parts = filename.split(".")
    if len(parts) < 2:
        raise refuse(
            f"the name has no extension; it must end in one of {ACCEPTED_EXTENSIONS}",
            why="name_no_extension",
            extensions=ACCEPTED_EXTENSIONS,
        )
    if parts[0].strip().lower() in _WINDOWS_DEVICES:
        raise refuse(f"{parts[0]!r} is a reserved device name on Windows", why="name_device", device=parts[0])
    inner = [p for p in parts[1:-1] if p.lower() in _TYPE_EXTENSIONS]
    if inner:
        raise refuse(
            f"the name has more than one file-type extension (.{inner[0]} before .{parts[-1]}); only "
            "the last part of a name may say its type",
            why="name_two_types",
            inner=f".{inner[0]}",
            last=f".{parts[-1]}",
        )
    ext = "." + parts[-1].lower()
    if ext not in _ALL_EXTENSIONS:
        raise EvidenceNameRefused(
            filename,
            f"{ext} files are not accepted",
            f"upload {ACCEPTED} (with a name ending in {ACCEPTED_EXTENSIONS})",
            why="type_refused",
            extension=ext,
            extensions=ACCEPTED_EXTENSIONS,
        )
    return ext


def sniff(content: bytes) -> str | None:
    """The media type the first bytes (and for ZIP, the directory) say, or None when not one we accept."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            return None
        if "[Content_Types].xml" not in names:
            return None
        found = {media for part, media in _OFFICE_MAIN.items() if part in names}
        if len(found) == 1:
            return found.pop()
    return None


def _describe(content: bytes) -> str:
    if not content:
        return "empty"
    for magic, what in _KNOWN:
        if content.startswith(magic):
            return what
    head = content[:512].lstrip()
    if head.startswith(b"<"):
        return "HTML or XML text"
    return f"an unrecognised file (it starts with {content[:8].hex(' ')})"


def _check_markup(filename: str, content: bytes, media: str) -> None:
    for where, part in (("first", content[:_KIB]), ("last", content[-_KIB:])):
        found = _MARKUP.search(part)
        if found:
            raise EvidenceContentRefused(
                filename,
                f"{LABELS[media]} with web markup ({found.group().decode('latin-1')!r}) in its {where} KiB, "
                "which a browser or server could run",
                "export or scan the document again to a clean file",
                why=f"markup_{where}",
                kind=LABELS[media],
                markup=found.group().decode("latin-1"),
            )
    if media in (PNG, JPEG):
        found = _IMAGE_MARKUP.search(content)
        if found:
            raise EvidenceContentRefused(
                filename,
                f"an image carrying web markup ({found.group().decode('latin-1')!r})",
                "save the picture again from an image editor or take a new screenshot",
                why="image_markup",
                markup=found.group().decode("latin-1"),
            )


def _check_not_zip(filename: str, content: bytes, media: str) -> None:
    try:
        is_zip = zipfile.is_zipfile(io.BytesIO(content))
    except (OSError, ValueError):  # pragma: no cover - is_zipfile swallows these itself
        is_zip = False
    if is_zip:
        raise EvidenceContentRefused(
            filename,
            f"{LABELS[media]} that is also a ZIP archive (a polyglot file)",
            "upload the document on its own, not combined with an archive",
            why="polyglot",
            kind=LABELS[media],
        )


def _check_pdf(filename: str, content: bytes) -> None:
    if not re.match(rb"%PDF-[12]\.\d", content):
        raise EvidenceContentRefused(
            filename,
            "the PDF header is not '%PDF-1.x' or '%PDF-2.x'",
            "save it as PDF again",
            why="pdf_header",
        )
    if b"%%EOF" not in content[-_KIB:]:
        raise EvidenceContentRefused(
            filename,
            "a PDF must end with '%%EOF' within its last KiB; this one is cut short or has data appended",
            "save or print it as PDF again",
            why="pdf_no_eof",
        )
    # Only the objects, not the (compressed, binary) stream data, where a pattern could appear by chance;
    # but the objects a PDF keeps inside object streams, unpacked.
    pos, outside = 0, []
    budget = [MAX_PDF_OBJECT_BYTES]
    for m in _PDF_STREAM.finditer(content):
        if m.start() < pos:
            continue
        outside.append(content[pos : m.start()])
        end = content.find(b"endstream", m.end())
        stop = len(content) if end < 0 else end
        head = _unescape(content[max(pos, content.rfind(b"obj", pos, m.start())) : m.start()])
        if _PDF_OBJSTM.search(head):
            outside.append(_object_stream(filename, head, content[m.end() : stop], budget))
        pos = len(content) if end < 0 else end + len(b"endstream")
    outside.append(content[pos:])
    text = _unescape(b"".join(outside))
    found = _PDF_ACTIVE.search(text)
    if found:
        raise EvidenceContentRefused(
            filename,
            f"the PDF contains active content ({found.group().decode('latin-1')}: scripts, launch actions or "
            "embedded files)",
            "print it to a new PDF (which drops scripts and attachments) and upload that",
            why="pdf_active",
            name=found.group().decode("latin-1"),
        )


def _unescape(pdf: bytes) -> bytes:
    """Names with ``#xx`` escapes spelled out (``/Java#53cript`` is ``/JavaScript``)."""
    return _PDF_NAME_ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), pdf)


def _object_stream(filename: str, head: bytes, data: bytes, budget: list[int]) -> bytes:
    """The objects of an object stream, unpacked (Flate or none), within what is left of ``budget``."""
    found = _PDF_FILTER.search(head)
    filters = re.findall(rb"/([^\s/<>\[\]()%{}]+)", found.group(1)) if found else []
    if filters not in ([], [b"FlateDecode"]) or b"/DecodeParms" in head:
        what = b" ".join(filters).decode("latin-1") or "parameters"
        raise EvidenceContentRefused(
            filename,
            f"the PDF keeps objects in a stream encoded with {what}, which this check cannot read",
            "print it to a new PDF and upload that",
            why="pdf_filter",
            filter=what,
        )
    if not filters:
        unpacked = data
    else:
        inflate = zlib.decompressobj()
        try:
            unpacked = inflate.decompress(data, budget[0] + 1)
        except zlib.error:
            raise EvidenceContentRefused(
                filename,
                "a compressed object stream of the PDF is damaged",
                "save it as PDF again",
                why="pdf_damaged",
            ) from None
    if len(unpacked) > budget[0]:
        raise EvidenceContentRefused(
            filename,
            f"the PDF's object streams unpack to more than {MAX_PDF_OBJECT_BYTES:,} bytes",
            "print it to a new PDF and upload that",
            why="pdf_objects",
            limit=MAX_PDF_OBJECT_BYTES,
        )
    budget[0] -= len(unpacked)
    return b"\n" + unpacked + b"\n"


def _check_pixels(filename: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise EvidenceContentRefused(
            filename,
            f"the image claims {width} x {height} pixels; at most {MAX_PIXELS:,} pixels are accepted",
            "scale it down or save it again",
            why="pixels",
            width=width,
            height=height,
            limit=MAX_PIXELS,
        )


def _check_png(filename: str, content: bytes) -> None:
    pos, first = 8, True
    while True:
        if pos + 12 > len(content):
            raise EvidenceContentRefused(
                filename, "the PNG ends before its IEND chunk", "save the image again", why="png_no_end"
            )
        length, ctype = struct.unpack(">I4s", content[pos : pos + 8])
        data_end = pos + 8 + length
        if length > 2**31 - 1 or data_end + 4 > len(content) or not ctype.isalpha():
            raise EvidenceContentRefused(
                filename,
                f"the PNG has a broken chunk at byte {pos}",
                "save the image again",
                why="png_chunk",
                at=pos,
            )
        (crc,) = struct.unpack(">I", content[data_end : data_end + 4])
        if zlib.crc32(content[pos + 4 : data_end]) != crc:
            raise EvidenceContentRefused(
                filename,
                f"the PNG chunk {ctype.decode()} at byte {pos} has a wrong checksum",
                "save the image again",
                why="png_checksum",
                chunk=ctype.decode(),
                at=pos,
            )
        if first:
            if ctype != b"IHDR" or length != 13:
                raise EvidenceContentRefused(
                    filename,
                    "the PNG does not start with its IHDR chunk",
                    "save the image again",
                    why="png_no_header",
                )
            width, height = struct.unpack(">II", content[pos + 8 : pos + 16])
            _check_pixels(filename, width, height)
            first = False
        pos = data_end + 4
        if ctype == b"IEND":
            break
    if pos != len(content):
        raise EvidenceContentRefused(
            filename,
            f"the PNG has {len(content) - pos:,} bytes after its end (IEND): something is appended to it",
            "save the image again from an image editor",
            why="png_appended",
            size=len(content) - pos,
        )


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_jpeg(filename: str, content: bytes) -> None:
    if not content.endswith(b"\xff\xd9"):
        raise EvidenceContentRefused(
            filename,
            "a JPEG must end with its end-of-image marker (FF D9); this one is cut short or has data "
            "appended (motion photos carry a video there)",
            "save it again as a plain JPEG",
            why="jpeg_no_end",
        )
    pos, size = 2, None
    while pos + 4 <= len(content):
        if content[pos] != 0xFF:
            raise EvidenceContentRefused(
                filename,
                f"the JPEG has a broken segment at byte {pos}",
                "save the image again",
                why="jpeg_segment",
                at=pos,
            )
        marker = content[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", content[pos + 2 : pos + 4])
        if marker in _SOF and pos + 9 <= len(content):
            height, width = struct.unpack(">HH", content[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    if size is None:
        raise EvidenceContentRefused(
            filename,
            "the JPEG has no frame header (no image size)",
            "save the image again",
            why="jpeg_no_frame",
        )
    _check_pixels(filename, *size)


def _check_office(filename: str, content: bytes, media: str) -> None:
    def refuse(
        problem: str,
        fix: str = "save it again from the Office program, as a plain document",
        *,
        why: str,
        **figures: object,
    ) -> NoReturn:
        raise EvidenceContentRefused(
            filename,
            f"{LABELS[media]} (a ZIP archive) {problem}",
            fix,
            why=why,
            kind=LABELS[media],
            **figures,
        )

    if content[-22:-18] != b"PK\x05\x06" or content[-2:] != b"\x00\x00":
        refuse("has data after its end, or an archive comment", why="zip_appended")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        infos = archive.infolist()
        directory_at: int = archive.start_dir
    if len(infos) > MAX_ENTRIES:
        refuse(
            f"has {len(infos):,} entries; at most {MAX_ENTRIES:,} are accepted",
            why="zip_entries",
            entries=len(infos),
            limit=MAX_ENTRIES,
        )
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        refuse("has two entries with the same name", why="zip_same_name")
    unpacked = packed = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or ":" in name:
            refuse(f"has an entry whose path leaves the archive ({name!r})", why="zip_path", entry=name)
        if info.flag_bits & 0x1:
            refuse(
                f"has an encrypted entry ({name!r})",
                "remove the password and save it again",
                why="zip_encrypted",
                entry=name,
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            refuse(f"uses an unusual compression method for {name!r}", why="zip_method", entry=name)
        if name.lower().endswith("vbaproject.bin"):
            refuse("contains macros", "save it as a macro-free .docx/.xlsx/.pptx", why="zip_macros")
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            refuse(
                f"has an entry ({name!r}) that unpacks {info.file_size // max(info.compress_size, 1):,} "
                f"times larger than it is packed; at most {MAX_RATIO} times is accepted (a ZIP bomb)",
                why="zip_entry_ratio",
                entry=name,
                ratio=info.file_size // max(info.compress_size, 1),
                limit=MAX_RATIO,
            )
        unpacked += info.file_size
        packed += info.compress_size
    if unpacked > MAX_UNPACKED_BYTES:
        refuse(
            f"unpacks to {unpacked:,} bytes; at most {MAX_UNPACKED_BYTES:,} are accepted (a ZIP bomb)",
            "split the document or remove large embedded media",
            why="zip_unpacked",
            size=unpacked,
            limit=MAX_UNPACKED_BYTES,
        )
    if unpacked > 1024 * 1024 and unpacked > MAX_RATIO * max(packed, 1):
        refuse(
            f"unpacks {unpacked // max(packed, 1):,} times larger than it is packed (a ZIP bomb)",
            why="zip_ratio",
            ratio=unpacked // max(packed, 1),
        )
    # Entries must follow one another without overlap (overlapping entries are how the densest bombs are
    # built) and without hidden data between them, from byte 0 to the central directory.
    expected, descriptor = 0, False
    for info in sorted(infos, key=lambda i: i.header_offset):
        at = info.header_offset
        if not expected <= at <= expected + (24 if descriptor else 0):
            refuse("has overlapping entries or hidden data between them", why="zip_overlap")
        header = content[at : at + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            refuse(
                f"has a missing local header for {info.filename!r}", why="zip_no_header", entry=info.filename
            )
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        local_name = content[at + 30 : at + 30 + name_len]
        if local_name.decode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace") != info.filename:
            refuse(
                f"names an entry differently in its directory and its local header ({info.filename!r})",
                why="zip_names_differ",
                entry=info.filename,
            )
        expected = at + 30 + name_len + extra_len + info.compress_size
        descriptor = bool(info.flag_bits & 0x8)
    if not expected <= directory_at <= expected + (24 if descriptor else 0):
        refuse("has hidden data before its directory", why="zip_hidden")


def check_content(content: bytes, *, filename: str) -> str:
    """The accepted media type of the content, or a refusal (type, name agreement, structure)."""
    media = sniff(content)
    if media is None:
        raise EvidenceNotAccepted(filename, _describe(content), start=content[:8].hex(" "))
    ext = _extension(filename)
    if ext not in EXTENSIONS[media]:
        raise EvidenceContentRefused(
            filename,
            f"the content is {LABELS[media]} but the name ends in {ext or 'no extension'}",
            f"rename it to end in {' or '.join(EXTENSIONS[media])}, or upload the file you meant",
            why="type_disagrees",
            kind=LABELS[media],
            extension=ext,
            extensions=" / ".join(EXTENSIONS[media]),
        )
    _check_markup(filename, content, media)
    if media == PDF:
        _check_not_zip(filename, content, media)
        _check_pdf(filename, content)
    elif media == PNG:
        _check_not_zip(filename, content, media)
        _check_png(filename, content)
    elif media == JPEG:
        _check_not_zip(filename, content, media)
        _check_jpeg(filename, content)
    else:
        _check_office(filename, content, media)
    return media


def store(
    content: bytes, *, filename: str, evidence_dir: Path, max_bytes: int = MAX_BYTES
) -> tuple[str, str]:
    """Check and store the bytes; returns (sha256, media type). Nothing is written unless every check passes;
    writing is atomic and idempotent."""
    check_name(filename)
    if len(content) > max_bytes:
        raise EvidenceTooLarge(filename, len(content), max_bytes)
    media = check_content(content, filename=filename)
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
