"""Chinese and English: Babel catalogues (``translations/<lang>/LC_MESSAGES/messages.mo``), the request's
language in a context variable, times in Asia/Shanghai and amounts in grouped yuan."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.support import NullTranslations, Translations

from huiqi.money import format_yuan

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
SHANGHAI = ZoneInfo("Asia/Shanghai")

_lang: ContextVar[str] = ContextVar("huiqi_lang", default=DEFAULT_LANGUAGE)


@cache
def catalogue(lang: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [lang], domain="messages")


def set_language(lang: str) -> None:
    _lang.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def language() -> str:
    return _lang.get()


def gettext(message: str) -> str:
    return catalogue(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(language()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a string for extraction (``pybabel extract -k N_``) that is translated later, when shown."""
    return message


#: Role names are shown through ``_(role)``; listed here so that extraction finds them.
ROLE_NAMES = (N_("firm_member"), N_("reviewer"), N_("officer"), N_("auditor"), N_("admin"))


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """``?lang=`` first, then the cookie the language switch sets, then the browser's preference."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return str(choice)
    if accept:
        for part in accept.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANGUAGE


def local_time(value: dt.datetime | str | None) -> str:
    """A moment as Shanghai wall-clock time (the database keeps UTC)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def money(value: Decimal | str | int | None) -> str:
    if value is None:
        return "—"
    return format_yuan(Decimal(str(value)), lang=language())
