"""Every refusal a page can show, in the page's language (issue 14): one table from a domain refusal's class
to a Babel msgid (its English, with named placeholders; the zh catalogue holds the Chinese) and the figures
the class keeps as attributes. Amounts are grouped yuan (``150,000.00元``), times Shanghai wall-clock, stored
keys (sectors, states, modes) their labels, ids as they are. The API's problem details keep the domain's
English (the API contract); a class not in the table is shown in that English (tests/web/test_refusals.py
fails for any class a page can show that is missing here).

A refusal raised with free text (``InvalidUser("...")``, a base class with a message) has no figures to
word: it is shown as a sentence in the page's language around that text, the text itself looked up in the
catalogue (and shown as the system wrote it when the catalogue does not have it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from huiqi.app import errors as e
from huiqi.app.money import OPERATIONS
from huiqi.money import MoneyError, format_yuan
from huiqi.rules.labels import LIST_SEPARATORS, VALUE_LABELS, value_label
from huiqi.web.i18n import N_, ROLE_NAMES, gettext, language, local_time

Figures = Callable[[Any], Mapping[str, object]]

#: Stored states and steps a refusal names, as a sentence says them (sectors and modes are in VALUE_LABELS
#: or the catalogue already).
WORDS: dict[str, str] = {
    # applications
    "draft": N_("a draft"),
    "submitted": N_("submitted"),
    "checked": N_("checked"),
    "under_review": N_("under review"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "waitlisted": N_("waitlisted"),
    "awarded": N_("awarded"),
    "paying": N_("being paid"),
    "completed": N_("completed"),
    "withdrawn": N_("withdrawn"),
    "appealed": N_("appealed"),
    "clawed_back": N_("clawed back"),
    # money: reservations, awards, tranches, held moves
    "pending": N_("pending"),
    "released": N_("released"),
    "paid": N_("paid"),
    "active": N_("active"),
    "missed": N_("missed"),
    "fully settled": N_("fully settled"),
    "awaiting": N_("awaiting approval"),
    # review assignments
    "assigned": N_("assigned (not declared yet)"),
    "cleared": N_("declared without conflict"),
    "conflicted": N_("declared a conflict"),
    "scored": N_("scored"),
    "reassigned": N_("reassigned"),
    # programme drafts: states and steps
    "edited": N_("edited"),
    "in-review": N_("in review"),
    "published": N_("published"),
    "publish": N_("publish"),
    "reject": N_("reject"),
    "reject a draft": N_("reject a draft"),
    "withdraw a version": N_("withdraw a version"),
    # ledger transactions
    "fund": N_("pool funding"),
    "reserve": N_("reservation"),
    "void": N_("voided reservation"),
    "award": N_("grant of an award"),
    "pay": N_("tranche payment"),
    "release": N_("release"),
    "clawback": N_("claw-back"),
    "recover": N_("recovery"),
    "reversal": N_("reversal"),
    # allocation modes
    "fcfs": N_("first come, first served"),
    "ranked": N_("ranked"),
    "pro_rata": N_("pro rata"),
}


def word(key: object) -> str:
    """A stored key (a state, a sector, a step) as the page's language says it; any other text as it is."""
    text = str(key)
    if text in VALUE_LABELS:
        return value_label(text, language())
    if text in WORDS:
        return gettext(WORDS[text])
    if text in OPERATIONS:
        return gettext(OPERATIONS[text])
    if text in ROLE_NAMES:
        return gettext(text)
    return text


def words(keys: object) -> str:
    """A list of keys (or of ids) in the page's list separator."""
    items = list(keys) if isinstance(keys, (list, tuple)) else [keys]
    return LIST_SEPARATORS.get(language(), ", ").join(word(k) for k in items)


def yuan(amount: object) -> str:
    """An amount in grouped yuan in the page's language; a value that is no amount as it was sent."""
    try:
        return format_yuan(Decimal(str(amount)), lang=language())
    except (ArithmeticError, ValueError, MoneyError):
        return str(amount)


def when(moment: object) -> str:
    """A moment as Shanghai wall-clock time; a date as it is."""
    return local_time(moment) if isinstance(moment, dt.datetime) else str(moment)


def said(text: object) -> str:
    """Free text the system wrote: the catalogue's words for it if it has them, else as written."""
    return gettext(str(text)) if text else ""


def rows(problems: Any) -> str:
    """An import's bad rows, each with where it is, the value and what was expected (the system's words)."""
    where = gettext(N_("%(source)s row %(row)s, column %(column)s: %(value)s (expected: %(expected)s)"))
    return "; ".join(
        where
        % {
            "source": p.source,
            "row": p.row,
            "column": p.column,
            "value": p.value,
            "expected": said(p.expected),
        }
        for p in problems
    )


#: Why a tranche cannot be paid (``TrancheNotPayable.why``), with its figures.
UNPAYABLE = {
    "no_tranche": N_("award %(award)s of application %(application)s has no tranche %(seq)s."),
    "no_evidence": N_(
        "the milestone of tranche %(seq)s, “%(milestone)s” (due %(due)s), is not shown to be met: attach the "
        "evidence to the application and choose it when paying."
    ),
    "not_attached": N_(
        "the evidence %(evidence)s is not a file of application %(application)s: choose a file attached to "
        "it."
    ),
}


def unpayable(exc: Any) -> str:
    """Why a tranche cannot be paid, in the page's language (the system's words when it named no reason)."""
    msgid = UNPAYABLE.get(exc.why)
    if msgid is None:
        return said(exc.message)
    figures = {"award": exc.award_id, "application": exc.application_id, "seq": exc.seq}
    figures |= {"milestone": exc.milestone, "due": when(exc.due), "evidence": exc.evidence}
    return gettext(msgid) % figures


#: Why a refusal raised with its words only was refused (its ``why``), worded with its figures.
BECAUSE = {
    "not_by_a_move": N_(
        "an application becomes %(to)s by being submitted or checked, not by a move: submit it or run its "
        "eligibility check."
    ),
    "moves_money": N_(
        "moving an application to %(to)s moves money: decide, grant, pay a tranche, claw back or withdraw "
        "instead."
    ),
    "not_a_recovery": N_("it is a %(kind)s, not a recovery: only recoveries are reversed this way."),
    "not_a_payment": N_("it is a %(kind)s, not a tranche payment."),
    "award_state": N_("award %(award)s is %(status)s."),
    "money_held": N_(
        "application %(application)s is %(current)s: money is reserved or granted for it; withdraw it, "
        "grant, pay or claw back instead."
    ),
    # calls (InvalidCall)
    "no_pool": N_("there is no pool %(pool)s: create it first."),
    "pool_funds_other": N_(
        "pool %(pool)s funds programme %(funds)s, not %(programme)s: open the call on the programme's pool "
        "%(declared)s."
    ),
    "pool_funds_other_undeclared": N_(
        "pool %(pool)s funds programme %(funds)s, not %(programme)s: choose the programme's own pool."
    ),
    "not_its_pool": N_(
        "programme %(programme)s draws on its pool %(declared)s, not on pool %(pool)s: open the call on "
        "%(declared)s (or on a pool created for the programme)."
    ),
    "no_pool_declared": N_(
        "programme %(programme)s declares no pool, and pool %(pool)s was not created for it: create a pool "
        "for the programme and open the call on it."
    ),
    "no_version": N_("programme %(programme)s has no version %(version)s here."),
    "version_withdrawn": N_(
        "version %(version)s of %(programme)s was withdrawn: open the call on a version in force."
    ),
    "window_outside_period": N_(
        "the call's window %(opens)s .. %(closes)s is not inside pool %(pool)s's period %(start)s .. "
        "%(end)s: choose dates inside the period (or a pool whose period covers the window)."
    ),
    "bad_mode": N_("allocation mode %(mode)s is not one of %(modes)s."),
    "no_timezone": N_("the window's times need a time zone (e.g. 2025-09-01T00:00:00+08:00)."),
    "window_backwards": N_("the window closes (%(closes)s) before it opens (%(opens)s)."),
    # claims (InvalidClaim)
    "no_claims": N_("an application claims at least one contract or item."),
    "claimed_twice": N_("contract %(contract)s is claimed twice."),
    "not_in_profile": N_("contract %(contract)s is not in the firm's profile."),
    "already_claimed": N_("contract %(contract)s is marked as already claimed."),
    "bad_amount": N_(
        "the amount for contract %(contract)s, %(amount)s, is not an amount of yuan (a number with at most "
        "two decimal places, within the system's bound)."
    ),
    "not_positive": N_("the amount for contract %(contract)s must be positive."),
    # users (InvalidUser)
    "bad_role": N_("role %(role)s is not one of %(roles)s."),
    "firm_needs_uscc": N_("a firm member needs the firm's unified social credit code."),
    "bad_uscc": N_(
        "%(uscc)s is not a valid unified social credit code (18 characters, the last a check character)."
    ),
    "commission_role": N_(
        "a user with the role %(role)s acts for the commission, not a firm: leave the firm's code empty."
    ),
    "bad_username": N_(
        "user name %(username)s: use 2-80 lower-case letters, digits, “.”, “_” or “-”, starting with a "
        "letter or digit."
    ),
    # reviewers (InvalidReviewer)
    "needs_id_and_name": N_("a reviewer needs an id and a name."),
    "needs_a_field": N_("reviewer %(reviewer)s: name at least one field (a sector they review)."),
    "former_incomplete": N_(
        "reviewer %(reviewer)s: former employer %(n)s needs its credit code and an end date."
    ),
    "former_bad_date": N_(
        "reviewer %(reviewer)s: the end date of former employer %(n)s, %(value)s, is not a date (YYYY-MM-DD)."
    ),
    "conflict_needs_reason": N_("a declared conflict needs a reason in words."),
    "override_needs_reason": N_("an override needs a reason in words."),
    "not_active": N_("reviewer %(reviewer)s is not active."),
    # exports (ExportError)
    "control_character": N_(
        "%(file)s: %(where)s holds the control character %(character)s, which a workbook cannot hold; export "
        "to CSV or Parquet."
    ),
    "cell_too_long": N_("%(file)s: %(where)s has %(chars)s characters; an Excel cell holds %(limit)s."),
    "unsupported_format": N_("%(file)s: this format cannot be written; use one of %(formats)s."),
    "too_many_rows": N_("%(file)s: table %(table)s has %(rows)s rows; a sheet holds %(limit)s."),
    "register_target": N_("%(file)s: a register exports to a .xlsx workbook or to a folder."),
    # registers (RegisterError)
    "stored_tables_missing": N_(
        "%(where)s: the stored register's tables are missing (they are kept beside the database and must "
        "be backed up and restored with it)."
    ),
    "table_file_missing": N_("%(file)s: missing (the register's %(table)s table)."),
    "unreadable_parquet": N_("%(file)s: not a readable Parquet file."),
    "changed_during_import": N_("%(where)s: the register changed during the import; import again."),
    "needs_database": N_("the register in the database needs a database."),
    "lock_not_exclusive": N_("%(root)s: an exclusive lock is wanted while only a shared one is held."),
    "lock_file": N_("%(root)s: cannot create the lock file %(lock)s; is the directory writable?"),
    "register_busy": N_(
        "%(root)s: another process is writing this register (%(owner)s); gave up after %(seconds)s s, try "
        "again when it has finished."
    ),
    "column_missing": N_("%(source)s: column %(column)s is missing (expected %(type)s)."),
    "column_type": N_("%(source)s: column %(column)s has type %(got)s, expected %(type)s."),
    "unexpected_column": N_("%(source)s: unexpected column %(column)s (not in the register layout)."),
    "columns_order": N_("%(source)s: columns are out of order; expected %(columns)s."),
    "no_tables": N_("cannot write a register of no tables."),
    "tables_missing": N_("cannot write a register without the table(s) %(tables)s."),
    "manifest_missing": N_("%(file)s: not found; is %(path)s a register directory?"),
    "manifest_json": N_("%(file)s: invalid JSON."),
    "not_a_manifest": N_("%(file)s: not a huiqi register manifest (expected “format”: “%(format)s”)."),
    "format_version": N_(
        "%(file)s: register format version %(version)s; this huiqi reads version %(supported)s."
    ),
    "bad_years": N_("%(file)s: “years” must be a list of years."),
    "row_count": N_("%(file)s: %(rows)s rows, but the manifest says %(manifest)s."),
    # imports (ImportError_)
    "not_yaml": N_("%(file)s: not valid YAML."),
    "mapping_not_tables": N_("%(file)s: expected a mapping of table names (%(tables)s)."),
    "unknown_table": N_("%(where)s: unknown table; expected one of %(tables)s."),
    "table_not_keys": N_("%(where)s: expected the keys %(keys)s."),
    "unknown_key": N_("%(where)s: unknown key %(key)s (%(keys)s)."),
    "bad_header_row": N_("%(where)s.header_row: expected a row number (1 is the first row)."),
    "bad_merged": N_("%(where)s.merged: expected refuse or fill (each cell of a merged range)."),
    "bad_delimiter": N_("%(where)s.delimiter: expected one character, e.g. ';' or a tab."),
    "unknown_encoding": N_("%(where)s.encoding: unknown encoding %(encoding)s."),
    "not_text": N_("%(where)s.%(key)s: expected text."),
    "bad_rule": N_("%(where)s: expected a layout column name or {to: column, ...}."),
    "unknown_rule_key": N_("%(where)s: unknown key %(key)s (to, unit, format, values)."),
    "not_a_column": N_("%(where)s: %(column)s is not a column of the %(table)s table."),
    "unknown_unit": N_("%(where)s: unit %(unit)s; expected one of %(units)s."),
    "unit_not_money": N_("%(where)s: a unit only applies to money columns, and %(column)s is not one."),
    "bad_format": N_("%(where)s: format must be a date format or a list of them."),
    "bad_values": N_("%(where)s: values must map register values to layout values."),
    "unreadable_format": N_("%(file)s: unsupported format %(suffix)s; expected one of %(formats)s."),
    "header_row_missing": N_("%(sheet)s: header_row %(row)s is empty or beyond the last row."),
    "header_twice": N_(
        "%(sheet)s: columns %(first)s and %(second)s both have the header %(header)s; rename one (a "
        "header must name one column)."
    ),
    "under_empty_header": N_(
        "%(sheet)s: cell %(cell)s holds %(value)s but its header cell %(header_cell)s is empty; give the "
        "column a header (and list it under ignore: to skip it)."
    ),
    "beyond_header": N_(
        "%(sheet)s: cell %(cell)s holds %(value)s but it is beyond the header (which ends at "
        "%(last_cell)s, %(last_header)s); give the column a header (and list it under ignore: to skip it)."
    ),
    "merged_header": N_(
        "%(sheet)s: header cells %(cells)s are merged; unmerge them so that every column has its own "
        "header on one row (header_row: says which row that is)."
    ),
    "merged_cells": N_(
        "%(sheet)s: cells %(cells)s are merged, so only %(cell)s holds a value; unmerge and fill them, or "
        "say merged: fill in the mapping to give each cell that value."
    ),
    "merged_beyond": N_(
        "%(sheet)s: cells %(cells)s are merged beyond the table (its last row is %(row)s, its last column "
        "%(column)s); unmerge the cells below or right of it."
    ),
    "mapping_file_missing": N_("%(file)s: not found (the mapping's file for %(table)s)."),
    "two_files": N_("%(source)s: both %(first)s and %(second)s; keep one."),
    "unclaimed_file": N_(
        "%(source)s: %(file)s is not a table of the register (firms.csv, offices.csv, ...) nor a file the "
        "mapping names (file:); rename it, name it in the mapping, or move it out of the folder."
    ),
    "not_a_file": N_("%(file)s: not a file."),
    "no_table_files": N_("%(source)s: no table files (expected firms.csv, offices.csv, ...)."),
    "source_missing": N_("%(source)s: not found."),
    "no_sheet": N_("%(source)s: no sheet named %(sheet)s (sheets: %(sheets)s)."),
    "no_table_sheet": N_("%(source)s: no sheet named after a table (%(tables)s) or in the mapping."),
    "unsupported_source": N_("%(source)s: unsupported format; expected one of %(formats)s or a folder."),
    "unknown_column": N_(
        "%(sheet)s: column %(column)s is neither in the mapping nor a column of the %(table)s table (map "
        "it, or list it under ignore:)."
    ),
    "unknown_column_separated": N_(
        "%(sheet)s: column %(column)s is neither in the mapping nor a column of the %(table)s table; the "
        "file looks separated by “%(separator)s”: say delimiter: in the mapping."
    ),
    "two_to_one": N_("%(sheet)s: two columns map to %(column)s."),
    "no_uscc": N_("%(sheet)s: no column holds the credit code (uscc); map one to uscc."),
    "mapping_column_missing": N_("%(sheet)s: the mapping names column %(column)s, which the file lacks."),
}


def because(exc: Any) -> str | None:
    """The reason a refusal names (``why`` or ``because``) worded with its figures, or None."""
    msgid = BECAUSE.get(str(getattr(exc, "because", "") or getattr(exc, "why", "")))
    if msgid is None:
        return None
    return gettext(msgid) % {name: figure(v) for name, v in exc.figures.items()}


def figure(value: object, text: Callable[[object], str] = word) -> str:
    """A figure as a sentence shows it: a list in the page's separator, a moment as local time, a count
    grouped, anything else through ``text`` (a stored key's label; ``said`` for the system's words)."""
    if isinstance(value, (list, tuple)):
        return words(value)
    if isinstance(value, dt.datetime):
        return when(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return text(value)


#: Why an evidence file was refused (``EvidenceRefused.why``), worded with its figures.
EVIDENCE = {
    "no_name": N_("the file has no name"),
    "name_too_long": N_("the name has %(chars)s characters; at most %(limit)s are allowed"),
    "name_control": N_("the name contains control or invisible formatting characters (%(characters)s)"),
    "name_path": N_("the name contains a path separator (“/” or “\\”); send the file's own name only"),
    "name_dotdot": N_("the name contains “..”"),
    "name_hidden": N_("the name starts with a dot (a hidden file)"),
    "name_reserved": N_("the name contains %(characters)s, which file systems treat specially"),
    "name_space": N_("the name starts or ends with a space"),
    "name_ends_dot": N_("the name ends with a dot"),
    "name_no_extension": N_("the name has no extension; it must end in one of %(extensions)s"),
    "name_device": N_("“%(device)s” is a reserved device name on Windows"),
    "name_two_types": N_(
        "the name has more than one file-type extension (%(inner)s before %(last)s); only the last part of a "
        "name may say its type"
    ),
    "type_refused": N_("%(extension)s files are not accepted"),
    "type_disagrees": N_("the content is %(kind)s but the name ends in %(extension)s"),
    "markup_first": N_(
        "%(kind)s with web markup (%(markup)s) in its first KiB, which a browser or server could run"
    ),
    "markup_last": N_(
        "%(kind)s with web markup (%(markup)s) in its last KiB, which a browser or server could run"
    ),
    "image_markup": N_("an image carrying web markup (%(markup)s)"),
    "polyglot": N_("%(kind)s that is also a ZIP archive (a polyglot file)"),
    "pdf_header": N_("the PDF header is not “%%PDF-1.x” or “%%PDF-2.x”"),
    "pdf_no_eof": N_(
        "a PDF must end with “%%%%EOF” within its last KiB; this one is cut short or has data appended"
    ),
    "pdf_active": N_("the PDF contains active content (%(name)s: scripts, launch actions or embedded files)"),
    "pdf_filter": N_(
        "the PDF keeps objects in a stream encoded with %(filter)s, which this check cannot read"
    ),
    "pdf_damaged": N_("a compressed object stream of the PDF is damaged"),
    "pdf_objects": N_("the PDF's object streams unpack to more than %(limit)s bytes"),
    "pixels": N_("the image claims %(width)s x %(height)s pixels; at most %(limit)s pixels are accepted"),
    "png_no_end": N_("the PNG ends before its IEND chunk"),
    "png_chunk": N_("the PNG has a broken chunk at byte %(at)s"),
    "png_checksum": N_("the PNG chunk %(chunk)s at byte %(at)s has a wrong checksum"),
    "png_no_header": N_("the PNG does not start with its IHDR chunk"),
    "png_appended": N_("the PNG has %(size)s bytes after its end (IEND): something is appended to it"),
    "jpeg_no_end": N_(
        "a JPEG must end with its end-of-image marker (FF D9); this one is cut short or has data appended "
        "(motion photos carry a video there)"
    ),
    "jpeg_segment": N_("the JPEG has a broken segment at byte %(at)s"),
    "jpeg_no_frame": N_("the JPEG has no frame header (no image size)"),
    "zip_appended": N_("%(kind)s (a ZIP archive) has data after its end, or an archive comment"),
    "zip_entries": N_("%(kind)s (a ZIP archive) has %(entries)s entries; at most %(limit)s are accepted"),
    "zip_same_name": N_("%(kind)s (a ZIP archive) has two entries with the same name"),
    "zip_path": N_("%(kind)s (a ZIP archive) has an entry whose path leaves the archive (%(entry)s)"),
    "zip_encrypted": N_("%(kind)s (a ZIP archive) has an encrypted entry (%(entry)s)"),
    "zip_method": N_("%(kind)s (a ZIP archive) uses an unusual compression method for %(entry)s"),
    "zip_macros": N_("%(kind)s (a ZIP archive) contains macros"),
    "zip_entry_ratio": N_(
        "%(kind)s (a ZIP archive) has an entry (%(entry)s) that unpacks %(ratio)s times larger than it is "
        "packed; at most %(limit)s times is accepted (a ZIP bomb)"
    ),
    "zip_unpacked": N_(
        "%(kind)s (a ZIP archive) unpacks to %(size)s bytes; at most %(limit)s are accepted (a ZIP bomb)"
    ),
    "zip_ratio": N_("%(kind)s (a ZIP archive) unpacks %(ratio)s times larger than it is packed (a ZIP bomb)"),
    "zip_overlap": N_("%(kind)s (a ZIP archive) has overlapping entries or hidden data between them"),
    "zip_no_header": N_("%(kind)s (a ZIP archive) has a missing local header for %(entry)s"),
    "zip_names_differ": N_(
        "%(kind)s (a ZIP archive) names an entry differently in its directory and its local header "
        "(%(entry)s)"
    ),
    "zip_hidden": N_("%(kind)s (a ZIP archive) has hidden data before its directory"),
}

#: What to do about a refused evidence file: by its reason where the fix names figures, else by its words.
EVIDENCE_FIX = {
    "type_refused": N_(
        "upload a PDF, PNG, JPEG, DOCX, XLSX or PPTX file (with a name ending in %(extensions)s)"
    ),
    "type_disagrees": N_("rename it to end in %(extensions)s, or upload the file you meant"),
}
EVIDENCE_WORDS = (
    N_("rename the file, e.g. invoice-2025-09.pdf, and upload it again"),
    N_("export or scan the document again to a clean file"),
    N_("save the picture again from an image editor or take a new screenshot"),
    N_("upload the document on its own, not combined with an archive"),
    N_("save it as PDF again"),
    N_("save or print it as PDF again"),
    N_("print it to a new PDF (which drops scripts and attachments) and upload that"),
    N_("print it to a new PDF and upload that"),
    N_("scale it down or save it again"),
    N_("save the image again"),
    N_("save the image again from an image editor"),
    N_("save it again as a plain JPEG"),
    N_("save it again from the Office program, as a plain document"),
    N_("remove the password and save it again"),
    N_("save it as a macro-free .docx/.xlsx/.pptx"),
    N_("split the document or remove large embedded media"),
    # the kinds of file (evidence.LABELS)
    N_("a PDF"),
    N_("a PNG image"),
    N_("a JPEG image"),
    N_("a DOCX"),
    N_("an XLSX"),
    N_("a PPTX"),
)


#: What a file that is none of the accepted kinds is, by its content (``evidence._describe``).
EVIDENCE_KINDS = (
    N_("empty"),
    N_("HTML or XML text"),
    N_("a Windows program"),
    N_("a Linux program"),
    N_("a script"),
    N_("a GIF image"),
    N_("a RIFF file (WebP, WAV or AVI)"),
    N_("an old Office file (.doc/.xls/.ppt)"),
    N_("a ZIP archive that is not a DOCX, XLSX or PPTX"),
    N_("a RAR archive"),
    N_("a 7-Zip archive"),
    N_("a gzip archive"),
    N_("a PostScript file"),
    N_("an RTF document"),
)


def not_accepted(exc: Any) -> str:
    """What a refused file is by its content, in the page's language (its first bytes when no known kind)."""
    if exc.what in EVIDENCE_KINDS or not getattr(exc, "start", ""):
        return said(exc.what)
    return gettext(N_("an unrecognised file (it starts with %(start)s)")) % {"start": exc.start}


def evidence_refused(exc: Any) -> Mapping[str, object]:
    """Why an evidence file was refused and what to do, in the page's language (its words if it named no
    reason)."""
    msgid = EVIDENCE.get(exc.why)
    if msgid is None:
        return {"file": exc.filename, "problem": said(exc.problem), "fix": said(exc.fix)}
    figures = {name: figure(v, said) for name, v in exc.figures.items()}  # a kind of file in its words
    fix = EVIDENCE_FIX.get(exc.why)
    return {
        "file": exc.filename,
        "problem": gettext(msgid) % figures,
        "fix": gettext(fix) % figures if fix else said(exc.fix),
    }


#: Why a value is not an exact amount (``MoneyError.why``, one of ``huiqi.money.amount.REASONS``).
MONEY = {
    "not_finite": N_("%(what)s: expected a finite decimal number, got %(value)s."),
    "beyond_bound": N_(
        "%(what)s: %(value)s is beyond the largest number huiqi accepts, 1,000,000,000,000,000 (10^15)."
    ),
    "too_many_places": N_("%(what)s: %(value)s has more than %(places)s decimal places."),
    "boolean": N_("%(what)s: expected a decimal number, got true or false."),
    "float": N_("%(what)s: expected an exact decimal written as text (such as “%(value)s”), got a float."),
    "too_long": N_("%(what)s: %(value)s is too long for a number (at most %(limit)s characters)."),
    "not_a_number": N_("%(what)s: expected a decimal number, got %(value)s."),
    "wrong_type": N_("%(what)s: expected a decimal number, got a value of another kind."),
    "not_fen": N_("%(what)s: %(value)s has more than two decimal places (yuan are exact to the fen)."),
    "cannot_round": N_("%(value)s cannot be rounded to the fen: it is not a finite number."),
    "fraction_of_fen": N_("%(value)s yuan is not a whole number of fen."),
    "fen_not_int": N_("an amount in fen must be a whole number."),
    "not_whole": N_("%(what)s: a whole number, not “%(value)s”."),
    "not_a_date": N_("%(what)s: a date such as 2026-12-31, not “%(value)s”."),
    "unknown_move": N_("there is no money move “%(value)s” to confirm."),
}
#: The fields a money refusal names, as a sentence says them.
MONEY_FIELDS = {
    "amount": N_("amount"),
    "seq": N_("tranche number"),
    "installments": N_("installments"),
    "first_due": N_("first due date"),
    "value": N_("value"),
    "count": N_("count"),
}


def money_refused(exc: Any) -> str:
    """Why a value is not an exact amount, in the page's language (its words when it named no reason)."""
    msgid = MONEY.get(getattr(exc, "why", ""))
    if msgid is None:
        return said(getattr(exc, "message", None) or str(exc))
    figures = dict(exc.figures)
    what = str(figures.get("what", ""))
    figures["what"] = gettext(MONEY_FIELDS[what]) if what in MONEY_FIELDS else what
    return gettext(msgid) % figures


def _detail(exc: Any) -> Mapping[str, object]:
    return {"detail": because(exc) or said(getattr(exc, "message", None) or str(exc))}


def _ids(**attrs: str) -> Figures:
    """The figures of a refusal that only names things: placeholder -> attribute, shown as they are."""
    return lambda exc: {name: getattr(exc, attr) for name, attr in attrs.items()}


def _retry(exc: Any) -> Mapping[str, object]:
    return {"seconds": exc.retry_after_seconds}


#: Refusal class -> (msgid, its figures). Looked up by the exact class: a subclass words itself.
WORDINGS: dict[type[BaseException], tuple[str, Figures]] = {
    # accounts
    e.AccountsError: (N_("Your account request was refused: %(detail)s"), _detail),
    e.UserExists: (
        N_("A user named %(username)s already exists: choose another name."),
        _ids(username="username"),
    ),
    e.UserNotFound: (N_("There is no user named %(username)s."), _ids(username="username")),
    e.InvalidUser: (N_("The user details were refused: %(detail)s"), _detail),
    e.WeakPassword: (N_("The password is too weak: %(detail)s"), _detail),
    e.InvalidCredentials: (
        N_("Wrong user name or password."),
        lambda exc: {},
    ),
    e.AccountDisabled: (
        N_("The account %(username)s is disabled: ask an administrator to enable it again."),
        _ids(username="username"),
    ),
    e.LastAdmin: (
        N_(
            "%(username)s is the last active administrator: this change would leave nobody to administer "
            "users. Make another user an administrator first."
        ),
        _ids(username="username"),
    ),
    e.TooManyAttempts: (
        N_(
            "Too many failed logins: try again in %(seconds)s seconds, or ask an administrator to unlock the "
            "account or reset its password."
        ),
        _retry,
    ),
    e.TooManyMoneyWrites: (
        N_(
            "Too many money-moving requests: at most %(limit)s every %(window)s seconds for one user. "
            "Nothing "
            "was done; try again in %(seconds)s seconds."
        ),
        lambda exc: {
            "limit": exc.limit,
            "window": int(exc.window.total_seconds()),
            "seconds": exc.retry_after_seconds,
        },
    ),
    e.FirmProfileNotFound: (
        N_("No profile is stored for firm %(uscc)s: submit the firm's profile first."),
        _ids(uscc="uscc"),
    ),
    # applications and calls
    e.ApplicationsError: (N_("The application or call was refused: %(detail)s"), _detail),
    e.applications_errors.CallNotFound: (N_("There is no call %(call)s."), _ids(call="call_id")),
    e.applications_errors.CallExists: (
        N_("A call %(call)s already exists: choose another id."),
        _ids(call="call_id"),
    ),
    e.applications_errors.InvalidCall: (N_("The call was refused: %(detail)s"), _detail),
    e.applications_errors.CallNotOpen: (
        N_("Call %(call)s takes applications from %(opens)s to %(closes)s; it is %(now)s now."),
        lambda exc: {
            "call": exc.call_id,
            "opens": when(exc.opens),
            "closes": when(exc.closes),
            "now": when(exc.now),
        },
    ),
    e.applications_errors.ApplicationNotFound: (
        N_("There is no application %(application)s."),
        _ids(application="application_id"),
    ),
    e.applications_errors.IllegalTransition: (
        N_(
            "Application %(application)s is %(current)s: it cannot become %(target)s (allowed next: "
            "%(allowed)s)."
        ),
        lambda exc: {
            "application": exc.application_id,
            "current": word(exc.current),
            "target": word(exc.target),
            "allowed": words(exc.allowed) if exc.allowed else gettext(N_("none, it is final")),
        },
    ),
    e.applications_errors.ConcurrentChange: (
        N_(
            "Application %(application)s changed while this request ran (it is no longer %(expected)s): look "
            "at it again and retry."
        ),
        lambda exc: {"application": exc.application_id, "expected": word(exc.expected)},
    ),
    e.applications_errors.InvalidClaim: (N_("The claim was refused: %(detail)s"), _detail),
    e.applications_errors.MissingReason: (
        N_(
            "Moving application %(application)s to %(to)s needs a reason (a sentence saying why); nothing "
            "was changed."
        ),
        lambda exc: {"application": exc.application_id, "to": word(exc.to)},
    ),
    e.applications_errors.VerdictMismatch: (
        N_("The verdict is for programme %(got)s but the call runs %(expected)s."),
        _ids(got="got", expected="expected"),
    ),
    e.applications_errors.EvidenceTooLarge: (
        N_("The evidence file %(file)s is %(size)s bytes; the limit is %(limit)s bytes."),
        lambda exc: {"file": exc.filename, "size": f"{exc.size:,}", "limit": f"{exc.limit:,}"},
    ),
    e.applications_errors.EvidenceTypeRefused: (
        N_(
            "The evidence file %(file)s is not a PDF, PNG, JPEG or Office (docx/xlsx/pptx) file by its "
            "content: "
            "the bytes matter, not the name."
        ),
        _ids(file="filename"),
    ),
    e.EvidenceRefused: (
        N_("The evidence file %(file)s was refused: %(problem)s; %(fix)s"),
        evidence_refused,
    ),
    e.EvidenceNameRefused: (
        N_("The name of the evidence file %(file)s was refused: %(problem)s; %(fix)s"),
        evidence_refused,
    ),
    e.EvidenceContentRefused: (
        N_("The content of the evidence file %(file)s was refused: %(problem)s; %(fix)s"),
        evidence_refused,
    ),
    e.EvidenceNotAccepted: (
        N_(
            "The evidence file %(file)s is %(what)s by its content; only PDF, PNG, JPEG and Office "
            "(docx/xlsx/pptx) files are accepted (a scan or a document can be saved or printed as PDF)."
        ),
        lambda exc: {"file": exc.filename, "what": not_accepted(exc)},
    ),
    # certificates
    e.CertificateError: (N_("The certificate request was refused: %(detail)s"), _detail),
    e.certificates_errors.SigningKeyMissing: (
        N_(
            "The server has no certificate signing key (%(environment)s): an administrator must set "
            "HUIQI_CERTIFICATE_SIGNING_KEY."
        ),
        _ids(environment="environment"),
    ),
    e.certificates_errors.BadSigningKey: (
        N_(
            "The server's certificate signing key is unusable (%(detail)s): an administrator must replace it."
        ),
        lambda exc: {"detail": said(exc.detail)},
    ),
    e.certificates_errors.CertificateNotFound: (
        N_("There is no certificate %(serial)s."),
        _ids(serial="serial"),
    ),
    e.certificates_errors.AlreadyRevoked: (
        N_("Certificate %(serial)s is already revoked."),
        _ids(serial="serial"),
    ),
    # the database
    e.DatabaseError: (N_("The database could not do this: %(detail)s"), _detail),
    e.db_errors.TooManyRetries: (
        N_(
            "Gave up after %(attempts)s attempts because of other people's changes at the same time: "
            "nothing was written, try again."
        ),
        _ids(attempts="attempts"),
    ),
    e.DatabaseNotReady: (
        N_(
            "The database is not ready for this version of huiqi: an administrator must upgrade it "
            "(%(detail)s)"
        ),
        _detail,
    ),
    # firm registers and profiles
    e.ExportError: (N_("The export was refused: %(detail)s"), _detail),
    e.ImportError_: (N_("The import could not read its source: %(detail)s"), _detail),
    e.ImportRefused: (
        N_("%(n)s problem(s) in the rows; nothing was imported (%(detail)s)"),
        lambda exc: {"n": len(exc.problems), "detail": rows(exc.problems[:5])},
    ),
    e.RegisterError: (N_("The register was refused: %(detail)s"), _detail),
    e.ProfileError: (
        N_("%(n)s problem(s) in the firm profile %(source)s: %(detail)s"),
        lambda exc: {
            "n": len(exc.problems),
            "source": exc.source,
            "detail": "; ".join(str(p) for p in exc.problems),
        },
    ),
    # jobs and matching
    e.JobError: (N_("The job cannot be shown: %(detail)s"), _detail),
    e.JobNotFound: (
        N_("There is no job %(job)s: start a new one."),
        _ids(job="job_id"),
    ),
    e.JobNotFinished: (N_("The job has not finished: %(detail)s"), _detail),
    e.MatchingError: (N_("The match cannot run: %(detail)s"), _detail),
    e.EmptyRegister: (
        N_("The register is empty: import a register of firms before matching."),
        lambda exc: {},
    ),
    e.NoRun: (N_("No match has been run yet: run the match first."), lambda exc: {}),
    e.UnknownBackend: (N_("The match cannot use that engine: %(detail)s"), _detail),
    e.RegisterNotEmpty: (
        N_("The stored register is not empty: synthesise into a new database or a register directory."),
        lambda exc: {},
    ),
    # the ledger
    e.LedgerError: (N_("The money move was refused: %(detail)s"), _detail),
    e.MoneyError: (N_("The amount was refused: %(detail)s"), lambda exc: {"detail": money_refused(exc)}),
    e.ledger_errors.PoolNotFound: (N_("There is no pool %(pool)s."), _ids(pool="pool_id")),
    e.ledger_errors.PoolExists: (
        N_("A pool %(pool)s already exists: choose another id."),
        _ids(pool="pool_id"),
    ),
    e.ledger_errors.InvalidAmount: (
        N_("%(what)s must be a positive amount exact to the fen; got %(amount)s."),
        lambda exc: {"what": said(exc.what), "amount": exc.amount},
    ),
    e.ledger_errors.InsufficientFunds: (
        N_(
            "Pool %(pool)s cannot cover %(requested)s (available now: %(available)s): waitlist the "
            "application or lower the amount."
        ),
        lambda exc: {
            "pool": exc.pool_id,
            "requested": yuan(exc.requested),
            "available": "—" if exc.available is None else yuan(exc.available),
        },
    ),
    e.ledger_errors.FirmCapExceeded: (
        N_(
            "Firm %(uscc)s would exceed its cap of %(cap)s from pool %(pool)s with %(requested)s more: "
            "lower the amount."
        ),
        lambda exc: {
            "uscc": exc.firm_uscc,
            "cap": yuan(exc.cap),
            "pool": exc.pool_id,
            "requested": yuan(exc.requested),
        },
    ),
    e.ledger_errors.ContractAlreadyClaimed: (
        N_("Contract %(contract)s of firm %(uscc)s has already been claimed: one claim per contract."),
        _ids(contract="contract_id", uscc="firm_uscc"),
    ),
    e.ledger_errors.IdempotencyConflict: (
        N_(
            "This request's key %(key)s was already used for a different request: send the form again from "
            "its page."
        ),
        _ids(key="key"),
    ),
    e.ledger_errors.ReservationNotFound: (
        N_("There is no reservation %(reservation)s."),
        _ids(reservation="reservation_id"),
    ),
    e.ledger_errors.ReservationNotPending: (
        N_("Reservation %(reservation)s is %(status)s, not pending: it cannot change again."),
        lambda exc: {"reservation": exc.reservation_id, "status": word(exc.status)},
    ),
    e.ledger_errors.AwardNotFound: (N_("There is no award %(award)s."), _ids(award="award_id")),
    e.ledger_errors.AwardNotActive: (
        N_("Award %(award)s is %(status)s: only an active award can be paid or clawed back."),
        lambda exc: {"award": exc.award_id, "status": word(exc.status)},
    ),
    e.ledger_errors.TranchePlanInvalid: (N_("The tranche plan was refused: %(detail)s"), _detail),
    e.ledger_errors.TrancheNotFound: (
        N_("Award %(award)s has no tranche %(seq)s."),
        _ids(award="award_id", seq="seq"),
    ),
    e.ledger_errors.TrancheAlreadyPaid: (
        N_("Tranche %(seq)s of award %(award)s has already been paid: a tranche is paid once."),
        _ids(award="award_id", seq="seq"),
    ),
    e.ledger_errors.TrancheNotPending: (
        N_("Tranche %(seq)s of award %(award)s is %(status)s, not pending."),
        lambda exc: {"award": exc.award_id, "seq": exc.seq, "status": word(exc.status)},
    ),
    e.ledger_errors.MilestoneNotDue: (
        N_(
            "Tranche %(seq)s of award %(award)s is due %(due)s: it cannot be missed as of %(as_of)s. Claw "
            "the "
            "award back for a commitment broken before its date."
        ),
        lambda exc: {"award": exc.award_id, "seq": exc.seq, "due": when(exc.due), "as_of": when(exc.as_of)},
    ),
    e.ledger_errors.RecoveryTooLarge: (
        N_("Award %(award)s: %(amount)s exceeds the %(owed)s still owed."),
        lambda exc: {"award": exc.award_id, "amount": yuan(exc.amount), "owed": yuan(exc.owed)},
    ),
    e.ledger_errors.TransactionNotFound: (
        N_("There is no ledger transaction %(transaction)s."),
        _ids(transaction="txn_id"),
    ),
    e.ledger_errors.NotReversible: (
        N_("Transaction %(transaction)s cannot be reversed: %(why)s"),
        lambda exc: {"transaction": exc.txn_id, "why": because(exc) or said(exc.why)},
    ),
    e.ledger_errors.Unbalanced: (
        N_("Internal error: the postings sum to %(total)s, not zero; nothing was written. Report it."),
        lambda exc: {"total": yuan(exc.total)},
    ),
    # programmes and their lifecycle
    e.ProgrammeError: (
        N_("%(n)s problem(s) in the programme: %(detail)s"),
        lambda exc: {"n": len(exc.problems), "detail": "; ".join(str(p) for p in exc.problems)},
    ),
    e.ReformError: (
        N_("%(n)s problem(s) in the reform: %(detail)s"),
        lambda exc: {"n": len(exc.problems), "detail": "; ".join(str(p) for p in exc.problems)},
    ),
    e.PublishingError: (N_("The programme step was refused: %(detail)s"), _detail),
    e.publishing_errors.DraftNotFound: (N_("There is no programme draft %(draft)s."), _ids(draft="draft_id")),
    e.publishing_errors.IllegalStep: (
        N_("Draft %(draft)s is %(status)s: it cannot be %(step)s (only a draft that is %(allowed)s can)."),
        lambda exc: {
            "draft": exc.draft_id,
            "status": word(exc.status),
            "step": word(exc.step),
            "allowed": words(exc.allowed_from),
        },
    ),
    e.publishing_errors.SecondOfficerRequired: (
        N_("Draft %(draft)s was written by %(author)s: a second officer, not its author, must %(step)s it."),
        lambda exc: {"draft": exc.draft_id, "author": exc.author, "step": word(exc.step)},
    ),
    e.publishing_errors.NotTheAuthor: (
        N_("Draft %(draft)s is %(author)s's: only its author edits or submits it."),
        _ids(draft="draft_id", author="author"),
    ),
    e.publishing_errors.ReasonRequired: (
        N_("Give a reason to %(step)s (it is kept in the audit chain)."),
        lambda exc: {"step": word(exc.step)},
    ),
    e.publishing_errors.TestsFailed: (
        N_("Draft %(draft)s cannot be published: %(n)s of its test cases do not pass (%(failures)s)."),
        lambda exc: {"draft": exc.draft_id, "n": len(exc.failures), "failures": "; ".join(exc.failures[:5])},
    ),
    # review
    e.ReviewError: (N_("The review step was refused: %(detail)s"), _detail),
    e.review_errors.ReviewerNotFound: (
        N_("There is no reviewer %(reviewer)s: add the reviewer (id, name, fields) first."),
        _ids(reviewer="reviewer_id"),
    ),
    e.review_errors.ReviewerExists: (
        N_("A reviewer %(reviewer)s already exists."),
        _ids(reviewer="reviewer_id"),
    ),
    e.review_errors.InvalidReviewer: (N_("The reviewer was refused: %(detail)s"), _detail),
    e.review_errors.AssignmentNotFound: (
        N_("Reviewer %(reviewer)s is not assigned to application %(application)s."),
        _ids(reviewer="reviewer_id", application="application_id"),
    ),
    e.review_errors.NotEnoughReviewers: (
        N_(
            "Application %(application)s (%(sector)s) needs %(needed)s reviewers without a conflict who "
            "cover "
            "%(sector)s; only %(found)s are available: add reviewers for that field."
        ),
        lambda exc: {
            "application": exc.application_id,
            "sector": word(exc.sector),
            "needed": exc.needed,
            "found": exc.found,
        },
    ),
    e.review_errors.DeclarationRequired: (
        N_(
            "Reviewer %(reviewer)s has not declared on application %(application)s: declare whether you "
            "have a "
            "conflict of interest before the confidential material is shown."
        ),
        _ids(reviewer="reviewer_id", application="application_id"),
    ),
    e.review_errors.Conflicted: (
        N_(
            "Reviewer %(reviewer)s has a conflict of interest with application %(application)s (%(reason)s) "
            "and may neither see nor score it."
        ),
        lambda exc: {
            "reviewer": exc.reviewer_id,
            "application": exc.application_id,
            "reason": said(exc.reason),
        },
    ),
    e.review_errors.AlreadyDeclared: (
        N_("Reviewer %(reviewer)s has already declared on application %(application)s (%(status)s)."),
        lambda exc: {
            "reviewer": exc.reviewer_id,
            "application": exc.application_id,
            "status": word(exc.status),
        },
    ),
    e.review_errors.InvalidScore: (N_("The score sheet was refused: %(detail)s"), _detail),
    e.review_errors.AlreadyScored: (
        N_("Reviewer %(reviewer)s has already scored application %(application)s."),
        _ids(reviewer="reviewer_id", application="application_id"),
    ),
    e.review_errors.ReviewIncomplete: (
        N_(
            "%(n)s review(s) are not scored yet (for example %(reviewer)s on %(application)s): every "
            "assigned reviewer must score before the scores are normalised; reassign a review whose "
            "reviewer cannot go on to another reviewer first."
        ),
        _ids(n="missing", reviewer="reviewer_id", application="application_id"),
    ),
    e.review_errors.AlreadyAssigned: (
        N_(
            "Reviewer %(reviewer)s is already on application %(application)s (or declared a conflict with "
            "it): choose another reviewer."
        ),
        _ids(reviewer="reviewer_id", application="application_id"),
    ),
    e.review_errors.NotReassignable: (
        N_(
            "The review of application %(application)s by %(reviewer)s is %(status)s: it cannot be given "
            "to another reviewer."
        ),
        lambda exc: {
            "reviewer": exc.reviewer_id,
            "application": exc.application_id,
            "status": word(exc.status),
        },
    ),
    e.review_errors.ReviewerConflict: (
        N_(
            "Reviewer %(reviewer)s has a conflict of interest with application %(application)s "
            "(%(reasons)s): "
            "choose another reviewer."
        ),
        lambda exc: {
            "reviewer": exc.reviewer_id,
            "application": exc.application_id,
            "reasons": LIST_SEPARATORS.get(language(), ", ").join(said(r) for r in exc.reasons),
        },
    ),
    e.review_errors.ReviewerWithoutAccount: (
        N_(
            "Reviewer %(reviewer)s has no active reviewer account, so nobody could do this review: create a "
            "user with the reviewer role and the user name %(reviewer)s, or choose another reviewer."
        ),
        _ids(reviewer="reviewer_id"),
    ),
    # selection
    e.SelectionError: (N_("The selection was refused: %(detail)s"), _detail),
    e.selection_errors.CallFileError: (
        N_("%(n)s problem(s) in the call file: %(detail)s"),
        lambda exc: {"n": len(exc.problems), "detail": "; ".join(str(p) for p in exc.problems)},
    ),
    e.selection_errors.Infeasible: (
        N_("The optimiser found no selection: %(detail)s"),
        lambda exc: {"detail": said(exc.detail)},
    ),
    e.selection_errors.NotSelected: (
        N_("Call %(call)s has no selection yet: select and award first."),
        _ids(call="call_id"),
    ),
    e.selection_errors.AlreadySelected: (
        N_(
            "Call %(call)s was already selected (run %(run)s): a designation is final; withdraw or promote "
            "to "
            "change it."
        ),
        _ids(call="call_id", run="run_id"),
    ),
    e.selection_errors.NotDesignated: (
        N_("Application %(application)s holds no active designation."),
        _ids(application="application_id"),
    ),
    e.selection_errors.ScoresMissing: (
        N_(
            "%(n)s application(s) under review have no normalised score (%(applications)s): every assigned "
            "reviewer must score them, then normalise the scores."
        ),
        lambda exc: {
            "n": len(exc.application_ids),
            "applications": LIST_SEPARATORS.get(language(), ", ").join(exc.application_ids[:5])
            + (" …" if len(exc.application_ids) > 5 else ""),
        },
    ),
    e.selection_errors.CallFileMissing: (
        N_(
            "Call %(call)s has no call file yet: an officer uploads its YAML (rubric, quotas, budget) before "
            "reviewers are assigned or firms selected."
        ),
        _ids(call="call_id"),
    ),
    e.selection_errors.CallFileMismatch: (
        N_("The call file is for call %(found)s, not %(call)s."),
        _ids(found="found", call="call_id"),
    ),
    # cross-domain workflows and held money moves
    e.WorkflowError: (N_("The operation was refused: %(detail)s"), _detail),
    e.workflows_errors.WrongAllocationMode: (
        N_("Call %(call)s allocates %(mode)s: this operation is for %(needed)s calls."),
        lambda exc: {"call": exc.call_id, "mode": word(exc.mode), "needed": word(exc.needed.split(" ")[0])},
    ),
    e.workflows_errors.NoPendingReservation: (
        N_("Application %(application)s has no pending reservation: decide it first."),
        _ids(application="application_id"),
    ),
    e.workflows_errors.NoAward: (
        N_("Application %(application)s has no award: grant it first."),
        _ids(application="application_id"),
    ),
    e.workflows_errors.MissingScore: (
        N_("Application %(application)s has no score: a ranked call needs one for every application."),
        _ids(application="application_id"),
    ),
    e.workflows_errors.ProgrammeNotLoaded: (
        N_("The call's programme is not loaded: %(detail)s"),
        _detail,
    ),
    e.workflows_errors.ApprovalNotFound: (
        N_("No money move awaiting approval has the id %(approval)s: see the list on the 待复核 page."),
        _ids(approval="approval_id"),
    ),
    e.workflows_errors.SameOfficer: (
        N_(
            "Money move %(approval)s was requested by %(actor)s: a different officer must approve or "
            "reject it "
            "(two-person rule)."
        ),
        _ids(approval="approval_id", actor="actor"),
    ),
    e.ApprovalNotAwaiting: (
        N_(
            "Money move %(approval)s is already %(status)s: only a move awaiting approval can be approved "
            "or rejected."
        ),
        lambda exc: {"approval": exc.approval_id, "status": word(exc.status)},
    ),
    e.AlreadyAwaiting: (
        N_(
            "The same operation (%(operation)s) already awaits a second officer's approval as money move "
            "%(approval)s: approve or reject that one on the 待复核 page instead of asking again."
        ),
        lambda exc: {"operation": word(exc.operation), "approval": exc.approval_id},
    ),
    e.MoveReasonRequired: (
        N_("Say why the money move is rejected (it is recorded and shown to the officer who asked)."),
        lambda exc: {},
    ),
    e.TrancheNotPayable: (
        N_("The tranche cannot be paid yet: %(detail)s"),
        lambda exc: {"detail": unpayable(exc)},
    ),
}


def worded(exc: BaseException) -> str | None:
    """``exc`` in the page's language with its figures, or None for a class the table does not word."""
    entry = WORDINGS.get(type(exc))
    if entry is None:
        return None
    msgid, figures = entry
    return gettext(msgid) % dict(figures(exc))
