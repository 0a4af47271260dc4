"""Webhook mode: the bot registers its URL with Telegram and takes updates only from requests carrying
the secret token. A representative set of the polling-mode tests runs here again in webhook mode
(E2E_MODE=webhook runs all of them that way)."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from telegram import Update

from bot.webhook import SECRET_FILE_NAME, SECRET_HEADER, WEBHOOK_PATH
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import ON_POSTGRESQL
from tests.e2e.picking import link, start_pick, wait_summary
from tests.e2e.test_linking import test_link_happy_path, test_start_explains_and_offers_linking
from tests.e2e.test_pick import test_cancel_button_and_command, test_one_photo
from tests.harness import TOKEN, BotExited, BotProcess, Person

__all__ = [  # the polling-mode tests that run here in webhook mode
    "test_cancel_button_and_command",
    "test_link_happy_path",
    "test_one_photo",
    "test_start_explains_and_offers_linking",
]


@pytest.fixture
def e2e_mode() -> str:
    return "webhook"


async def finish(bot: BotProcess) -> None:
    assert await bot.stop() == 0, bot.logs()[-3000:]
    assert "Traceback" not in bot.logs(), bot.logs()[-5000:]


def forged_update(user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": 999_999,
        "message": {
            "message_id": 999,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Alice"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Alice"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


@pytest.mark.skipif(ON_POSTGRESQL, reason="a generated secret: PostgreSQL requires TELEGRAM_WEBHOOK_SECRET")
async def test_registers_the_webhook_with_a_generated_secret_kept_across_restarts(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot()
    await bot.start()
    secret_file = bot.workdir / "data" / SECRET_FILE_NAME
    secret = secret_file.read_text()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    [call] = tg.calls_of("setWebhook")
    assert call.params["url"] == bot.base_url + WEBHOOK_PATH
    assert call.params["secret_token"] == secret and 1 <= len(secret) <= 256
    assert call.params["allowed_updates"] == list(Update.ALL_TYPES)
    assert not tg.calls_of("getUpdates")

    await link(alice)
    # Updates sent while the bot is down wait at Telegram and arrive once it is back.
    await bot.kill()
    await alice.say("/status")
    await bot.start()
    assert tg.calls_of("setWebhook")[-1].params["secret_token"] == secret
    await tg.wait_for_message(alice.user_id, lambda m: "Linked to" in (m.text or ""))  # the answer to /status
    photo = google.add_photo(alice.email)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    await finish(bot)


async def test_refuses_requests_without_the_secret_and_malformed_bodies(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator
) -> None:
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET="configured-secret_42")
    await bot.start()
    assert tg.calls_of("setWebhook")[-1].params["secret_token"] == "configured-secret_42"
    url = bot.base_url + WEBHOOK_PATH
    forged = forged_update(alice.user_id, "/status")
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, json=forged)).status_code == 403
        assert (await client.post(url, json=forged, headers={SECRET_HEADER: "wrong"})).status_code == 403
        assert (await client.post(url, json=forged, headers={SECRET_HEADER: "configured-secret_4"})).status_code == 403
        right = {SECRET_HEADER: "configured-secret_42"}
        for body in (b"{not json", b"", b"[1, 2]", b'{"message": {}}', b'{"update_id": 1, "message": 5}'):
            response = await client.post(url, content=body, headers={**right, "Content-Type": "application/json"})
            assert response.status_code == 400, body
    # None of that was processed; a genuine update still is.
    answer = await alice.reply_to("/help")
    assert "How it works" in answer.text
    assert [m.text for m in tg.messages(alice.user_id)] == [answer.text]
    assert not (bot.workdir / "data" / SECRET_FILE_NAME).exists()  # a configured secret is not written down
    await finish(bot)


async def test_back_to_polling_the_old_webhook_is_removed_and_the_route_is_gone(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator
) -> None:
    async with httpx.AsyncClient() as client:  # left over from an earlier run in webhook mode
        await client.post(f"{tg.url}/bot{TOKEN}/setWebhook", data={"url": "http://127.0.0.1:9/gone"})
        bot = make_bot(TELEGRAM_WEBHOOK_URL="")
        await bot.start()
        response = await client.post(bot.base_url + WEBHOOK_PATH, content=json.dumps({"update_id": 1}))
    assert response.status_code == 404
    assert tg.webhook is None and tg.calls_of("deleteWebhook")
    assert "How it works" in (await alice.reply_to("/help")).text
    await finish(bot)


async def test_a_refused_webhook_url_stops_start_up_with_one_line(
    make_bot: Callable[..., BotProcess], tg: TelegramEmulator
) -> None:
    bot = make_bot()
    tg.fail_next("setWebhook", status=400, description="Bad Request: bad webhook: An HTTPS URL must be provided")
    with pytest.raises(BotExited) as exited:
        await bot.start()
    assert exited.value.code == 1
    assert bot.logs().strip().splitlines()[-1] == (
        f"Cannot start: Telegram refused the webhook URL {bot.base_url}{WEBHOOK_PATH} (TELEGRAM_WEBHOOK_URL): "
        "Bad webhook: an https url must be provided"
    )
    assert "Traceback" not in bot.logs()
