"""Single-use deep-link intents: "start a pick for this group", bound to one member, short-lived.

The deep-link payload carries only a random token; who it is for and which group it targets
stay here. Only a SHA-256 of the token is stored.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from storage.database import Database, Row


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


def _intent(row: Row) -> ChatIntent:
    return ChatIntent(user_id=row["user_id"], chat_id=row["chat_id"], expires_at=row["expires_at"])


class ChatIntentRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_intent(self, token: str, user_id: int, chat_id: int, expires_at: float) -> None:
        await self._db.execute("DELETE FROM chat_intents WHERE expires_at < ?", (time.time(),))
        await self._db.execute(
            "INSERT INTO chat_intents (token_hash, user_id, chat_id, expires_at) VALUES (?, ?, ?, ?)",
            (_digest(token), user_id, chat_id, expires_at),
        )

    async def peek_intent(self, token: str) -> ChatIntent | None:
        row = await self._db.fetchone(
            "SELECT user_id, chat_id, expires_at FROM chat_intents WHERE token_hash = ?", (_digest(token),)
        )
        return _intent(row) if row else None

    async def claim_intent(self, token: str, user_id: int) -> ChatIntent | None:
        """Take the intent if it is this user's, in one statement: of two claims at once only one gets it."""
        row = await self._db.fetchone(
            "DELETE FROM chat_intents WHERE token_hash = ? AND user_id = ? RETURNING user_id, chat_id, expires_at",
            (_digest(token), user_id),
        )
        return _intent(row) if row else None
