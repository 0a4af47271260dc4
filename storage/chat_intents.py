"""Single-use deep-link intents: "start a pick for this group", bound to one member, short-lived.

The deep-link payload carries only a random token; who it is for and which group it targets
stay here. Only a SHA-256 of the token is stored.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True)
class ChatIntent:
    user_id: int
    chat_id: int
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ChatIntentRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_intent(self, token: str, user_id: int, chat_id: int, expires_at: float) -> None:
        await self._db.conn.execute("DELETE FROM chat_intents WHERE expires_at < ?", (time.time(),))
        await self._db.conn.execute(
            "INSERT INTO chat_intents (token_hash, user_id, chat_id, expires_at) VALUES (?, ?, ?, ?)",
            (_digest(token), user_id, chat_id, expires_at),
        )

    async def peek_intent(self, token: str) -> ChatIntent | None:
        async with self._db.conn.execute(
            "SELECT user_id, chat_id, expires_at FROM chat_intents WHERE token_hash = ?", (_digest(token),)
        ) as cursor:
            row = await cursor.fetchone()
        return ChatIntent(*row) if row else None

    async def pop_intent(self, token: str) -> ChatIntent | None:
        async with self._db.conn.execute(
            "DELETE FROM chat_intents WHERE token_hash = ? RETURNING user_id, chat_id, expires_at", (_digest(token),)
        ) as cursor:
            row = await cursor.fetchone()
        return ChatIntent(*row) if row else None
