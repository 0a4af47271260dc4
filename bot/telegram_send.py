"""Uploading media to Telegram: photos, videos, documents and albums, paced and retried on flood control."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from telegram import Bot, InputFile, InputMediaDocument, InputMediaPhoto, InputMediaVideo, Message
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.flood import FloodControl

log = logging.getLogger(__name__)

SendKind = Literal["photo", "video", "document"]
FLOOD_IN_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)
MAX_FLOOD_RETRIES = 8
MAX_NETWORK_RETRIES = 3


@dataclass(frozen=True)
class Upload:
    position: int
    path: Path
    filename: str
    kind: SendKind
    width: int | None = None
    height: int | None = None


def flood_wait(exc: Exception) -> float | None:
    """Seconds Telegram asked us to wait: RetryAfter, or the text of a 400 for a partly failed album."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
    if isinstance(exc, BadRequest):
        match = FLOOD_IN_TEXT.search(exc.message)
        if match:
            return float(match.group(1))
    return None


def file_id_of(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    if message.video:
        return message.video.file_id
    if message.document:
        return message.document.file_id
    return None


class MediaSender:
    def __init__(self, bot: Bot, flood: FloodControl) -> None:
        self._bot = bot
        self._flood = flood

    async def send(self, chat_id: int, uploads: list[Upload], caption: str | None = None) -> list[Message]:
        """Send one item or an album (2–10), waiting out flood control. Other errors propagate."""
        network_failures = 0
        for _ in range(MAX_FLOOD_RETRIES):
            await self._flood.before_send(chat_id, len(uploads))
            try:
                return await self._send_once(chat_id, uploads, caption)
            except (RetryAfter, BadRequest) as exc:
                wait = flood_wait(exc)
                if wait is None:
                    raise
                log.info("flood control in chat %s: waiting %.0f s", chat_id, wait)
                self._flood.retry_after(chat_id, wait)
                await asyncio.sleep(wait)
            except (TimedOut, NetworkError) as exc:
                # 5xx or a cut connection: the upload most likely did not land; try again a few times.
                network_failures += 1
                if network_failures > MAX_NETWORK_RETRIES:
                    raise
                log.info("Telegram network error in chat %s (%s), retrying", chat_id, type(exc).__name__)
                await asyncio.sleep(min(2.0**network_failures, 10.0))
        raise RetryAfter(0)

    async def _send_once(self, chat_id: int, uploads: list[Upload], caption: str | None) -> list[Message]:
        with ExitStack() as files:

            def attach(upload: Upload, in_album: bool) -> InputFile:
                handle = files.enter_context(upload.path.open("rb"))
                return InputFile(handle, filename=upload.filename, attach=in_album, read_file_handle=False)

            if len(uploads) == 1:
                upload = uploads[0]
                if upload.kind == "photo":
                    return [await self._bot.send_photo(chat_id, attach(upload, False), caption=caption)]
                if upload.kind == "video":
                    return [
                        await self._bot.send_video(
                            chat_id,
                            attach(upload, False),
                            caption=caption,
                            width=upload.width,
                            height=upload.height,
                            supports_streaming=True,
                        )
                    ]
                return [await self._bot.send_document(chat_id, attach(upload, False), caption=caption)]
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
                            supports_streaming=True,
                        )
                    )
                else:
                    media.append(InputMediaDocument(attach(upload, True), caption=item_caption))
            return list(await self._bot.send_media_group(chat_id, media))
