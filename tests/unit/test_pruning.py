"""Per-chat and per-user state is dropped once idle, with no change in behaviour."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from bot import flood as flood_module
from bot.flood import FloodControl
from bot.metrics import RequestMetrics


async def _ok() -> bool:
    return True


async def _send(flood: FloodControl, chat_id: int, endpoint: str = "sendMessage") -> None:
    await flood.process_request(_ok, (), {}, endpoint, {"chat_id": chat_id}, None)


async def test_idle_full_flood_buckets_are_dropped_and_busy_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flood_module, "PRUNE_EVERY", 0.0)
    flood = FloodControl(1000.0, 6.0, RequestMetrics(CollectorRegistry(), "telegram", "method"), 100_000.0)
    for _ in range(10):  # a group's whole budget: it refills at 6/min, so it stays far from full
        await _send(flood, -100)
    for chat in range(1, 1001):  # private chats refill one token in a millisecond
        await _send(flood, chat)
        await _send(flood, chat, "editMessageText")
    await asyncio.sleep(0.05)
    await _send(flood, 5000)
    assert set(flood._chats) == {-100, 5000}
    assert flood._edits._last == {} and flood._edits._refused_until == {}
    # The group's spent budget survived the sweep: its eleventh message still waits.
    blocked = asyncio.ensure_future(_send(flood, -100))
    await asyncio.sleep(0.2)
    assert not blocked.done()
    blocked.cancel()
    # A dropped chat starts again with a full bucket, as it had: an album goes out at once.
    for _ in range(10):
        await asyncio.wait_for(_send(flood, 7), 0.5)
