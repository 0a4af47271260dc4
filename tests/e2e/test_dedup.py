"""No repeats in a chat, end to end: items a chat was sent before are skipped — by the Google media item for the same
person (nothing downloaded), by the bytes for anyone (downloaded, not uploaded) — and counted in the summary, whose
"Send them anyway" sends them by Telegram's file_id, once, only for their picker. DEDUP_DAYS=0 remembers nothing;
the memory holds digests, never a file name."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from bot import texts
from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.e2e.picking import RENDITION, link, media, served_sha, start_pick, wait_summary
from tests.e2e.test_archives import choose_archives
from tests.e2e.test_groups import choose
from tests.harness import BotProcess, Person, callback_data, message_ids, new_messages, rows
from tests.postgres import PostgresCluster

BOT = "photos_test_bot"
GROUP = -1003000
FORUM = -1003001
SEND_ANYWAY = "Send them anyway"
UPLOADS = ("sendPhoto", "sendVideo", "sendDocument", "sendMediaGroup")


def downloads(google: GoogleEmulator, items: list[MediaItem]) -> int:
    ids = {item.id for item in items}
    return sum(1 for s in google.served if s.item_id in ids and s.suffix == RENDITION)


def sent_files(tg: TelegramEmulator, chat_id: int) -> list[str]:
    return [m.file.sha256 for m in media(tg, chat_id) if m.file is not None]


def shas(google: GoogleEmulator, items: list[MediaItem]) -> list[str]:
    return [served_sha(google, item, RENDITION) for item in items]


async def summary_after(tg: TelegramEmulator, chat_id: int, after: int, what: str = "") -> MessageRecord:
    """The next summary in the chat after message `after` (one with the repeats line when `what` says so)."""

    def wanted(m: MessageRecord) -> bool:
        text = m.text or ""
        return m.message_id > after and ("Delivered" in text or "already shared here" in text) and what in text

    return await tg.wait_for_message(chat_id, wanted, timeout=30)


def press(tg: TelegramEmulator, who: Person, chat_id: int, message: MessageRecord) -> str:
    return tg.press_button(who.user_id, chat_id, message.message_id, callback_data(message, SEND_ANYWAY))


async def answer_to(tg: TelegramEmulator, query: str) -> dict[str, Any]:
    return dict(await tg.wait_for(lambda: tg.answered_callbacks.get(query), 10, what="an answer to the press"))


async def pressed(tg: TelegramEmulator, who: Person, chat_id: int, message: MessageRecord) -> dict[str, Any]:
    return await answer_to(tg, press(tg, who, chat_id, message))


def uploads_since(tg: TelegramEmulator, calls: int) -> list[Any]:
    return [c for c in tg.calls[calls:] if c.method in UPLOADS]


def by_file_id(call: Any) -> bool:
    """The send named files Telegram holds (file_id strings) and uploaded no bytes."""
    if call.files:
        return False
    if call.method == "sendMediaGroup":
        return all(
            isinstance(item["media"], str) and not item["media"].startswith("attach://")
            for item in call.params["media"]
        )
    return isinstance(call.params.get("photo") or call.params.get("video") or call.params.get("document"), str)


async def pick(
    person: Person, google: GoogleEmulator, items: list[MediaItem], chat_id: int | None = None
) -> SessionRecord:
    if chat_id is None:
        _, session = await start_pick(person)
    else:
        known = set(google.sessions)
        await person.say(f"/pick@{BOT}", chat_id=chat_id)
        session = await google.wait_for_session(lambda s: s.id not in known)
    google.pick(session.id, items)
    return session


async def pick_in_topic(person: Person, google: GoogleEmulator, items: list[MediaItem], topic: int) -> None:
    known = set(google.sessions)
    person.tg.send_text(person.user_id, f"/pick@{BOT}", FORUM, thread_id=topic)
    session = await google.wait_for_session(lambda s: s.id not in known)
    google.pick(session.id, items)


async def test_the_same_photos_again_are_skipped_and_sent_anyway_by_file_id_once(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(12)]
    fresh = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    assert first.text == "✅ Delivered all 12." and SEND_ANYWAY not in str(first.reply_markup)
    # The same twelve again, and two new ones: only the new ones are downloaded and sent.
    await pick(alice, google, [*photos, *fresh])
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    assert second.text == "✅ Delivered all 2.\n🔁 12 were already shared here."
    assert downloads(google, photos) == 12  # each once, for the first pick: none for the repeats
    assert sent_files(tg, alice.user_id) == shas(google, photos) + shas(google, fresh)
    # "Send them anyway", pressed twice at once: the twelve come once, by file_id, nothing downloaded or uploaded.
    calls = len(tg.calls)
    presses = [press(tg, alice, alice.user_id, second), press(tg, alice, alice.user_id, second)]
    answers = [await answer_to(tg, query) for query in presses]
    assert sorted(a.get("text", "") for a in answers) == sorted([texts.REPEATS_SENDING, texts.REPEATS_OVER])
    third = await summary_after(tg, alice.user_id, second.message_id)
    assert third.text == "✅ Delivered all 14."
    assert sent_files(tg, alice.user_id) == shas(google, photos) + shas(google, fresh) + shas(google, photos)
    assert uploads_since(tg, calls) and all(by_file_id(call) for call in uploads_since(tg, calls))
    assert downloads(google, photos) == 12
    # Once used, the button only says so, to the presser alone.
    again = await pressed(tg, alice, alice.user_id, second)
    assert again.get("text") == texts.REPEATS_OVER and again.get("show_alert") is True
    assert len(sent_files(tg, alice.user_id)) == 26


async def test_the_same_bytes_from_another_member_are_skipped_in_the_group(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    alices = [google.add_photo(alice.email) for _ in range(3)]
    copies = [google.add_copy(bob.email, photo) for photo in alices[:2]]  # e.g. saved from a shared album
    bobs_own = google.add_photo(bob.email)
    await link(alice)
    await link(bob)
    await pick(alice, google, alices, GROUP)
    first = await wait_summary(tg, GROUP)
    await pick(bob, google, [*copies, bobs_own], GROUP)
    second = await summary_after(tg, GROUP, first.message_id, "already shared")
    assert second.text == "✅ Delivered 1 item.\n🔁 2 were already shared here."
    assert downloads(google, copies) == 2  # the bytes had to be fetched to be known…
    assert sent_files(tg, GROUP) == shas(google, alices) + shas(google, [bobs_own])  # …but were not posted again
    # Alice may not send Bob's repeats: she is told privately, nothing is posted.
    posted = message_ids(tg, GROUP)
    refusal = await pressed(tg, alice, GROUP, second)
    assert refusal.get("text") == texts.REPEATS_NOT_YOURS and refusal.get("show_alert") is True
    # Bob may: his two go out again, credited to him, without a download.
    await pressed(tg, bob, GROUP, second)
    await summary_after(tg, GROUP, second.message_id, "Delivered all 3")
    assert new_messages(tg, GROUP, posted)
    resent = media(tg, GROUP)[-2:]
    assert [m.file.sha256 for m in resent if m.file] == shas(google, alices[:2])
    assert (resent[0].caption or "").startswith("📷 Shared by Bob")
    assert downloads(google, copies) == 2


async def test_a_restart_between_the_summary_and_send_them_anyway(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    session = await pick(alice, google, photos)
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    assert second.text == "🔁 All 3 were already shared here, so I didn't send them again."
    await google.wait_for_session(lambda s: s.id == session.id and s.deleted)  # the pick has ended
    await bot.restart()
    await pressed(tg, alice, alice.user_id, second)
    await summary_after(tg, alice.user_id, second.message_id, "Delivered all 3")
    assert sent_files(tg, alice.user_id) == shas(google, photos) * 2
    assert downloads(google, photos) == 3


async def test_the_memory_holds_digests_and_no_file_names(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email, filename=f"Holiday in Rome {n}.jpg") for n in range(2)]
    await link(alice)
    await pick(alice, google, photos)
    await wait_summary(tg, alice.user_id)
    memory = await rows(bot, "SELECT * FROM chat_memory ORDER BY media_key")
    keys = sorted(hashlib.sha256(f"{alice.user_id}:{p.id}".encode()).hexdigest() for p in photos)
    assert [row["media_key"] for row in memory] == keys  # digests of (person, media item), not the ids themselves
    assert sorted(row["content_hash"] for row in memory) == sorted(shas(google, photos))
    assert {row["chat_id"] for row in memory} == {alice.user_id}
    assert set(memory[0].keys()) == {"chat_id", "media_key", "content_hash", "file_id", "kind", "seen_at"}
    for row in memory:
        assert not any("Rome" in str(value) or p.id in str(value) for value in row.values() for p in photos)


async def test_dedup_days_zero_remembers_nothing(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(DEDUP_DAYS="0")
    await bot.start()
    try:
        photos = [google.add_photo(alice.email) for _ in range(2)]
        await link(alice)
        await pick(alice, google, photos)
        first = await wait_summary(tg, alice.user_id)
        await pick(alice, google, photos)
        second = await summary_after(tg, alice.user_id, first.message_id)
        assert second.text == "✅ Delivered all 2." and SEND_ANYWAY not in str(second.reply_markup)
        assert sent_files(tg, alice.user_id) == shas(google, photos) * 2
        assert await rows(bot, "SELECT * FROM chat_memory") == []
    finally:
        assert await bot.stop() == 0


async def test_send_them_anyway_while_the_pick_is_still_being_deleted_at_google(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    google.fail_next("sessions.delete", status=503, times=1000)  # the ending run waits out Google, for minutes
    await pick(alice, google, photos)
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    await pressed(tg, alice, alice.user_id, second)
    await summary_after(tg, alice.user_id, second.message_id, "Delivered all 2")
    assert sent_files(tg, alice.user_id) == shas(google, photos) * 2


async def test_send_them_anyway_pressed_before_the_pick_is_marked_done(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The summary (with its button) is in the chat before the bot, told so by Telegram, marks the pick done: a
    press in between waits for that rather than saying the offer is over."""
    photos = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    answered = tg.hold_answer("sendMessage", lambda params: "already shared" in str(params.get("text")))
    await pick(alice, google, photos)
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    query = press(tg, alice, alice.user_id, second)
    await bot.wait_log("its repeats wait for its run")
    answered.set()
    assert (await answer_to(tg, query)).get("text") == texts.REPEATS_SENDING
    await summary_after(tg, alice.user_id, second.message_id, "Delivered all 2")
    assert sent_files(tg, alice.user_id) == shas(google, photos) * 2


async def test_repeats_in_a_forum_topic_are_counted_and_sent_anyway_in_that_topic(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(FORUM, "Class of 2026", members={alice.user_id: "member"}, forum=True)
    trip = tg.create_topic(FORUM, "School trip")
    photos = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    await pick_in_topic(alice, google, photos, trip)
    first = await wait_summary(tg, FORUM)
    await pick_in_topic(alice, google, photos, trip)
    second = await summary_after(tg, FORUM, first.message_id, "already shared")
    assert second.thread_id == trip
    await pressed(tg, alice, FORUM, second)
    third = await summary_after(tg, FORUM, second.message_id, "Delivered all 2")
    assert third.thread_id == trip
    resent = media(tg, FORUM)[2:]
    assert [m.file.sha256 for m in resent if m.file] == shas(google, photos)
    assert all(m.thread_id == trip for m in resent)


async def test_repeats_in_a_forwarding_destination(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member"})
    photos = [google.add_photo(alice.email) for _ in range(2)]
    fresh = google.add_photo(alice.email)
    await link(alice)
    assert "go to Family" in await choose(alice, tg, GROUP, 1)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    await pick(alice, google, [*photos, fresh])
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    assert second.text is not None
    assert second.text.startswith("✅ Delivered 1 item.\n🔁 2 were already shared in the chat your picks go to.")
    assert sent_files(tg, GROUP) == shas(google, [*photos, fresh])
    await pressed(tg, alice, alice.user_id, second)
    await summary_after(tg, alice.user_id, second.message_id, "Delivered all 3")
    assert sent_files(tg, GROUP) == shas(google, [*photos, fresh, *photos])
    assert sent_files(tg, alice.user_id) == []


async def test_a_chat_that_takes_archives_gets_its_repeats_sent_anyway_as_photos(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(2)]
    fresh = google.add_photo(alice.email)
    await link(alice)
    await pick(alice, google, photos)
    first = await wait_summary(tg, alice.user_id)
    await choose_archives(alice)
    await pick(alice, google, [*photos, fresh])
    second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
    assert (second.text or "").startswith("✅ Delivered 1 item.\n🔁 2 were already shared here.")
    assert [m.kind for m in media(tg, alice.user_id)] == ["photo", "photo", "document"]  # the new one in a ZIP
    calls = len(tg.calls)
    await pressed(tg, alice, alice.user_id, second)
    await summary_after(tg, alice.user_id, second.message_id, "Delivered all 3")
    assert [m.kind for m in media(tg, alice.user_id)][3:] == ["photo", "photo"]  # the chat's copies, as they were
    assert sent_files(tg, alice.user_id)[3:] == shas(google, photos)
    assert all(by_file_id(call) for call in uploads_since(tg, calls))


async def test_on_postgresql_repeats_are_skipped_and_sent_anyway_once(
    make_bot: Callable[..., BotProcess],
    postgres: PostgresCluster,
    alice: Person,
    tg: TelegramEmulator,
    google: GoogleEmulator,
) -> None:
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET="shared-by-the-replicas", DATABASE_URL=await postgres.create_database())
    await bot.start()
    try:
        photos = [google.add_photo(alice.email) for _ in range(3)]
        await link(alice)
        await pick(alice, google, photos)
        first = await wait_summary(tg, alice.user_id)
        await pick(alice, google, photos)
        second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
        presses = [press(tg, alice, alice.user_id, second), press(tg, alice, alice.user_id, second)]
        answers = sorted([(await answer_to(tg, query)).get("text", "") for query in presses])
        assert answers == sorted([texts.REPEATS_SENDING, texts.REPEATS_OVER])
        await summary_after(tg, alice.user_id, second.message_id, "Delivered all 3")
        assert sent_files(tg, alice.user_id) == shas(google, photos) * 2
        assert downloads(google, photos) == 3
    finally:
        assert await bot.stop() == 0


def asked_for_archives(tg: TelegramEmulator) -> int:
    return sum(1 for c in tg.calls_of("sendMessage") if "ZIP file" in str(c.params.get("text")))


async def test_sending_repeats_anyway_is_not_offered_as_archives(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # A private chat's real pace (1 message/s) and a low threshold: twelve photos as albums are worth the offer.
    bot = make_bot(TELEGRAM_PRIVATE_RATE="1", ARCHIVE_OFFER_MINUTES="0.01", ARCHIVE_OFFER_WAIT="1")
    await bot.start()
    try:
        photos = [google.add_photo(alice.email, width=1000, height=750, size=300_000) for _ in range(12)]
        await link(alice)
        await pick(alice, google, photos)
        first = await wait_summary(tg, alice.user_id)
        assert first.text == "✅ Delivered all 12."  # the offer went unanswered: albums
        await pick(alice, google, photos)
        second = await summary_after(tg, alice.user_id, first.message_id, "already shared")
        offers = asked_for_archives(tg)
        assert offers, "the threshold should make the bot offer archives"
        await pressed(tg, alice, alice.user_id, second)
        await summary_after(tg, alice.user_id, second.message_id, "Delivered all 12")
        assert asked_for_archives(tg) == offers
        assert sent_files(tg, alice.user_id) == shas(google, photos) * 2
    finally:
        assert await bot.stop() == 0
