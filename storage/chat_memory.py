"""What each chat was sent, so a pick does not post it there again (DEDUP_DAYS; migration 9).

Digests only, never a file name: an item is known by the SHA-256 of "user_id:media_id" (the same person picking
it again) and by the SHA-256 of the bytes sent (anyone sharing the same file). The Telegram file_id is kept beside
them so that "Send them anyway" sends the chat's copy again without downloading it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from storage.database import Database


def media_key(user_id: int, media_id: str) -> str:
    return hashlib.sha256(f"{user_id}:{media_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Remembered:
    """A copy Telegram holds: its file_id, sent as a `kind` ("photo", "video" or "document")."""

    file_id: str
    kind: str


@dataclass(frozen=True)
class Sent:
    """An item Telegram confirmed in a chat, to remember."""

    chat_id: int
    media_key: str
    content_hash: str
    file_id: str
    kind: str


class ChatMemoryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen_media(self, chat_id: int, key: str) -> str | None:
        """The content hash of the chat's copy of this person's media item, if it was sent there."""
        row = await self._db.fetchone(
            "SELECT content_hash FROM chat_memory WHERE chat_id = ? AND media_key = ?", (chat_id, key)
        )
        return str(row["content_hash"]) if row else None

    async def seen_content(self, chat_id: int, content_hash: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 AS seen FROM chat_memory WHERE content_hash = ? AND chat_id = ? LIMIT 1", (content_hash, chat_id)
        )
        return row is not None

    async def copy_of(self, content_hash: str) -> Remembered | None:
        """The newest copy Telegram holds of these bytes (a file_id works in any chat of this bot)."""
        row = await self._db.fetchone(
            "SELECT file_id, kind FROM chat_memory WHERE content_hash = ? ORDER BY seen_at DESC LIMIT 1",
            (content_hash,),
        )
        return Remembered(str(row["file_id"]), str(row["kind"])) if row else None

    async def remember(self, sent: list[Sent]) -> None:
        now = time.time()
        await self._db.executemany(
            "INSERT INTO chat_memory (chat_id, media_key, content_hash, file_id, kind, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, media_key) DO UPDATE SET"
            " content_hash = excluded.content_hash, file_id = excluded.file_id, kind = excluded.kind,"
            " seen_at = excluded.seen_at",
            [(s.chat_id, s.media_key, s.content_hash, s.file_id, s.kind, now) for s in sent],
        )

    async def forget_before(self, cutoff: float) -> int:
        """Forget what chats were sent before `cutoff`; returns how many rows went."""
        return await self._db.execute("DELETE FROM chat_memory WHERE seen_at < ?", (cutoff,))
