"""Issue 12, points 8 and 11, as an attacker would try them against the real bot process: a forwarded sign-in
button, a bearer token sent off Google's hosts, the bot token printed at start-up, grants left behind."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.picking import link
from tests.emulators.google import GoogleEmulator
from tests.emulators.telegram import TelegramEmulator
from tests.harness import BotExited, BotProcess, Person

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


async def test_relinking_another_account_revokes_the_previous_grant(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    await link(alice)  # the same account again: its fresh grant must survive
    assert live_grants(google, alice.email) and not revocations(google)
    alice.email = "alice.work@example.com"
    await link(alice)
    assert not live_grants(google, "alice@example.com")  # nothing left behind at Google for the old account
    assert live_grants(google, alice.email) and revocations(google) == [200]
    assert "alice.work@example.com" in (await alice.reply_to("/status")).text


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        pytest.param("userinfo", "did not accept", id="userinfo_fails"),
        pytest.param("scope", "unticked", id="scope_missing"),
    ],
)
async def test_grant_revoked_when_linking_fails_after_the_exchange(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, failure: str, message: str
) -> None:
    if failure == "userinfo":
        google.fail_next("userinfo", status=500)
    else:
        google.consent.granted_scopes = ["openid", "email"]
    await alice.link()
    await tg.wait_for_message(alice.user_id, lambda m: message in (m.text or ""))
    assert [r for r in google.requests if r.endpoint == "token"]  # Google did issue a grant
    assert not live_grants(google, alice.email) and revocations(google) == [200]
    assert "haven't linked" in (await alice.reply_to("/status")).text


def live_grants(google: GoogleEmulator, email: str) -> list[object]:
    return list(google._live_grants(email))


def revocations(google: GoogleEmulator) -> list[int]:
    return [r.status for r in google.requests if r.endpoint == "revoke"]
