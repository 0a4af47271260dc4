"""Readiness: every check asked, failures named, a Telegram success remembered briefly."""

from __future__ import annotations

from typing import cast

from telegram import Bot
from telegram.error import NetworkError

from bot.health import Readiness, TelegramCheck


class FakeBot:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def get_me(self) -> None:
        self.calls += 1
        if self.fail:
            raise NetworkError("Bad Gateway")


async def test_readiness_names_what_failed() -> None:
    async def ok() -> bool:
        return True

    async def down() -> bool:
        return False

    async def broken() -> bool:
        raise RuntimeError("boom")

    assert await Readiness({"database": ok, "telegram": ok})() == {"database": True, "telegram": True}
    assert await Readiness({"database": broken, "telegram": down})() == {"database": False, "telegram": False}


async def test_telegram_success_is_remembered_and_failure_is_not() -> None:
    fake = FakeBot()
    check = TelegramCheck(cast(Bot, fake), ttl=60)
    fake.fail = True
    assert not await check()
    assert not await check()
    assert fake.calls == 2  # failures are asked again each time
    fake.fail = False
    assert await check()
    fake.fail = True
    assert await check()  # still within the ttl: not asked
    assert fake.calls == 3
    expired = TelegramCheck(cast(Bot, fake), ttl=0)
    assert not await expired()
