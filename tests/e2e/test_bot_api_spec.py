"""The Bot API calls the bot makes, checked against the machine-readable reference (api.json).

Every e2e test's calls are checked in the `tg` fixture; this module makes sure the check itself
bites and runs one flow that touches every method the bot uses.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import SPEC, bot_api_spec, spec_problems
from tests.e2e.picking import link, start_pick, wait_summary
from tests.harness import BotProcess, Person, callback_data

pytestmark = pytest.mark.skipif(
    bot_api_spec() is None, reason=f"Bot API reference not found at {SPEC} (CI has ../shared/reference)"
)


def test_the_check_catches_bad_calls() -> None:
    spec = bot_api_spec()
    assert spec is not None
    bad = [
        SimpleNamespace(method="sendPhotos", params={"chat_id": 1}),
        SimpleNamespace(method="sendMessage", params={"chat_id": 1, "text": "x", "disable_web_page_preview": True}),
        SimpleNamespace(method="sendMediaGroup", params={"chat_id": 1}),
    ]
    assert spec_problems(bad, spec) == [
        "sendPhotos: no such Bot API method",
        "sendMessage: unknown parameter disable_web_page_preview",
        "sendMediaGroup: missing required media",
    ]


async def test_a_full_flow_uses_only_documented_methods_and_parameters(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    items = [google.add_photo(alice.email) for _ in range(3)] + [google.add_video(alice.email, size=100_000)]
    await link(alice)
    menu = await alice.reply_to("/settings")
    await alice.press(menu, callback_data(menu, "Photos"))
    prompt, session = await start_pick(alice)
    await alice.press(prompt, callback_data(prompt, "QR code"))
    google.pick(session.id, items)
    await wait_summary(tg, alice.user_id)
    single = google.add_photo(alice.email)
    _, second = await start_pick(alice)
    google.pick(second.id, [single])  # a lone photo goes through sendPhoto
    await wait_summary(tg, alice.user_id)
    used = {call.method for call in tg.calls}
    receiving = "setWebhook" if bot.webhook_mode else "getUpdates"
    assert used >= {
        "getMe",
        receiving,
        "setMyCommands",
        "sendMessage",
        "editMessageText",
        "deleteMessage",
        "answerCallbackQuery",
        "sendPhoto",
        "sendMediaGroup",
    }
    spec = bot_api_spec()
    assert spec is not None
    assert spec_problems(tg.calls, spec) == []
