"""Metrics: request timing, Google's verdict on the bot's own configuration, and the counts read from the
database (skip reason codes as labels)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.health import GoogleConfig
from bot.metrics import Metrics, RequestMetrics
from bot.outcomes import SkipReason
from storage.database import Database
from storage.stats import StatsRepository

DAY = 86_400.0


def sample(registry_text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(registry_text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


async def test_timing_records_status_errors_and_exceptions_without_an_answer() -> None:
    registry = CollectorRegistry()
    google = RequestMetrics(registry, "google", "endpoint")
    async with google.timed("sessions.get") as timing:
        timing.status(200)
    async with google.timed("sessions.get") as timing:
        timing.status(503)
    with pytest.raises(httpx.ConnectError):
        async with google.timed("media"):
            raise httpx.ConnectError("refused")
    with pytest.raises(ValueError):  # raised after an answer came: our verdict, not a failed request
        async with google.timed("media") as timing:
            timing.status(200)
            await asyncio.sleep(0.3)  # reading the body is not the service's latency
            raise ValueError("too large")
    text = generate_latest(registry).decode()
    assert sample(text, "bot_google_request_duration_seconds_count", endpoint="sessions.get") == 2
    assert sample(text, "bot_google_request_duration_seconds_count", endpoint="media") == 2
    assert sample(text, "bot_google_request_errors_total", endpoint="sessions.get", error="503") == 1
    assert sample(text, "bot_google_request_errors_total", endpoint="media", error="ConnectError") == 1
    assert sample(text, "bot_google_request_errors_total", endpoint="media", error="ValueError") is None
    assert sample(text, "bot_google_request_duration_seconds_bucket", endpoint="media", le="0.25") == 2


async def test_googles_verdict_on_the_bots_configuration(db: Database) -> None:
    metrics = Metrics(CollectorRegistry(), StatsRepository(db))
    config = GoogleConfig(metrics.google_config)
    text = (await metrics.exposition()).decode()
    assert sample(text, "bot_google_config_ok", part="oauth_client") == 1
    assert sample(text, "bot_google_config_ok", part="picker_api") == 1
    config.refused("oauth_client", "invalid_client")
    config.refused("oauth_client", "invalid_client")
    config.refused("picker_api", "SERVICE_DISABLED")
    config.accepted("picker_api")
    text = (await metrics.exposition()).decode()
    assert sample(text, "bot_google_config_ok", part="oauth_client") == 0
    assert sample(text, "bot_google_config_ok", part="picker_api") == 1
    assert sample(text, "bot_google_config_errors_total", part="oauth_client", error="invalid_client") == 2
    assert sample(text, "bot_google_config_errors_total", part="picker_api", error="SERVICE_DISABLED") == 1


async def test_counts_come_from_the_database_at_scrape_time(db: Database) -> None:
    now = time.time()
    for user_id, status in ((1, "active"), (2, "broken")):
        await db.execute(
            "INSERT INTO google_links (user_id, email, token, scopes, status, linked_at, updated_at)"
            " VALUES (?, 'x@example.com', ?, 's', ?, ?, ?)",
            (user_id, b"\x00", status, now, now),
        )
    sessions = ((1, 1, "done", now), (2, 3, "done", now - DAY), (3, 1, "waiting", now), (4, 3, "delivering", now))
    for session_id, user_id, status, updated_at in sessions:
        await db.execute(
            "INSERT INTO pick_sessions (id, google_session_id, user_id, chat_id, status, picker_uri, delivery_mode,"
            " poll_interval, poll_deadline, expire_time, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 'u', 'photos', 5, 0, 0, ?, ?)",
            (session_id, f"g{session_id}", user_id, user_id, status, updated_at, updated_at),
        )
    items = (
        (1, "sent", None, now),
        (1, "sent", None, now),
        (1, "skipped", SkipReason.TOO_BIG, None),
        (1, "skipped", SkipReason.TELEGRAM_REFUSED, None),
        (1, "skipped", SkipReason.IN_DOUBT, None),
        (1, "skipped", "no_such_code", None),
        (1, "skipped", None, None),
        (2, "sent", None, now - DAY),
        (2, "skipped", SkipReason.TOO_BIG, None),
        (4, "pending", None, None),
    )
    for position, (session_id, status, reason, sent_at) in enumerate(items):
        await db.execute(
            "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, status, reason,"
            " sent_at) VALUES (?, ?, 'm', 'PHOTO', 'f.jpg', 'image/jpeg', ?, ?, ?)",
            (session_id, position, status, reason, sent_at),
        )

    stats = StatsRepository(db)
    overview = await stats.overview(since=now - 3600)
    assert (overview.users, overview.links_active, overview.links_broken) == (3, 1, 1)
    assert (overview.active_sessions, overview.delivered_today) == (2, 2)

    metrics = Metrics(CollectorRegistry(), stats)
    text = (await metrics.exposition()).decode()
    assert sample(text, "bot_pick_sessions_active", status="waiting") == 1
    assert sample(text, "bot_pick_sessions_active", status="picked") == 0
    assert sample(text, "bot_items_delivered_total") == 3
    assert sample(text, "bot_items_failed_total", reason="too_big") == 2
    assert sample(text, "bot_items_failed_total", reason="telegram_refused") == 1
    assert sample(text, "bot_items_failed_total", reason="in_doubt") == 1
    assert sample(text, "bot_items_failed_total", reason="other") == 2  # a code this bot does not know, and none
    assert sample(text, "bot_items_failed_total", reason="still_processing") is None
    await db.execute("UPDATE pick_sessions SET status = 'done' WHERE id = 3")
    text = (await metrics.exposition()).decode()
    assert sample(text, "bot_pick_sessions_active", status="waiting") == 0


async def test_event_loop_lag_is_measured(db: Database) -> None:
    metrics = Metrics(CollectorRegistry(), StatsRepository(db))
    watch = asyncio.create_task(metrics.watch_event_loop())
    await asyncio.sleep(0)  # the watcher starts its first round
    time.sleep(0.3)  # block the loop, as a slow synchronous call would: that round wakes 0.2 s late

    async def late_rounds() -> float:
        text = (await metrics.exposition()).decode()
        within = sample(text, "bot_event_loop_lag_seconds_bucket", le="0.1") or 0
        return (sample(text, "bot_event_loop_lag_seconds_count") or 0) - within

    async with asyncio.timeout(5):
        while not await late_rounds():  # noqa: ASYNC110  (the watcher records on its own schedule)
            await asyncio.sleep(0.01)
    watch.cancel()
