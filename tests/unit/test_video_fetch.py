"""A video's fetch: its header read, its thumbnail fetched beside it (none for a video too big), kept together."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

from PIL import Image

from bot.delivery.capacity import TempSpace
from bot.delivery.fetching import MediaFetcher, Room
from bot.delivery.repeats import Repeats
from bot.delivery.target import DeliveryTarget
from bot.google.errors import MediaUnavailable, TooLarge
from bot.google.picker import PickedMediaItem, PickerClient, Reserve
from emulators.media_files import VideoHeader, jpeg, mp4
from storage.picks import PickItem, PickSession

MEDIA_ID = "AF1QipVideo"


class FakePicker:
    """Google as the fetcher sees it: listings give new baseUrls; `refused` baseUrl+suffix answer 403 once."""

    def __init__(self, video_size: int = 300_000, frame: bytes | None = None) -> None:
        self.listings = 0
        self.requests: list[str] = []
        self.refused: set[str] = set()
        self.video = mp4(video_size, "seed", header=VideoHeader(37.4, 1080, 1920, rotation=90)).read_all()
        self.frame = frame if frame is not None else jpeg(180, 320, 12_000, "seed").read_all()

    async def list_items(self, user_id: int, session_id: str) -> list[PickedMediaItem]:
        self.listings += 1
        base = f"https://lh3.googleusercontent.com/listing{self.listings}"
        return [PickedMediaItem(MEDIA_ID, "VIDEO", base, "video/quicktime", "IMG_1234.MOV", 2160, 3840, "READY")]

    async def download(self, user_id: int, url: str, dest: Path, limit: int, reserve: Reserve | None = None) -> int:
        self.requests.append(url)
        if url in self.refused:
            self.refused.discard(url)
            raise MediaUnavailable("media answered 403", 403)
        body = self.video if url.endswith("=dv") else self.frame
        if len(body) > limit:
            raise TooLarge(len(body))
        if reserve is not None:
            assert len(body) <= await reserve(len(body))
        dest.write_bytes(body)
        return len(body)


def fetcher(picker: FakePicker, workdir: Path) -> MediaFetcher:
    session = PickSession(
        1, "gsid", 111, 111, "delivering", "https://photos.google.com/picker/x", "photos", 5.0, 0.0, 1e12,
        None, None, None, None, False, 111, 111, 111, None, None, None, None, None, False, 0.0, "none",
    )  # fmt: skip
    no_memory = Repeats(None, cast(DeliveryTarget, None))  # DEDUP_DAYS=0: the target is never asked
    return MediaFetcher(
        cast(PickerClient, picker), session, workdir, 50_000_000, TempSpace(workdir, 10**9, 0), no_memory
    )


def room(workdir: Path) -> Room:
    return TempSpace(workdir, 10**9, 0).reserve


def video_item() -> PickItem:
    return PickItem(1, MEDIA_ID, "VIDEO", "IMG_1234.MOV", "video/quicktime", 2160, 3840)


async def test_a_video_gets_its_header_facts_and_a_thumbnail(tmp_path: Path) -> None:
    picker = FakePicker()
    the_fetcher = fetcher(picker, tmp_path)
    await the_fetcher.list_patiently()
    fetched = await the_fetcher.fetch(video_item(), room(tmp_path))
    upload = fetched.upload
    assert upload is not None and upload.kind == "video" and upload.filename == "IMG_1234.mp4"
    assert (upload.duration, upload.width, upload.height) == (37, 1080, 1920)
    assert upload.thumbnail is not None and upload.thumbnail.read_bytes() == picker.frame
    assert picker.requests == [f"https://lh3.googleusercontent.com/listing1{s}" for s in ("=dv", "=w320-h320")]
    fetched.remove_file()
    assert list(tmp_path.iterdir()) == []  # the thumbnail goes with its video


async def test_a_refused_frame_is_fetched_again_from_a_new_listing(tmp_path: Path) -> None:
    picker = FakePicker()
    picker.refused.add("https://lh3.googleusercontent.com/listing1=w320-h320")
    the_fetcher = fetcher(picker, tmp_path)
    await the_fetcher.list_patiently()
    fetched = await the_fetcher.fetch(video_item(), room(tmp_path))
    assert fetched.upload is not None and fetched.upload.thumbnail is not None
    assert picker.listings == 2
    assert picker.requests[-1] == "https://lh3.googleusercontent.com/listing2=w320-h320"


async def test_no_frame_is_fetched_for_a_video_too_big_to_send(tmp_path: Path) -> None:
    picker = FakePicker(video_size=60_000_000)
    the_fetcher = fetcher(picker, tmp_path)
    await the_fetcher.list_patiently()
    fetched = await the_fetcher.fetch(video_item(), room(tmp_path))
    assert fetched.upload is None and fetched.size == 60_000_000
    assert picker.requests == ["https://lh3.googleusercontent.com/listing1=dv"]
    assert list(tmp_path.iterdir()) == []


async def test_a_frame_telegram_would_ignore_is_dropped_and_the_video_still_goes(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (180, 320)).save(png, "PNG")
    picker = FakePicker(frame=png.getvalue())
    the_fetcher = fetcher(picker, tmp_path)
    await the_fetcher.list_patiently()
    fetched = await the_fetcher.fetch(video_item(), room(tmp_path))
    assert fetched.upload is not None and fetched.upload.thumbnail is None
    assert fetched.upload.duration == 37
    assert [path.name for path in tmp_path.iterdir()] == ["00001"]
