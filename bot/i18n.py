"""The message catalogs and which of their languages a language tag means.

The catalogs are the translators' `.po` files under bot/locales, shipped as package data and compiled in
memory the first time a language is used: a fresh `pip install` needs no build step, and nobody can forget
to recompile a `.mo` after editing a translation.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE = "en"  # the msgids are English: English needs no catalog


def _available() -> tuple[str, ...]:
    found = sorted(p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE, *found)


LANGUAGES: tuple[str, ...] = _available()  # Babel locale identifiers: en, bn, pt_BR…


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> NullTranslations:
    """The language's catalog (an untranslated message falls back to the English msgid)."""
    if language == SOURCE:
        return NullTranslations()
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def native_name(language: str) -> str:
    """The language's name in itself, as its speakers would look for it in a list: "বাংলা", "Español"."""
    name = Locale.parse(language).display_name or language
    return name[:1].upper() + name[1:]


def match(tag: str | None) -> str | None:
    """The supported language an IETF tag (Telegram's language_code, an Accept-Language entry) means: the
    exact language and region first, then the language alone ("pt" and "pt-PT" → pt_BR, "es-MX" → es).
    Own code rather than babel.negotiate_locale: that one does not map a bare "pt" to "pt_BR"."""
    if not tag:
        return None
    wanted = tag.strip().replace("_", "-").lower()
    by_tag = {language.replace("_", "-").lower(): language for language in LANGUAGES}
    if wanted in by_tag:
        return by_tag[wanted]
    primary = wanted.split("-", 1)[0]
    return next((language for language in LANGUAGES if language.split("_", 1)[0].lower() == primary), None)


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of a browser's Accept-Language header (highest q first)."""
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate((header or "").split(",")):
        tag, _, params = entry.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        found = match(tag)
        if found is not None:
            return found
    return None
