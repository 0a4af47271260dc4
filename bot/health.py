"""Readiness for /readyz: the database answers, Telegram answers getMe, and Google accepts the bot's own
configuration (its OAuth client, its Cloud project)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Literal

from telegram import Bot
from telegram.error import TelegramError

if TYPE_CHECKING:
    from bot.metrics import GoogleConfigMetrics

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
ConfigPart = Literal["oauth_client", "picker_api"]
CONFIG_PARTS: tuple[ConfigPart, ...] = ("oauth_client", "picker_api")
_FIXES: dict[ConfigPart, str] = {
    "oauth_client": "GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET are wrong, or the secret was rotated at Google",
    "picker_api": "enable the Google Photos Picker API in the Cloud project of the OAuth client",
}


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


class GoogleConfig:
    """Whether Google accepts the bot's own configuration, as its latest answers said: the OAuth client (the
    token endpoint's `invalid_client` / `unauthorized_client`) and the Cloud project (the Picker API's
    SERVICE_DISABLED and co.). A refusal is the operator's to fix: it is logged once as an error, counted,
    and fails its readiness check (`google_oauth_client`, `google_picker_api`) until Google accepts again."""

    def __init__(self, metrics: GoogleConfigMetrics) -> None:
        self._metrics = metrics
        self._refused: dict[ConfigPart, str] = {}

    def refused(self, part: ConfigPart, error: str) -> None:
        self._metrics.refused(part, error)
        if part not in self._refused:
            log.error(
                "OPERATOR: Google refuses the bot's %s (%s): %s. Users' links are kept; they work again as "
                "soon as this is fixed.",
                part.replace("_", " "),
                error,
                _FIXES[part],
            )
        self._refused[part] = error

    def accepted(self, part: ConfigPart) -> None:
        if self._refused.pop(part, None) is not None:
            self._metrics.accepted(part)
            log.warning("Google accepts the bot's %s again", part.replace("_", " "))

    def ok(self, part: ConfigPart) -> bool:
        return part not in self._refused

    def checks(self) -> dict[str, Check]:
        """The readiness checks, by name."""

        def check(part: ConfigPart) -> Check:
            async def accepted() -> bool:
                return self.ok(part)

            return accepted

        return {f"google_{part}": check(part) for part in CONFIG_PARTS}
