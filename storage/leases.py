"""Leases: which replica does a piece of work, until when unless it renews its claim (migration 8).

Work is ("updates", 0), the one getUpdates caller, or ("session", id), polling and delivering one active pick. Times
are each replica's own clock (Unix seconds): a skew between replicas moves a takeover by that much, never makes two
holders, since a claim is taken or renewed in one statement that names the holder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from storage.database import Database
from storage.picks import ACTIVE_STATUSES

Work = Literal["updates", "session"]
CHANNEL = "bot_leases"  # notified when a replica lets go of its leases: the others take them at once
UPDATES: tuple[Work, int] = ("updates", 0)

_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)


class LeaseRepository:
    def __init__(self, db: Database, holder: str, seconds: float) -> None:
        self._db = db
        self.holder = holder
        self.seconds = seconds

    async def take(self, work: Work, work_id: int) -> bool:
        """Claim the work if it is free, expired or already ours (then renewed); False if another replica holds it."""
        now = time.time()
        row = await self._db.fetchone(
            "INSERT INTO leases (work, id, holder, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (work, id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
            " WHERE leases.holder = excluded.holder OR leases.expires_at < ? RETURNING holder",
            (work, work_id, self.holder, now + self.seconds, now),
        )
        return row is not None

    async def forget_ended(self) -> set[tuple[Work, int]]:
        """Drop this replica's leases on picks that have ended; returns them."""
        rows = await self._db.fetchall(
            "DELETE FROM leases WHERE holder = ? AND work = 'session'"
            f" AND id NOT IN (SELECT id FROM pick_sessions WHERE status IN ({_ACTIVE})) RETURNING work, id",
            (self.holder,),
        )
        return {(row["work"], row["id"]) for row in rows}

    async def renew(self) -> set[tuple[Work, int]]:
        """Extend every lease this replica holds; returns them (one taken over meanwhile is not among them)."""
        rows = await self._db.fetchall(
            "UPDATE leases SET expires_at = ? WHERE holder = ? RETURNING work, id",
            (time.time() + self.seconds, self.holder),
        )
        return {(row["work"], row["id"]) for row in rows}

    async def orphaned_sessions(self) -> list[int]:
        """Active picks nobody holds: never claimed, or their holder stopped renewing (it died)."""
        rows = await self._db.fetchall(
            "SELECT s.id FROM pick_sessions AS s LEFT JOIN leases AS l ON l.work = 'session' AND l.id = s.id"
            f" WHERE s.status IN ({_ACTIVE}) AND (l.holder IS NULL OR l.expires_at < ?) ORDER BY s.id",
            (time.time(),),
        )
        return [row["id"] for row in rows]

    async def release(self, work: Work, work_id: int) -> None:
        await self._db.execute(
            "DELETE FROM leases WHERE work = ? AND id = ? AND holder = ?", (work, work_id, self.holder)
        )

    async def release_all(self) -> None:
        """Shutting down: another replica may take everything at once (and is told so)."""
        await self._db.execute("DELETE FROM leases WHERE holder = ?", (self.holder,))
        await self._db.notify(CHANNEL)

    async def on_released(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever a replica releases its leases."""
        await self._db.listen(CHANNEL, wake)

    async def forget_all(self) -> None:
        """SQLite: one process uses the file, so whatever a previous run held is this one's now."""
        await self._db.execute("DELETE FROM leases")
