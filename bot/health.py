"""Readiness for /readyz: the database answers and Telegram answers getMe."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


class Readiness:
    """Asks each named check in turn; a check that raises counts as failing."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)

    async def __call__(self) -> dict[str, bool]:
        results: dict[str, bool] = {}
        for name, check in self._checks.items():
            try:
                results[name] = await check()
            except Exception:
                log.exception("readiness check %s raised", name)
                results[name] = False
        return results


class TelegramCheck:
    """getMe. A success is remembered for `ttl` seconds, so frequent probes do not each reach Telegram;
    a failure is not, so the next probe asks again and a recovery shows at once."""

    def __init__(self, bot: Bot, ttl: float = 5.0, timeout: float = 5.0) -> None:
        self._bot = bot
        self._ttl = ttl
        self._timeout = timeout
        self._ok_until = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> bool:
        async with self._lock:
            if time.monotonic() < self._ok_until:
                return True
            try:
                async with asyncio.timeout(self._timeout):
                    await self._bot.get_me()
            except (TelegramError, TimeoutError) as exc:
                log.warning("readiness: Telegram did not answer getMe: %s", exc)
                return False
            self._ok_until = time.monotonic() + self._ttl
            return True
