"""Read-only counts for /metrics and the admins' /stats."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.picks import ACTIVE_STATUSES

_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)


@dataclass(frozen=True)
class ItemOutcomes:
    delivered: int
    failed: dict[str, int]  # the stored reason -> how many items were skipped for it


@dataclass(frozen=True)
class Overview:
    users: int
    links_active: int
    links_broken: int
    active_sessions: int
    delivered_today: int


class StatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def active_sessions(self) -> dict[str, int]:
        """Pick sessions still under way, by status (every active status present, zero included)."""
        counts: dict[str, int] = dict.fromkeys(ACTIVE_STATUSES, 0)
        async with self._db.conn.execute(
            f"SELECT status, count(*) FROM pick_sessions WHERE status IN ({_ACTIVE}) GROUP BY status"
        ) as cursor:
            async for status, count in cursor:
                counts[status] = count
        return counts

    async def item_outcomes(self) -> ItemOutcomes:
        delivered = 0
        failed: dict[str, int] = {}
        async with self._db.conn.execute(
            "SELECT status, COALESCE(reason, ''), count(*) FROM pick_items"
            " WHERE status IN ('sent', 'skipped') GROUP BY status, reason"
        ) as cursor:
            async for status, reason, count in cursor:
                if status == "sent":
                    delivered += count
                else:
                    failed[reason] = failed.get(reason, 0) + count
        return ItemOutcomes(delivered, failed)

    async def overview(self, since: float) -> Overview:
        """Totals for /stats; "since" counts the items Telegram confirmed at or after that moment."""
        async with self._db.conn.execute(
            f"""SELECT
                   (SELECT count(*) FROM (SELECT user_id FROM google_links UNION SELECT user_id FROM pick_sessions
                                          UNION SELECT user_id FROM oauth_states)),
                   (SELECT count(*) FROM google_links WHERE status = 'active'),
                   (SELECT count(*) FROM google_links WHERE status = 'broken'),
                   (SELECT count(*) FROM pick_sessions WHERE status IN ({_ACTIVE})),
                   (SELECT count(*) FROM pick_items WHERE sent_at >= ?)""",
            (since,),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return Overview(*row)
