"""Uploading media to Telegram: photos, videos, documents and albums (flood pacing lives in bot/flood.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from telegram import InputFile, InputMediaDocument, InputMediaPhoto, InputMediaVideo, Message
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.flood import SendInfo

log = logging.getLogger(__name__)

SendKind = Literal["photo", "video", "document"]
Handover = Callable[[], Awaitable[None]]
MAX_NETWORK_RETRIES = 3


@dataclass(frozen=True)
class Upload:
    position: int
    path: Path
    filename: str
    kind: SendKind
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # seconds; with `thumbnail`, what a video over ~10 MB needs to show
    thumbnail: Path | None = None  # a JPEG Telegram takes as the video's thumbnail


def unanswered(error: NetworkError) -> bool:
    """The request may have reached Telegram, but its answer never came back (the connection broke while
    or after sending it). Not so for an HTTP answer (5xx), a connection that never opened, or a body that
    could not be written in full: Telegram acts on whole requests only."""
    cause = error.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(
        cause, httpx.ConnectError | httpx.WriteError | httpx.LocalProtocolError | httpx.UnsupportedProtocol
    )


def file_id_of(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    if message.video:
        return message.video.file_id
    if message.document:
        return message.document.file_id
    return None


class MediaSender:
    def __init__(self, bot: ExtBot[SendInfo]) -> None:
        self._bot = bot

    async def send(
        self, chat_id: int, uploads: list[Upload], caption: str | None, on_handover: Handover | None = None
    ) -> list[Message]:
        """Send one item or an album (2–10). Flood waits happen in the rate limiter, which awaits `on_handover`
        right before each attempt leaves; other errors propagate."""
        info = SendInfo(sum(upload.path.stat().st_size for upload in uploads), on_handover)
        for attempt in range(1, MAX_NETWORK_RETRIES + 2):
            try:
                return await self._send_files(chat_id, uploads, caption, info)
            except (BadRequest, TimedOut):
                raise  # a refusal, or no answer at all (it may have arrived: never sent twice)
            except NetworkError as exc:
                if unanswered(exc):
                    # The connection broke after the request went out: it may have arrived, like a timeout.
                    raise TimedOut(f"no answer from Telegram ({type(exc.__cause__).__name__})") from exc
                # Telegram answered 5xx, or the request never got out: it did not land; try again.
                if attempt > MAX_NETWORK_RETRIES:
                    raise
                log.info("Telegram network error in chat %s (%s), retrying", chat_id, type(exc).__name__)
                await asyncio.sleep(min(2.0**attempt, 10.0))
        raise AssertionError("unreachable")

    async def _send_files(
        self, chat_id: int, uploads: list[Upload], caption: str | None, info: SendInfo
    ) -> list[Message]:
        with ExitStack() as files:

            def attach(upload: Upload, in_album: bool) -> InputFile:
                handle = files.enter_context(upload.path.open("rb"))
                return InputFile(handle, filename=upload.filename, attach=in_album, read_file_handle=False)

            def thumbnail(upload: Upload) -> InputFile | None:
                """Thumbnails go as their own part, referenced by attach:// (Bot API: never reused)."""
                if upload.thumbnail is None:
                    return None
                handle = files.enter_context(upload.thumbnail.open("rb"))
                return InputFile(handle, filename="thumbnail.jpg", attach=True, read_file_handle=False)

            if len(uploads) == 1:
                upload = uploads[0]
                if upload.kind == "photo":
                    return [
                        await self._bot.send_photo(
                            chat_id, attach(upload, False), caption=caption, rate_limit_args=info
                        )
                    ]
                if upload.kind == "video":
                    return [
                        await self._bot.send_video(
                            chat_id,
                            attach(upload, False),
                            caption=caption,
                            width=upload.width,
                            height=upload.height,
                            duration=upload.duration,
                            thumbnail=thumbnail(upload),
                            supports_streaming=True,
                            rate_limit_args=info,
                        )
                    ]
                return [
                    await self._bot.send_document(chat_id, attach(upload, False), caption=caption, rate_limit_args=info)
                ]
            media: list[InputMediaPhoto | InputMediaVideo | InputMediaDocument] = []
            for index, upload in enumerate(uploads):
                item_caption = caption if index == 0 else None
                if upload.kind == "photo":
                    media.append(InputMediaPhoto(attach(upload, True), caption=item_caption))
                elif upload.kind == "video":
                    media.append(
                        InputMediaVideo(
                            attach(upload, True),
                            caption=item_caption,
                            width=upload.width,
                            height=upload.height,
                            duration=upload.duration,
                            thumbnail=thumbnail(upload),
                            supports_streaming=True,
                        )
                    )
                else:
                    media.append(InputMediaDocument(attach(upload, True), caption=item_caption))
            return list(await self._bot.send_media_group(chat_id, media, rate_limit_args=info))
