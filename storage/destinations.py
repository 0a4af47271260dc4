"""Forwarding destinations: the group or channel a user's private picks go to."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, Row


@dataclass(frozen=True)
class Destination:
    user_id: int
    chat_id: int
    title: str  # "Family", or "Family › Trip" for a topic
    is_channel: bool
    thread_id: int | None = None  # a forum topic of the group


_COLUMNS = "user_id, chat_id, title, is_channel, thread_id"


def _destination(row: Row) -> Destination:
    return Destination(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        title=row["title"],
        is_channel=bool(row["is_channel"]),
        thread_id=row["thread_id"],
    )


class DestinationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_destination(self, destination: Destination) -> None:
        await self._db.execute(
            "INSERT INTO destinations (user_id, chat_id, title, is_channel, thread_id) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, title = excluded.title,"
            " is_channel = excluded.is_channel, thread_id = excluded.thread_id",
            (
                destination.user_id,
                destination.chat_id,
                destination.title,
                int(destination.is_channel),
                destination.thread_id,
            ),
        )

    async def get_destination(self, user_id: int) -> Destination | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM destinations WHERE user_id = ?", (user_id,))
        return _destination(row) if row else None

    async def clear_destination(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM destinations WHERE user_id = ?", (user_id,))

    async def pop_destinations_to(self, chat_id: int) -> list[Destination]:
        """Forget every destination pointing at `chat_id` (the bot left it); returns them."""
        rows = await self._db.fetchall(f"DELETE FROM destinations WHERE chat_id = ? RETURNING {_COLUMNS}", (chat_id,))
        return [_destination(row) for row in rows]
