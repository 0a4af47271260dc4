"""Which language a tag means, a browser prefers and a person or group reads; numbers, sizes and plural forms
in the reader's language."""

from __future__ import annotations

import pytest

from bot import i18n, texts
from bot.languages import Languages
from storage.database import Database
from storage.languages import LanguageRepository


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("pt", "pt_BR"),
        ("pt-br", "pt_BR"),
        ("PT_br", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("es-419", "es"),
        ("es", "es"),
        ("en-US", "en"),
        ("bn-IN", "bn"),
        ("hi", "hi"),
        ("ru", "ru"),
        ("id", "id"),
        ("de", None),
        ("", None),
        (None, None),
        ("x" * 300, None),
        ("-", None),
    ],
)
def test_a_tag_means_a_supported_language_or_none(tag: str | None, language: str | None) -> None:
    assert i18n.match(tag) == language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-DE,de;q=0.9,ru;q=0.8,en;q=0.7", "ru"),
        ("en;q=0.1, bn-IN", "bn"),
        ("hi;q=0, es;q=0.2", "es"),
        ("ru;q=abc, id;q=0.5", "id"),
        ("fr, *;q=0.5", None),
        ("", None),
        (None, None),
        (";;;,,,q=", None),
    ],
)
def test_the_browsers_best_supported_language(header: str | None, language: str | None) -> None:
    assert i18n.from_accept_language(header) == language


def test_every_language_is_named_in_itself() -> None:
    names = {language: i18n.native_name(language) for language in i18n.LANGUAGES}
    assert names["bn"] == "বাংলা" and names["hi"] == "हिन्दी" and names["ru"] == "Русский"
    assert names["es"] == "Español" and names["pt_BR"] == "Português (Brasil)" and names["en"] == "English"


def test_numbers_and_sizes_are_written_the_readers_way() -> None:
    english, russian = texts.speaker("en"), texts.speaker("ru")
    assert english.plural(texts.PICK_TOO_BIG, 2500, limit=2000).startswith(
        "You picked 2,500 items, more than the 2,000"
    )
    assert english.number(2500) == "2,500" and russian.number(2500) == "2\xa0500"
    assert [english.file_size(n) for n in (999, 61_000_000, 1_500_000_000)] == ["1 kB", "61 MB", "1.5 GB"]
    assert russian.file_size(1_500_000_000) == "1,5 ГБ"
    assert english.duration(600) == "10 minutes"


def test_russian_picks_among_its_three_plural_forms() -> None:
    russian = texts.speaker("ru")
    forms = {n: russian.plural(texts.TOO_MANY_PICKS, n).replace(str(n), "#") for n in (1, 2, 5, 21, 22, 25)}
    assert len({forms[1], forms[2], forms[5]}) == 3
    assert (forms[21], forms[22], forms[25]) == (forms[1], forms[2], forms[5])


async def test_who_reads_which_language(db: Database) -> None:
    languages = Languages(LanguageRepository(db))
    assert (await languages.of_user(1, "pt-br")).language == "pt_BR"
    assert (await languages.of_chat(1)).language == "pt_BR"  # remembered for messages with no update at hand
    await languages.choose(1, "ru")
    assert (await languages.of_user(1, "pt-br")).language == "ru"  # the choice wins over the app
    await languages.choose(1, None)
    assert (await languages.of_chat(1)).language == "pt_BR"
    assert (await languages.of_user(2, "de")).language == "en"  # not supported: English
    assert (await languages.of_chat(3)).language == "en"  # never seen

    group = -1001
    assert (await languages.of_chat(group)).language == "en"
    await languages.group_joined(group, 1, "pt-br")  # the adder's language, until an admin chooses
    assert (await languages.of_chat(group)).language == "pt_BR"
    await languages.choose_for_group(group, "hi")
    await languages.group_joined(group, 2, "de")  # added again by someone else: the choice stays
    assert (await languages.of_chat(group)).language == "hi"


async def test_a_group_settles_on_its_first_speaker_then_is_read_once(db: Database) -> None:
    reads: list[int] = []

    class CountingReads(LanguageRepository):
        async def of_chat(self, chat_id: int) -> str | None:
            reads.append(chat_id)
            return await super().of_chat(chat_id)

    languages = Languages(CountingReads(db))
    group = -1002
    assert (await languages.of_group(group, "pt_BR")).language == "pt_BR"  # none yet: the member's
    reads.clear()
    assert (await languages.of_group(group, "de")).language == "pt_BR"  # settled: another member's does not change it
    assert reads == [group]
    assert (await languages.of_chat(group)).language == "pt_BR"
