"""The download → upload pipeline: downloads run a few at a time ahead of the uploads, and the sender takes
them in pick order, as albums of up to ten."""

from __future__ import annotations

import asyncio

from bot.delivery.fetching import Fetched, MediaFetcher
from bot.delivery.reporting import DeliveryReport
from bot.delivery.sending import BatchSender
from storage.picks import PickItem

ALBUM_SIZE = 10
DOWNLOADS_IN_FLIGHT = 4
QUEUE_AHEAD = 12
# Ready bytes that are sent at once, without waiting for the next download to fill the album: an album
# of photos at 2560 px (≈1.5 MB each) fills long before this; a big video does not keep the uplink idle.
SEND_WITHOUT_WAITING = 20_000_000


class Pipeline:
    def __init__(self, fetcher: MediaFetcher, sender: BatchSender, report: DeliveryReport) -> None:
        self._fetcher = fetcher
        self._sender = sender
        self._report = report

    async def run(self, pending: list[PickItem]) -> list[PickItem]:
        """Fetch and send `pending` in order; returns the videos Google is still processing."""
        queue: asyncio.Queue[asyncio.Task[Fetched] | None] = asyncio.Queue(QUEUE_AHEAD)
        slots = asyncio.Semaphore(DOWNLOADS_IN_FLIGHT)

        async def fetch(item: PickItem) -> Fetched:
            async with slots:
                fetched = await self._fetcher.fetch(item)
            await self._report.downloaded()
            return fetched

        async def produce() -> None:
            for item in pending:
                await queue.put(asyncio.create_task(fetch(item)))
            await queue.put(None)

        producer = asyncio.create_task(produce())
        try:
            return await self._consume(queue)
        finally:
            producer.cancel()
            while not queue.empty():
                leftover = queue.get_nowait()
                if leftover is not None:
                    leftover.cancel()

    async def _consume(self, queue: asyncio.Queue[asyncio.Task[Fetched] | None]) -> list[PickItem]:
        deferred: list[PickItem] = []
        batch: list[Fetched] = []
        while (task := await queue.get()) is not None:
            if batch and not task.done() and sum(f.size or 0 for f in batch) >= SEND_WITHOUT_WAITING:
                batch = await self._flush(batch)
            fetched = await task
            if fetched.deferred:
                deferred.append(fetched.item)
                continue
            if fetched.upload is None:
                await self._sender.skip(fetched)
                continue
            if batch and (_album_group(batch[0]) != _album_group(fetched) or len(batch) == ALBUM_SIZE):
                batch = await self._flush(batch)
            batch.append(fetched)
            if len(batch) == ALBUM_SIZE:
                batch = await self._flush(batch)
        if batch:
            await self._flush(batch)
        return deferred

    async def _flush(self, batch: list[Fetched]) -> list[Fetched]:
        """Send the batch; returns the next (empty) one."""
        await self._sender.send(batch)
        return []


def _album_group(fetched: Fetched) -> str:
    """Photos and videos share albums; documents only go with documents."""
    assert fetched.upload is not None
    return "document" if fetched.upload.kind == "document" else "media"
