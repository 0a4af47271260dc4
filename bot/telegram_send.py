"""Uploading media to Telegram: photos, videos, documents and albums (flood pacing lives in bot/flood.py).

A local Bot API server that shares the bot's filesystem (TELEGRAM_LOCAL_FILES) is handed `file://` paths
instead of uploads, as its maintainer advises (tdlib/telegram-bot-api#671).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from telegram import InputFile, InputMediaDocument, InputMediaPhoto, InputMediaVideo, Message
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot import upload_socket
from bot.flood import SendInfo, UploadClock

log = logging.getLogger(__name__)

SendKind = Literal["photo", "video", "document"]
Handover = Callable[[], Awaitable[None]]
MAX_NETWORK_RETRIES = 3


@dataclass(frozen=True)
class Upload:
    position: int
    path: Path  # the file to upload (never read when `file_id` is given)
    filename: str
    kind: SendKind
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # seconds; with `thumbnail`, what a video over ~10 MB needs to show
    thumbnail: Path | None = None  # a JPEG Telegram takes as the video's thumbnail
    file_id: str | None = None  # sent again by Telegram's own id: nothing is uploaded (Bot API, "Sending files")


class Unconfirmed(TelegramError):
    """Telegram may have carried the send out but did not confirm it: the connection broke after the request
    went out, or it answered 5xx, which can come after messages were sent (a multi-send passes failures >= 500
    through after sending some, telegram-bot-api Client.cpp; a front proxy may time out on a processed one)."""


class TooLarge(TelegramError):
    """Telegram refused the request body as too large (HTTP 413) before acting on it."""


def never_sent(error: NetworkError) -> bool:
    """The request never reached Telegram: the connection did not open, or its body could not be written in
    full (Telegram acts on whole requests only). Anything else may have been acted on."""
    return isinstance(
        error.__cause__, httpx.ConnectError | httpx.WriteError | httpx.LocalProtocolError | httpx.UnsupportedProtocol
    )


def refused_as_too_large(error: NetworkError) -> bool:
    """HTTP 413. python-telegram-bot keeps no status: its error reads Telegram's description ("Request Entity
    Too Large", tdlib/telegram-bot-api#720) or, for a body that is not JSON (a front proxy), "<reason> (413)"."""
    text = error.message.lower()
    return "entity too large" in text or "(413)" in text


class MediaSender:
    def __init__(self, bot: ExtBot[SendInfo], *, album_limit: int, local_files: bool = False) -> None:
        """`album_limit`: the most bytes one album may upload (ALBUM_MAX_MB); `local_files`: the Bot API server
        reads the files from this filesystem (TELEGRAM_LOCAL_FILES), so nothing is uploaded."""
        self._bot = bot
        self._album_limit = album_limit
        self._local_files = local_files

    def upload_bytes(self, uploads: list[Upload]) -> int:
        """What sending `uploads` puts on the wire (nothing for files the server reads itself)."""
        if self._local_files:
            return 0
        return sum(upload.path.stat().st_size for upload in uploads if upload.file_id is None)

    def fits_one_album(self, uploads: list[Upload]) -> bool:
        return len(uploads) == 1 or self.upload_bytes(uploads) <= self._album_limit

    def _too_large(self, uploads: list[Upload]) -> None:
        """Telegram answered 413 to these: later albums stay below what it refused (the limit per request is
        undocumented, so a wrong ALBUM_MAX_MB costs one refused upload, not one per album)."""
        if len(uploads) > 1:
            self._album_limit = min(self._album_limit, self.upload_bytes(uploads) - 1)

    async def send(
        self,
        chat_id: int,
        uploads: list[Upload],
        captions: Sequence[str | None],
        on_handover: Handover | None = None,
        *,
        thread_id: int | None = None,
    ) -> list[Message]:
        """Send one item or an album (2–10), into forum topic `thread_id` if given. Flood waits happen in the rate
        limiter, which awaits `on_handover` right before each attempt leaves. Raises Unconfirmed (it may have
        arrived), TooLarge (it did not), or Telegram's own error."""
        clock = UploadClock()
        info = SendInfo(self.upload_bytes(uploads), clock, on_handover)
        for attempt in range(1, MAX_NETWORK_RETRIES + 2):
            try:
                with upload_socket.watched(clock):
                    return await self._send_files(chat_id, uploads, captions, info, thread_id)
            except (BadRequest, TimedOut):
                raise  # a refusal, or no answer at all (it may have arrived: never sent twice)
            except NetworkError as exc:
                if refused_as_too_large(exc):
                    self._too_large(uploads)
                    raise TooLarge(exc.message) from exc
                if not never_sent(exc):
                    raise Unconfirmed(f"Telegram did not confirm the send ({exc.message})") from exc
                if attempt > MAX_NETWORK_RETRIES:
                    raise
                log.info("Telegram network error in chat %s (%s), retrying", chat_id, type(exc.__cause__).__name__)
                await asyncio.sleep(min(2.0**attempt, 10.0))
        raise AssertionError("unreachable")

    async def _send_files(
        self,
        chat_id: int,
        uploads: list[Upload],
        captions: Sequence[str | None],
        info: SendInfo,
        thread_id: int | None,
    ) -> list[Message]:
        """`captions[i]` goes on `uploads[i]` (missing ones: none)."""

        def caption_of(index: int) -> str | None:
            return captions[index] if index < len(captions) else None

        where: dict[str, Any] = {"message_thread_id": thread_id, "rate_limit_args": info}
        with ExitStack() as files:

            def attach(upload: Upload, in_album: bool) -> InputFile | str:
                if upload.file_id is not None:
                    return upload.file_id
                if self._local_files:
                    return _local_uri(upload, files)
                handle = files.enter_context(_ClockedFile(upload.path, info.clock))
                return InputFile(handle, filename=upload.filename, attach=in_album, read_file_handle=False)

            def thumbnail(upload: Upload) -> InputFile | None:
                """Thumbnails go as their own part, referenced by attach:// (Bot API: never reused)."""
                if upload.thumbnail is None:
                    return None
                handle = files.enter_context(upload.thumbnail.open("rb"))
                return InputFile(handle, filename="thumbnail.jpg", attach=True, read_file_handle=False)

            def shown(upload: Upload) -> dict[str, Any]:
                """How a video shows before it plays: Telegram analyses only small uploads itself."""
                return {
                    "width": upload.width,
                    "height": upload.height,
                    "duration": upload.duration,
                    "thumbnail": thumbnail(upload),
                    "supports_streaming": True,
                }

            if len(uploads) == 1:
                upload = uploads[0]
                if upload.kind == "photo":
                    return [await self._bot.send_photo(chat_id, attach(upload, False), caption=caption_of(0), **where)]
                if upload.kind == "video":
                    return [
                        await self._bot.send_video(
                            chat_id, attach(upload, False), caption=caption_of(0), **where, **shown(upload)
                        )
                    ]
                return [await self._bot.send_document(chat_id, attach(upload, False), caption=caption_of(0), **where)]
            media: list[InputMediaPhoto | InputMediaVideo | InputMediaDocument] = []
            for index, upload in enumerate(uploads):
                item_caption = caption_of(index)
                if upload.kind == "photo":
                    media.append(InputMediaPhoto(attach(upload, True), caption=item_caption))
                elif upload.kind == "video":
                    media.append(InputMediaVideo(attach(upload, True), caption=item_caption, **shown(upload)))
                else:
                    media.append(InputMediaDocument(attach(upload, True), caption=item_caption))
            return list(await self._bot.send_media_group(chat_id, media, **where))


class _ClockedFile(io.BufferedReader):
    """A file to upload that notes when the HTTP client has read it to the end (it reads until it gets
    nothing), and how much was then still unacknowledged in the socket: past that, the server's work and its
    answer."""

    def __init__(self, path: Path, clock: UploadClock | None) -> None:
        super().__init__(io.FileIO(path))
        self._clock = clock

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if not data and self._clock is not None:
            self._clock.read_at = time.monotonic()
            self._clock.unsent = upload_socket.unsent()
        return data


def _local_uri(upload: Upload, files: ExitStack) -> str:
    """The file as the local Bot API server reads it: a `file://` path whose last part is the name it is sent
    with (the server names the file by its path), linked for the request and removed after it."""
    folder = upload.path.with_name(upload.path.name + ".send")
    named = folder / _file_name(upload.filename)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    files.callback(shutil.rmtree, folder, ignore_errors=True)
    os.link(upload.path, named)
    return named.absolute().as_uri()


def _file_name(name: str) -> str:
    """`name` as one safe path part of at most 220 characters, its extension kept."""
    base = Path(name.replace("\\", "/")).name.strip()
    if base in ("", ".", ".."):
        base = "file"
    stem, suffix = os.path.splitext(base)
    return stem[:200] + suffix[:20]
