"""The archive packer: ZIP files of stored originals, each within the limit, members in pick order under safe,
unique names; an item that does not fit starts the next archive."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import zipfile
from pathlib import Path

import pytest

from bot import texts
from bot.delivery.archives import OVERHEAD, Archive, ArchivePacker
from bot.delivery.fetching import Fetched
from bot.delivery.offers import estimate
from bot.telegram_send import Upload
from bot.texts import speaker
from storage.archive_offers import ArchiveOfferRepository
from storage.database import Database
from storage.picks import PickItem, PickRepository, Route
from tests.unit.conftest import waiting_session

LIMIT = 200_000


def fetched(folder: Path, position: int, size: int, name: str, kind: str = "PHOTO") -> Fetched:
    path = folder / f"{position:05d}"
    path.write_bytes(random.Random(position).randbytes(size))
    item = PickItem(position, f"m{position}", kind, name, "image/jpeg", None, None)
    return Fetched(item, upload=Upload(position, path, name, "document"), size=size)


async def test_archives_stay_within_the_limit_and_hold_the_files_byte_for_byte(tmp_path: Path) -> None:
    sent: list[tuple[Archive, int, dict[str, str]]] = []

    async def send(archive: Archive) -> None:
        with zipfile.ZipFile(archive.upload.path) as opened:
            assert all(info.compress_type == zipfile.ZIP_STORED for info in opened.infolist())
            members = {info.filename: hashlib.sha256(opened.read(info)).hexdigest() for info in opened.infolist()}
        sent.append((archive, archive.upload.path.stat().st_size, members))

    packer = ArchivePacker(tmp_path, LIMIT, send)
    packer.total = 40
    sizes = [random.Random(n).randrange(1, 60_000) for n in range(39)] + [LIMIT - OVERHEAD]  # the last alone
    names = ["IMG.jpg", "../../etc/passwd", "a\\b\\VID.mp4", "", "é" * 300 + ".jpg"]
    items = [fetched(tmp_path, n, size, names[n % len(names)]) for n, size in enumerate(sizes)]
    expected = {
        n: hashlib.sha256(item.upload.path.read_bytes()).hexdigest() for n, item in enumerate(items) if item.upload
    }
    for item in items:
        await packer.add(item)
    await packer.flush()

    assert len(sent) > 2
    assert all(size <= LIMIT for _, size, _ in sent)
    assert sent[-1][0].range.first == sent[-1][0].range.last == 40  # too big to share: alone, and it fits
    positions = [f.item.position for archive, _, _ in sent for f in archive.members]
    assert positions == list(range(40))  # each once, in pick order
    for archive, _, members in sent:
        assert sorted(members.values()) == sorted(expected[f.item.position] for f in archive.members)
        assert all("/" not in name and "\\" not in name and len(name.encode()) <= 200 for name in members)
        assert archive.range.total == 40 and archive.range.kind == "photos"
        assert archive.range.first == archive.members[0].item.position + 1
    assert "IMG (2).jpg" in sent[0][2]  # same names told apart
    assert not [p for p in tmp_path.iterdir() if p.name.isdigit()]  # each download's file went into its archive


def test_the_offer_says_how_long_albums_and_archives_would_take() -> None:
    """The issue's example: 400 phone photos in a group (20 messages a minute, each album item counting)."""
    photos = [PickItem(n, f"m{n}", "PHOTO", f"IMG_{n}.jpg", "image/jpeg", 4032, 3024) for n in range(400)]
    figures = estimate(photos, per_minute=20, upload_limit=50_000_000)
    t = speaker("en")
    text = t.plural(
        texts.ARCHIVE_OFFER,
        figures.items,
        albums=t.duration(figures.album_seconds),
        archives=t.plural(texts.ARCHIVE_FILES, figures.archives),
        zips=t.duration(figures.archive_seconds),
    )
    assert (
        text == "⏱ 400 photos take about 20 minutes here as albums — send as 25 ZIP files in about 2 minutes instead?"
    )
    privately = estimate(photos, per_minute=60, upload_limit=50_000_000)  # 1 message a second
    assert round(privately.album_seconds) == 390 and privately.archive_seconds < privately.album_seconds
    few = estimate(photos[:10], per_minute=20, upload_limit=50_000_000)  # one album: no flood wait at all
    assert few.album_seconds < 3 * 60


async def test_an_offer_is_answered_once_by_its_picker_or_closed_by_silence(db: Database) -> None:
    picks, offers = PickRepository(db), ArchiveOfferRepository(db)
    answered = await waiting_session(picks, time.time() + 600)
    await offers.open(answered.id, until=time.time() + 120)
    await offers.open(answered.id, until=time.time() + 999)  # asked once: asking again changes nothing
    assert not await offers.answer(answered.id, 2, "archives")  # not the picker's to answer
    assert await offers.answer(answered.id, 1, "archives")
    assert not await offers.answer(answered.id, 1, "albums")  # answered once
    assert await offers.close(answered.id) == "archives"  # the answer came before the deadline: it stands
    session = await picks.get_session(answered.id)
    assert session is not None and session.delivery_mode == "archive"

    silent = await picks.create_session(
        google_session_id="g2",
        user_id=1,
        route=Route(1, 1, 1, 1),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=time.time() + 600,
        expire_time=time.time() + 600,
        holder="test",
        lease_seconds=30,
    )
    await offers.open(silent.id, until=time.time() + 120)
    assert await offers.close(silent.id) == "silence"
    assert not await offers.answer(silent.id, 1, "archives")  # too late
    session = await picks.get_session(silent.id)
    assert session is not None and session.delivery_mode == "photos"


async def test_an_archive_is_sent_while_the_next_is_written_one_at_a_time_in_pick_order(tmp_path: Path) -> None:
    """The disk and the uplink work at once: adding goes on while an archive is being sent, and waits only when the
    next archive is full before the one being sent is (one send at a time, so they arrive in pick order)."""
    uploads = {first: asyncio.Event() for first in (1, 4, 7)}  # an archive's upload ends when its event is set
    under_way: list[int] = []
    sent: list[list[int]] = []

    async def send(archive: Archive) -> None:
        under_way.append(archive.range.first)
        assert len(under_way) == 1, "two archives sent at once"
        await uploads[archive.range.first].wait()
        under_way.remove(archive.range.first)
        sent.append([f.item.position for f in archive.members])

    packer = ArchivePacker(tmp_path, LIMIT, send)
    packer.total = 9
    items = [fetched(tmp_path, n, 60_000, f"IMG_{n}.jpg") for n in range(9)]  # three fit in an archive
    async with asyncio.timeout(60):  # not a measure: a packer that waits for the upload would wait forever
        for item in items[:6]:
            await packer.add(item)  # item 3 starts the second archive; the first one is sent meanwhile
    assert under_way == [1] and not sent
    assert not any(f.upload.path.exists() for f in items[:6] if f.upload)  # 3-5 were written during that upload

    adding = asyncio.create_task(packer.add(items[6]))  # the second archive is full: it waits for the first
    for _ in range(20):
        await asyncio.sleep(0)
    assert not adding.done() and under_way == [1]
    uploads[1].set()
    await adding
    assert sent == [[0, 1, 2]] and under_way == [4]
    await packer.add(items[7])
    await packer.add(items[8])
    uploads[4].set()
    uploads[7].set()
    await packer.flush()  # every archive is sent when it returns
    assert sent == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and not under_way


class ChatGone(Exception):
    pass


async def test_a_failed_send_stops_the_packing_and_a_discarded_one_is_cancelled(tmp_path: Path) -> None:
    async def refused(archive: Archive) -> None:
        raise ChatGone

    packer = ArchivePacker(tmp_path, LIMIT, refused)
    items = [fetched(tmp_path, n, 60_000, f"IMG_{n}.jpg") for n in range(6)]
    for item in items[:4]:
        await packer.add(item)
    with pytest.raises(ChatGone):  # raised by the next add once the send has failed: nothing more is written
        await packer.add(items[4])
    assert items[4].upload is not None and items[4].upload.path.exists()
    packer.discard()  # as the pipeline does when the run ends

    cancelled = asyncio.Event()

    async def hangs(archive: Archive) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    packer = ArchivePacker(tmp_path, LIMIT, hangs)
    more = [fetched(tmp_path, n, 60_000, f"IMG_{n}.jpg") for n in range(10, 14)]
    for item in more:
        await packer.add(item)
    packer.discard()  # the run ends while an archive is being sent: that send stops with it
    await cancelled.wait()
