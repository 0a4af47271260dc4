"""Proactive flood pacing and reading Telegram's flood answers."""

from __future__ import annotations

import asyncio

from telegram.error import BadRequest, RetryAfter

from bot.flood import FloodControl, TokenBucket
from bot.telegram_send import flood_wait


async def test_bucket_lets_an_album_through_then_paces() -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate=100.0, capacity=10.0)
    start = loop.time()
    await bucket.take(10)
    assert loop.time() - start < 0.05
    await bucket.take(5)
    assert loop.time() - start >= 0.045


async def test_penalty_blocks_the_chat_for_retry_after() -> None:
    loop = asyncio.get_running_loop()
    flood = FloodControl(private_per_second=1000, group_per_minute=60000)
    flood.retry_after(42, 0.1)
    start = loop.time()
    await flood.before_send(42, 1)
    assert loop.time() - start >= 0.09
    start = loop.time()
    await flood.before_send(43, 1)  # another chat is not held up
    assert loop.time() - start < 0.05


def test_flood_wait_reads_retry_after_and_the_album_400_text() -> None:
    assert flood_wait(RetryAfter(7)) == 7
    album = BadRequest('Failed to send message #1 with the error message "Too Many Requests: retry after 8"')
    assert flood_wait(album) == 8
    assert flood_wait(BadRequest("Chat not found")) is None
