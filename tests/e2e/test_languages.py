"""Every language, end to end: a person whose Telegram app speaks it links, picks and reads the summary, and
every message, button, menu entry and page on the way is in that language. A language whose catalog is not
complete fails here (tests/catalogs.py says what is missing), by design.

Then: /language wins over the app's language, a group speaks the language of whoever added the bot until an
admin chooses another in /settings, and a group's progress and summary are in the group's language while the
picker's own messages are in theirs."""

from __future__ import annotations

from html import escape

import httpx
import pytest

from bot import i18n, texts
from bot.linking import STATE_TTL
from bot.texts import ENGLISH
from emulators.google import GoogleEmulator
from emulators.telegram import MessageRecord, TelegramEmulator, parse_html
from tests import catalogs
from tests.harness import BotProcess, Person, buttons, callback_data, query_of, url_button

# What a Telegram app sends as language_code (IETF tags, some with a region), for each language.
APP_LANGUAGES = {"en": "en", "bn": "bn", "hi": "hi", "es": "es-419", "pt_BR": "pt-br", "ru": "ru", "id": "id"}
GROUP = -1001234567890


def labels(message: object) -> list[str]:
    return [str(button["text"]) for button in buttons(message)]


def menu(tg: TelegramEmulator, kind: str, language: str) -> list[str]:
    code = None if language == i18n.SOURCE else language[:2]
    return [c["description"] for c in tg.commands[tg.scope_key({"type": kind}, code)]]


async def arrives(tg: TelegramEmulator, chat_id: int, text: str) -> MessageRecord:
    return await tg.wait_for_message(chat_id, lambda m: (m.text or m.caption) == text, timeout=30.0)


def person(tg: TelegramEmulator, google: GoogleEmulator, user_id: int, name: str, language_code: str) -> Person:
    tg.add_user(user_id, name, username=name.lower(), language_code=language_code)
    return Person(tg, google, user_id, name, f"{name.lower()}@example.com")


async def test_the_menus_come_in_every_language(bot: BotProcess, tg: TelegramEmulator) -> None:
    for language in i18n.LANGUAGES:
        t = texts.speaker(language)
        assert menu(tg, "all_private_chats", language) == [t(description) for _, description in texts.COMMANDS]
        assert len(menu(tg, "all_group_chats", language)) == 4


@pytest.mark.parametrize("language", sorted(APP_LANGUAGES))
async def test_link_pick_summary_in_the_apps_language(
    language: str, bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    problems = [] if language == i18n.SOURCE else catalogs.problems(language)
    assert not problems, f"the {language} catalog is not complete:\n" + "\n".join(problems)
    t = texts.speaker(language)
    rina = person(tg, google, 333, "Rina", APP_LANGUAGES[language])
    photos = [google.add_photo(rina.email) for _ in range(2)]

    welcome = await rina.reply_to("/start")
    assert welcome.text == plain(t(texts.WELCOME, name="Rina"))
    assert labels(welcome) == [t(texts.BUTTON_LINK)]
    assert menu(tg, "all_private_chats", language)[0] == t(texts.COMMANDS[0][1])

    prompt = await rina.reply_to("/link", lambda m: url_button(m) is not None)
    assert prompt.text == plain(t(texts.LINK_PROMPT, duration=t.duration(STATE_TTL)))
    assert labels(prompt) == [t(texts.BUTTON_SIGN_IN)]
    rina.google.consent.email = rina.email
    sign_in = str(url_button(prompt))
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(sign_in, headers={"Accept-Language": "de"})  # the person's language wins
        assert page.status_code == 200
        assert f'lang="{language.replace("_", "-")}"' in page.text
        for message in (texts.PAGE_SIGN_IN_TITLE, texts.PAGE_SIGN_IN_CONTINUE, texts.PAGE_SIGN_IN_NOT_ME):
            assert escape(t(message)) in page.text
        answer = await client.post(sign_in.split("?")[0], data={"s": query_of(sign_in)["s"], "answer": "continue"})
    done = await rina.open_url(answer.headers["location"])
    assert done.status_code == 200 and escape(t(texts.PAGE_LINKED[0])) in done.text
    await arrives(tg, rina.user_id, plain(t(texts.LINKED, email=rina.email)))

    known = set(google.sessions)
    pick = await rina.reply_to("/pick", lambda m: url_button(m) is not None)
    session = await google.wait_for_session(lambda s: s.id not in known)
    assert pick.text == plain(t(texts.PICK_PROMPT, email=rina.email, limit=""))
    assert labels(pick) == [t(texts.BUTTON_OPEN_PHOTOS), t(texts.BUTTON_QR), t(texts.BUTTON_CANCEL)]
    google.pick(session.id, photos)
    summary = await arrives(tg, rina.user_id, plain(t.plural(texts.SUMMARY_ALL, 2)))
    assert labels(summary) == [t(texts.BUTTON_PICK)]
    if language != i18n.SOURCE:  # really translated, not the English left in place
        assert summary.text != plain(ENGLISH.plural(texts.SUMMARY_ALL, 2)) and welcome.text != plain(
            ENGLISH(texts.WELCOME, name="Rina")
        )


async def test_the_language_chosen_wins_over_the_apps(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    ivan = person(tg, google, 444, "Ivan", "en-US")
    chooser = await ivan.reply_to("/language")
    assert chooser.text == plain(ENGLISH(texts.LANGUAGE_CHOOSE, language="English"))
    assert set(labels(chooser)) >= {"✅ English", "বাংলা", "हिन्दी", "Español", "Português (Brasil)", "Русский"}
    await ivan.press(chooser, "lang:ru")
    russian = texts.speaker("ru")
    await tg.wait_for(lambda: tg.message(ivan.user_id, chooser.message_id).text == plain(russian(texts.LANGUAGE_SAVED)))
    assert (await ivan.reply_to("/help")).text == plain(russian(texts.HELP))

    again = await ivan.reply_to("/language")
    await ivan.press(again, callback_data(again, russian(texts.LANGUAGE_AUTOMATIC)))
    await tg.wait_for(lambda: tg.message(ivan.user_id, again.message_id).text == plain(ENGLISH(texts.LANGUAGE_SAVED)))
    assert (await ivan.reply_to("/help")).text == plain(ENGLISH(texts.HELP))


async def test_a_group_speaks_its_adders_language_until_an_admin_chooses(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    ana = person(tg, google, 555, "Ana", "pt-BR")  # adds the bot, and is the group's admin
    raj = person(tg, google, 666, "Raj", "hi")
    tg.add_group(GROUP, "Família", members={ana.user_id: "administrator", raj.user_id: "member"}, added_by=ana.user_id)
    portuguese, hindi, spanish = texts.speaker("pt_BR"), texts.speaker("hi"), texts.speaker("es")
    settings = await ana.reply_to("/settings", chat_id=GROUP)
    assert settings.text.endswith(plain(portuguese(texts.SETTINGS_GROUP_LANGUAGE, language="Português (Brasil)")))

    # A member's own messages in a group are in their language: Raj is not linked.
    await raj.say("/pick", chat_id=GROUP)
    await arrives(tg, GROUP, plain(hindi(texts.GROUP_LINK_FIRST, name="Raj")))

    # Ana makes the group Spanish; Raj may not.
    await ana.press(settings, callback_data(settings, portuguese(texts.BUTTON_GROUP_LANGUAGE)), GROUP)
    await tg.wait_for(lambda: "glang:es" in str(tg.message(GROUP, settings.message_id).reply_markup))
    refused = tg.press_button(raj.user_id, GROUP, settings.message_id, f"glang:es:{ana.user_id}")
    await tg.wait_for(lambda: refused in tg.answered_callbacks)
    assert tg.answered_callbacks[refused].get("text") == hindi(texts.SETTINGS_NOT_YOURS)
    await ana.press(settings, f"glang:es:{ana.user_id}", GROUP)
    await tg.wait_for(lambda: "Español" in (tg.message(GROUP, settings.message_id).text or ""))

    # The group's lines and summary are in Spanish, Ana's own prompt in Portuguese.
    await ana.link()
    photo = google.add_photo(ana.email)
    known = set(google.sessions)
    await ana.say("/pick", chat_id=GROUP)
    prompt = await tg.wait_for_message(ana.user_id, lambda m: "pick:qr" in str(m.reply_markup))
    session = await google.wait_for_session(lambda s: s.id not in known)
    assert labels(prompt)[0] == portuguese(texts.BUTTON_OPEN_PHOTOS)
    await arrives(tg, GROUP, plain(spanish(texts.GROUP_CHOOSING, name="Ana")))
    google.pick(session.id, [photo])
    await arrives(tg, GROUP, plain(spanish.plural(texts.SUMMARY_ALL, 1)))
    [posted] = [m for m in tg.messages(GROUP) if m.kind == "photo"]
    assert posted.caption == plain(spanish(texts.SHARED_BY, name="Ana"))


async def test_a_group_whose_first_update_comes_before_the_bot_added_one_settles_on_its_sender(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The Bot API sends the bot-added update in a queue of its own, so a member's /settings can be handled
    first: the group settles on that member's language rather than showing English."""
    ana = person(tg, google, 555, "Ana", "pt-BR")
    raj = person(tg, google, 666, "Raj", "hi")
    tg.add_group(GROUP, "Família", members={ana.user_id: "administrator", raj.user_id: "member"})  # no update yet
    portuguese, hindi = texts.speaker("pt_BR"), texts.speaker("hi")
    settings = await ana.reply_to("/settings", chat_id=GROUP)
    assert settings.text.endswith(plain(portuguese(texts.SETTINGS_GROUP_LANGUAGE, language="Português (Brasil)")))

    # Settled: the bot-added update coming late from someone else does not change it, and the group's lines
    # are in it too.
    tg.set_bot_status(GROUP, "left")
    tg.set_bot_status(GROUP, "member", by_user_id=raj.user_id)
    await raj.say("/pick", chat_id=GROUP)  # his own answer is in his language
    await arrives(tg, GROUP, plain(hindi(texts.GROUP_LINK_FIRST, name="Raj")))
    again = await ana.reply_to("/settings", chat_id=GROUP)
    assert again.text.endswith(plain(portuguese(texts.SETTINGS_GROUP_LANGUAGE, language="Português (Brasil)")))


async def test_a_page_nobody_is_known_for_speaks_the_browsers_language(bot: BotProcess) -> None:
    bengali, russian = texts.speaker("bn"), texts.speaker("ru")
    async with httpx.AsyncClient(timeout=30) as client:
        unknown = await client.get(f"{bot.base_url}/oauth/start?s=nobody", headers={"Accept-Language": "de, bn;q=0.8"})
        forged = await client.get(f"{bot.base_url}/oauth/done?result=denied&lang=xx", headers={"Accept-Language": "ru"})
    assert unknown.status_code == 400 and 'lang="bn"' in unknown.text
    assert escape(bengali(texts.PAGE_BAD_STATE[0])) in unknown.text
    assert forged.status_code == 200 and escape(russian(texts.PAGE_DENIED[0])) in forged.text


def plain(html: str) -> str:
    """The text a person reads of an HTML message (what the emulator records)."""
    return parse_html(html)[0]
