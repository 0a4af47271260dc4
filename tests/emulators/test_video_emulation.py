"""How the emulators model videos: Google's =dv transcode and its frame, and what Telegram shows of an upload."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image
from telegram import Bot, InputFile, InputMediaVideo

from bot.delivery.video_meta import VideoMeta, read_video_meta
from emulators import media_files
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.emulators.conftest import ALICE as USER
from tests.emulators.test_google_emulator import ALICE, bearer, picked_session

# ----------------------------------------------------------------------------- Google


async def test_dv_is_an_mp4_whose_header_says_duration_and_size_as_shown(
    google: GoogleEmulator, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    upright = google.add_video(
        ALICE, filename="IMG_1.MOV", mime_type="video/quicktime", size=3_000_000, width=2160, height=3840,
        duration=37.4, transcode=(1080, 1920), rotation=90, moov="end",
    )  # fmt: skip
    plain = google.add_video(ALICE, size=500_000, duration=5.0)
    broken = google.add_video(ALICE, size=500_000, moov="missing")
    token, _, listed = await picked_session(google, http, [upright, plain, broken])
    metas = []
    for entry in listed:
        response = await http.get(entry["mediaFile"]["baseUrl"] + "=dv", headers=bearer(token))
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        path = tmp_path / entry["id"]
        path.write_bytes(response.content)
        metas.append(read_video_meta(path))
        assert response.content[4:12] == b"ftypisom"  # a transcode is an MP4, whatever the original was
    assert len(path.read_bytes()) == 500_000
    assert metas == [VideoMeta(37.4, 1080, 1920), VideoMeta(5.0, 1920, 1080), VideoMeta()]


async def test_size_parameters_on_a_video_give_a_jpeg_frame(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    upright = google.add_video(ALICE, width=1080, height=1920)
    no_frame = google.add_video(ALICE, frame=False)
    token, _, listed = await picked_session(google, http, [upright, no_frame])
    frame = await http.get(listed[0]["mediaFile"]["baseUrl"] + "=w320-h320", headers=bearer(token))
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(frame.content)) as image:
        assert (image.format, image.size) == ("JPEG", (180, 320))
    assert len(frame.content) < 200_000
    missing = await http.get(listed[1]["mediaFile"]["baseUrl"] + "=w320-h320", headers=bearer(token))
    assert missing.status_code == 404


# ----------------------------------------------------------------------------- Telegram


def jpeg(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height)).save(buf, fmt)
    return buf.getvalue()


def big_video(tmp_path: Path, name: str = "big.mp4", size: int = 10_000_001) -> Path:
    path = tmp_path / name
    with path.open("wb") as file:
        file.write(b"\x00\x00\x00\x18ftypisom")
        file.truncate(size)  # sparse: over the 10 MB Telegram analyses itself
    return path


def upload(path: Path) -> InputFile:
    return InputFile(path.read_bytes(), filename=path.name)


@pytest.mark.usefixtures("started")
async def test_a_big_video_with_duration_and_thumbnail_is_recorded_whole(
    tg: TelegramEmulator, bot: Bot, tmp_path: Path
) -> None:
    await bot.send_video(USER, upload(big_video(tmp_path)), duration=37, thumbnail=jpeg(320, 180))
    stored = tg.messages(USER)[-1].file
    assert stored is not None and stored.duration == 37
    assert stored.thumbnail is not None and stored.thumbnail.jpeg_size == (320, 180)
    assert str(tg.calls_of("sendVideo")[0].params["thumbnail"]).startswith("attach://")
    small = tmp_path / "small.mp4"
    small.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(1000))
    await bot.send_video(USER, upload(small))  # Telegram analyses a small video itself
    tg.assert_no_violations()


@pytest.mark.usefixtures("started")
async def test_a_big_video_without_duration_or_thumbnail_is_a_violation(
    tg: TelegramEmulator, bot: Bot, tmp_path: Path
) -> None:
    await bot.send_video(USER, upload(big_video(tmp_path)), width=1920, height=1080)
    assert tg.violations == [
        "video upload big.mp4: 10000001 bytes without duration: Telegram shows 0:00",
        "video upload big.mp4: 10000001 bytes without a thumbnail: Telegram shows a blank tile",
    ]


@pytest.mark.usefixtures("started")
async def test_albums_are_checked_item_by_item(tg: TelegramEmulator, bot: Bot, tmp_path: Path) -> None:
    media = [
        InputMediaVideo(
            big_video(tmp_path, "a.mp4").read_bytes(), filename="a.mp4", duration=3, thumbnail=jpeg(320, 180)
        ),
        InputMediaVideo(big_video(tmp_path, "b.mp4").read_bytes(), filename="b.mp4", duration=4),
    ]
    await bot.send_media_group(USER, media)
    assert [m.file.thumbnail is not None for m in tg.messages(USER) if m.file] == [True, False]
    assert tg.violations == ["video upload b.mp4: 10000001 bytes without a thumbnail: Telegram shows a blank tile"]


@pytest.mark.parametrize(
    ("thumbnail", "problem"),
    [
        (jpeg(321, 180), "thumbnail Telegram ignores (JPEG (321, 180)"),
        (media_files.jpeg(320, 320, 200_000, "seed").read_all(), "thumbnail Telegram ignores (JPEG (320, 320), 200000"),
        (jpeg(320, 180, "PNG"), "thumbnail Telegram ignores (JPEG None"),
        ("AgACAgIAAxkBAAIthumbnail", "thumbnail 'AgACAgIAAxkBAAIthumbnail' is not an uploaded part"),
    ],
)
@pytest.mark.usefixtures("started")
async def test_a_thumbnail_telegram_would_ignore_is_a_violation(
    tg: TelegramEmulator, bot: Bot, tmp_path: Path, thumbnail: bytes | str, problem: str
) -> None:
    await bot.send_video(USER, upload(big_video(tmp_path)), duration=3, thumbnail=thumbnail)
    assert any(problem in violation for violation in tg.violations), tg.violations
    assert tg.violations[-1].endswith("without a thumbnail: Telegram shows a blank tile")
