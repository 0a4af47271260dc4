"""The video header reader, the name that matches a file's bytes, and the thumbnail check."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.delivery import thumbnails
from bot.delivery.file_names import matching_name, name_for_file
from bot.delivery.video_meta import VideoMeta, read_video_meta
from emulators.media_files import VideoHeader, jpeg, mp4


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def video(tmp_path: Path, header: VideoHeader | None, size: int = 200_000, content_type: str = "video/mp4") -> Path:
    return write(tmp_path / "video", mp4(size, "seed", content_type, header).read_all())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (VideoHeader(37.4, 1920, 1080), VideoMeta(37.4, 1920, 1080)),
        (VideoHeader(37.4, 1080, 1920, rotation=90), VideoMeta(37.4, 1080, 1920)),  # a phone held upright
        (VideoHeader(8.0, 720, 1280, rotation=270, moov_at_end=True), VideoMeta(8.0, 720, 1280)),
        (VideoHeader(3.0, 640, 480, rotation=180, wide_mdat=True), VideoMeta(3.0, 640, 480)),
        (VideoHeader(5_000_000.0, 3840, 2160), VideoMeta(5_000_000.0, 3840, 2160)),  # 64-bit mvhd (version 1)
    ],
)
def test_duration_and_size_as_shown_wherever_moov_is(tmp_path: Path, header: VideoHeader, expected: VideoMeta) -> None:
    assert read_video_meta(video(tmp_path, header)) == expected


def test_a_quicktime_file_reads_the_same(tmp_path: Path) -> None:
    path = video(tmp_path, VideoHeader(2.5, 1280, 720, moov_at_end=True), content_type="video/quicktime")
    assert read_video_meta(path) == VideoMeta(2.5, 1280, 720)


def test_duration_in_whole_seconds_for_the_bot_api() -> None:
    assert [VideoMeta(s).whole_seconds for s in (37.4, 37.5, 0.2, None)] == [37, 38, 1, None]


class CountingReads:
    """A file whose reads are counted."""

    def __init__(self, file: Any, counter: list[int]) -> None:
        self._file, self._counter = file, counter

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._file.read(size)
        self._counter.append(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._file.seek(offset, whence))

    def __enter__(self) -> CountingReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    counter: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> CountingReads:
        return CountingReads(real_open(self, *args, **kwargs), counter)

    monkeypatch.setattr(Path, "open", counting_open)
    yield counter


def test_moov_after_a_multi_gigabyte_mdat_is_found_by_reading_headers_only(tmp_path: Path, reads: list[int]) -> None:
    """A sparse 5 GB file: ftyp, an mdat whose size needs 64 bits, then moov."""
    body = mp4(20_000, "seed", header=VideoHeader(61.0, 1920, 1080, moov_at_end=True)).read_all()
    ftyp_end = int.from_bytes(body[:4], "big")
    mdat_size = int.from_bytes(body[ftyp_end : ftyp_end + 4], "big")
    moov = body[ftyp_end + mdat_size :]
    big_mdat = 5 * 2**30
    path = tmp_path / "big.mp4"
    with open(path, "wb") as file:  # the real open: Path.open is counted
        file.write(body[:ftyp_end] + b"\x00\x00\x00\x01mdat" + big_mdat.to_bytes(8, "big"))
        file.seek(ftyp_end + big_mdat)
        file.write(moov)
    assert read_video_meta(path) == VideoMeta(61.0, 1920, 1080)
    assert sum(reads) < 2_000  # box headers and three small boxes, not gigabytes


def patched_mvhd_duration(data: bytes, duration: int) -> bytes:
    at = data.index(b"mvhd") + 4 + 16  # version/flags, creation, modification, timescale
    return data[:at] + struct.pack(">I", duration) + data[at + 4 :]


@pytest.mark.parametrize("duration", [0, 0xFFFFFFFF])  # none, and "unknown" (all ones)
def test_a_header_without_a_duration_gives_none_but_still_the_size(tmp_path: Path, duration: int) -> None:
    data = mp4(200_000, "seed", header=VideoHeader(9.0, 1280, 720)).read_all()
    path = write(tmp_path / "video", patched_mvhd_duration(data, duration))
    assert read_video_meta(path) == VideoMeta(None, 1280, 720)


def test_unreadable_files_give_nothing_and_never_raise(tmp_path: Path) -> None:
    good = mp4(200_000, "seed", header=VideoHeader(9.0, 1280, 720, moov_at_end=True)).read_all()
    moov_at = good.index(b"moov") - 4
    cases = {
        "no moov": mp4(200_000, "seed", header=None).read_all(),
        "garbage": b"not a video at all" * 100,
        "empty": b"",
        "moov cut short": good[: moov_at + 60],
        "box claiming more than the file": good[:moov_at] + struct.pack(">I4s", 10**9, b"moov") + good[moov_at + 8 :],
        "box smaller than its header": good[:moov_at] + struct.pack(">I4s", 4, b"moov") + good[moov_at + 8 :],
        "64-bit size cut short": good[:8] + b"\x00\x00\x00\x01mdat\x00\x00",
    }
    for name, data in cases.items():
        assert read_video_meta(write(tmp_path / "video", data)) == VideoMeta(), name
    assert read_video_meta(tmp_path / "gone") == VideoMeta()


def test_no_video_track_gives_no_size(tmp_path: Path) -> None:
    data = mp4(200_000, "seed", header=VideoHeader(4.0, 640, 360)).read_all()
    path = write(tmp_path / "video", data.replace(b"vide", b"text"))  # the video track's handler type
    assert read_video_meta(path) == VideoMeta(4.0, None, None)


# ------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("IMG_1234.MOV", b"\x00\x00\x00\x20ftypisom", "IMG_1234.mp4"),  # Google's =dv of a QuickTime original
        ("VID_1.mp4", b"\x00\x00\x00\x20ftypisom", "VID_1.mp4"),
        ("clip.M4V", b"\x00\x00\x00\x20ftypmp42", "clip.M4V"),
        ("IMG_1.MOV", b"\x00\x00\x00\x14ftypqt  ", "IMG_1.MOV"),
        ("IMG_2.HEIC", b"\x00\x00\x00\x18ftypheic", "IMG_2.HEIC"),
        ("IMG_2.HEIC", b"\xff\xd8\xff\xe0\x00\x10JFIF", "IMG_2.jpg"),  # a sized rendition of a HEIC photo
        ("IMG_3.JPEG", b"\xff\xd8\xff\xe1", "IMG_3.JPEG"),
        ("scan.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "scan.png"),
        ("anim", b"GIF89a\x01\x00", "anim.gif"),
        ("my.holiday.webp.jpg", b"RIFF\x00\x00\x00\x00WEBP", "my.holiday.webp.webp"),
        (".hidden", b"\xff\xd8\xff\xe0", ".hidden.jpg"),
        ("notes.txt", b"plain text..", "notes.txt"),  # unknown bytes: the name stays
    ],
)
def test_a_name_says_what_the_bytes_are(filename: str, head: bytes, expected: str) -> None:
    assert matching_name(filename, head) == expected


def test_name_for_file_reads_the_file_start(tmp_path: Path) -> None:
    path = write(tmp_path / "00001", mp4(100_000, "seed").read_all())
    assert name_for_file("IMG_1234.MOV", path) == "IMG_1234.mp4"


# ------------------------------------------------------------------------------------------- thumbnails


def test_only_a_small_jpeg_is_a_usable_thumbnail(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (320, 180)).save(png, "PNG")
    cases = {
        "frame.jpg": (jpeg(320, 180, 12_000, "s").read_all(), True),
        "upright.jpg": (jpeg(180, 320, 12_000, "s").read_all(), True),
        "too wide.jpg": (jpeg(321, 180, 12_000, "s").read_all(), False),
        "too heavy.jpg": (jpeg(320, 180, thumbnails.MAX_BYTES + 1, "s").read_all(), False),
        "frame.png": (png.getvalue(), False),
        "cut.jpg": (b"\xff\xd8\xff", False),
    }
    for name, (data, usable) in cases.items():
        path = write(tmp_path / name, data)
        assert thumbnails.keep_if_usable(path) == (path if usable else None), name
        assert path.exists() == usable, name  # what Telegram would ignore is not kept
