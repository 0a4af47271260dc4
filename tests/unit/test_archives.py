"""The archive packer: ZIP files of stored originals, each within the limit, members in pick order under safe,
unique names; an item that does not fit starts the next archive."""

from __future__ import annotations

import hashlib
import random
import time
import zipfile
from pathlib import Path

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
