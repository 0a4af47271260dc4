"""Delivery slots taken in turn with their place in line, and the temp byte budget."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from bot.delivery import capacity, pipeline, thumbnails
from bot.delivery.capacity import DeliverySlots, TempSpace
from bot.delivery.fetching import Fetched, MediaFetcher, Room
from bot.delivery.pipeline import Pipeline
from bot.delivery.repeats import Repeats
from bot.delivery.reporting import DeliveryReport
from bot.delivery.run import LOCAL_UPLOAD_LIMIT
from bot.delivery.sending import BatchSender
from bot.delivery.target import DeliveryTarget
from bot.google.errors import MediaUnavailable
from bot.google.picker import PickedMediaItem, PickerClient, Reserve
from bot.telegram_send import Upload
from storage.picks import PickItem, PickSession


async def test_slots_are_taken_in_turn_and_the_line_says_where_each_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "QUEUE_CHECK_EVERY", 0.01)
    slots = DeliverySlots(2)
    seen: dict[str, list[int]] = {"c": [], "d": []}
    order: list[str] = []

    async def deliver(name: str, hold: asyncio.Event) -> None:
        async def waiting(position: int) -> None:
            seen[name].append(position)

        await slots.take(waiting)
        order.append(name)
        await hold.wait()
        slots.give_back()

    holds = {name: asyncio.Event() for name in "abcd"}
    tasks = [asyncio.create_task(deliver(name, holds[name])) for name in "abcd"]
    await asyncio.sleep(0.05)
    assert order == ["a", "b"] and slots.waiting == 2
    assert seen["c"][-1] == 1 and seen["d"][-1] == 2
    holds["a"].set()
    await asyncio.sleep(0.05)
    assert order == ["a", "b", "c"] and seen["d"][-1] == 1  # d moved up
    for hold in holds.values():
        hold.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"] and slots.waiting == 0


async def test_a_delivery_giving_up_its_place_leaves_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "QUEUE_CHECK_EVERY", 0.01)
    slots = DeliverySlots(1)

    async def nothing(position: int) -> None:
        return None

    await slots.take(nothing)
    waiter = asyncio.create_task(slots.take(nothing))
    await asyncio.sleep(0.03)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.waiting == 0
    slots.give_back()
    await asyncio.wait_for(slots.take(nothing), 1.0)  # the slot came back, not to the one that left


async def test_the_temp_budget_is_reserved_in_turn_and_shrinks_to_what_was_written(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=100, min_free=0)
    first = await space.reserve(60)
    second = asyncio.create_task(space.reserve(60))
    third = asyncio.create_task(space.reserve(10))  # fits, but waits its turn behind the second
    await asyncio.sleep(0.01)
    assert not second.done() and not third.done() and space.used == 60
    first.shrink(30)  # the download wrote 30 of the 60 it might have
    await asyncio.sleep(0.01)
    assert second.done() and third.done() and space.used == 100
    first.release()
    first.release()  # twice is once
    second.result().release()
    third.result().release()
    assert space.used == 0


async def test_one_reservation_bigger_than_the_budget_goes_alone(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=100, min_free=0)
    big = await space.reserve(500)
    small = asyncio.create_task(space.reserve(1))
    await asyncio.sleep(0.01)
    assert not small.done()
    big.release()
    await asyncio.wait_for(small, 1.0)


async def test_the_free_space_floor(tmp_path: Path) -> None:
    assert not TempSpace(tmp_path, budget=1, min_free=0).disk_low()
    assert TempSpace(tmp_path, budget=1, min_free=10**18).disk_low()


class FakeFetcher:
    """Downloads `size` bytes per item into `folder`, a little slowly; each may write at most `most`."""

    def __init__(self, folder: Path, size: int, most: int) -> None:
        self.folder, self.size, self.most = folder, size, most

    def most_bytes(self) -> int:
        return self.most

    async def fetch(self, item: PickItem, room: Room) -> Fetched:
        await room(self.most)
        await asyncio.sleep(0.002)
        path = self.folder / str(item.position)
        path.write_bytes(b"x" * self.size)
        return Fetched(item, upload=Upload(item.position, path, path.name, "video"), size=self.size)


class FakeSender:
    """Sends slowly; notes each batch's positions and the bytes waiting in the folder at that moment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.batches: list[list[int]] = []
        self.waiting: list[int] = []

    async def send(self, batch: list[Fetched]) -> None:
        self.waiting.append(sum(path.stat().st_size for path in self.folder.iterdir()))
        await asyncio.sleep(0.01)
        self.batches.append([fetched.item.position for fetched in batch])
        for fetched in batch:
            fetched.remove_file()


class FakeReport:
    async def downloaded(self) -> None:
        return None


async def run_pipeline(folder: Path, space: TempSpace, size: int, most: int, count: int) -> FakeSender:
    sender = FakeSender(folder)
    pipeline = Pipeline(
        cast(MediaFetcher, FakeFetcher(folder, size, most)),
        cast(BatchSender, sender),
        cast(DeliveryReport, FakeReport()),
        space,
    )
    items = [PickItem(n, f"m{n}", "VIDEO", f"v{n}.mp4", "video/mp4", 1, 1) for n in range(count)]
    assert await pipeline.run(items) == []
    return sender


async def test_small_items_still_go_as_full_albums(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=10**9, min_free=0)
    sender = await run_pipeline(tmp_path, space, size=1000, most=50_000, count=20)
    assert sender.batches == [list(range(10)), list(range(10, 20))]
    assert space.used == 0 and list(tmp_path.iterdir()) == []


async def test_downloads_waiting_for_their_upload_are_bounded_in_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "AHEAD_BYTES", 3000)
    monkeypatch.setattr(pipeline, "SEND_WITHOUT_WAITING", 10**9)  # only the look-ahead makes it send early
    space = TempSpace(tmp_path, budget=10**9, min_free=0)
    sender = await asyncio.wait_for(run_pipeline(tmp_path, space, size=1000, most=1000, count=20), 10)
    assert [n for batch in sender.batches for n in batch] == list(range(20))
    # What waits: within AHEAD_BYTES, plus the downloads under way and the one that crossed the line.
    assert max(sender.waiting) <= 3000 + (pipeline.DOWNLOADS_IN_FLIGHT + 1) * 1000
    assert len(sender.batches) > 2  # the albums went out before they were full rather than wait forever


async def test_a_budget_smaller_than_the_look_ahead_never_deadlocks(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=2500, min_free=0)
    used: list[int] = []
    give_back = space.give_back

    def watched(size: int) -> None:
        give_back(size)
        used.append(space.used)

    space.give_back = watched  # type: ignore[method-assign]
    sender = await asyncio.wait_for(run_pipeline(tmp_path, space, size=1000, most=1200, count=20), 10)
    assert [n for batch in sender.batches for n in batch] == list(range(20))
    assert max(used) <= 2500 and max(sender.waiting) <= 2500 and space.used == 0


class BigFiles:
    """Google as the fetcher sees it, announcing `announced` bytes for every item: each download holds its answer
    open until `together` downloads have their room at once, then writes a few bytes."""

    def __init__(self, announced: int, together: int, space: TempSpace) -> None:
        self.announced, self.together, self.space = announced, together, space
        self.rooms: list[int] = []
        self.running = 0
        self.used_when_together = 0
        self.all_there = asyncio.Event()

    async def list_items(self, user_id: int, session_id: str) -> list[PickedMediaItem]:
        url = "https://video-downloads.googleusercontent.com/"
        return [
            PickedMediaItem(f"m{n}", "VIDEO", url + str(n), "video/mp4", f"v{n}.mp4", 1, 1, "READY") for n in (1, 2)
        ]

    async def download(self, user_id: int, url: str, dest: Path, limit: int, reserve: Reserve | None = None) -> int:
        if not url.endswith("=dv"):
            raise MediaUnavailable("no thumbnail here")  # the video goes without one
        assert reserve is not None
        self.rooms.append(await reserve(self.announced))
        self.running += 1
        if self.running == self.together:
            self.used_when_together = self.space.used
            self.all_there.set()
        await self.all_there.wait()
        dest.write_bytes(b"v" * 10)
        return 10


async def test_in_local_mode_two_big_downloads_run_at_once_under_the_default_budget(tmp_path: Path) -> None:
    """Each download holds what Google announced, not the 2000 MB upload limit: two 800 MB videos fit the default
    2000 MB budget together (before, each held 2000 MB and the second waited for the first to be uploaded)."""
    space = TempSpace(tmp_path, budget=2000 * 1_000_000, min_free=0)
    google = BigFiles(800_000_000, together=2, space=space)
    session = PickSession(
        1, "gsid", 111, 111, "delivering", "https://photos.google.com/picker/x", "photos", 5.0, 0.0, 1e12,
        None, None, None, None, False, 111, 111, 111, None, None, None, None, None, False, 0.0, "none",
    )  # fmt: skip
    no_memory = Repeats(None, cast(DeliveryTarget, None))  # DEDUP_DAYS=0: the target is never asked
    fetcher = MediaFetcher(cast(PickerClient, google), session, tmp_path, LOCAL_UPLOAD_LIMIT, space, no_memory)
    await fetcher.list_patiently()
    sender = FakeSender(tmp_path)
    run = Pipeline(fetcher, cast(BatchSender, sender), cast(DeliveryReport, FakeReport()), space)
    items = [PickItem(n, f"m{n}", "VIDEO", f"v{n}.mp4", "video/mp4", 1, 1) for n in (1, 2)]
    assert await asyncio.wait_for(run.run(items), 10) == []
    assert google.rooms == [800_000_000, 800_000_000]
    assert google.used_when_together == 2 * (800_000_000 + thumbnails.MAX_BYTES)
    assert [n for batch in sender.batches for n in batch] == [1, 2] and space.used == 0


class Announced(FakeFetcher):
    """Each item's download announces its own size (by position), then writes it."""

    def __init__(self, folder: Path, sizes: list[int]) -> None:
        super().__init__(folder, 0, max(sizes))
        self.sizes = sizes

    async def fetch(self, item: PickItem, room: Room) -> Fetched:
        await room(self.sizes[item.position])
        path = self.folder / str(item.position)
        path.write_bytes(b"x" * self.sizes[item.position])
        return Fetched(item, upload=Upload(item.position, path, path.name, "video"), size=self.sizes[item.position])


async def test_a_download_waiting_for_bytes_the_album_holds_gets_the_album_sent_first(tmp_path: Path) -> None:
    """The third download's announced size fits only once the first two are uploaded: the album they wait in goes
    out unfilled rather than wait for the third, which waits for its bytes."""
    space = TempSpace(tmp_path, budget=2500, min_free=0)
    sender = FakeSender(tmp_path)
    fetcher = Announced(tmp_path, [1000, 1000, 2000])
    run = Pipeline(cast(MediaFetcher, fetcher), cast(BatchSender, sender), cast(DeliveryReport, FakeReport()), space)
    items = [PickItem(n, f"m{n}", "VIDEO", f"v{n}.mp4", "video/mp4", 1, 1) for n in range(3)]
    assert await asyncio.wait_for(run.run(items), 10) == []
    assert sender.batches == [[0, 1], [2]] and max(sender.waiting) <= 2500 and space.used == 0
