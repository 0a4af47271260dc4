"""Single-use intents for a group (or one of its forum topics), bound to one member, short-lived: "start a pick
for this group" (a deep link) and "send my picks to this topic" (a button in the private chat).

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
    thread_id: int | None = None  # a forum topic of the group
    topic: str | None = None  # that topic's name, as shown when it was asked for

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLUMNS = "user_id, chat_id, expires_at, thread_id, topic"


def _intent(row: Row) -> ChatIntent:
    return ChatIntent(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        expires_at=row["expires_at"],
        thread_id=row["thread_id"],
        topic=row["topic"],
    )


class ChatIntentRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_intent(self, token: str, intent: ChatIntent) -> None:
        await self._db.execute("DELETE FROM chat_intents WHERE expires_at < ?", (time.time(),))
        await self._db.execute(
            "INSERT INTO chat_intents (token_hash, user_id, chat_id, expires_at, thread_id, topic)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), intent.user_id, intent.chat_id, intent.expires_at, intent.thread_id, intent.topic),
        )

    async def peek_intent(self, token: str) -> ChatIntent | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM chat_intents WHERE token_hash = ?", (_digest(token),))
        return _intent(row) if row else None

    async def claim_intent(self, token: str, user_id: int) -> ChatIntent | None:
        """Take the intent if it is this user's, in one statement: of two claims at once only one gets it."""
        row = await self._db.fetchone(
            f"DELETE FROM chat_intents WHERE token_hash = ? AND user_id = ? RETURNING {_COLUMNS}",
            (_digest(token), user_id),
        )
        return _intent(row) if row else None
