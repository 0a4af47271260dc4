"""Captions from metadata, end to end: a chat chooses in /settings none (the default), the date, or the date and
camera; each photo of an album then carries its own, in the chat's language, and a group's first photo still
says who shared them."""

from __future__ import annotations

from datetime import UTC, datetime

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, media, start_pick, wait_summary
from tests.e2e.test_groups import family, group_pick
from tests.harness import BotProcess, Person, callback_data

BOT = "photos_test_bot"
BEACH = datetime(2026, 7, 14, 9, 30, tzinfo=UTC)
DUNE = datetime(2026, 7, 15, 18, 5, tzinfo=UTC)


async def choose_captions(person: Person, tg: TelegramEmulator, label: str, chat_id: int | None = None) -> None:
    command = "/settings" if chat_id is None else f"/settings@{BOT}"
    menu = await person.reply_to(command, lambda m: "Captions" in (m.text or ""), chat_id)
    await person.press(menu, callback_data(menu, label), chat_id=chat_id)
    where = person.user_id if chat_id is None else chat_id
    await tg.wait_for(lambda: f"✅ {label}" in str(tg.message(where, menu.message_id).reply_markup), 10)


async def test_each_photo_says_when_and_with_what_it_was_taken(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    beach = google.add_photo(alice.email, create_time=BEACH, camera_make="Google", camera_model="Pixel 8")
    dune = google.add_photo(alice.email, create_time=DUNE, camera_make="Canon", camera_model="Canon EOS R6")
    plain = google.add_photo(alice.email, create_time=DUNE, camera_make="", camera_model="")
    await link(alice)
    await choose_captions(alice, tg, "Date and camera")
    _, session = await start_pick(alice)
    google.pick(session.id, [beach, dune, plain])
    await wait_summary(tg, alice.user_id)
    assert [m.caption for m in media(tg, alice.user_id)] == [
        "📅 Jul 14, 2026 · Google Pixel 8",
        "📅 Jul 15, 2026 · Canon EOS R6",  # the maker is not said twice
        "📅 Jul 15, 2026",  # no camera known: the date alone
    ]


async def test_dates_only_and_the_groups_credit_stays_on_the_first_photo(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    tg.set_bot_status(group, "member")
    tg.chats[group].members[alice.user_id] = "administrator"  # only admins change a group's settings
    photos = [google.add_photo(alice.email, create_time=BEACH) for _ in range(2)]
    await link(alice)
    await choose_captions(alice, tg, "Date", group)
    _, session = await group_pick(alice, group)
    google.pick(session.id, photos)
    await wait_summary(tg, group)
    assert [m.caption for m in media(tg, group)] == ["📅 Jul 14, 2026\n📷 Shared by Alice", "📅 Jul 14, 2026"]


async def test_no_captions_unless_the_chat_asks(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email, create_time=BEACH) for _ in range(2)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, photos)
    await wait_summary(tg, alice.user_id)
    assert [m.caption for m in media(tg, alice.user_id)] == [None, None]
