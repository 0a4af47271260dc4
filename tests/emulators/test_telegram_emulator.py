"""Tests of the Telegram Bot API emulator, driven by a real python-telegram-bot ``Bot`` over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    KeyboardButtonRequestChat,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
)
from telegram.error import BadRequest, ChatMigrated, Conflict, EndPointNotFound, Forbidden, NetworkError, RetryAfter

from emulators.telegram import NOT_MODIFIED, TelegramEmulator
from tests.emulators.conftest import ALICE, BOB, TOKEN

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP = -1001


def jpeg(width: int, height: int) -> bytes:
    """A real JPEG made with Pillow."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buf, "JPEG")
    return buf.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose SOF header claims ``width`` × ``height`` (avoids encoding huge images)."""
    data = bytearray(jpeg(8, 8))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def jpeg_with_comments(width: int, height: int, padding_segments: int) -> bytes:
    """A JPEG with big COM segments right after SOI, so the SOF header lies beyond Pillow's head."""
    data = jpeg(width, height)
    comment = b"\xff\xfe" + (0xFFFF).to_bytes(2, "big") + bytes(0xFFFF - 2)
    return data[:2] + comment * padding_segments + data[2:]


async def test_get_me(tg: TelegramEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "photos_test_bot", True)
    assert me.can_join_groups and not me.can_read_all_group_messages and not me.supports_inline_queries
    assert tg.calls_of("getMe")[0].status == 200
    tg.assert_no_violations()


async def test_long_polling_receives_injected_command(tg: TelegramEmulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: tg.polling)
    assert tg.calls_of("getUpdates")[-1].status == 0  # recorded while held open
    sent = tg.send_text(ALICE, "/start abc")
    updates = await poll
    assert [u.update_id for u in updates] == [1000]
    message = updates[0].message
    assert message is not None and message.text == "/start abc" and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.username == "alice"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 6)]
    assert sent["message_id"] == message.message_id
    # Unconfirmed updates are delivered again; offset confirms them.
    assert [u.update_id for u in await bot.get_updates()] == [1000]
    assert await bot.get_updates(offset=1001) == ()
    assert tg.pending_updates == []
    tg.send_text(ALICE, "/help@photos_test_bot")
    (update,) = await bot.get_updates(offset=1001, timeout=1)
    assert update.message is not None and update.message.entities[0].length == len("/help@photos_test_bot")
    tg.assert_no_violations()


async def test_allowed_updates_are_sticky(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    sent = await bot.send_message(
        ALICE, "menu", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    )
    assert await bot.get_updates(allowed_updates=["callback_query"]) == ()
    tg.send_text(ALICE, "dropped: not an allowed update type")
    tg.press_button(ALICE, ALICE, sent.message_id, "a")
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    await bot.get_updates(offset=update.update_id + 1, allowed_updates=[])  # empty list: back to the default
    tg.send_text(ALICE, "kept")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["kept"]
    tg.assert_no_violations()


async def test_second_long_poll_terminates_the_first(tg: TelegramEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: tg.polling)
    async with Bot(TOKEN, base_url=f"{tg.url}/bot") as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
        await tg.wait_for(lambda: tg.polling)
        tg.send_text(ALICE, "hello")
        assert len(await second) == 1


async def test_instances_that_keep_cutting_each_other_off_get_their_409s_paced(tg: TelegramEmulator, bot: Bot) -> None:
    """Client::fail_query_conflict: the first 409 comes at once, another within 3 s only 3 s later."""
    async with Bot(TOKEN, base_url=f"{tg.url}/bot") as other_instance:
        first = asyncio.create_task(bot.get_updates(timeout=10))
        await tg.wait_for(lambda: tg.polling)
        second = asyncio.create_task(other_instance.get_updates(timeout=10))
        with pytest.raises(Conflict):
            await first
        polls = len(tg.calls_of("getUpdates"))
        third = asyncio.create_task(bot.get_updates(timeout=10))
        await tg.wait_for(lambda: len(tg.calls_of("getUpdates")) > polls)
        assert not second.done()  # cut off, but its 409 is held back 3 s
        with pytest.raises(Conflict):
            await second
        tg.send_text(ALICE, "hello")
        assert len(await third) == 1


async def test_send_message_with_keyboard_and_callback(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Pick", callback_data="pick:1"), InlineKeyboardButton("Open", url="https://x.y/")]]
    )
    sent = await bot.send_message(
        ALICE,
        "<b>Hi</b> &amp; welcome",
        parse_mode="HTML",
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    assert sent.text == "Hi & welcome"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 2)]
    assert sent.reply_markup == markup
    rec = await tg.wait_for_message(ALICE)
    assert rec.kind == "text" and rec.text == "Hi & welcome" and rec.source_text == "<b>Hi</b> &amp; welcome"
    assert rec.parse_mode == "HTML" and rec.link_preview_options == {"is_disabled": True}
    assert rec.reply_markup == markup.to_dict()

    query_id = tg.press_button(ALICE, ALICE, sent.message_id, "pick:1")
    (update,) = await bot.get_updates()
    assert update.callback_query is not None and update.callback_query.id == query_id
    assert update.callback_query.data == "pick:1"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id, text="Done")
    assert tg.answered_callbacks[query_id]["text"] == "Done"
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(ValueError, match="no inline button"):
        tg.press_button(ALICE, ALICE, sent.message_id, "nope")
    tg.assert_no_violations()


async def test_reply_keyboard_with_request_chat(started: TelegramEmulator, bot: Bot) -> None:
    button = KeyboardButton("Choose a group", request_chat=KeyboardButtonRequestChat(7, chat_is_channel=False))
    await bot.send_message(ALICE, "Where to?", reply_markup=ReplyKeyboardMarkup([[button]], one_time_keyboard=True))
    rec = started.messages(ALICE)[-1]
    assert rec.reply_markup is not None
    assert rec.reply_markup["keyboard"][0][0]["request_chat"] == {"request_id": 7, "chat_is_channel": False}
    started.assert_no_violations()


async def test_text_validations(started: TelegramEmulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    await bot.send_message(ALICE, "é" * 4096)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE, "<b></b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match='unsupported start tag "" at byte offset 2'):
        await bot.send_message(ALICE, "a < b", parse_mode="HTML")
    with pytest.raises(BadRequest, match="character '\\.' is reserved"):
        await bot.send_message(ALICE, "Done.", parse_mode="MarkdownV2")
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ALICE, "hi", reply_markup=too_long_data)
    with pytest.raises(BadRequest, match="text buttons are unallowed"):
        await bot.send_message(ALICE, "hi", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x")]]))
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(ALICE, jpeg(10, 10), caption="c" * 1025)
    assert len(started.messages(ALICE)) == 1
    started.assert_no_violations()


async def test_edit_delete_and_not_modified(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    sent = await bot.send_message(ALICE, "Step 1", reply_markup=keyboard)
    with pytest.raises(BadRequest) as not_modified:
        await bot.edit_message_text("Step 1", ALICE, sent.message_id, reply_markup=keyboard)
    assert str(not_modified.value).lower() == NOT_MODIFIED.removeprefix("Bad Request: ").lower()
    edited = await bot.edit_message_text("Step 2", ALICE, sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "Step 2" and edited.edit_date is not None
    rec = tg.message(ALICE, sent.message_id)
    assert rec.text == "Step 2" and rec.reply_markup is None  # keyboard dropped: not passed with the edit
    assert [e["text"] for e in rec.edits] == ["Step 1"]
    await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ALICE, 999)
    assert await bot.delete_message(ALICE, sent.message_id)
    assert tg.messages(ALICE) == [] and rec.deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ALICE, sent.message_id)
    tg.assert_no_violations()


async def test_media_uploads_are_hashed_and_reusable(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    photo_bytes, video_bytes, doc_bytes = jpeg(640, 480), b"\x00\x00\x00\x18ftypmp42" + bytes(5000), b"%PDF-1.4"
    photo = await bot.send_photo(ALICE, photo_bytes, caption="<i>Sunset</i>", parse_mode="HTML")
    assert [(p.width, p.height) for p in photo.photo] == [(90, 68), (320, 240), (640, 480)]
    assert photo.caption == "Sunset" and photo.caption_entities[0].type == "italic"
    upload = tg.calls_of("sendPhoto")[0].files["photo"]
    assert (upload.size, upload.sha256) == (len(photo_bytes), hashlib.sha256(photo_bytes).hexdigest())
    rec = tg.messages(ALICE)[-1]
    assert rec.kind == "photo" and rec.file is not None and rec.file.sha256 == upload.sha256
    assert (rec.file.width, rec.file.height, rec.file.file_id) == (640, 480, photo.photo[-1].file_id)

    video = await bot.send_video(ALICE, video_bytes, filename="clip.mp4", width=1920, height=1080, duration=3)
    assert video.video is not None and (video.video.width, video.video.height) == (1920, 1080)
    assert tg.messages(ALICE)[-1].file.duration == 3  # type: ignore[union-attr]
    assert video.video.file_name == "clip.mp4" and video.video.mime_type == "video/mp4"
    assert video.video.file_size == len(video_bytes)
    document = await bot.send_document(ALICE, doc_bytes, filename="a.pdf")
    assert document.document is not None and document.document.file_name == "a.pdf"

    again = await bot.send_photo(ALICE, photo.photo[-1].file_id)
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    assert tg.messages(ALICE)[-1].file is rec.file and tg.calls_of("sendPhoto")[-1].files == {}
    assert (await bot.send_video(ALICE, video.video.file_id)).video == video.video
    with pytest.raises(BadRequest, match="Type of file mismatch"):
        await bot.send_document(ALICE, photo.photo[-1].file_id)
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(ALICE, "AgACAgIAAxkBAAIunknown")
    tg.assert_no_violations()


async def test_media_group_mixing_photos_and_videos(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    media: list[InputMediaPhoto | InputMediaVideo] = [
        InputMediaPhoto(jpeg(100, 80), caption="First"),
        InputMediaVideo(b"video-bytes", filename="v.mp4", width=640, height=360, duration=2),
        InputMediaPhoto(jpeg(80, 100)),
    ]
    messages = await bot.send_media_group(ALICE, media)
    assert len(messages) == 3 and len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "First" and messages[1].video is not None and messages[2].photo
    call = tg.calls_of("sendMediaGroup")[0]
    assert [item["media"].startswith("attach://") for item in call.params["media"]] == [True] * 3
    assert sorted(info.size for info in call.files.values()) == sorted(
        [len(jpeg(100, 80)), len(b"video-bytes"), len(jpeg(80, 100))]
    )
    assert [r.kind for r in tg.messages(ALICE)] == ["photo", "video", "photo"]

    with pytest.raises(BadRequest, match="Media_invalid"):
        await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(10, 10)), InputMediaDocument(b"doc", filename="d")])
    reuse = [InputMediaPhoto(messages[0].photo[-1].file_id), InputMediaPhoto("AgACAgIAAxkBAAIbogus")]
    with pytest.raises(BadRequest, match='Failed to send message #2 with the error message "wrong file identifier'):
        await bot.send_media_group(ALICE, reuse)
    assert len(tg.messages(ALICE)) == 4  # item 1 went out before item 2 failed, and stays
    tg.assert_no_violations()


async def test_photo_limits(started: TelegramEmulator, bot: Bot, tmp_path: Path) -> None:
    tg = started
    with pytest.raises(BadRequest, match="Photo_invalid_dimensions"):
        await bot.send_photo(ALICE, jpeg(30, 700))  # ratio > 20
    with pytest.raises(BadRequest, match="Photo_invalid_dimensions"):
        await bot.send_photo(ALICE, jpeg_claiming(6000, 4001))  # width + height > 10000
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(ALICE, b"definitely not an image", filename="x.jpg")
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg(64, 48))
    with big.open("r+b") as fh:
        fh.truncate(10_000_001)
    with big.open("rb") as fh, pytest.raises(BadRequest, match="File is too big"):
        await bot.send_photo(ALICE, InputFile(fh, filename="big.jpg", read_file_handle=False))
    # SOF beyond the first 64 KB (COM segments first) is still found by the streaming scan.
    padded = jpeg_with_comments(300, 200, padding_segments=3)
    sent = await bot.send_photo(ALICE, padded)
    assert (sent.photo[-1].width, sent.photo[-1].height) == (300, 200)
    assert tg.messages(ALICE)[-1].file.size == len(padded)  # type: ignore[union-attr]
    sent_as_document = await bot.send_document(ALICE, jpeg(30, 700), filename="long.jpg")
    assert sent_as_document.document is not None
    tg.assert_no_violations()


async def test_upload_over_50_mb_gets_413_unless_local_mode(tmp_path: Path) -> None:
    big = tmp_path / "video.mp4"
    with big.open("wb") as fh:
        fh.truncate(50_000_001)  # sparse file: streamed by PTB and the emulator, never held in memory
    for local_mode in (False, True):
        tg = TelegramEmulator(TOKEN, local_mode=local_mode)
        await tg.start()
        tg.add_user(ALICE, "Alice")
        tg.send_text(ALICE, "/start")
        try:
            async with Bot(TOKEN, base_url=f"{tg.url}/bot") as bot:
                with big.open("rb") as fh:
                    upload = InputFile(fh, filename="video.mp4", read_file_handle=False)
                    thumbnail = jpeg(320, 180)  # with a duration, what a video over 10 MB needs
                    if local_mode:
                        sent = await bot.send_video(ALICE, upload, duration=1, thumbnail=thumbnail)
                        assert sent.video is not None and sent.video.file_size == 50_000_001
                    else:
                        with pytest.raises(NetworkError, match="Request Entity Too Large"):
                            await bot.send_video(ALICE, upload, duration=1, thumbnail=thumbnail)
                        assert tg.messages(ALICE) == []
            assert tg.calls_of("sendVideo")[0].files["video"].size == 50_000_001
            tg.assert_no_violations()
        finally:
            await tg.stop()


async def test_fail_next_and_latency(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(ALICE, "hi")
    assert "7" in flood.value.message
    assert tg.calls_of("sendMessage")[0].response["parameters"] == {"retry_after": 7}
    tg.fail_next("sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(ALICE, "hi")
    tg.fail_next("getChat", status=400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat(ALICE)
    tg.set_latency("sendMessage", 0.05)
    await bot.send_message(ALICE, "slow but fine")
    assert [r.text for r in tg.messages(ALICE)] == ["slow but fine"]
    tg.assert_no_violations()


async def test_drop_next_answers_nothing_after_or_instead_of_carrying_out(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.drop_next("sendMessage", processed=True)
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(ALICE, "arrives, unconfirmed")
    tg.drop_next("sendMessage", processed=False)
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(ALICE, "never arrives")
    await bot.send_message(ALICE, "answered again")
    assert [r.text for r in tg.messages(ALICE)] == ["arrives, unconfirmed", "answered again"]
    assert [c.status for c in tg.calls_of("sendMessage")] == [0, 0, 200]
    tg.assert_no_violations()


async def test_a_client_hanging_up_mid_upload_is_not_an_emulator_error(started: TelegramEmulator) -> None:
    tg = started
    host, port = tg.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n{ALICE}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n'
    )
    writer.write(
        f"POST /bot{TOKEN}/sendVideo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n{head}".encode()
        + bytes(50_000)
    )
    await writer.drain()
    writer.close()  # the bot was killed mid-upload
    await reader.read()
    await tg.wait_for(lambda: tg.hangups == 1, 5.0)
    assert tg.messages(ALICE) == [] and tg.calls_of("sendVideo") == []
    tg.assert_no_violations()


async def test_upload_bandwidth_is_shared_by_concurrent_uploads(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    body = b"\0" * 200_000
    tg.set_upload_bandwidth(1_000_000)  # 1 MB/s for everything together
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.gather(*(bot.send_document(ALICE, InputFile(body, filename=f"f{n}.bin")) for n in range(3)))
    assert 0.55 <= loop.time() - began < 2.0  # 600 kB through 1 MB/s, not 200 kB three times in parallel
    tg.set_upload_bandwidth(None)
    began = loop.time()
    await bot.send_document(ALICE, InputFile(body, filename="fast.bin"))
    assert loop.time() - began < 0.5
    with pytest.raises(ValueError):
        tg.set_upload_bandwidth(0)
    assert len(tg.messages(ALICE)) == 4
    tg.assert_no_violations()


async def test_flood_control_single_sends_and_albums(tg: TelegramEmulator, bot: Bot) -> None:
    tg.add_group(GROUP, "Family", members={ALICE: "creator", BOB: "member"})
    tg.set_flood_limits(group_per_minute=3, group_burst=3)
    first = await bot.send_message(GROUP, "first")
    album = [InputMediaPhoto(jpeg(20, 20)) for _ in range(3)]
    with pytest.raises(RetryAfter) as flood:  # two tokens left: the album of three is refused whole
        await bot.send_media_group(GROUP, album)
    assert retry_seconds(flood.value) == 20  # one token short at 3/min
    assert tg.calls_of("sendMediaGroup")[-1].response["parameters"] == {"retry_after": 20}
    assert [r.kind for r in tg.messages(GROUP)] == ["text"]  # none of its items went out
    # Older servers named item #1 in a 400 instead.
    tg.legacy_album_flood = True
    with pytest.raises(BadRequest, match=r'(?i)failed to send message #1 with the error message "too many requests'):
        await bot.send_media_group(GROUP, album)
    await bot.edit_message_text("edits don't spend messages", GROUP, first.message_id)
    await bot.send_media_group(GROUP, album[:2])  # what the two tokens cover goes
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(GROUP, "fourth")
    assert retry_seconds(flood.value) == 20
    assert len(tg.messages(GROUP)) == 3
    tg.assert_no_violations()


def retry_seconds(error: RetryAfter) -> float:
    """PTB's ``retry_after`` is an int or a timedelta depending on its version and settings."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def test_flood_private_burst_then_refill(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.set_flood_limits(private_per_second=1, group_per_minute=20)
    sent = await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(10)])
    assert len(sent) == 10  # a full album fits the private burst
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(ALICE, "too soon")
    wait = retry_seconds(flood.value)
    assert wait >= 1
    assert tg.calls_of("sendMessage")[-1].response["parameters"] == {"retry_after": int(wait)}
    with pytest.raises(RetryAfter) as flood:  # 2 tokens: ~2 s away
        await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(2)])
    assert retry_seconds(flood.value) == 2
    assert len(tg.messages(ALICE)) == 10  # just the album: refused sends sent nothing
    await asyncio.sleep(wait)
    await bot.send_message(ALICE, "after the wait")
    assert tg.messages(ALICE)[-1].text == "after the wait"
    tg.assert_no_violations()


async def test_flood_private_album_above_burst(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.set_flood_limits(private_per_second=1, private_burst=4)
    with pytest.raises(RetryAfter) as flood:  # five can never pass: refused whole, none of them sent
        await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(5)])
    assert retry_seconds(flood.value) == 1  # the one token short (CHOICE in _flood_overflow)
    assert len(tg.messages(ALICE)) == 0
    await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(4)])
    with pytest.raises(RetryAfter) as flood:  # two more: two tokens away
        await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(2)])
    assert retry_seconds(flood.value) == 2
    assert len(tg.messages(ALICE)) == 4
    with pytest.raises(ValueError, match="at least 1"):
        tg.set_flood_limits(private_per_second=1, private_burst=0)
    tg.assert_no_violations()


async def test_flood_group_burst_then_refill(tg: TelegramEmulator, bot: Bot) -> None:
    tg.add_group(GROUP, "Family", members={ALICE: "creator", BOB: "member"})
    tg.set_flood_limits(group_per_minute=20)
    for _ in range(2):
        await bot.send_media_group(GROUP, [InputMediaPhoto(jpeg(20, 20)) for _ in range(10)])
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(GROUP, "21st")
    assert retry_seconds(flood.value) == 3  # 20/min refills one message every 3 s
    assert len(tg.messages(GROUP)) == 20
    # A fast group rate to watch the refill: burst 20, then 2 messages/s.
    tg.set_flood_limits(group_per_minute=120)
    for _ in range(2):
        await bot.send_media_group(GROUP, [InputMediaPhoto(jpeg(20, 20)) for _ in range(10)])
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(GROUP, "over")
    assert retry_seconds(flood.value) == 1
    await asyncio.sleep(0.6)  # refills one token
    await bot.send_message(GROUP, "refilled")
    tg.assert_no_violations()


async def test_flood_overall_limit(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.add_group(GROUP, "Family", members={ALICE: "creator", BOB: "member"})
    tg.set_flood_limits(overall_per_second=2)  # no per-chat limits: only the total counts (burst 2, 2/s)
    await bot.send_media_group(GROUP, [InputMediaPhoto(jpeg(20, 20)) for _ in range(2)])
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(ALICE, "another chat, same bot")
    assert retry_seconds(flood.value) == 1
    with pytest.raises(RetryAfter) as flood:
        await bot.send_media_group(GROUP, [InputMediaPhoto(jpeg(20, 20)) for _ in range(2)])
    assert retry_seconds(flood.value) == 1
    await asyncio.sleep(0.6)  # 2/s: one token back
    await bot.send_message(ALICE, "later")
    assert [r.text for r in tg.messages(ALICE)] == ["later"]
    # Per-chat and overall buckets both apply; the stricter one answers.
    tg.set_flood_limits(private_per_second=1, private_burst=2, overall_per_second=10)
    await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(20, 20)) for _ in range(2)])
    with pytest.raises(RetryAfter):
        await bot.send_message(ALICE, "private bucket empty")
    await bot.send_message(GROUP, "other chats still fine")
    tg.assert_no_violations()


async def test_forbidden_and_unknown_chats(tg: TelegramEmulator, bot: Bot) -> None:
    tg.send_text(ALICE, "/start")
    tg.block_bot(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "hi")
    updates = await bot.get_updates()
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(BOB, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hi")
    tg.send_text(ALICE, "/start")  # writing again unblocks
    await bot.send_message(ALICE, "welcome back")
    tg.assert_no_violations()


async def test_groups_privacy_membership_and_migration(tg: TelegramEmulator, bot: Bot) -> None:
    tg.add_group(-55, "Old group", type="group", members={ALICE: "creator", BOB: "member"}, added_by=ALICE)
    tg.send_text(BOB, "just chatting", chat_id=-55)  # privacy mode: not delivered
    tg.send_text(BOB, "/link@photos_test_bot", chat_id=-55)
    tg.send_text(BOB, "/link@other_bot", chat_id=-55)
    updates = await bot.get_updates()
    assert updates[0].my_chat_member is not None and updates[0].my_chat_member.new_chat_member.status == "member"
    assert [u.message.text for u in updates[1:] if u.message] == ["/link@photos_test_bot"]
    admins = await bot.get_chat_administrators(-55)
    assert [a.user.id for a in admins] == [ALICE]
    assert (await bot.get_chat_member(-55, BOB)).status == "member"
    assert (await bot.get_chat_member(-55, tg.bot_id)).status == "member"
    chat = await bot.get_chat(-55)
    assert chat.title == "Old group" and chat.type == "group"

    tg.migrate_group(-55, GROUP)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-55, "hi")
    assert migrated.value.new_chat_id == GROUP
    await bot.send_message(GROUP, "hi supergroup")
    tg.set_bot_status(GROUP, "restricted", can_send_messages=True)
    with pytest.raises(BadRequest, match="Not enough rights to send photos"):
        await bot.send_photo(GROUP, jpeg(10, 10))
    tg.set_bot_status(GROUP, "kicked")
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hi")
    tg.assert_no_violations()


async def test_copy_and_forward(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.add_group(GROUP, "Family", members={ALICE: "member"})
    photo = await bot.send_photo(ALICE, jpeg(50, 40), caption="orig")
    copied = await bot.copy_message(GROUP, ALICE, photo.message_id, caption="copy")
    rec = tg.message(GROUP, copied.message_id)
    assert rec.kind == "photo" and rec.caption == "copy" and rec.file is tg.message(ALICE, photo.message_id).file
    forwarded = await bot.forward_message(GROUP, ALICE, photo.message_id)
    assert forwarded.forward_origin is not None and forwarded.caption == "orig"
    album = await bot.send_media_group(ALICE, [InputMediaPhoto(jpeg(9, 9)), InputMediaPhoto(jpeg(8, 8))])
    ids = await bot.copy_messages(GROUP, ALICE, [m.message_id for m in album])
    copies = [tg.message(GROUP, i.message_id) for i in ids]
    assert len({c.media_group_id for c in copies}) == 1 and copies[0].media_group_id is not None
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(GROUP, ALICE, 999)
    tg.assert_no_violations()


async def test_commands_and_chat_actions(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("pick", "Pick photos")])
    await bot.set_my_commands([BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats(), language_code="de")
    assert [c["command"] for c in tg.commands["default"]] == ["start", "pick"]
    assert tg.commands[json.dumps({"type": "all_private_chats"}, sort_keys=True) + ":de"] == [
        {"command": "help", "description": "Help"}
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "pick"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.delete_my_commands()
    assert "default" not in tg.commands
    assert await bot.send_chat_action(ALICE, "upload_photo")
    tg.assert_no_violations()


async def test_command_menus_take_two_letter_language_codes_only(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    await bot.set_my_commands([BotCommand("pick", "Escolher fotos")], language_code="pt")
    for code in ("pt-br", "pt_BR", "PT", "eng"):
        with pytest.raises(BadRequest, match="Invalid language code specified"):
            await bot.set_my_commands([BotCommand("pick", "x")], language_code=code)
    assert tg.commands == {"default:pt": [{"command": "pick", "description": "Escolher fotos"}]}
    assert len(tg.violations) == 4


@asynccontextmanager
async def serve_hook(hook: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A webhook endpoint on this machine answered by `hook`; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_delivery_and_conflict(tg: TelegramEmulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    async with serve_hook(hook) as url:
        assert await bot.set_webhook(url, secret_token="s3cret")
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        tg.send_text(ALICE, "/start")
        await tg.wait_for(lambda: received or None)
        assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "/start"  # type: ignore[index]
        await tg.wait_for(lambda: not tg.pending_updates)
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert await bot.delete_webhook()
        tg.send_text(ALICE, "polling again")
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["polling again"]
    tg.assert_no_violations()


async def test_send_by_url_and_local_path(tmp_path: Path) -> None:
    photo = jpeg(120, 90)

    async def serve(request: web.Request) -> web.Response:
        if request.match_info["name"] == "p.jpg":
            return web.Response(body=photo, content_type="image/jpeg")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    tg = TelegramEmulator(TOKEN, local_mode=True)
    await tg.start()
    tg.add_user(ALICE, "Alice")
    tg.send_text(ALICE, "/start")
    try:
        async with Bot(TOKEN, base_url=f"{tg.url}/bot", local_mode=True) as bot:
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            await bot.send_photo(ALICE, f"{base}/p.jpg")
            assert tg.messages(ALICE)[-1].file.sha256 == hashlib.sha256(photo).hexdigest()  # type: ignore[union-attr]
            with pytest.raises(BadRequest, match="Failed to get http url content"):
                await bot.send_photo(ALICE, f"{base}/missing.jpg")
            clip = tmp_path / "clip.mp4"
            clip.write_bytes(b"local video")
            await bot.send_video(ALICE, clip)  # local mode: PTB sends a file:// URI, the server reads the disk
            assert str(tg.calls_of("sendVideo")[0].params["video"]).startswith("file://")
            assert tg.messages(ALICE)[-1].file.size == len(b"local video")  # type: ignore[union-attr]
            tg.local_mode = False  # a bot configured for a local server, talking to the cloud
            with pytest.raises(BadRequest, match="Wrong file identifier"):
                await bot.send_video(ALICE, clip)
        tg.assert_no_violations()
    finally:
        await tg.stop()
        await runner.cleanup()


async def test_webhook_sends_each_queue_in_order_and_the_queues_side_by_side(tg: TelegramEmulator, bot: Bot) -> None:
    """As the Bot API server: a chat's messages one at a time, but another chat's, or the bot-added update of a
    chat, do not wait for them."""
    received: list[str] = []
    release = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        text = update["message"]["text"] if "message" in update else "added"
        received.append(text)
        if text == "first":
            await release.wait()
        return web.Response()

    async with serve_hook(hook) as url:
        await bot.set_webhook(url)
        tg.send_text(ALICE, "first")
        tg.send_text(ALICE, "second")
        tg.send_text(BOB, "bob")
        tg.add_group(-100123, "Family", members={ALICE: "administrator"}, added_by=ALICE)
        await tg.wait_for(lambda: len(received) == 3 or None)
        assert sorted(received) == ["added", "bob", "first"]  # Alice's second waits for her first
        release.set()
        await tg.wait_for(lambda: not tg.pending_updates)
        assert received[3:] == ["second"]
    tg.assert_no_violations()


async def test_webhook_retries_failed_deliveries(tg: TelegramEmulator, bot: Bot) -> None:
    statuses = [500, 200]

    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    async with serve_hook(hook) as url:
        await bot.set_webhook(url)
        tg.send_text(ALICE, "/start")
        await tg.wait_for(lambda: not tg.pending_updates)
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert info.pending_update_count == 0
    tg.assert_no_violations()


async def test_protocol_violations_are_recorded(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    assert tg.violations == ["noSuchMethod: unknown method"]
    assert tg.calls[-1].status == 404 and tg.calls[-1].response["description"] == "Not Found"
    tg.violations.clear()

    await bot.send_message(ALICE, "hi", api_kwargs={"bogus_flag": True})
    assert tg.violations == ["sendMessage: unknown parameter 'bogus_flag'"]
    with pytest.raises(AssertionError, match="bogus_flag"):
        tg.assert_no_violations()
    tg.violations.clear()

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.url}/bot{TOKEN}/sendMessage", data={"chat_id": str(ALICE)}) as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
        body = {"chat_id": ALICE, "text": "json body", "reply_markup": {"inline_keyboard": [[{"text": "x"}]]}}
        async with http.post(f"{tg.url}/bot{TOKEN}/sendMessage", json=body) as resp:
            assert resp.status == 400 and "Text buttons are unallowed" in (await resp.json())["description"]
        async with http.get(f"{tg.url}/bot{TOKEN}/sendMessage", params={"chat_id": ALICE, "text": "query"}) as resp:
            assert resp.status == 200 and (await resp.json())["result"]["text"] == "query"
        async with http.get(
            f"{tg.url}/bot{TOKEN}/sendMessage", params={"chat_id": "x1", "text": "t", "message_thread_id": "abc"}
        ) as resp:
            assert resp.status == 400
        async with http.get(f"{tg.url}/bot999:WRONG/getMe") as resp:
            assert resp.status == 401
    assert tg.violations == [
        "sendMessage: missing required parameter 'text'",
        "sendMessage: parameter 'message_thread_id' must be an Integer: 'abc'",
        "getMe: request with a wrong bot token",
    ]
    assert tg.calls[-1].response["description"] == "Unauthorized"


async def test_wait_for_timeout_lists_recent_calls(started: TelegramEmulator, bot: Bot) -> None:
    await bot.send_message(ALICE, "one")
    first = await started.wait_for_message(ALICE)
    assert first.text == "one"
    with pytest.raises(TimeoutError, match="sendMessage -> 200"):
        await started.wait_for_message(ALICE, timeout=0.05)  # "one" was already returned


async def test_an_album_goes_out_item_by_item_and_fails_with_the_first_error(
    started: TelegramEmulator, bot: Bot
) -> None:
    tg = started

    def album(count: int) -> list[InputMediaPhoto]:
        return [InputMediaPhoto(jpeg(20, 20)) for _ in range(count)]

    tg.fail_album_item(3, description="Bad Request: PHOTO_INVALID_DIMENSIONS")
    with pytest.raises(BadRequest) as refused:
        await bot.send_media_group(ALICE, album(4))
    assert refused.value.message == 'Failed to send message #3 with the error message "photo_invalid_dimensions"'
    assert tg.calls_of("sendMediaGroup")[-1].response["description"] == (
        'Bad Request: failed to send message #3 with the error message "PHOTO_INVALID_DIMENSIONS"'
    )
    assert len(tg.messages(ALICE)) == 2  # items 1 and 2 went out and stay; 3 failed; 4 was not sent
    tg.fail_album_item(2, retry_after=5)  # a flood refusal inside the album passes through as a 429
    with pytest.raises(RetryAfter) as flood:
        await bot.send_media_group(ALICE, album(3))
    assert retry_seconds(flood.value) == 5
    tg.fail_album_item(2, status=502)  # so do server errors
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_media_group(ALICE, album(2))
    tg.fail_album_item(2, status=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match='failed to send message #2 with the error message "bot was blocked'):
        await bot.send_media_group(ALICE, album(2))
    assert len(tg.messages(ALICE)) == 5
    tg.assert_no_violations()


async def test_an_error_answer_after_the_request_was_carried_out(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    tg.fail_next("sendMessage", status=502, processed=True)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(ALICE, "sent, though the answer says otherwise")
    assert [r.text for r in tg.messages(ALICE)] == ["sent, though the answer says otherwise"]
    tg.assert_no_violations()


async def test_request_bodies_over_the_limit_get_413(started: TelegramEmulator, bot: Bot) -> None:
    tg = started
    assert tg.body_limit is None  # the cloud refuses files over 50 MB instead (see the test above)
    tg.set_body_limit(5_000)
    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        await bot.send_document(ALICE, InputFile(bytes(6_000), filename="big.bin"))
    await bot.send_document(ALICE, InputFile(bytes(3_000), filename="small.bin"))
    assert [c.status for c in tg.calls_of("sendDocument")] == [413, 200]
    assert tg.calls_of("sendDocument")[0].body_size > 6_000
    assert len(tg.messages(ALICE)) == 1
    tg.set_body_limit(None)
    tg.local_mode = True
    assert tg.body_limit == 4_000_000_000
    tg.assert_no_violations()


async def test_edits_are_limited_per_group(tg: TelegramEmulator, bot: Bot) -> None:
    tg.send_text(ALICE, "/start")
    tg.add_group(GROUP, "Family", members={ALICE: "creator"})
    in_group = await bot.send_message(GROUP, "0")
    privately = await bot.send_message(ALICE, "0")
    for n in range(1, 21):  # about 20 edits a minute in a group
        await bot.edit_message_text(str(n), GROUP, in_group.message_id)
    with pytest.raises(RetryAfter) as flood:
        await bot.edit_message_text("21", GROUP, in_group.message_id)
    assert retry_seconds(flood.value) == 3
    assert tg.message(GROUP, in_group.message_id).text == "20"
    for n in range(1, 30):  # no limit known for private chats
        await bot.edit_message_text(str(n), ALICE, privately.message_id)
    tg.set_edit_limits(group_per_minute=None, private_per_minute=6, burst=1)
    await bot.edit_message_text("unlimited now", GROUP, in_group.message_id)
    await bot.edit_message_text("one", ALICE, privately.message_id)
    with pytest.raises(RetryAfter) as flood:
        await bot.edit_message_text("two", ALICE, privately.message_id)
    assert retry_seconds(flood.value) == 10
    tg.assert_no_violations()


async def test_a_group_hiding_its_members_from_a_bot_that_is_no_admin(tg: TelegramEmulator, bot: Bot) -> None:
    tg.add_group(GROUP, "Family", members={ALICE: "creator", BOB: "member"}, hidden_members=True)
    with pytest.raises(BadRequest, match="Member list is inaccessible"):
        await bot.get_chat_member(GROUP, BOB)
    assert (await bot.get_chat_member(GROUP, tg.bot_id)).status == "member"  # itself: always
    assert [a.user.id for a in await bot.get_chat_administrators(GROUP)] == [ALICE]
    tg.set_bot_status(GROUP, "administrator")
    assert (await bot.get_chat_member(GROUP, BOB)).status == "member"
    with pytest.raises(ValueError, match="only supergroups"):
        tg.add_group(-77, "Basic", type="group", hidden_members=True)
    tg.assert_no_violations()


async def test_webhooks_must_be_https_but_for_a_server_on_this_machine(tg: TelegramEmulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Bad webhook: an https url must be provided"):
        await bot.set_webhook("http://bot.example.com/hook")
    assert await bot.set_webhook("https://bot.example.com/hook")
    assert await bot.set_webhook("http://127.0.0.1:8443/hook")  # only a server on this machine reaches it
    tg.local_mode = True  # a local server takes plain http anywhere
    assert await bot.set_webhook("http://bot.internal/hook")
    tg.assert_no_violations()
