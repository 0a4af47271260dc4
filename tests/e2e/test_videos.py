"""Videos as a user sees them: duration, size and thumbnail on the tile, and a name that says what was sent.

Telegram works these out itself only for uploads up to about 10 MB (tdlib/telegram-bot-api#127, #442); the
Telegram emulator records a violation (checked after every test) for a bigger video sent without them.
"""

from __future__ import annotations

import re
from typing import Any

from emulators.google import GoogleEmulator
from emulators.telegram import Call, FileInfo, TelegramEmulator
from tests.e2e.conftest import bot_api_spec
from tests.e2e.picking import link, media, served_sha, start_pick, temp_files, wait_summary
from tests.harness import BotProcess, Person, callback_data

FRAME = "=w320-h320"
BIG = 10_500_000  # over the ~10 MB Telegram analyses itself, two still fit one album


def thumbnail_limits() -> tuple[int, int]:
    """(bytes under, px at most) for a thumbnail, from the Bot API spec when it is there."""
    spec = bot_api_spec()
    if spec is None:
        return 200_000, 320
    [text] = [f["description"] for f in spec["methods"]["sendVideo"]["fields"] if f["name"] == "thumbnail"]
    kb = re.search(r"JPEG format and less than (\d+) kB", text)
    px = re.search(r"width and height should not exceed (\d+)", text)
    assert kb and px, text
    return int(kb.group(1)) * 1000, int(px.group(1))


def attached(call: Call, ref: object) -> FileInfo:
    assert isinstance(ref, str) and ref.startswith("attach://"), ref
    return call.files[ref.removeprefix("attach://")]


def assert_thumbnail(info: FileInfo, google: GoogleEmulator, item: Any) -> None:
    """What Telegram takes as a thumbnail, and byte for byte Google's frame of that video."""
    under, side = thumbnail_limits()
    assert info.jpeg_size is not None and max(info.jpeg_size) <= side, info
    assert info.size < under
    assert info.sha256 == served_sha(google, item, FRAME)


async def test_a_big_video_arrives_with_duration_size_as_shown_and_thumbnail(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # Shot upright in 4K; Google's transcode is 1080p, stored landscape with a 90° matrix, moov at the end.
    video = google.add_video(
        alice.email, filename="IMG_1234.MOV", mime_type="video/quicktime", size=21_000_000, width=2160,
        height=3840, duration=37.4, transcode=(1080, 1920), rotation=90, moov="end",
    )  # fmt: skip
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    [call] = [c for c in tg.calls_of("sendVideo") if c.status == 200]
    params = call.params
    assert (params["duration"], params["width"], params["height"], params["supports_streaming"]) == (
        37,
        1080,
        1920,
        True,
    )
    assert_thumbnail(attached(call, params["thumbnail"]), google, video)
    [message] = media(tg, alice.user_id)
    assert message.file is not None and message.file.filename == "IMG_1234.mp4"  # Google's =dv is an MP4
    assert message.file.sha256 == served_sha(google, video, "=dv")
    assert temp_files(bot) == []  # the thumbnail went with its video


async def test_every_video_in_an_album_carries_duration_and_thumbnail(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    landscape = google.add_video(alice.email, size=BIG, duration=8.0)
    upright = google.add_video(alice.email, size=BIG, width=720, height=1280, duration=61.6, rotation=270, moov="end")
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo, landscape, upright])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 3."
    [call] = [c for c in tg.calls_of("sendMediaGroup") if c.status == 200]
    videos = [item for item in call.params["media"] if item["type"] == "video"]
    assert [(v["duration"], v["width"], v["height"]) for v in videos] == [(8, 1920, 1080), (62, 720, 1280)]
    for item, sent in zip([landscape, upright], videos, strict=True):
        assert_thumbnail(attached(call, sent["thumbnail"]), google, item)
    assert [m.kind for m in media(tg, alice.user_id)] == ["photo", "video", "video"]
    assert temp_files(bot) == []


async def test_a_video_without_a_readable_header_or_a_frame_still_arrives(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # Small enough for Telegram to work out duration and thumbnail itself; a big one would show 0:00.
    video = google.add_video(alice.email, size=2_000_000, width=1280, height=720, moov="missing", frame=False)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    [call] = tg.calls_of("sendVideo")
    assert "duration" not in call.params and "thumbnail" not in call.params
    assert (call.params["width"], call.params["height"]) == (1280, 720)  # Google's listing, for want of a header
    assert [m.kind for m in media(tg, alice.user_id)] == ["video"]
    assert temp_files(bot) == []


async def test_original_files_name_a_video_by_its_bytes_and_say_it_is_a_transcode(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    video = google.add_video(alice.email, filename="IMG_1234.MOV", mime_type="video/quicktime", size=500_000)
    await link(alice)
    menu = await alice.reply_to("/settings")
    assert "transcode" in (menu.text or "")
    await alice.press(menu, callback_data(menu, "Original files"))
    await tg.wait_for(lambda: "Now: Original files" in (tg.message(alice.user_id, menu.message_id).text or ""))
    _, session = await start_pick(alice)
    google.pick(session.id, [video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    [document] = media(tg, alice.user_id)
    assert document.kind == "document" and document.file is not None
    assert document.file.filename == "IMG_1234.mp4"  # an MP4, not a QuickTime file named .MOV
    assert document.file.sha256 == served_sha(google, video, "=dv")


async def test_a_video_whose_base_url_is_refused_still_arrives_with_its_thumbnail(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    video = google.add_video(alice.email, size=BIG, duration=5.0)
    await link(alice)
    _, session = await start_pick(alice)
    google.fail_next("media", status=403)  # the video's baseUrl, as if it had expired
    google.pick(session.id, [video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    [call] = [c for c in tg.calls_of("sendVideo") if c.status == 200]
    assert call.params["duration"] == 5
    assert_thumbnail(attached(call, call.params["thumbnail"]), google, video)
    assert len([r for r in google.requests if r.endpoint == "mediaItems.list"]) == 2
    assert temp_files(bot) == []
