"""Memory that only grows: hundreds of users passing through leave nothing behind once they go quiet, through
the real bot process. What the bot keeps per chat and per user is read from /metrics (`bot_memory_entries`)."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.linking import REFRESH_LEEWAY
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, start_pick, wait_summary
from tests.harness import BotProcess, Person

VISITORS = 200
FIRST_VISITOR = 10_000
QUIET_WITHIN = 40.0  # seconds: buckets refill in a few, sweeps come every 10 s on activity


async def memory_entries(bot: BotProcess) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(bot.base_url + "/metrics")
    assert response.status_code == 200
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "bot_memory_entries"
    }


async def test_state_of_users_gone_quiet_is_dropped(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # Alice's access tokens go stale two seconds after Google issues them (the bot refreshes a minute ahead).
    google.access_token_ttl = REFRESH_LEEWAY + 2
    await link(alice)
    photo = google.add_photo(alice.email)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    await wait_summary(tg, alice.user_id)

    for n in range(VISITORS):  # each writes once and never again
        tg.add_user(FIRST_VISITOR + n, f"Visitor {n}")
        tg.send_text(FIRST_VISITOR + n, "/help")
    await tg.wait_for(lambda: not tg.pending_updates, 30, what="the bot to take every visitor's /help")
    async with asyncio.timeout(30):  # taken, not yet handled: by webhook 40 come at once, as the Bot API sends
        while (crowded := await memory_entries(bot))["chats_in_flight"]:  # noqa: ASYNC110  (another process's)
            await asyncio.sleep(0.1)
    print(f"\nafter {VISITORS} visitors: {crowded}", end="; ")
    assert crowded["throttle_budgets"] >= VISITORS
    assert crowded["flood_chats"] >= VISITORS / 2  # /help is dropped rather than waited for past 2 s
    assert crowded["tokens"] == 1  # Alice's, decrypted

    # Bob keeps using the bot (sweeps happen as it works); the visitors' state goes.
    deadline = time.monotonic() + QUIET_WITHIN
    while True:
        await bob.say("/help")
        quiet = await memory_entries(bot)
        if quiet["throttle_budgets"] <= 2 and quiet["flood_chats"] <= 1:
            break
        assert time.monotonic() < deadline, f"still kept after {QUIET_WITHIN:.0f} s: {quiet}"
        await asyncio.sleep(1.0)  # Bob's pace: one command a second, within his budget
    print(f"quiet again: {quiet}")
    assert quiet["chats_in_flight"] <= 1 and quiet["user_locks"] == 0
    # Bob's first pick uses a token: the sweep that comes with it drops Alice's, gone stale meanwhile.
    await link(bob)
    await start_pick(bob)
    assert (await memory_entries(bot))["tokens"] == 1
