"""Forwarding destinations: the group or channel a user's private picks go to."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True)
class Destination:
    user_id: int
    chat_id: int
    title: str
    is_channel: bool


class DestinationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_destination(self, user_id: int, chat_id: int, title: str, is_channel: bool) -> None:
        await self._db.conn.execute(
            "INSERT INTO destinations (user_id, chat_id, title, is_channel) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, title = excluded.title,"
            " is_channel = excluded.is_channel",
            (user_id, chat_id, title, int(is_channel)),
        )

    async def get_destination(self, user_id: int) -> Destination | None:
        async with self._db.conn.execute(
            "SELECT user_id, chat_id, title, is_channel FROM destinations WHERE user_id = ?", (user_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return Destination(row[0], row[1], row[2], bool(row[3])) if row else None

    async def clear_destination(self, user_id: int) -> None:
        await self._db.conn.execute("DELETE FROM destinations WHERE user_id = ?", (user_id,))

    async def pop_destinations_to(self, chat_id: int) -> list[Destination]:
        """Forget every destination pointing at `chat_id` (the bot left it); returns them."""
        async with self._db.conn.execute(
            "DELETE FROM destinations WHERE chat_id = ? RETURNING user_id, chat_id, title, is_channel", (chat_id,)
        ) as cursor:
            return [Destination(r[0], r[1], r[2], bool(r[3])) async for r in cursor]
