"""What all deliveries share, so that many users at once cannot exhaust it: delivery slots, taken in turn,
and the temp folder's byte budget with a free-space floor."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

QUEUE_CHECK_EVERY = 1.0  # s between looks at a waiting delivery's place in line


class DeliverySlots:
    """At most `size` deliveries run at once; the others wait in line, first come first served."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._line: list[asyncio.Future[None]] = []

    async def take(self, on_waiting: Callable[[int], Awaitable[None]]) -> None:
        """Take a slot. While waiting, `on_waiting(position)` is called about every QUEUE_CHECK_EVERY s with
        the place in line (1: next); it may raise to give up waiting."""
        if self._free and not self._line:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            while not turn.done():
                await on_waiting(self._line.index(turn) + 1)
                await asyncio.wait([turn], timeout=QUEUE_CHECK_EVERY)
        except BaseException:
            if turn in self._line:
                self._line.remove(turn)
            elif turn.done():
                self.give_back()  # the slot was handed over just as the wait ended: pass it on
            raise

    def give_back(self) -> None:
        if self._line:
            self._line.pop(0).set_result(None)
        else:
            self._free += 1

    @property
    def waiting(self) -> int:
        return len(self._line)


class Reservation:
    """Bytes of the temp budget held for one item's files: all it may write while downloading, then what it
    wrote; released when its files are gone."""

    def __init__(self, space: TempSpace, size: int) -> None:
        self._space = space
        self.size = size
        self.written = False
        self.released = False

    def shrink(self, size: int) -> None:
        """The download ended having written `size` bytes: the rest goes back."""
        self.written = True
        if not self.released and size < self.size:
            self._space.give_back(self.size - size)
            self.size = size

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._space.give_back(self.size)


class TempSpace:
    """The temp folder shared by all deliveries: at most `budget` bytes reserved at once (in turn, first
    come first served; one reservation bigger than the budget goes alone), and a download starts only while
    the disk keeps `min_free` bytes free."""

    def __init__(self, folder: Path, budget: int, min_free: int) -> None:
        self.folder = folder
        self._budget = budget
        self._min_free = min_free
        self.used = 0
        self._line: list[tuple[int, asyncio.Future[None]]] = []
        self._freed = asyncio.Event()

    async def reserve(self, size: int) -> Reservation:
        if self.free_for(size):
            self.used += size
            return Reservation(self, size)
        turn = asyncio.get_running_loop().create_future()
        entry = (size, turn)
        self._line.append(entry)
        try:
            await turn
        except BaseException:
            if entry in self._line:
                self._line.remove(entry)
            elif turn.done() and not turn.cancelled():
                self.give_back(size)
            raise
        return Reservation(self, size)

    def free_for(self, size: int, keep: int = 0) -> bool:
        """`size` bytes would be reserved at once (leaving `keep` bytes of the budget free)."""
        if keep:
            return not self._line and self.used + size + keep <= self._budget
        return not self._line and self._fits(size)

    def disk_low(self) -> bool:
        """Less than the floor free on the temp folder's disk."""
        return shutil.disk_usage(self.folder).free < self._min_free

    async def freed(self) -> None:
        """Wait until some reservation gives bytes back."""
        await self._freed.wait()

    def give_back(self, size: int) -> None:
        self.used -= size
        while self._line and self._fits(self._line[0][0]):
            size, turn = self._line.pop(0)
            self.used += size
            turn.set_result(None)
        self._freed.set()
        self._freed = asyncio.Event()

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self._budget
