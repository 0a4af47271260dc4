"""This replica's share of the work, when several share one PostgreSQL database (with SQLite, the one process
holds every lease).

Every third of LEASE_SECONDS the keeper renews what it holds, lets go of what another replica took over meanwhile,
takes the getUpdates lease when it is free (polling mode), and adopts active picks nobody holds: never claimed, or
their holder stopped renewing (it died). So a dead replica's work moves within LEASE_SECONDS plus one tick, and a
replica that stops releases everything at once.
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
        adopt: Callable[[int], Awaitable[None]],
        drop: Callable[[int], Awaitable[None]],
        updates: UpdatesSwitch | None,
        share: Callable[[int], None],
    ) -> None:
        self._repo = repo
        self._adopt = adopt  # an active pick is ours now: poll or deliver it
        self._drop = drop  # another replica took a pick over: stop polling and delivering it
        self._updates = updates
        self._share = share  # how many replicas share the bot-wide flood budget now
        self._held: set[tuple[Work, int]] = set()
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
        for work, work_id in await self._repo.renew():
            if work == "session":
                await self._adopt(work_id)
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
        held = await self._repo.renew()
        for work, work_id in self._held - held - ended:
            log.warning("replica %s lost its lease on %s %s to another replica", self._repo.holder, work, work_id)
            if work == "session":
                await self._drop(work_id)
        for work, work_id in held - self._held:
            if work == "session":  # handed over by another replica (or started here: adopting it again is harmless)
                await self._adopt(work_id)
        self._held = held
        self._share(await self._repo.live_replicas())
        await self._receive_updates()
        for session_id in await self._repo.orphaned_sessions():
            if await self._repo.take("session", session_id):
                self._held.add(("session", session_id))
                log.info("replica %s took pick %s", self._repo.holder, session_id)
                await self._adopt(session_id)

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
            await self._updates.start()
            self._polling = True

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
