"""Proactive pacing under Telegram's flood limits (≈1 msg/s per private chat, 20/min per group, 30/s overall).

A token bucket per chat whose capacity is one full album, so an album goes out at once and the chat's
budget then refills at the allowed rate. PTB's AIORateLimiter does not cover the per-private-chat limit.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, count: float) -> None:
        """Wait until `count` tokens are available, then spend them (FIFO among waiters)."""
        count = min(count, self.capacity)
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= count:
                    self._tokens -= count
                    return
                await asyncio.sleep((count - self._tokens) / self.rate)

    def penalise(self, seconds: float) -> None:
        """Telegram said retry_after: nothing more for this chat until then."""
        self._tokens = min(self._tokens, -seconds * self.rate)
        self._stamp = time.monotonic()


class FloodControl:
    ALBUM = 10

    def __init__(self, private_per_second: float, group_per_minute: float, overall_per_second: float = 30.0):
        self._private_rate = private_per_second
        self._group_rate = group_per_minute / 60.0
        self._group_capacity = max(float(self.ALBUM), group_per_minute)
        self._overall = TokenBucket(overall_per_second, overall_per_second)
        self._chats: dict[int, TokenBucket] = {}

    def _bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            # Private chats have positive ids; groups and channels negative ones.
            if chat_id > 0:
                bucket = TokenBucket(self._private_rate, float(self.ALBUM))
            else:
                bucket = TokenBucket(self._group_rate, self._group_capacity)
            self._chats[chat_id] = bucket
        return bucket

    async def before_send(self, chat_id: int, messages: int) -> None:
        await self._bucket(chat_id).take(messages)
        await self._overall.take(messages)

    def retry_after(self, chat_id: int, seconds: float) -> None:
        self._bucket(chat_id).penalise(seconds)
