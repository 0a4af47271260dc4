"""What operators see: /readyz, /metrics, JSON logs and the admins' /stats, through the real bot process."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.webhook import SECRET_FILE_NAME, WEBHOOK_PATH
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, no_active_picks, start_pick, wait_summary
from tests.harness import CLIENT_SECRET, ENCRYPTION_KEY, TOKEN, BotProcess, Person

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def get(bot: BotProcess, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(bot.base_url + path)


async def scrape(bot: BotProcess) -> Samples:
    response = await get(bot, "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_readyz_follows_telegram_and_remembers_a_success(bot: BotProcess, tg: TelegramEmulator) -> None:
    tg.fail_next("getMe", status=500)
    failing = await get(bot, "/readyz")
    assert failing.status_code == 503
    google_ok = {"google_oauth_client": "ok", "google_picker_api": "ok"}
    assert failing.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "telegram": "failing", **google_ok},
    }
    assert (await get(bot, "/healthz")).status_code == 200  # alive all the same: no reason to restart it

    ready = await get(bot, "/readyz")  # a failure is not remembered: Telegram is asked again
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "telegram": "ok", **google_ok}}
    asked = len(tg.calls_of("getMe"))
    assert (await get(bot, "/readyz")).status_code == 200
    assert len(tg.calls_of("getMe")) == asked  # a success is remembered for a few seconds


async def test_metrics_after_a_pick(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    big_video = google.add_video(alice.email, filename="big.mp4", size=60_000_000)
    await link(alice)
    google.fail_next("sessions.create", status=503)  # retried, and counted as an error
    _, session = await start_pick(alice)
    waiting = await scrape(bot)
    assert value(waiting, "bot_pick_sessions_active", status="waiting") == 1
    google.pick(session.id, [photo, big_video])
    await wait_summary(tg, alice.user_id)
    await no_active_picks(bot)
    tg.fail_next("getMe", status=500)
    assert (await get(bot, "/readyz")).status_code == 503

    samples = await scrape(bot)
    assert value(samples, "bot_items_delivered_total") == 1
    assert value(samples, "bot_items_failed_total", reason="too_big") == 1
    for status in ("waiting", "picked", "delivering"):
        assert value(samples, "bot_pick_sessions_active", status=status) == 0
    google_count = "bot_google_request_duration_seconds_count"
    for endpoint in ("oauth.exchange", "oauth.userinfo", "sessions.get", "mediaItems.list", "media"):
        assert (value(samples, google_count, endpoint=endpoint) or 0) >= 1, endpoint
    assert value(samples, google_count, endpoint="sessions.create") == 2
    assert value(samples, "bot_google_request_errors_total", endpoint="sessions.create", error="503") == 1
    telegram_count = "bot_telegram_request_duration_seconds_count"
    for method in ("getMe", "setMyCommands", "sendMessage", "sendPhoto"):
        assert (value(samples, telegram_count, method=method) or 0) >= 1, method
    assert value(samples, "bot_telegram_request_errors_total", method="getMe", error="NetworkError") == 1
    assert (value(samples, "bot_event_loop_lag_seconds_count") or 0) >= 1
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    assert value(samples, "process_cpu_seconds_total") is not None


async def test_json_logs_are_parseable_and_hold_no_secrets(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    bot.env.setdefault("TELEGRAM_WEBHOOK_URL", bot.base_url + WEBHOOK_PATH)  # its secret is logged at DEBUG
    await bot.start()
    await link(alice)
    google.expire_access_tokens()
    await alice.reply_to("/pick", lambda m: "Open Google Photos" in str(m.reply_markup))
    await alice.reply_to("/unlink")
    assert await bot.stop() == 0

    lines = [line for line in bot.logs().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(e, dict) and {"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO"}
    assert any(e.get("user_id") == alice.user_id and "OAuth outcome" in e["message"] for e in entries)
    assert any("secret_token" in e["message"] for e in entries)  # …masked, below
    # Generated into a file unless configured (PostgreSQL requires it configured).
    webhook_secret = bot.env.get("TELEGRAM_WEBHOOK_SECRET") or (bot.workdir / "data" / SECRET_FILE_NAME).read_text()
    text = bot.logs()
    for secret in [TOKEN, CLIENT_SECRET, ENCRYPTION_KEY, webhook_secret, *google.issued_secrets()]:
        assert secret not in text
    assert "Traceback" not in text


async def test_stats_for_admins_only(
    make_bot: Callable[..., BotProcess], alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(ADMIN_USER_IDS=f"{alice.user_id}, 999")
    await bot.start()
    photos = [google.add_photo(alice.email) for _ in range(2)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, photos)
    await wait_summary(tg, alice.user_id)
    await no_active_picks(bot)

    stats = await alice.reply_to("/stats")
    assert stats.text == (
        "Bot statistics\nUsers: 1\nGoogle links: 1 active, 0 broken\nPicks under way: 0\nDelivered today (UTC): 2"
    )
    # Bob is not an admin, and nobody gets statistics in a group: /stats is ignored as if unknown.
    group = -100777
    tg.add_group(group, "Team", members={alice.user_id: "member", bob.user_id: "member"})
    await bob.say("/stats")
    await alice.say("/stats", chat_id=group)
    assert "How it works" in (await bob.reply_to("/help")).text
    assert "How it works" in (await alice.reply_to("/help", chat_id=group)).text
    assert not [m for m in tg.messages(bob.user_id) + tg.messages(group) if "statistics" in (m.text or "")]
    assert all(c["command"] != "stats" for scope in tg.commands.values() for c in scope)  # not in any menu
    assert await bot.stop() == 0
    assert "Traceback" not in bot.logs()
