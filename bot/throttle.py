"""Keeping one chatty user or chat from stalling everyone, before any work is done.

`Throttle` admits a command or button press only while its sender and its chat both have budget left: as
many as Telegram would let the bot answer there (the flood rates, bursts as in bot/flood.py), so a flood
is refused up front instead of queueing replies that hold update handlers for minutes. The first refusal
says so; the rest are ignored until the sender's budget is full again (a sender who keeps going is told once).

`ChatFairUpdates` caps the updates of one chat in flight, so one chat can never take python-telegram-bot's
whole pool of concurrent updates: the others' updates still find a place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

PRIVATE_BURST = 10.0  # as bot/flood.py's private chat bucket: one album
MIN_GROUP_BURST = 10.0
SWEEP_EVERY = 10.0  # seconds between evictions of full budgets (a full budget is the same as none)
MAX_UPDATES = 256  # python-telegram-bot's default pool of concurrent updates
CHAT_IN_FLIGHT = 16  # updates of one chat handled at once; more wait for their turn
UNBOUNDED = 2**31 - 1


class Verdict(Enum):
    ADMIT = "admit"
    WARN = "warn"  # refused: say "slow down" (once)
    IGNORE = "ignore"  # refused, already told


@dataclass
class _Budget:
    tokens: float
    stamp: float
    warned: bool = False


class _Budgets:
    """Token buckets by id, created full, evicted once full again."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._by_id: dict[int, _Budget] = {}

    def get(self, key: int, now: float) -> _Budget:
        budget = self._by_id.setdefault(key, _Budget(self.capacity, now))
        budget.tokens = min(self.capacity, budget.tokens + (now - budget.stamp) * self.rate)
        budget.stamp = now
        return budget

    def evict_full(self, now: float) -> None:
        full = [k for k, b in self._by_id.items() if b.tokens + (now - b.stamp) * self.rate >= self.capacity]
        for key in full:
            del self._by_id[key]

    def __len__(self) -> int:
        return len(self._by_id)


class Throttle:
    def __init__(
        self, private_per_second: float, group_per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        burst = max(PRIVATE_BURST, private_per_second)  # at least a second's worth: a batch of updates at once
        self._users = _Budgets(private_per_second, burst)
        self._private = _Budgets(private_per_second, burst)
        self._groups = _Budgets(group_per_minute / 60.0, max(MIN_GROUP_BURST, group_per_minute))
        self._swept = clock()

    def check(self, user_id: int, chat_id: int) -> Verdict:
        """Whether `user_id` may have a command or button press in `chat_id` handled now (spends it if so)."""
        now = self._clock()
        if now - self._swept >= SWEEP_EVERY:
            for budgets in (self._users, self._private, self._groups):
                budgets.evict_full(now)
            self._swept = now
        user = self._users.get(user_id, now)
        chat = (self._private if chat_id > 0 else self._groups).get(chat_id, now)  # groups: negative ids
        if user.tokens >= self._users.capacity:
            user.warned = False  # rested: a new flood would be told again
        if user.tokens >= 1 and chat.tokens >= 1:
            user.tokens -= 1
            chat.tokens -= 1
            return Verdict.ADMIT
        if user.warned:
            return Verdict.IGNORE
        user.warned = True
        return Verdict.WARN

    def tracked(self) -> int:
        """How many budgets are kept (idle ones are evicted)."""
        return len(self._users) + len(self._private) + len(self._groups)


def _chat_of(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


@dataclass
class _ChatSlots:
    semaphore: asyncio.Semaphore
    users: int = 0


class ChatFairUpdates(BaseUpdateProcessor):
    """Runs up to `max_updates` updates at once, of which at most `per_chat` from any one chat: a chat's updates
    beyond that wait for their chat's turn without taking a place in the overall pool."""

    def __init__(self, max_updates: int = MAX_UPDATES, per_chat: int = CHAT_IN_FLIGHT) -> None:
        super().__init__(UNBOUNDED)  # PTB's own bound would count the waiting ones: the bound is applied below
        self._overall = asyncio.Semaphore(max_updates)
        self._per_chat = per_chat
        self._chats: dict[int, _ChatSlots] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = _chat_of(update)
        if chat_id is None:
            async with self._overall:
                await coroutine
            return
        slots = self._chats.setdefault(chat_id, _ChatSlots(asyncio.Semaphore(self._per_chat)))
        slots.users += 1
        try:
            async with slots.semaphore, self._overall:
                await coroutine
        finally:
            slots.users -= 1
            if not slots.users:
                del self._chats[chat_id]

    def tracked_chats(self) -> int:
        """How many chats have updates in flight or waiting."""
        return len(self._chats)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
