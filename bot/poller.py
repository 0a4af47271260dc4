"""One scheduler for every waiting pick session: a heap of due times, one sleeping task.

The sessions due at one wake-up, or within AHEAD of it, are read together (one database trip, not one
a poll), then each is polled at its own due time as a task of its own. Each poll decides its successor:
the callback returns the delay until the next poll (the session's pollInterval, counted from when the
answer arrived, so Google never sees us poll faster than it asked), or None to stop. A poll starts only when
the budget (the project's Picker API quota, bot/google/quota.py) has room for it: with more picks waiting than
the quota allows, each is polled less often, the most overdue first.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

# A wake-up also reads the sessions due this much after it: one read for several polls (8 at 400 polls a second).
# Each is still polled at its own due time: polling them together, late, would bunch them for good (their answers
# come together, so do their next due times).
AHEAD = 0.02
# At most this many read and started at one wake-up, the rest at the next (at once if due): a bot behind on
# thousands of polls would otherwise start 64 at once in step, holding up the event loop while they run.
BATCH = 16
# At most this many polls at once (the rest wait in the heap, where release() can still hand them over). Polls in
# flight = polls a second × how long each holds its place: 10,000 waiting picks at pollInterval 5 s are 2,000 a
# second, and at 0.1 s a call each holds it ~0.14 s (its row's read, its wait within AHEAD, the answer's parsing),
# so 280 in flight. 256 kept up 1,840 a second (0.82-0.92x the ideal calls); 512 leaves room for a slower Google.
POLLS_IN_FLIGHT = 512

# A poll held back by the budget this late (a moment's burst of other requests holds polls back less) is logged, at
# most once every HELD_BACK_LOG_EVERY: more picks wait than the quota lets the bot poll on time.
HELD_BACK_LATE = 1.0  # seconds
HELD_BACK_LOG_EVERY = 600.0  # seconds

Session = TypeVar("Session")


class Budget(Protocol):
    def wait(self, polls: int = 1) -> float:
        """Seconds until `polls` fit (0: now), or as many as it holds if fewer."""

    def spend(self) -> None:
        """A poll starts now."""


def first_delays(
    picks: list[tuple[int, float | None, float]], now: float, polled_since: float
) -> list[tuple[int, float]]:
    """When to poll adopted picks first: (session id, delay) from (session id, last polled at, pollInterval), given
    that their previous holder may have polled any of them unrecorded until `polled_since`. A pick polled since then
    and not yet due is polled when its interval since that poll ends (never polled: one interval from now). The
    others are spread evenly over one pollInterval, the longest overdue first, from the earliest they may be polled
    (now, or one interval after `polled_since`), so that a restart onto thousands of waiting picks is no burst of
    calls to Google: counted from `polled_since`, they would all be due at the same moment."""
    delays: list[tuple[int, float]] = []
    overdue: list[tuple[float, int, float]] = []
    for session_id, last, interval in picks:
        if last is None:
            delays.append((session_id, interval))
        elif last >= polled_since and last + interval > now:
            delays.append((session_id, last + interval - now))
        else:
            overdue.append((last, session_id, interval))
    overdue.sort()
    delays += [
        (session_id, max(0.0, polled_since + interval - now) + interval * rank / len(overdue))
        for rank, (_, session_id, interval) in enumerate(overdue)
    ]
    return delays


class Poller(Generic[Session]):
    def __init__(
        self,
        read: Callable[[list[int]], Awaitable[Mapping[int, Session]]],
        poll_once: Callable[[Session], Awaitable[float | None]],
        budget: Budget | None = None,
        concurrency: int = POLLS_IN_FLIGHT,
        retry_after: float = 10.0,
    ) -> None:
        self._read = read  # the sessions with these ids, by id; one that is missing is not polled again
        self._poll_once = poll_once
        self._budget = budget  # None: polls are never held back
        # A poll that failed unexpectedly (the database away for a moment) is tried again this much later: never
        # polling it again would leave the pick waiting until the next restart.
        self._retry_after = retry_after
        self._heap: list[tuple[float, int, int]] = []
        self._due: dict[int, float] = {}
        self._running: set[int] = set()
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._concurrency = concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._held_back_logged = -HELD_BACK_LOG_EVERY

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="poller")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def schedule(self, session_id: int, delay: float) -> None:
        due = asyncio.get_running_loop().time() + max(0.0, delay)
        self._due[session_id] = due
        # The loop sleeps until the heap's first entry: only a new first one must wake it (not each poll's successor).
        if not self._heap or due < self._heap[0][0]:
            self._wake.set()
        heapq.heappush(self._heap, (due, next(self._seq), session_id))

    def unschedule(self, session_id: int) -> None:
        self._due.pop(session_id, None)

    def release(self, most: int) -> dict[int, float]:
        """Unschedule up to `most` sessions that are not being polled, the latest due first; returns them with their
        due times, for restore()."""
        idle = (session_id for session_id in self._due if session_id not in self._running)
        latest = sorted(idle, key=self._due.__getitem__, reverse=True)[: max(0, most)]
        return {session_id: self._due.pop(session_id) for session_id in latest}

    def restore(self, released: dict[int, float]) -> None:
        now = asyncio.get_running_loop().time()
        for session_id, due in released.items():
            self.schedule(session_id, due - now)

    def has(self, session_id: int) -> bool:
        """Whether the session is due for a poll, or being polled."""
        return session_id in self._due or session_id in self._running

    @property
    def scheduled(self) -> int:
        return len(self._due)

    def behind(self) -> float:
        """How many seconds the most overdue poll waiting to start is past its time (0: polling keeps up)."""
        if not self._due:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - min(self._due.values()))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            # At most `concurrency` polls at once, and those the budget has room for; the others stay in the heap
            # (not a task each, waiting), where release() may still hand them over.
            due_now: list[tuple[float, int]] = []
            held_back = 0.0
            while (
                self._heap
                and self._heap[0][0] <= now + AHEAD
                and len(self._running) < self._concurrency
                and len(due_now) < BATCH
            ):
                due, _, session_id = self._heap[0]
                if self._due.get(session_id) != due or session_id in self._running:
                    heapq.heappop(self._heap)
                    continue  # superseded or cancelled entry
                held_back = self._take_room(now, due)
                if held_back > 0:
                    break
                heapq.heappop(self._heap)
                del self._due[session_id]
                self._running.add(session_id)
                due_now.append((due, session_id))
            if due_now:
                self._spawn(self._poll_due(due_now), "poll-due")
            full = len(self._running) >= self._concurrency  # then a poll ending wakes it
            timeout = None if full or not self._heap else max(held_back, self._heap[0][0] - now)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that coincides with
            # the wake-up, and stop() then hangs (seen at 2,000 sessions).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _take_room(self, now: float, due: float) -> float:
        """Take the budget's room for a poll due at `due` (0), or say how long to wait: until a batch fits, so that
        they are read in one go, not one a poll."""
        if self._budget is None:
            return 0.0
        if self._budget.wait() == 0:
            self._budget.spend()
            return 0.0
        if now - due > HELD_BACK_LATE:
            self._log_held_back(now)
        return self._budget.wait(BATCH)

    def _log_held_back(self, now: float) -> None:
        if now - self._held_back_logged >= HELD_BACK_LOG_EVERY:
            self._held_back_logged = now
            log.warning(
                "polls run late to stay within the Picker API quota: %d picks wait, more than it lets the bot poll "
                "every pollInterval; raise the project's quota and PICKER_REQUESTS_PER_MINUTE",
                len(self._due) + len(self._running),
            )

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll_due(self, due: list[tuple[float, int]]) -> None:
        try:
            sessions = await self._read([session_id for _, session_id in due])
        except Exception:
            log.exception("reading %d sessions to poll failed; trying again in %g s", len(due), self._retry_after)
            for _, session_id in due:
                self._done(session_id, self._retry_after)
            return
        for when, session_id in due:
            session = sessions.get(session_id)
            if session is None:
                self._done(session_id, None)
            else:
                self._spawn(self._poll(session_id, session, when), f"poll-{session_id}")

    async def _poll(self, session_id: int, session: Session, when: float) -> None:
        delay: float | None = None
        try:
            wait = when - asyncio.get_running_loop().time()
            if wait > 0:  # read ahead of its time: never polled sooner
                await asyncio.sleep(wait)
            delay = await self._poll_once(session)
        except Exception:
            log.exception("polling session %s failed; trying again in %g s", session_id, self._retry_after)
            delay = self._retry_after
        finally:  # cancelled (stop()): delay is None
            self._done(session_id, delay)

    def _done(self, session_id: int, delay: float | None) -> None:
        """The session's poll ended: its place is free, and its next poll is `delay` from now (None: none)."""
        if len(self._running) >= self._concurrency:  # the loop waits for a free place: this is one
            self._wake.set()
        self._running.discard(session_id)
        if delay is not None:
            # A schedule() made meanwhile (a pick being started as the lease keeper adopts it) neither brings the next
            # poll before this one's interval nor, when its time came during this poll and was skipped, stops it.
            now = asyncio.get_running_loop().time()
            self.schedule(session_id, max(delay, self._due.get(session_id, now) - now))
