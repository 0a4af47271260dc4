"""The message catalogs: the template holds every message of the code, English is well formed, and every
language's catalog is complete with the English placeholders and HTML. A language whose translation is not
done fails here, by design: nothing is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot import i18n, texts
from tests import catalogs

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE]


def msgids(path: Path) -> set[object]:
    with path.open("rb") as pot:
        return {message.id if isinstance(message.id, str) else tuple(message.id) for message in read_po(pot)}


def test_the_template_holds_exactly_the_messages_of_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pybabel extract` (configured in pyproject.toml) run now finds what bot/locales/messages.pot holds."""
    monkeypatch.chdir(ROOT)
    fresh = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-o", str(fresh)])  # type: ignore[no-untyped-call]
    assert msgids(fresh) == msgids(catalogs.TEMPLATE), "run `pybabel extract` and list the changes for translators"


def test_the_issue_languages_all_have_a_catalog() -> None:
    assert set(TRANSLATED) >= {"bn", "hi", "es", "pt_BR", "ru", "id"}


def test_the_english_messages_are_well_formed() -> None:
    problems = catalogs.english_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalog_is_complete_and_keeps_placeholders_and_markup(language: str) -> None:
    problems = catalogs.problems(language)
    assert not problems, f"{language}: {len(problems)} problem(s)\n" + "\n".join(problems)


def test_the_check_catches_what_it_promises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog with a dropped placeholder, broken and changed markup, a missing plural form and a message
    missing altogether is reported for each, in a language (Russian) with three plural forms."""
    broken = Catalog(locale="ru")
    for message in catalogs.template():
        if message.id:
            broken.add(message.id, message.id if isinstance(message.id, str) else [message.id[1]] * 3)
    broken[texts.LINKED].string = "Готово: <b>{mail}</b>"  # a placeholder renamed
    broken[texts.STATUS_LINKED].string = "Связано с <b>{email}</i>."  # Telegram refuses it
    broken[texts.FORWARD_CURRENT].string = "Сюда: {title}."  # the bold is gone
    broken[texts.SUMMARY_ALL[0]].string = ("✅ {count}", "✅ {count}", "")  # a form untranslated
    del broken[texts.PICK_CANCELLED]
    monkeypatch.setattr(catalogs, "catalog", lambda language: broken)
    found = "\n".join(catalogs.problems("ru"))
    assert "placeholders differ" in found and "{mail}" in found
    assert "Unmatched end tag" in found
    assert "markup differs" in found and "Сюда" in found
    assert f"untranslated: {texts.SUMMARY_ALL[1]!r}" in found
    assert f"missing: {texts.PICK_CANCELLED!r}" in found
    assert len(catalogs.problems("ru")) == 5
