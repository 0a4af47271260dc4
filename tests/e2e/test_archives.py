"""Archives, end to end: a chat whose /settings chose Archive (ZIP) gets its picks as ZIP files of the original
files, each within the upload limit, members byte for byte what Google served; a restart mid-archive neither
repeats nor loses anything; an archive Telegram refuses is reported with its items. A pick that would take long
as albums is offered as archives first: only the picker's answer counts, and silence means albums."""

from __future__ import annotations

import asyncio
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from emulators.google import GoogleEmulator, MediaItem
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.e2e.picking import RENDITION, link, served_sha, start_pick, temp_files, wait_items_sent, wait_summary
from tests.harness import BotProcess, Person, callback_data, rows

FORUM = -1002000
BOT = "photos_test_bot"
UPLOAD_LIMIT = 50_000_000
PHOTO = 4_500_000  # eleven fill an archive of at most 50 MB; the twelfth starts the next one


@pytest.fixture(autouse=True)
def kept_files(tg: TelegramEmulator, tmp_path: Path) -> None:
    """The Telegram emulator keeps uploads, so the archives can be opened."""
    tg.files_dir = tmp_path / "telegram-files"
    tg.files_dir.mkdir()


async def choose_archives(person: Person, chat_id: int | None = None) -> None:
    settings = await person.reply_to("/settings", lambda m: "How should picks arrive" in (m.text or ""), chat_id)
    await person.press(settings, callback_data(settings, "Archive (ZIP)"), chat_id)
    chat = chat_id if chat_id is not None else person.user_id
    await person.tg.wait_for(
        lambda: "Now: <b>Archive (ZIP)" in (person.tg.message(chat, settings.message_id).source_text or "")
    )


def archives(tg: TelegramEmulator, chat_id: int) -> list[MessageRecord]:
    return [m for m in tg.messages(chat_id) if m.from_bot and m.kind == "document"]


def members(tg: TelegramEmulator, message: MessageRecord) -> list[str]:
    """The SHA-256 of each member of the archive the message carries, in order; every member stored."""
    assert message.file is not None and (message.file.filename or "").endswith(".zip")
    path = tg.stored_file(message.file.sha256)
    assert path is not None
    with zipfile.ZipFile(path) as archive:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        return [hashlib.sha256(archive.read(info)).hexdigest() for info in archive.infolist()]


def originals(google: GoogleEmulator, items: list[MediaItem]) -> list[str]:
    return [served_sha(google, item, "=dv" if item.type == "VIDEO" else "=d") for item in items]


async def test_a_pick_arrives_as_zip_archives_of_the_original_files(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email, size=PHOTO) for _ in range(13)]
    video = google.add_video(alice.email, size=2_000_000)
    huge = google.add_photo(alice.email, size=UPLOAD_LIMIT + 1)
    await link(alice)
    await choose_archives(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [*photos[:11], huge, *photos[11:], video])
    summary = await wait_summary(tg, alice.user_id)
    assert (summary.text or "").startswith("✅ Delivered 14 of 15\n· 1 over 50 MB: IMG_"), summary.text
    sent = archives(tg, alice.user_id)
    assert [m.caption for m in sent] == ["🗜 Photos 1–11 of 15", "🗜 Photos and videos 13–15 of 15"]
    assert all(m.file is not None and m.file.size <= UPLOAD_LIMIT for m in sent)
    assert [sha for m in sent for sha in members(tg, m)] == originals(google, [*photos, video])
    assert not [m for m in tg.messages(alice.user_id) if m.kind in ("photo", "video")]  # no albums besides
    assert temp_files(bot) == []
    tg.assert_no_violations()


async def test_a_restart_mid_archive_sends_nothing_twice_and_loses_nothing(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Killed while the second archive is written: it is written again after the restart. Killed again while
    that archive is in Telegram's hands: its items are reported (it may have arrived), never sent twice."""
    bot = make_bot()
    await bot.start()
    photos = [google.add_photo(alice.email, size=PHOTO) for _ in range(30)]
    await link(alice)
    await choose_archives(alice)
    _, session = await start_pick(alice)
    held = google.hold_media(photos[15])  # the second archive (photos 12–22) waits for it
    google.pick(session.id, photos)
    await wait_items_sent(bot, 11)
    await tg.wait_for(lambda: any(s.item_id == photos[14].id for s in google.served), 30, what="photo 15")
    await bot.kill()  # archive 2 half written
    held.set()
    tg.set_latency("sendDocument", 3.0)  # archive 2, written again, is in Telegram's hands for a while
    await bot.start()
    await tg.wait_for(lambda: len(tg.calls_of("sendDocument")) == 2, 60, what="the second archive sent")
    await bot.kill()
    tg.set_latency("sendDocument", 0.0)
    await tg.wait_for(lambda: len(archives(tg, alice.user_id)) == 2, 10, what="Telegram carrying the archive out")
    await bot.start()
    summary = await wait_summary(tg, alice.user_id, timeout=60)
    assert (summary.text or "").startswith("✅ Delivered 19 of 30\n· 11 interrupted by a restart mid-upload")
    sent = archives(tg, alice.user_id)
    assert [m.caption for m in sent] == [
        "🗜 Photos 1–11 of 30",
        "🗜 Photos 12–22 of 30",  # Telegram took it in the end: it is there once
        "🗜 Photos 23–30 of 30",
    ]
    assert [sha for m in sent for sha in members(tg, m)] == originals(google, photos)
    await google.wait_for(lambda: session.deleted)
    assert temp_files(bot) == []
    await bot.stop()


async def test_access_revoked_while_an_archive_is_sent_reports_it_as_maybe_arrived(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The next archive is written while one is sent. Google access ending meanwhile ends the run: the archive in
    Telegram's hands is cut short, its items reported as maybe arrived (not as revoked), nothing sent twice."""
    photos = [google.add_photo(alice.email, size=PHOTO) for _ in range(20)]
    await link(alice)
    await choose_archives(alice)
    _, session = await start_pick(alice)
    holds = [google.hold_media(photo) for photo in photos[12:16]]  # the four downloads after the first archive's
    tg.set_latency("sendDocument", 60.0)  # the first archive (photos 1–11) stays in Telegram's hands
    google.pick(session.id, photos)
    await tg.wait_for(lambda: len(tg.calls_of("sendDocument")) == 1, 30, what="the first archive handed over")
    google.revoke_grant(alice.email)
    google.expire_access_tokens()
    for hold in holds:
        hold.set()  # 13–16 were asked for with a valid token: they come; 17 cannot
    text = (await wait_summary(tg, alice.user_id)).text or ""
    assert text.startswith("⚠️ Delivered 0 of 20\n· 11 Telegram did not confirm it in time"), text
    assert "· 9 Google access was revoked" in text
    assert len(tg.calls_of("sendDocument")) == 1
    await tg.wait_for(lambda: not temp_files(bot), 10, what="the run's files removed (after its summary)")


async def test_an_archive_telegram_refuses_is_reported_with_its_items(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email, size=300_000) for _ in range(3)]
    await link(alice)
    await choose_archives(alice)
    _, session = await start_pick(alice)
    tg.fail_next("sendDocument", status=400, description="Bad Request: wrong file identifier/HTTP URL specified")
    google.pick(session.id, photos)
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == (
        "⚠️ Delivered 0 of 3\n· 3 Telegram refused it (Wrong file identifier/http url specified): "
        "IMG_0001.JPG (300 kB), IMG_0002.JPG (300 kB), IMG_0003.JPG (300 kB)"
    )
    assert archives(tg, alice.user_id) == []
    assert temp_files(bot) == []


# 25 photos into a group at 600 messages a minute: about 2 s of flood waits as albums, one ZIP file in well under
# that; ARCHIVE_OFFER_MINUTES 0.01 (0.6 s) makes that "long".
BUTTONS: dict[int, list[list[dict[str, str]]]] = {}  # the offer's buttons, which its answer removes
OFFERING = {"TELEGRAM_GROUP_RATE_PER_MINUTE": "600", "ARCHIVE_OFFER_MINUTES": "0.01"}


async def offered(
    alice: Person, tg: TelegramEmulator, google: GoogleEmulator, *, topic: int | None = None
) -> tuple[list[MediaItem], MessageRecord]:
    """Alice's pick of 25 photos in the group (in `topic`); the offer the group is asked."""
    photos = [google.add_photo(alice.email, width=1000, height=1000, size=200_000) for _ in range(25)]
    await link(alice)
    known = set(google.sessions)
    tg.send_text(alice.user_id, f"/pick@{BOT}", FORUM, thread_id=topic)
    await tg.wait_for_message(alice.user_id, lambda m: "Open Google Photos" in str(m.reply_markup))
    session = await google.wait_for_session(lambda s: s.id not in known)
    google.pick(session.id, photos)
    offer = await tg.wait_for_message(FORUM, lambda m: "take about" in (m.text or ""))
    assert offer.reply_markup is not None
    BUTTONS[offer.message_id] = offer.reply_markup["inline_keyboard"]
    return photos, offer


async def press(tg: TelegramEmulator, person: Person, message: MessageRecord, label: str, *, late: bool = False) -> str:
    """Press a button of the group's message; the bot's answer to the press. `late`: a button as first shown,
    pressed on a screen the edit that removed it has not reached yet."""
    data = next(b["callback_data"] for row in BUTTONS[message.message_id] for b in row if b["text"].endswith(label))
    query = tg.press_button(person.user_id, FORUM, message.message_id, data, forged=late)
    answered = await tg.wait_for(lambda: tg.answered_callbacks.get(query), 5.0, what="an answer to the press")
    return str(answered.get("text", ""))


async def test_a_long_pick_is_offered_as_archives_and_the_pickers_yes_sends_them_into_the_topic(
    make_bot: Callable[..., BotProcess], alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(FORUM, "Class of 2026", members={alice.user_id: "member", bob.user_id: "member"}, forum=True)
    trip = tg.create_topic(FORUM, "School trip")
    bot = make_bot(**OFFERING)
    await bot.start()
    photos, offer = await offered(alice, tg, google, topic=trip)
    assert offer.thread_id == trip
    assert (offer.text or "").startswith("⏱ 25 photos take about ") and "send as 1 ZIP file in about" in (
        offer.text or ""
    )
    assert await press(tg, bob, offer, "ZIP files") == "Only the person who picked these can choose how they arrive."
    assert await press(tg, alice, offer, "ZIP files") == "🗜 Sending them as ZIP files."
    summary = await wait_summary(tg, FORUM)
    assert summary.text == "✅ Delivered all 25." and summary.thread_id == trip
    assert tg.message(FORUM, offer.message_id).text == "🗜 Sending them as ZIP files."
    sent = archives(tg, FORUM)
    assert [(m.caption, m.thread_id) for m in sent] == [("🗜 Photos 1–25 of 25\n📷 Shared by Alice", trip)]
    assert members(tg, sent[0]) == originals(google, photos)
    assert not [m for m in tg.messages(FORUM) if m.kind == "photo"]
    assert await press(tg, alice, offer, "Albums", late=True) == "Too late to change: they are on their way already."
    await bot.stop()


async def test_a_long_pick_comes_as_albums_when_its_picker_says_so(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(FORUM, "Family", members={alice.user_id: "member"})
    bot = make_bot(**OFFERING)
    await bot.start()
    photos, offer = await offered(alice, tg, google)
    assert await press(tg, alice, offer, "Albums") == "📷 Sending them as albums."
    assert (await wait_summary(tg, FORUM)).text == "✅ Delivered all 25."
    assert tg.message(FORUM, offer.message_id).text == "📷 Sending them as albums."
    delivered = [m.file.sha256 for m in tg.messages(FORUM) if m.kind == "photo" and m.file is not None]
    assert delivered == [served_sha(google, photo, RENDITION) for photo in photos]
    assert archives(tg, FORUM) == []
    await bot.stop()


async def test_no_answer_to_the_offer_means_albums(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(FORUM, "Family", members={alice.user_id: "member"})
    bot = make_bot(**OFFERING, ARCHIVE_OFFER_WAIT="1")
    await bot.start()
    photos, offer = await offered(alice, tg, google)
    assert (await wait_summary(tg, FORUM)).text == "✅ Delivered all 25."
    assert tg.message(FORUM, offer.message_id).text == "📷 No answer, so sending them as albums."
    assert len([m for m in tg.messages(FORUM) if m.kind == "photo"]) == len(photos)
    assert archives(tg, FORUM) == []
    await bot.stop()


async def offer_stored(bot: BotProcess) -> None:
    """Wait until the bot's database holds the offer's message id (the bot runs in another process)."""
    async with asyncio.timeout(20):
        while not await rows(bot, "SELECT 1 FROM archive_offers WHERE message_id IS NOT NULL"):  # noqa: ASYNC110  (the state lives in another process's database)
            await asyncio.sleep(0.02)


async def test_an_offer_open_at_a_restart_is_not_asked_again_and_its_answer_still_counts(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(FORUM, "Family", members={alice.user_id: "member"})
    bot = make_bot(**OFFERING)
    await bot.start()
    photos, offer = await offered(alice, tg, google)
    await offer_stored(bot)
    await bot.kill()
    await bot.start()
    assert await press(tg, alice, offer, "ZIP files") == "🗜 Sending them as ZIP files."
    assert (await wait_summary(tg, FORUM)).text == "✅ Delivered all 25."
    assert len([c for c in tg.calls_of("sendMessage") if "take about" in str(c.params.get("text"))]) == 1
    assert tg.message(FORUM, offer.message_id).text == "🗜 Sending them as ZIP files."
    assert [sha for m in archives(tg, FORUM) for sha in members(tg, m)] == originals(google, photos)
    await bot.stop()
