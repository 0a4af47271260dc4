"""Read-only counts for /metrics and the admins' /stats."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.picks import ACTIVE_STATUSES

_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)


@dataclass(frozen=True)
class ItemOutcomes:
    delivered: int
    failed: dict[str, int]  # the stored reason code (a SkipReason, or "" when none) -> how many were skipped


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
        rows = await self._db.fetchall(
            f"SELECT status, count(*) AS sessions FROM pick_sessions WHERE status IN ({_ACTIVE}) GROUP BY status"
        )
        for row in rows:
            counts[row["status"]] = row["sessions"]
        return counts

    async def item_outcomes(self) -> ItemOutcomes:
        """Every item delivered or skipped so far, its pick's rows since deleted included: counts kept by
        triggers (migration 6), so reading them costs the same at any size."""
        delivered = 0
        failed: dict[str, int] = {}
        rows = await self._db.fetchall("SELECT status, reason, items FROM item_outcome_counts")
        for row in rows:
            if row["status"] == "sent":
                delivered += row["items"]
            else:
                failed[row["reason"]] = failed.get(row["reason"], 0) + row["items"]
        return ItemOutcomes(delivered, failed)

    async def overview(self, since: float) -> Overview:
        """Totals for /stats; "since" counts the items Telegram confirmed at or after that moment."""
        row = await self._db.fetchone(
            f"""SELECT
                   (SELECT count(*) FROM (SELECT user_id FROM google_links UNION SELECT user_id FROM pick_sessions
                                          UNION SELECT user_id FROM oauth_states) AS known) AS users,
                   (SELECT count(*) FROM google_links WHERE status = 'active') AS links_active,
                   (SELECT count(*) FROM google_links WHERE status = 'broken') AS links_broken,
                   (SELECT count(*) FROM pick_sessions WHERE status IN ({_ACTIVE})) AS active_sessions,
                   (SELECT count(*) FROM pick_items WHERE sent_at >= ?) AS delivered_today""",
            (since,),
        )
        assert row is not None
        return Overview(
            users=row["users"],
            links_active=row["links_active"],
            links_broken=row["links_broken"],
            active_sessions=row["active_sessions"],
            delivered_today=row["delivered_today"],
        )
