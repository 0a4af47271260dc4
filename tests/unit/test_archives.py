"""The archive packer: ZIP files of stored originals, each within the limit, members in pick order under safe,
unique names; an item that does not fit starts the next archive."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

from bot.delivery.archives import OVERHEAD, Archive, ArchivePacker
from bot.delivery.fetching import Fetched
from bot.telegram_send import Upload
from storage.picks import PickItem

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
