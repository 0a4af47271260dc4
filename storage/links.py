"""Google account links per Telegram user; the OAuth token is only ever stored encrypted."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bot.crypto import Cipher
from storage.database import Database


@dataclass(frozen=True)
class GoogleLink:
    user_id: int
    email: str
    token: dict[str, Any]
    scopes: str
    broken: bool


class LinkRepository:
    def __init__(self, db: Database, cipher: Cipher) -> None:
        self._db = db
        self._cipher = cipher

    async def save_link(self, user_id: int, email: str, token: dict[str, Any], scopes: str) -> None:
        now = time.time()
        await self._db.execute(
            """INSERT INTO google_links (user_id, email, token, scopes, status, linked_at, updated_at)
               VALUES (?, ?, ?, ?, 'active', ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, token = excluded.token,
                   scopes = excluded.scopes, status = 'active', linked_at = excluded.linked_at,
                   updated_at = excluded.updated_at""",
            (user_id, email, self._cipher.encrypt(json.dumps(token)), scopes, now, now),
        )

    async def get_link(self, user_id: int) -> GoogleLink | None:
        row = await self._db.fetchone(
            "SELECT email, token, scopes, status FROM google_links WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None
        return GoogleLink(
            user_id=user_id,
            email=row["email"],
            token=json.loads(self._cipher.decrypt(row["token"])),
            scopes=row["scopes"],
            broken=row["status"] == "broken",
        )

    async def update_token(self, user_id: int, token: dict[str, Any]) -> None:
        await self._db.execute(
            "UPDATE google_links SET token = ?, updated_at = ? WHERE user_id = ?",
            (self._cipher.encrypt(json.dumps(token)), time.time(), user_id),
        )

    async def mark_broken(self, user_id: int) -> None:
        await self._db.execute(
            "UPDATE google_links SET status = 'broken', updated_at = ? WHERE user_id = ?",
            (time.time(), user_id),
        )

    async def delete_link(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM google_links WHERE user_id = ?", (user_id,))
