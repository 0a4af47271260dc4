"""Archive delivery (a chat whose /settings chose Archive (ZIP)): the original files, in pick order, written into
ZIP files of at most the upload limit as their downloads arrive, each sent as one document.

Members are stored, not compressed (ZIP_STORED): photos and videos are compressed already. Each download's own
file (the fetcher keeps it to retry a cut answer and to name it by its bytes) is copied into the open archive in
chunks and removed at once; its temp bytes stay reserved until the archive is sent, so an archive counts against
TEMP_BUDGET_MB like the album it replaces. A full archive is sent while the next one is written, so that the disk
and the uplink work at once (written after its upload, each archive's copy left the uplink idle: 1.49x the floor);
one archive is sent at a time, in pick order. An archive's items are handed to Telegram, confirmed, refused or
left in doubt together (`BatchSender.send_archive`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from bot.delivery.fetching import Fetched
from bot.telegram_send import Upload

log = logging.getLogger(__name__)

# ZIP's fixed sizes (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16): each member has a local header and a central directory
# entry, each followed by its name; the archive ends with one end-of-central-directory record. zipfile writes no
# extra fields for members under 2 GB (ZIP64 only beyond), and no data descriptor into a seekable file.
LOCAL_HEADER = 30
CENTRAL_HEADER = 46
END_RECORD = 22
NAME_BYTES = 180  # of a member's name (UTF-8), before a " (2)" that tells same names apart
OVERHEAD = LOCAL_HEADER + CENTRAL_HEADER + 2 * (NAME_BYTES + 12) + END_RECORD  # the most a lone member adds
COPY_CHUNK = 1 << 20

ArchiveKind = Literal["photos", "videos", "mixed"]


@dataclass(frozen=True)
class ArchiveRange:
    """What an archive's caption says: items `first`–`last` (pick positions from 1) of `total`."""

    first: int
    last: int
    total: int
    kind: ArchiveKind


@dataclass(frozen=True)
class Archive:
    upload: Upload  # the ZIP file, sent as a document
    members: list[Fetched]  # the items it holds, in pick order
    range: ArchiveRange


class ArchivePacker:
    """Packs fetched items into ZIP files of at most `limit` bytes in `workdir`; each full one goes to `send` while the
    next one is written."""

    def __init__(self, workdir: Path, limit: int, send: Callable[[Archive], Coroutine[Any, Any, None]]) -> None:
        self._workdir = workdir
        self._limit = limit
        self._send = send
        self.total = 0  # items in the pick, for the captions
        self._file: BinaryIO | None = None
        self._zip: zipfile.ZipFile | None = None
        self._path: Path | None = None
        self._members: list[Fetched] = []
        self._names: set[str] = set()
        self._size = END_RECORD  # of the archive once closed
        self._sending: asyncio.Task[None] | None = None  # the full archive being sent while the next is written

    @property
    def holding(self) -> bool:
        return bool(self._members)

    async def add(self, fetched: Fetched) -> None:
        """Write the item into the open archive. When it would not fit, the archive is closed and sent in the
        background (once the one before it is sent) and the item starts the next. Raises what the send before
        raised (the chat is gone, the bot stops) as soon as it is known."""
        assert fetched.upload is not None and fetched.size is not None
        if self._sending is not None and self._sending.done():
            await self._sent()
        name = self._name_for(fetched.upload.filename)
        grows = LOCAL_HEADER + CENTRAL_HEADER + 2 * len(name.encode()) + fetched.size
        if self._members and self._size + grows > self._limit:
            full = self._close()
            assert full is not None
            await self._sent()
            self._sending = asyncio.create_task(self._send(full))
            name = self._name_for(fetched.upload.filename)
        if self._zip is None:
            self._open(fetched.item.position)
        await asyncio.to_thread(self._write, fetched.upload.path, name, fetched.size)
        fetched.upload.path.unlink(missing_ok=True)  # its bytes are in the archive; its reservation stays held
        self._names.add(name)
        self._members.append(fetched)
        self._size += grows

    async def flush(self) -> None:
        """Close the open archive, if any, and send it after the one being sent: every archive is sent on return."""
        archive = self._close()
        await self._sent()
        if archive is not None:
            await self._send(archive)

    def discard(self) -> None:
        """Close the open archive's file (its members' files are gone already) and start afresh. An archive still
        being sent is stopped: the run ends (it failed or was cancelled), its items stay pending, marked in doubt
        when they were handed to Telegram already."""
        task, self._sending = self._sending, None
        if task is not None and not task.cancel() and not task.cancelled() and task.exception() is not None:
            log.info("an archive's send had failed as its run ended (%s)", type(task.exception()).__name__)
        self._reset()

    async def _sent(self) -> None:
        """Wait for the archive being sent; what its send raised is raised here."""
        try:
            if self._sending is not None:
                await self._sending
        finally:
            self._sending = None

    def _close(self) -> Archive | None:
        """The open archive, closed and named; None when none is open."""
        if self._zip is None or self._path is None:
            return None
        members, path = self._members, self._path
        self._reset()
        first, last = members[0].item.position + 1, members[-1].item.position + 1
        kinds = {fetched.item.kind for fetched in members}
        kind: ArchiveKind = "mixed" if len(kinds) > 1 else "videos" if kinds == {"VIDEO"} else "photos"
        width = len(str(self.total))
        label = {"photos": "photos", "videos": "videos", "mixed": "media"}[kind]
        filename = f"{label}-{first:0{width}d}-{last:0{width}d}.zip"
        upload = Upload(members[0].item.position, path, filename, "document")
        return Archive(upload, members, ArchiveRange(first, last, self.total, kind))

    def _reset(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._file is not None:
            self._file.close()
        self._file = self._zip = self._path = None
        self._members, self._names, self._size = [], set(), END_RECORD

    def _open(self, position: int) -> None:
        self._path = self._workdir / f"archive-{position:05d}.zip"
        # Someone's photos: readable by the bot's user only, like every download.
        self._file = os.fdopen(os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600), "w+b")
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_STORED)

    def _write(self, source: Path, name: str, size: int) -> None:
        assert self._zip is not None
        info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        info.file_size = size
        with source.open("rb") as src, self._zip.open(info, "w") as dest:
            shutil.copyfileobj(src, dest, COPY_CHUNK)

    def _name_for(self, filename: str) -> str:
        """The file's own name, safe as a member's (no folders) and unique in the archive."""
        base = os.path.basename(filename.replace("\\", "/")).strip()
        if base in ("", ".", ".."):
            base = "file"
        stem, suffix = os.path.splitext(base)
        stem = stem.encode()[: NAME_BYTES - len(suffix.encode()[:20])].decode(errors="ignore")
        suffix = suffix.encode()[:20].decode(errors="ignore")
        name, number = stem + suffix, 1
        while name in self._names:
            number += 1
            name = f"{stem} ({number}){suffix}"
        return name
