"""What is wrong with a language's catalog: a message missing, untranslated or fuzzy, a placeholder that differs from
the English one, HTML that Telegram would refuse or markup that differs from the English."""

from __future__ import annotations

from collections import Counter
from string import Formatter

from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot import i18n
from emulators.telegram import ApiError, parse_html

TEMPLATE = i18n.LOCALES / f"{i18n.DOMAIN}.pot"


def template() -> Catalog:
    with TEMPLATE.open("rb") as pot:
        return read_po(pot)


def catalog(language: str) -> Catalog:
    with i18n.po_path(language).open("rb") as po:
        return read_po(po, locale=language)


def forms(message: Message, field: str = "string") -> list[str]:
    value = getattr(message, field)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def placeholders(text: str) -> frozenset[str] | str:
    """The `{named}` fields of `text` (one may be used twice), or why it is no format string Python takes."""
    try:
        return frozenset(name for _, name, _, _ in Formatter().parse(text) if name is not None)
    except ValueError as exc:
        return f"is no valid format string ({exc})"


def markup(text: str, fields: frozenset[str]) -> Counter[str] | str:
    """The kinds of Telegram entity `text` makes (its fields filled in), or Telegram's refusal."""
    try:
        _, entities = parse_html(text.format(**dict.fromkeys(fields, "x")))
    except ApiError as exc:
        return str(exc)
    except (KeyError, IndexError, ValueError) as exc:
        return f"cannot be filled in ({exc!r})"
    return Counter(str(entity["type"]) for entity in entities)


def english_problems() -> list[str]:
    """The English msgids themselves: singular and plural alike, and Telegram takes their HTML."""
    problems = []
    for message in template():
        if not message.id:
            continue
        english = forms(message, "id")
        fields = placeholders(english[-1])
        if isinstance(fields, str):
            problems.append(f"{english[-1]!r} {fields}")
            continue
        for text in english:
            if placeholders(text) != fields:
                problems.append(f"{text!r}: the plural forms' placeholders differ")
            if isinstance(made := markup(text, fields), str):
                problems.append(f"{text!r}: Telegram refuses its HTML: {made}")
    return problems


def problems(language: str) -> list[str]:
    """Everything wrong with `language`'s catalog against the template, one line each (none: complete)."""
    found = catalog(language)
    expected = get_plural(language).num_plurals
    wrong = [] if found.num_plurals == expected else [f"Plural-Forms has {found.num_plurals} forms, not {expected}"]
    ids = set()
    for message in template():
        if not message.id:
            continue
        ids.add(message.id if isinstance(message.id, str) else message.id[0])
        english = forms(message, "id")[-1]
        translated = found.get(message.id)
        if translated is None:
            wrong.append(f"missing: {english!r}")
            continue
        texts = forms(translated)
        if translated.fuzzy:
            wrong.append(f"fuzzy (check it, then drop the flag): {english!r}")
        if not all(texts) or len(texts) != (expected if message.pluralizable else 1):
            wrong.append(f"untranslated: {english!r}")
            continue
        fields = placeholders(english)
        assert not isinstance(fields, str), english  # english_problems() reports it
        tags = markup(english, fields)
        for text in texts:
            if placeholders(text) != fields:
                wrong.append(f"placeholders differ from the English {sorted(fields)}: {text!r}")
            elif (made := markup(text, fields)) != tags:
                wrong.append(f"markup differs from the English ({made} instead of {tags}): {text!r}")
    stale = [m for m in found if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in ids]
    wrong += [f"not in the template any more (pybabel update drops it): {m.id!r}" for m in stale]
    return wrong
