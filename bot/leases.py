"""This replica's share of the work, when several share one PostgreSQL database (with SQLite, the one process
holds every lease).

Every third of LEASE_SECONDS the keeper renews what it holds, lets go of what another replica took over meanwhile,
takes the getUpdates lease when it is free (polling mode), and adopts active picks nobody holds (never claimed, or
their holder stopped renewing: it died) up to its fair share of all active picks, in one statement; well above its
share (it started first), it lets waiting picks go. So a dead replica's work moves within LEASE_SECONDS plus one
tick, a replica that stops releases everything at once, and replicas poll about as many picks each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.leases import UPDATES, LeaseRepository, Work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdatesSwitch:
    """Polling mode: start and stop calling getUpdates (one replica at a time does)."""

    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class LeaseKeeper:
    def __init__(
        self,
        repo: LeaseRepository,
        *,
        adopt: Callable[[list[int]], Awaitable[None]],
        drop: Callable[[int], Awaitable[None]],
        let_go: Callable[[int], Awaitable[list[int]]],
        updates: UpdatesSwitch | None,
        share: Callable[[int], None],
    ) -> None:
        self._repo = repo
        self._adopt = adopt  # these active picks are ours now: poll or deliver them
        self._drop = drop  # another replica took a pick over: stop polling and delivering it
        self._let_go = let_go  # stop polling up to this many waiting picks (more than this replica's share)
        self._updates = updates
        self._share = share  # how many replicas share the bot-wide budgets now (Telegram's, the Picker API quota)
        self._held: set[tuple[Work, int]] = set()
        # A hand-over between a renewal and the round taking in its answer would come back as held, then look lost.
        self._renewing = asyncio.Lock()
        self._polling = False
        self._task: asyncio.Task[None] | None = None
        self._released = asyncio.Event()  # another replica let go of its leases: take them now

    @property
    def interval(self) -> float:
        return self._repo.seconds / 3

    async def start(self) -> None:
        """The first round at once (so a lone replica starts receiving updates and resumes its picks right away),
        then a round every third of LEASE_SECONDS, or at once when another replica releases its leases (PostgreSQL
        NOTIFY). Picks still held under this REPLICA_NAME (a restart) come first."""
        self._held = await self._repo.renew()
        await self._adopt(sorted(work_id for work, work_id in self._held if work == "session"))
        await self._repo.on_released(self._released.set)
        await self.tick()
        self._task = asyncio.create_task(self._keep(), name="leases")

    async def stop_updates(self) -> None:
        """Shutdown, first step: no more rounds, no more getUpdates (the lease stays until release())."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._polling and self._updates is not None:
            await self._updates.stop()
            self._polling = False

    async def release(self) -> None:
        """Shutdown, last step (picks stopped): everything this replica held is free for the others."""
        await self._repo.release_all()
        log.info("replica %s released its leases", self._repo.holder)

    async def tick(self) -> None:
        ended = await self._repo.forget_ended()
        if not await self._repo.take(*self._repo.presence):
            log.warning(
                "replica %s: another replica's name has the same checksum; names must differ", self._repo.holder
            )
        async with self._renewing:
            held = await self._repo.renew()
            lost, gained = self._held - held - ended, held - self._held
            self._held = held
        for work, work_id in lost:
            log.warning("replica %s lost its lease on %s %s to another replica", self._repo.holder, work, work_id)
            if work == "session":
                await self._drop(work_id)
        # Handed over by another replica (or started here: adopting it again is harmless).
        handed = sorted(work_id for work, work_id in gained if work == "session")
        live = await self._repo.live_replicas()
        self._share(live)
        await self._receive_updates()
        # Each replica holds its fair share of the active picks: it adopts orphans up to it, and lets waiting picks go
        # when well above it (the first replica up took them all; a pick or two more is not worth moving).
        fair = -(-(await self._repo.active_picks()) // live)
        mine = sum(1 for work, _ in self._held if work == "session")
        orphans = await self._repo.adopt_orphans(fair - mine) if mine < fair else []
        if orphans:
            self._held |= {("session", session_id) for session_id in orphans}
            shown = ", ".join(map(str, orphans[:10])) + (", …" if len(orphans) > 10 else "")
            log.info("replica %s took %d picks nobody held: %s", self._repo.holder, len(orphans), shown)
        if handed or orphans:
            await self._adopt(handed + orphans)
        if mine > fair + max(2, fair // 20):
            await self._shed(mine - fair, fair)

    async def hand_over(self, session_id: int, to: str) -> None:
        """Give a pick of this replica's to replica `to` (the one sending into its chat); not a lease lost."""
        async with self._renewing:
            await self._repo.hand_over(session_id, to)
            self._held.discard(("session", session_id))
        log.info("replica %s handed pick %s to replica %s", self._repo.holder, session_id, to)

    async def _shed(self, most: int, fair: int) -> None:
        released = await self._let_go(most)
        if released:
            await self._repo.let_go(released)
            self._held -= {("session", session_id) for session_id in released}
            log.info(
                "replica %s let %d waiting picks go to the others (its share: %d)",
                self._repo.holder,
                len(released),
                fair,
            )

    async def _receive_updates(self) -> None:
        if self._updates is None:
            return
        if self._polling and UPDATES not in self._held:
            log.warning("replica %s lost the getUpdates lease; another replica receives updates", self._repo.holder)
            await self._updates.stop()
            self._polling = False
        if not self._polling and await self._repo.take(*UPDATES):
            self._held.add(UPDATES)
            log.info("replica %s receives updates (getUpdates)", self._repo.holder)
            self._polling = True  # before the start: a shutdown cutting it short must still stop what it began
            await self._updates.start()

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._released.wait()
            self._released.clear()
            try:
                await self.tick()
            except Exception:  # the database may be away for a moment: the next round tries again
                log.exception("replica %s could not renew its leases", self._repo.holder)
