"""No repeats in a chat: items the chat was already sent (within DEDUP_DAYS) are skipped, and "Send them anyway"
sends the chat's copy again by its Telegram file_id.

An item is a repeat when the chat was sent the same Google media item by the same person, known before any
download (so nothing is fetched), or the same bytes by anyone, known only once they are downloaded (then nothing
is uploaded). The memory holds digests and file_ids only (storage/chat_memory.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path

from telegram import Message

from bot.delivery.target import DeliveryTarget
from storage.chat_memory import ChatMemoryRepository, Remembered, Sent, media_key
from storage.picks import PickItem

CHUNK = 1 << 20
OFFER_SECONDS = 86_400.0  # "Send them anyway" works for a day after the summary (README: Using it)


class Repeats:
    """One delivery's view of its chat's memory; `memory` None: DEDUP_DAYS=0, nothing is remembered or skipped."""

    def __init__(self, memory: ChatMemoryRepository | None, target: DeliveryTarget) -> None:
        self._memory = memory
        self._target = target

    def _key(self, item: PickItem) -> str:
        return media_key(self._target.session.user_id, item.media_id)

    async def seen_item(self, item: PickItem) -> str | None:
        """The content hash of the chat's copy when this person sent this media item there before."""
        if self._memory is None:
            return None
        return await self._memory.seen_media(self._target.chat_id, self._key(item))

    async def digest(self, path: Path) -> str | None:
        """SHA-256 of a downloaded file, read in a thread (a 2 GB video takes a few seconds); None when off."""
        if self._memory is None:
            return None

        def read() -> str:
            sha = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    sha.update(chunk)
            return sha.hexdigest()

        return await asyncio.to_thread(read)

    async def seen_bytes(self, content_hash: str) -> bool:
        return self._memory is not None and await self._memory.seen_content(self._target.chat_id, content_hash)

    async def copy_of(self, content_hash: str) -> Remembered | None:
        """The copy Telegram holds of these bytes, to send again ("Send them anyway")."""
        return None if self._memory is None else await self._memory.copy_of(content_hash)

    async def remember(self, sent: Sequence[tuple[PickItem, str | None, Message]]) -> None:
        """The chat got these (item, content hash of its bytes, Telegram's message)."""
        if self._memory is None:
            return
        chat_id = self._target.chat_id
        rows = []
        for item, content_hash, message in sent:
            copy = _copy(message)
            if content_hash is not None and copy is not None:
                rows.append(Sent(chat_id, self._key(item), content_hash, copy.file_id, copy.kind))
        await self._memory.remember(rows)


def _copy(message: Message) -> Remembered | None:
    """The file Telegram keeps of a media message, and how to send it again."""
    if message.photo:
        return Remembered(message.photo[-1].file_id, "photo")
    if message.video is not None:
        return Remembered(message.video.file_id, "video")
    if message.document is not None:
        return Remembered(message.document.file_id, "document")
    return None
