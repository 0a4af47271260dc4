"""A long pick's offer to come as archives instead of albums: asked once, answered once (by its picker) or closed
by silence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from storage.database import Database

Answer = Literal["archives", "albums", "silence"]
_ANSWERS: dict[str, Answer] = {"archives": "archives", "albums": "albums", "silence": "silence"}


@dataclass(frozen=True)
class ArchiveOffer:
    session_id: int
    message_id: int | None
    until: float
    answer: Answer | None  # None: still open


class ArchiveOfferRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, session_id: int) -> ArchiveOffer | None:
        row = await self._db.fetchone(
            "SELECT session_id, message_id, until, answer FROM archive_offers WHERE session_id = ?", (session_id,)
        )
        if row is None:
            return None
        answer = _ANSWERS.get(row["answer"]) if row["answer"] is not None else None
        return ArchiveOffer(row["session_id"], row["message_id"], row["until"], answer)

    async def open(self, session_id: int, until: float) -> None:
        """The offer is being asked (before its message goes out: a restart then does not ask twice)."""
        await self._db.execute(
            "INSERT INTO archive_offers (session_id, until) VALUES (?, ?) ON CONFLICT (session_id) DO NOTHING",
            (session_id, until),
        )

    async def set_message(self, session_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE archive_offers SET message_id = ? WHERE session_id = ?", (message_id, session_id)
        )

    async def answer(self, session_id: int, user_id: int, answer: Answer) -> bool:
        """The picker's answer, taken while the offer is open; archives switch the pick's delivery mode in the same
        transaction. False, changing nothing, when the pick is not `user_id`'s or the offer was closed."""
        async with self._db.transaction() as tx:
            taken = await tx.execute(
                "UPDATE archive_offers SET answer = ? WHERE session_id = ? AND answer IS NULL"
                " AND EXISTS (SELECT 1 FROM pick_sessions WHERE id = ? AND user_id = ?)",
                (answer, session_id, session_id, user_id),
            )
            if taken and answer == "archives":
                await tx.execute("UPDATE pick_sessions SET delivery_mode = 'archive' WHERE id = ?", (session_id,))
        return bool(taken)

    async def close(self, session_id: int) -> Answer:
        """Time ran out: silence, unless an answer came first; returns how the offer ended."""
        await self._db.execute(
            "UPDATE archive_offers SET answer = 'silence' WHERE session_id = ? AND answer IS NULL", (session_id,)
        )
        offer = await self.get(session_id)
        return offer.answer if offer is not None and offer.answer is not None else "silence"
