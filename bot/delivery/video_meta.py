"""What a downloaded MP4/QuickTime file says about itself: its duration (`mvhd`) and the size its video
track is shown at (`tkhd`, turned by its rotation matrix).

Telegram analyses only small uploads (about 10 MB); a bigger video sent without `duration` shows 0:00
(tdlib/telegram-bot-api#127, #442). Only box headers and those few small boxes are read from disk,
wherever `moov` sits (it may follow a multi-gigabyte `mdat`, whose size then needs 64 bits).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MAX_BOXES = 10_000  # per level: a corrupt file must not keep the parser walking 8-byte boxes
SMALL_BOX = 256  # mvhd, tkhd and hdlr hold what we need in their first 100 bytes


class Unreadable(Exception):
    """The file is not an ISO base media file, or its boxes contradict themselves."""


@dataclass(frozen=True)
class VideoMeta:
    duration: float | None = None  # seconds
    width: int | None = None  # as shown: after the track's rotation
    height: int | None = None

    @property
    def whole_seconds(self) -> int | None:
        """The duration as the Bot API takes it (Integer seconds); never 0 for a video that has length."""
        return None if self.duration is None else max(1, round(self.duration))


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # where the payload starts
    end: int


def read_video_meta(path: Path) -> VideoMeta:
    """The header's facts; any of them None when the file does not say (or cannot be read)."""
    try:
        with path.open("rb") as file:
            end = file.seek(0, 2)
            moov = _find(file, 0, end, b"moov")
            if moov is None:
                raise Unreadable("no moov box")
            width, height = _video_size(file, moov)
            return VideoMeta(_duration(file, moov), width, height)
    except (OSError, Unreadable, struct.error, IndexError) as exc:
        log.info("no video header in %s: %s", path.name, exc)
        return VideoMeta()


def _boxes(file: BinaryIO, start: int, end: int) -> Iterator[_Box]:
    pos = start
    for _ in range(MAX_BOXES):
        if end - pos < 8:
            return
        file.seek(pos)
        size, kind = struct.unpack(">I4s", file.read(8))
        header = 8
        if size == 1:  # 64-bit size follows the type
            (size,) = struct.unpack(">Q", file.read(8))
            header = 16
        elif size == 0:  # the box runs to the end of its container
            size = end - pos
        if size < header or pos + size > end:
            raise Unreadable(f"box {kind!r} at {pos} claims {size} bytes")
        yield _Box(kind, pos + header, pos + size)
        pos += size


def _find(file: BinaryIO, start: int, end: int, kind: bytes) -> _Box | None:
    return next((box for box in _boxes(file, start, end) if box.kind == kind), None)


def _payload(file: BinaryIO, box: _Box) -> bytes:
    file.seek(box.start)
    return file.read(min(box.end - box.start, SMALL_BOX))


def _duration(file: BinaryIO, moov: _Box) -> float | None:
    mvhd = _find(file, moov.start, moov.end, b"mvhd")
    if mvhd is None:
        return None
    data = _payload(file, mvhd)
    if data[0] == 1:  # version 1: 64-bit times and duration
        timescale, duration = struct.unpack_from(">IQ", data, 20)
        unknown = 2**64 - 1
    else:
        timescale, duration = struct.unpack_from(">II", data, 12)
        unknown = 2**32 - 1
    if not timescale or not duration or duration == unknown:
        return None
    return float(duration / timescale)


def _video_size(file: BinaryIO, moov: _Box) -> tuple[int | None, int | None]:
    """Width and height of the first video track as shown."""
    for trak in _boxes(file, moov.start, moov.end):
        if trak.kind != b"trak" or not _is_video(file, trak):
            continue
        tkhd = _find(file, trak.start, trak.end, b"tkhd")
        if tkhd is None:
            return None, None
        data = _payload(file, tkhd)
        at = 40 if data[0] == 0 else 52  # the matrix follows times, ids and reserved fields
        a, b, _, c, d = struct.unpack_from(">5i", data, at)
        width, height = struct.unpack_from(">II", data, at + 36)  # 16.16 fixed point
        shown = (round(width / 65536), round(height / 65536))
        if abs(b) > abs(a) and abs(c) > abs(d):  # rotated by 90° or 270°
            shown = shown[1], shown[0]
        return shown[0] or None, shown[1] or None
    return None, None


def _is_video(file: BinaryIO, trak: _Box) -> bool:
    mdia = _find(file, trak.start, trak.end, b"mdia")
    hdlr = _find(file, mdia.start, mdia.end, b"hdlr") if mdia is not None else None
    return hdlr is not None and _payload(file, hdlr)[8:12] == b"vide"  # handler type (QuickTime: subtype)
