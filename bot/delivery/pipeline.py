"""The download → upload pipeline: downloads run a few at a time ahead of the uploads, and the sender takes
them in pick order, as albums of up to ten (or, for a chat that takes archives, the packer writes them into ZIP
files)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TypeVar

from bot.delivery.archives import ArchivePacker
from bot.delivery.capacity import Reservation, TempSpace
from bot.delivery.fetching import Fetched, MediaFetcher
from bot.delivery.reporting import DeliveryReport
from bot.delivery.sending import BatchSender
from storage.picks import PickItem

ALBUM_SIZE = 10
DOWNLOADS_IN_FLIGHT = 4
# Downloaded bytes waiting for their upload, beyond which no new download starts: an album being uploaded
# (ALBUM_MAX_MB, 200 by default) and the next one downloading, so both links stay busy (100 MB left the
# downloads idle while each album uploaded: 20 videos took 1.22x the floor instead of 1.13x); bounded
# however big the items are, and TEMP_BUDGET_MB bounds all deliveries together.
AHEAD_BYTES = 500_000_000
# Ready bytes that are sent at once, without waiting for the next download to fill the album: an album
# of photos at 2560 px (≈1.5 MB each) fills long before this; a big video does not keep the uplink idle.
SEND_WITHOUT_WAITING = 20_000_000

Queue = asyncio.Queue[asyncio.Task[Fetched] | None]
T = TypeVar("T")


class Pipeline:
    def __init__(
        self,
        fetcher: MediaFetcher,
        sender: BatchSender,
        report: DeliveryReport,
        space: TempSpace,
        packer: ArchivePacker | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._sender = sender
        self._packer = packer  # archives instead of albums
        self._report = report
        self._space = space
        self._held: list[Reservation] = []  # this run's, until released
        self._starved = asyncio.Event()  # set while a download waits for temp bytes (or to be within AHEAD_BYTES)
        self._starving = 0  # how many wait so

    async def run(self, pending: list[PickItem]) -> list[PickItem]:
        """Fetch and send `pending` in order; returns the videos Google is still processing."""
        queue: Queue = asyncio.Queue()
        slots = asyncio.Semaphore(DOWNLOADS_IN_FLIGHT)

        async def fetch(item: PickItem, previous: asyncio.Future[None], turn: asyncio.Future[None]) -> Fetched:
            """`previous` is done once the items before have their room; `turn`, once this one has its own too."""
            held: list[Reservation] = []

            def pass_turn(_: object = None) -> None:
                if not turn.done():
                    turn.set_result(None)

            async def room(size: int) -> Reservation:
                # In pick order, the order of sending, unless it fits now with room left for an earlier item: a later
                # item must never hold the bytes an earlier one waits for (sent after it, they would never be freed).
                if not self._space.free_for(size, keep=self._fetcher.most_bytes()):
                    await previous
                held.append(await self._room_for(size))
                previous.add_done_callback(pass_turn)
                return held[0]

            try:
                fetched = await self._fetcher.fetch(item, room)
            except BaseException:
                for space in held:
                    space.release()
                raise
            finally:
                slots.release()
                if not turn.done():  # it took no room: the next item's turn comes after the previous one's
                    previous.add_done_callback(pass_turn)
            if held:
                fetched.hold(held[0])
            await self._report.downloaded()
            return fetched

        async def produce() -> None:
            previous: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            previous.set_result(None)
            for item in pending:
                await slots.acquire()
                await self._within_look_ahead()
                turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                await queue.put(asyncio.create_task(fetch(item, previous, turn)))
                previous = turn
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
            if self._packer is not None:
                self._packer.discard()
            for space in self._held:
                space.release()
            self._held.clear()

    async def _within_look_ahead(self) -> None:
        """Wait, before the next download starts, until this delivery's downloaded bytes are within AHEAD_BYTES."""
        self._held = [space for space in self._held if not space.released]
        if self._ahead() >= AHEAD_BYTES:
            with self._waiting_for_bytes():
                while self._ahead() >= AHEAD_BYTES:
                    await self._space.freed()

    async def _room_for(self, size: int) -> Reservation:
        """Reserve `size` temp bytes for a download whose size Google just announced."""
        waiting = contextlib.nullcontext() if self._space.free_for(size) else self._waiting_for_bytes()
        with waiting:
            space = await self._space.reserve(size)
        self._held.append(space)
        return space

    @contextlib.contextmanager
    def _waiting_for_bytes(self) -> Iterator[None]:
        """Meanwhile the consumer sends what it holds rather than wait to fill an album."""
        self._starving += 1
        self._starved.set()
        try:
            yield
        finally:
            self._starving -= 1
            if not self._starving:
                self._starved.clear()

    def _ahead(self) -> int:
        return sum(space.size for space in self._held if space.written and not space.released)

    async def _consume(self, queue: Queue) -> list[PickItem]:
        deferred: list[PickItem] = []
        batch: list[Fetched] = []
        while (task := await self._next(queue, batch)) is not None:
            if batch and not task.done() and sum(f.size or 0 for f in batch) >= SEND_WITHOUT_WAITING:
                await self._flush(batch)
            fetched = await self._result(task, batch)
            if fetched.deferred:
                deferred.append(fetched.item)
                continue
            if fetched.upload is None:
                await self._sender.skip(fetched)
                continue
            if self._packer is not None and fetched.upload.file_id is None:  # a copy Telegram holds goes as itself
                await self._packer.add(fetched)
                continue
            if batch and (_album_group(batch[0]) != _album_group(fetched) or len(batch) == ALBUM_SIZE):
                await self._flush(batch)
            batch.append(fetched)
            if len(batch) == ALBUM_SIZE:
                await self._flush(batch)
        await self._send_held(batch)
        return deferred

    async def _next(self, queue: Queue, batch: list[Fetched]) -> asyncio.Task[Fetched] | None:
        """The next download; the batch is sent first when the producer starves waiting for the bytes it holds."""
        if not self._holding(batch) or not queue.empty():
            return await queue.get()
        getter = asyncio.create_task(queue.get())
        try:
            return await self._unless_starved(getter, batch)
        except BaseException:
            if getter.done() and not getter.cancelled() and (task := getter.result()) is not None:
                task.cancel()
            getter.cancel()
            raise

    async def _result(self, task: asyncio.Task[Fetched], batch: list[Fetched]) -> Fetched:
        """The download's result; what is held is sent first should the download wait for temp bytes."""
        if task.done() or not self._holding(batch):
            return await task
        try:
            return await self._unless_starved(task, batch)
        except BaseException:
            task.cancel()
            raise

    def _holding(self, batch: list[Fetched]) -> bool:
        """An album being filled or an archive being written."""
        return bool(batch) or (self._packer is not None and self._packer.holding)

    async def _unless_starved(self, waited: asyncio.Task[T], batch: list[Fetched]) -> T:
        """Wait for `waited`, sending what is held meanwhile should the producer starve first (waiting for temp
        bytes that the held items keep); should this fail or be cancelled, the caller cleans `waited` up."""
        starved = asyncio.create_task(self._starved.wait())
        try:
            await asyncio.wait([waited, starved], return_when=asyncio.FIRST_COMPLETED)
            if not waited.done():
                await self._send_held(batch)
            return await waited
        finally:
            starved.cancel()

    async def _send_held(self, batch: list[Fetched]) -> None:
        """Send what is held: the album being filled, or the archive being written."""
        if batch:
            await self._flush(batch)
        if self._packer is not None:
            await self._packer.flush()

    async def _flush(self, batch: list[Fetched]) -> None:
        """Send the batch and empty it."""
        sending = list(batch)
        batch.clear()
        await self._sender.send(sending)


def _album_group(fetched: Fetched) -> str:
    """Photos and videos share albums; documents only go with documents."""
    assert fetched.upload is not None
    return "document" if fetched.upload.kind == "document" else "media"
