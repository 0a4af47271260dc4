"""Forum topics, end to end: a /pick sent in a topic is answered, delivered and summed up in that topic; a topic
deleted or closed meanwhile sends the rest to the General topic, nothing lost or repeated; a member makes a topic
their /forward destination by confirming privately."""

from __future__ import annotations

from emulators.google import GoogleEmulator, MediaItem
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.e2e.picking import RENDITION, link, served_sha, start_pick, wait_summary
from tests.harness import BotProcess, Person, callback_data

FORUM = -1002000
BOT = "photos_test_bot"


def forum(tg: TelegramEmulator, *people: Person) -> int:
    tg.add_group(FORUM, "Class of 2026", members={p.user_id: "member" for p in people}, forum=True)
    return tg.create_topic(FORUM, "School trip")


def posted(tg: TelegramEmulator, thread_id: int | None, *, include_deleted: bool = False) -> list[MessageRecord]:
    """What the bot posted into the forum's topic `thread_id` (None: General)."""
    return [m for m in tg.messages(FORUM, include_deleted=include_deleted) if m.from_bot and m.thread_id == thread_id]


def delivered(tg: TelegramEmulator) -> list[str]:
    """Every file the bot posted in the forum, deleted ones too, in order."""
    return [m.file.sha256 for m in tg.messages(FORUM, include_deleted=True) if m.from_bot and m.file is not None]


def expected(google: GoogleEmulator, items: list[MediaItem]) -> list[str]:
    return [served_sha(google, item, RENDITION) for item in items]


async def pressed(tg: TelegramEmulator, person: Person, message: MessageRecord, data: str, **how: bool) -> str:
    """Press a button in the person's private chat; the bot's answer to the press (its toast's text)."""
    query = tg.press_button(person.user_id, person.user_id, message.message_id, data, **how)
    answer = await tg.wait_for(lambda: tg.answered_callbacks.get(query), 5.0, what="an answer to the press")
    return str(answer.get("text", ""))


async def pick_in_topic(alice: Person, tg: TelegramEmulator, google: GoogleEmulator, topic: int) -> str:
    known = set(google.sessions)
    tg.send_text(alice.user_id, f"/pick@{BOT}", FORUM, thread_id=topic)
    await tg.wait_for_message(alice.user_id, lambda m: "Open Google Photos" in str(m.reply_markup))
    return (await google.wait_for_session(lambda s: s.id not in known)).id


async def test_a_pick_in_a_topic_stays_in_that_topic(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    trip = forum(tg, alice)
    photos = [google.add_photo(alice.email) for _ in range(12)]
    await link(alice)
    session = await pick_in_topic(alice, tg, google, trip)
    notice = await tg.wait_for_message(FORUM, lambda m: "Alice is choosing photos" in (m.text or ""))
    assert notice.thread_id == trip
    google.pick(session, photos)
    summary = await wait_summary(tg, FORUM)
    assert summary.text == "✅ Delivered all 12." and summary.thread_id == trip
    assert delivered(tg) == expected(google, photos)
    assert all(m.thread_id == trip for m in tg.messages(FORUM) if m.from_bot)
    assert posted(tg, None) == []  # nothing in General


async def test_a_topic_deleted_mid_delivery_sends_the_rest_to_general(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    trip = forum(tg, alice)
    photos = [google.add_photo(alice.email) for _ in range(25)]
    held = google.hold_media(photos[14])  # the second album waits for it
    await link(alice)
    session = await pick_in_topic(alice, tg, google, trip)
    google.pick(session, photos)
    await tg.wait_for(lambda: len([m for m in posted(tg, trip) if m.file]) == 10, 30, what="the first album")
    tg.delete_topic(FORUM, trip)
    held.set()
    summary = await wait_summary(tg, FORUM)
    assert summary.text == "✅ Delivered all 25." and summary.thread_id is None
    assert delivered(tg) == expected(google, photos)  # each once, in order: 10 in the topic, 15 in General
    assert len([m for m in posted(tg, None) if m.file]) == 15


async def test_a_closed_topic_gets_nothing_and_general_gets_it_all(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    trip = forum(tg, alice)
    photos = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    session = await pick_in_topic(alice, tg, google, trip)
    tg.close_topic(FORUM, trip)
    google.pick(session, photos)
    summary = await wait_summary(tg, FORUM)
    assert summary.text == "✅ Delivered all 3." and summary.thread_id is None
    assert delivered(tg) == expected(google, photos)
    assert [m for m in posted(tg, trip) if m.file] == []


async def test_a_member_makes_a_topic_their_destination_by_confirming_privately(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    trip = forum(tg, alice, bob)
    photos = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    tg.send_text(alice.user_id, f"/forward@{BOT}", FORUM, thread_id=trip)
    told = await tg.wait_for_message(FORUM, lambda m: "private message" in (m.text or ""))
    assert told.thread_id == trip and "Alice" in (told.text or "")
    offer = await tg.wait_for_message(alice.user_id, lambda m: "Class of 2026 › School trip" in (m.text or ""))
    data = callback_data(offer, "Send my picks there")
    # A forged button changes nothing; the real one works once.
    forged = data[:-4] + ("AAAA" if not data.endswith("AAAA") else "BBBB")
    assert "no longer" in await pressed(tg, alice, offer, forged, forged=True)
    await pressed(tg, alice, offer, data)
    await tg.wait_for(lambda: "From now on" in (tg.message(alice.user_id, offer.message_id).text or ""), 10)
    assert "no longer" in await pressed(tg, alice, offer, data, forged=True)  # its button is gone
    # A private pick now lands in the topic, credited to Alice.
    _, session = await start_pick(alice)
    google.pick(session.id, photos)
    await wait_summary(tg, alice.user_id)
    shown = [m for m in posted(tg, trip) if m.file]
    assert [m.file.sha256 for m in shown if m.file] == expected(google, photos)
    assert (shown[0].caption or "").startswith("📷 Shared by Alice")


async def test_forward_in_a_topic_from_someone_the_bot_cannot_write_to(
    bot: BotProcess, alice: Person, tg: TelegramEmulator
) -> None:
    trip = forum(tg, alice)
    tg.block_bot(alice.user_id, notify=False)
    tg.send_text(alice.user_id, f"/forward@{BOT}", FORUM, thread_id=trip)
    answer = await tg.wait_for_message(FORUM, lambda m: "open our private chat first" in (m.text or ""))
    assert answer.thread_id == trip and f"t.me/{BOT}" in str(answer.reply_markup)


async def test_pick_again_after_a_pick_in_a_topic_expired_picks_for_that_topic(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.session_timeout = 1.0
    trip = forum(tg, alice)
    await link(alice)
    await pick_in_topic(alice, tg, google, trip)
    expired = await tg.wait_for(
        lambda: next((m for m in tg.messages(alice.user_id) if "expired" in (m.text or "")), None),
        10,
        what="the prompt to say it expired",
    )
    google.session_timeout = 1800.0

    def notices() -> list[object]:
        return [
            c
            for c in tg.calls_of("sendMessage")
            if c.params.get("chat_id") == FORUM
            and c.params.get("message_thread_id") == trip
            and "is choosing photos" in str(c.params.get("text"))
        ]

    assert len(notices()) == 1
    await alice.press(expired, callback_data(expired, "Pick again"))
    await tg.wait_for(lambda: len(notices()) == 2, 10, what="a new pick for the topic")
