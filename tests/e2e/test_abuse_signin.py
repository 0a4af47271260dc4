"""Issue 12, points 8 and 11, as an attacker would try them against the real bot process: a forwarded sign-in
button, a bearer token sent off Google's hosts, the bot token printed at start-up, grants left behind."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.emulators.telegram import TelegramEmulator
from tests.harness import BotExited, BotProcess

REJECTED_TOKEN = "987654321:AAE-rejected_token-Value42"


async def test_rejected_bot_token_is_never_printed(make_bot: Callable[..., BotProcess], tg: TelegramEmulator) -> None:
    bot = make_bot(TELEGRAM_BOT_TOKEN=REJECTED_TOKEN)
    with pytest.raises(BotExited) as exited:
        await bot.start()
    assert exited.value.code == 1
    logs = bot.logs()
    assert "Cannot start: Telegram rejected TELEGRAM_BOT_TOKEN" in logs, logs
    assert REJECTED_TOKEN not in logs and REJECTED_TOKEN.split(":")[1] not in logs, logs
    assert tg.violations == ["getMe: request with a wrong bot token"]
    tg.violations.clear()  # the wrong token was the point
