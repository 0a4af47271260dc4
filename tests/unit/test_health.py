"""Readiness: every check asked, failures named, a Telegram success remembered briefly, Google's verdict on the
bot's own configuration logged loudly once and shown until Google accepts it again."""

from __future__ import annotations

import logging
from typing import cast

import pytest
from prometheus_client import CollectorRegistry
from telegram import Bot
from telegram.error import NetworkError

from bot.health import CONFIG_PARTS, GoogleConfig, Readiness, TelegramCheck
from bot.metrics import GoogleConfigMetrics


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


async def test_a_refused_configuration_fails_its_check_with_one_loud_log_until_google_accepts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = GoogleConfig(GoogleConfigMetrics(CollectorRegistry(), CONFIG_PARTS))
    readiness = Readiness(config.checks())
    assert await readiness() == {"google_oauth_client": True, "google_picker_api": True}
    with caplog.at_level(logging.INFO, logger="bot.health"):
        for _ in range(3):  # every user's refresh is refused alike: one error, not one per user
            config.refused("oauth_client", "invalid_client")
        assert await readiness() == {"google_oauth_client": False, "google_picker_api": True}
        config.accepted("oauth_client")
        config.accepted("oauth_client")
    assert await readiness() == {"google_oauth_client": True, "google_picker_api": True}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "GOOGLE_CLIENT_SECRET" in errors[0].getMessage()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "Google accepts the bot's oauth client again"
    ]
