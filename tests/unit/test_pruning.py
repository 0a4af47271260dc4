"""Per-chat and per-user state is dropped once idle, with no change in behaviour."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from bot import flood as flood_module
from bot import user_state
from bot.flood import FloodControl
from bot.metrics import RequestMetrics
from bot.user_state import FreshTokens, UserLocks


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


async def test_a_user_lock_is_kept_only_while_held_or_awaited() -> None:
    locks = UserLocks()
    order: list[str] = []

    async def hold(name: str, user_id: int, release: asyncio.Event) -> None:
        async with locks.hold(user_id):
            order.append(name)
            await release.wait()

    first_done, second_done = asyncio.Event(), asyncio.Event()
    first = asyncio.ensure_future(hold("first", 1, first_done))
    second = asyncio.ensure_future(hold("second", 1, second_done))
    other = asyncio.ensure_future(hold("other user", 2, asyncio.Event()))
    await asyncio.sleep(0.01)
    assert order == ["first", "other user"] and len(locks) == 2  # the same user waits, another does not
    first_done.set()
    await first
    await asyncio.sleep(0.01)
    assert order == ["first", "other user", "second"] and len(locks) == 2  # still held by the second
    second_done.set()
    await second
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    assert len(locks) == 0
    for _ in range(1000):  # users passing through leave nothing behind
        async with locks.hold(7):
            pass
    assert len(locks) == 0


def test_decrypted_tokens_are_kept_only_while_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(user_state, "SWEEP_EVERY", 0.0)
    tokens = FreshTokens(leeway=60)
    now = time.time()
    tokens.put(1, {"access_token": "a", "expires_at": now + 3600})
    tokens.put(2, {"access_token": "b", "expires_at": now + 30})  # inside the leeway: due for a refresh
    assert tokens.get(1) == {"access_token": "a", "expires_at": now + 3600}
    assert len(tokens) == 1  # the stale one is gone from memory, not only hidden
    assert tokens.get(2) is None
    for user in range(3, 1003):
        tokens.put(user, {"access_token": "c", "expires_at": now - 1})
    tokens.get(1)
    assert len(tokens) == 1
    tokens.drop(1)
    assert tokens.get(1) is None and len(tokens) == 0
