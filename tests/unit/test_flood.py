"""Proactive flood pacing and reading Telegram's flood answers."""

from __future__ import annotations

import asyncio

from telegram.error import BadRequest, RetryAfter

from bot.flood import TokenBucket, flood_wait


async def test_bucket_lets_an_album_through_then_paces() -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate=100.0, capacity=10.0)
    start = loop.time()
    await bucket.take(10)
    assert loop.time() - start < 0.05
    await bucket.take(5)
    assert loop.time() - start >= 0.045


async def test_penalty_blocks_the_bucket_for_retry_after() -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate=1000.0, capacity=10.0)
    bucket.penalise(0.1)
    start = loop.time()
    await bucket.take(1)
    assert loop.time() - start >= 0.09


def test_flood_wait_reads_retry_after_and_the_album_400_text() -> None:
    assert flood_wait(RetryAfter(7)) == 7
    album = BadRequest('Failed to send message #1 with the error message "Too Many Requests: retry after 8"')
    assert flood_wait(album) == 8
    assert flood_wait(BadRequest("Chat not found")) is None
