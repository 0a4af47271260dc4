"""The Telegram emulator's forum topics, driven by a real python-telegram-bot ``Bot``: messages in a topic carry
``message_thread_id`` and ``is_topic_message``; sends name a topic by ``message_thread_id``; the General topic,
deleted and unknown topics are "message thread not found", a closed one TOPIC_CLOSED unless the bot manages
topics (telegram-bot-api Client.cpp: check_message_topic; real-service-notes: forum topics)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from telegram import Bot, InputMediaPhoto
from telegram.error import BadRequest

from emulators.telegram import GENERAL_TOPIC_ID, TelegramEmulator
from tests.emulators.conftest import ALICE, BOB

FORUM, GROUP = -1002, -1003


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def forum(tg: TelegramEmulator) -> TelegramEmulator:
    tg.add_group(FORUM, "Class of 2026", members={ALICE: "member", BOB: "administrator"}, forum=True)
    tg.add_group(GROUP, "Family", members={ALICE: "member"})
    return tg


async def test_a_message_in_a_topic_says_so_and_general_ones_do_not(forum: TelegramEmulator) -> None:
    trip = forum.create_topic(FORUM, "School trip", by_user_id=BOB)
    created = forum.pending_updates[-1]["message"]
    assert created["forum_topic_created"]["name"] == "School trip"
    assert created["message_thread_id"] == trip and created["chat"]["is_forum"] is True
    in_topic = forum.send_text(ALICE, "/pick@photos_test_bot", FORUM, thread_id=trip)
    assert in_topic["message_thread_id"] == trip and in_topic["is_topic_message"] is True
    in_general = forum.send_text(ALICE, "/pick@photos_test_bot", FORUM)
    assert "message_thread_id" not in in_general and "is_topic_message" not in in_general


async def test_sends_go_into_the_topic_they_name(forum: TelegramEmulator, bot: Bot) -> None:
    trip = forum.create_topic(FORUM, "School trip")
    sent = await bot.send_message(FORUM, "hello", message_thread_id=trip)
    assert sent.message_thread_id == trip and sent.is_topic_message
    album = await bot.send_media_group(
        FORUM, [InputMediaPhoto(jpeg()), InputMediaPhoto(jpeg())], message_thread_id=trip
    )
    assert [m.message_thread_id for m in album] == [trip, trip]
    photo = await bot.send_photo(FORUM, jpeg(), message_thread_id=trip)
    assert forum.message(FORUM, photo.message_id).thread_id == trip
    general = await bot.send_message(FORUM, "to everyone")
    assert general.message_thread_id is None and forum.message(FORUM, general.message_id).thread_id is None
    # Outside forums the Bot API server ignores the id (check_message_topic: not a forum, no topic).
    plain = await bot.send_message(GROUP, "hi", message_thread_id=trip)
    assert plain.message_thread_id is None


async def test_general_unknown_and_deleted_topics_are_not_found(forum: TelegramEmulator, bot: Bot) -> None:
    trip = forum.create_topic(FORUM, "School trip")
    await bot.send_message(FORUM, "before", message_thread_id=trip)
    forum.delete_topic(FORUM, trip)
    assert all(m.deleted for m in forum.messages(FORUM, include_deleted=True) if m.thread_id == trip)
    for thread_id in (GENERAL_TOPIC_ID, trip, 9999):
        with pytest.raises(BadRequest, match="Message thread not found"):
            await bot.send_message(FORUM, "x", message_thread_id=thread_id)
        with pytest.raises(BadRequest, match="Message thread not found"):
            await bot.send_media_group(
                FORUM, [InputMediaPhoto(jpeg()), InputMediaPhoto(jpeg())], message_thread_id=thread_id
            )


async def test_a_closed_topic_takes_posts_only_from_a_bot_that_manages_topics(
    forum: TelegramEmulator, bot: Bot
) -> None:
    trip = forum.create_topic(FORUM, "School trip")
    forum.close_topic(FORUM, trip)
    with pytest.raises(BadRequest, match="Topic_closed"):
        await bot.send_photo(FORUM, jpeg(), message_thread_id=trip)
    with pytest.raises(ValueError, match="closed"):
        forum.send_text(ALICE, "hi", FORUM, thread_id=trip)
    forum.send_text(BOB, "admins still can", FORUM, thread_id=trip)
    forum.set_bot_status(FORUM, "administrator", can_manage_topics=True)
    assert (await bot.send_message(FORUM, "now I can", message_thread_id=trip)).message_thread_id == trip
    forum.close_topic(FORUM, trip, closed=False)
    forum.set_bot_status(FORUM, "member")
    assert (await bot.send_message(FORUM, "reopened", message_thread_id=trip)).message_thread_id == trip
