"""Leases: which replica does a piece of work, until when unless it renews its claim (migration 8).

Work is ("updates", 0), the one getUpdates caller; ("session", id), polling and delivering one active pick;
("chat", chat_id), sending the deliveries into one chat (so that its flood budget is one replica's to keep);
("replica", crc32 of its name), that replica being alive (so that the bot-wide budget is shared out); ("deletion", id),
deleting an ended pick's session at Google (bot/session_cleanup.py: its deleter lets go of it when done). Times
are each replica's own clock (Unix seconds): a skew between replicas moves a takeover by that much, never makes two
holders, since a claim is taken or renewed in one statement that names the holder.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Literal

from storage.database import Database
from storage.picks import ACTIVE_STATUSES

Work = Literal["updates", "session", "chat", "replica", "deletion"]
CHANNEL = "bot_leases"  # notified when a replica lets go of leases or hands a pick over: the others look at once
UPDATES: tuple[Work, int] = ("updates", 0)

_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)
_TAKE_OVER = " ON CONFLICT (work, id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
# an existing claim is renewed when it is the inserting replica's own, taken over when expired (one parameter: now)
_UNLESS_HELD_BY_ANOTHER = f"{_TAKE_OVER} WHERE leases.holder = excluded.holder OR leases.expires_at < ?"


class LeaseRepository:
    def __init__(self, db: Database, holder: str, seconds: float) -> None:
        self._db = db
        self.holder = holder
        self.seconds = seconds
        self.presence: tuple[Work, int] = ("replica", zlib.crc32(holder.encode()))

    async def take(self, work: Work, work_id: int) -> bool:
        """Claim the work if it is free, expired or already ours (then renewed); False if another replica holds it."""
        now = time.time()
        row = await self._db.fetchone(
            f"INSERT INTO leases (work, id, holder, expires_at) VALUES (?, ?, ?, ?){_UNLESS_HELD_BY_ANOTHER}"
            " RETURNING holder",
            (work, work_id, self.holder, now + self.seconds, now),
        )
        return row is not None

    async def claim_deletion(self, session_id: int) -> bool:
        """Claim deleting the pick's session at Google (free, expired or already this replica's); False when it is
        deleted already or another replica is deleting it."""
        now = time.time()
        row = await self._db.fetchone(
            "INSERT INTO leases (work, id, holder, expires_at)"
            " SELECT 'deletion', id, CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION) FROM pick_sessions"
            f" WHERE id = ? AND google_deleted = 0{_UNLESS_HELD_BY_ANOTHER} RETURNING id",
            (self.holder, now + self.seconds, session_id, now),
        )
        return row is not None

    async def forget_ended(self) -> set[tuple[Work, int]]:
        """Drop this replica's leases on picks that have ended, and on chats none of its deliveries sends to any
        more; returns them."""
        rows = await self._db.fetchall(
            "DELETE FROM leases WHERE holder = ? AND (work = 'session'"
            f" AND id NOT IN (SELECT id FROM pick_sessions WHERE status IN ({_ACTIVE}))"
            " OR work = 'chat' AND id NOT IN (SELECT s.target_chat_id FROM pick_sessions AS s JOIN leases AS l"
            "  ON l.work = 'session' AND l.id = s.id AND l.holder = ? WHERE s.status IN ('picked', 'delivering')))"
            " RETURNING work, id",
            (self.holder, self.holder),
        )
        return {(row["work"], row["id"]) for row in rows}

    async def chat_sender(self, chat_id: int) -> str:
        """The replica that sends the deliveries into this chat: this one if it can take the chat's lease (free,
        expired or already its own), else the one holding it."""
        while not await self.take("chat", chat_id):
            row = await self._db.fetchone(
                "SELECT holder FROM leases WHERE work = 'chat' AND id = ? AND expires_at >= ?", (chat_id, time.time())
            )
            if row is not None:
                return str(row["holder"])
        return self.holder

    async def hand_over(self, session_id: int, to: str) -> None:
        """Give a pick of this replica's to another one (it takes it at its next round, told at once)."""
        await self._db.execute(
            "UPDATE leases SET holder = ?, expires_at = ? WHERE work = 'session' AND id = ? AND holder = ?",
            (to, time.time() + self.seconds, session_id, self.holder),
        )
        await self._db.notify(CHANNEL)

    async def live_replicas(self) -> int:
        """How many replicas are alive (renewing their presence), this one included."""
        await self._db.execute("DELETE FROM leases WHERE work = 'replica' AND expires_at < ?", (time.time(),))
        row = await self._db.fetchone("SELECT count(*) AS replicas FROM leases WHERE work = 'replica'")
        return max(1, int(row["replicas"])) if row else 1

    async def renew(self) -> set[tuple[Work, int]]:
        """Extend every lease this replica holds; returns them (one taken over meanwhile is not among them) but for
        its deletions, which their deleters take and let go of."""
        rows = await self._db.fetchall(
            "UPDATE leases SET expires_at = ? WHERE holder = ? RETURNING work, id",
            (time.time() + self.seconds, self.holder),
        )
        return {(row["work"], row["id"]) for row in rows if row["work"] != "deletion"}

    async def adopt_orphans(self, most: int) -> list[int]:
        """Take up to `most` active picks nobody holds (never claimed, or their holder stopped renewing: it died), the
        oldest first, in one statement; returns their ids. Replicas adopting at once never share a pick: a lease is
        taken over only while it is expired, so whichever commits second finds it fresh and leaves it (PostgreSQL
        re-checks the conflict clause against the committed row)."""
        now = time.time()
        rows = await self._db.fetchall(
            "INSERT INTO leases (work, id, holder, expires_at)"
            " SELECT 'session', s.id, CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION) FROM pick_sessions AS s"
            " LEFT JOIN leases AS l ON l.work = 'session' AND l.id = s.id"
            f" WHERE s.status IN ({_ACTIVE}) AND (l.holder IS NULL OR l.expires_at < ?) ORDER BY s.id LIMIT ?"
            f"{_TAKE_OVER} WHERE leases.expires_at < ? RETURNING id",
            (self.holder, now + self.seconds, now, most, now),
        )
        return sorted(row["id"] for row in rows)

    async def active_picks(self) -> int:
        """Active picks in all, whoever holds them (each replica's fair share is its part of them)."""
        row = await self._db.fetchone(f"SELECT count(*) AS picks FROM pick_sessions WHERE status IN ({_ACTIVE})")
        return int(row["picks"]) if row else 0

    async def let_go(self, session_ids: list[int]) -> None:
        """Free these picks of this replica's for the others (more than its share), who are told at once."""
        for first in range(0, len(session_ids), 500):
            chunk = tuple(session_ids[first : first + 500])
            await self._db.execute(
                f"DELETE FROM leases WHERE work = 'session' AND holder = ? AND id IN ({', '.join('?' * len(chunk))})",
                (self.holder, *chunk),
            )
        await self._db.notify(CHANNEL)

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
