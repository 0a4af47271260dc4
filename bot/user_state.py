"""Per-user state kept in memory only while it is in use: a lock while someone holds or awaits it, a
decrypted token while it is fresh. Users who stop using the bot leave nothing behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

SWEEP_EVERY = 10.0  # seconds between sweeps of the tokens gone stale


@dataclass
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class UserLocks:
    """One lock per user, forgotten once nobody holds or waits for it (a new one then is the same)."""

    def __init__(self) -> None:
        self._held: dict[int, _Held] = {}

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        held = self._held.setdefault(user_id, _Held())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if not held.users:
                del self._held[user_id]

    def __len__(self) -> int:
        return len(self._held)


class FreshTokens:
    """Decrypted OAuth tokens by user, each kept only until `leeway` seconds before it expires: a stale one
    is never handed out, and a sweep at most every SWEEP_EVERY seconds drops every stale one."""

    def __init__(self, leeway: float) -> None:
        self._leeway = leeway
        self._tokens: dict[int, dict[str, Any]] = {}
        self._swept_at = time.monotonic()

    def get(self, user_id: int) -> dict[str, Any] | None:
        self._sweep()
        token = self._tokens.get(user_id)
        return token if token is not None and self._fresh(token) else None

    def put(self, user_id: int, token: dict[str, Any]) -> None:
        self._tokens[user_id] = token

    def drop(self, user_id: int) -> None:
        self._tokens.pop(user_id, None)

    def __len__(self) -> int:
        return len(self._tokens)

    def _fresh(self, token: dict[str, Any]) -> bool:
        return float(token.get("expires_at", 0)) - self._leeway > time.time()

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            self._tokens = {user: token for user, token in self._tokens.items() if self._fresh(token)}
