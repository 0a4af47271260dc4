"""The Cloud project's Picker API quota, kept to by the bot rather than learnt from Google's refusals.

Google allows a project PICKER_REQUESTS_PER_MINUTE Picker API requests (100,000 by default: PICKER_API.md §7,
"Quotas and limits"), for all replicas together; beyond it each request is refused (429 RATE_LIMIT_EXCEEDED). At
pollInterval 5 s that is ~8,000 waiting picks, so past them the bot must poll less often than Google asks, not be
refused. Every request counts here the moment it is made and never waits: a user's /pick, a listing or a deletion
goes at once. Polls alone wait for room (bot/poller.py), so they take what the others leave and a crowd of waiting
picks is polled a little less often instead of being refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The bot keeps to this part of the quota. Google does not say how it counts a minute; counted over any 60 s (the
# strictest reading), the bot's one second of burst and the requests still unpaid for by polls when a minute ends
# fit in the rest (~3,000 requests at the default quota).
QUOTA_USE = 0.95


class PickerQuota:
    """A token bucket of this replica's share of the project's Picker API requests per minute: refilled at that
    rate, holding one second's worth (at least one request), and going below zero when requests that never wait
    take more."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._rate = per_minute * QUOTA_USE / 60
        self._tokens = self._capacity
        self._at = clock()

    @property
    def _capacity(self) -> float:
        return max(1.0, self._rate)

    def share(self, replicas: int) -> None:
        """Several replicas call Google for one project: each keeps to an equal share of its quota."""
        self._refill()
        self._rate = self._per_minute * QUOTA_USE / 60 / max(1, replicas)
        self._tokens = min(self._tokens, self._capacity)

    def spend(self) -> None:
        """A request is made now."""
        self._refill()
        self._tokens -= 1

    def wait(self, polls: int = 1) -> float:
        """Seconds until `polls` fit in the quota (0: now), or as many as it holds if fewer."""
        self._refill()
        wanted = min(float(polls), self._capacity)
        return max(0.0, (wanted - self._tokens) / self._rate)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
