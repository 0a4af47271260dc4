"""Fetching picked items from Google: which rendition, fresh baseUrls, video readiness, the download itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.delivery import thumbnails
from bot.delivery.capacity import Reservation, TempSpace
from bot.delivery.file_names import name_for_file
from bot.delivery.repeats import Repeats
from bot.delivery.video_meta import read_video_meta
from bot.google.errors import GoogleError, GoogleUnavailable, MediaUnavailable, TooLarge
from bot.google.picker import PickedMediaItem, PickerClient, Reserve
from bot.outcomes import SkipReason
from bot.session_cleanup import GOOGLE_OUTAGE_PAUSES
from bot.telegram_send import SendKind, Upload
from storage.picks import PickItem, PickSession

log = logging.getLogger(__name__)

PHOTO_RENDITION = "=w2560-h2560"  # Telegram shows photos at most 2560 px; bigger bytes would be wasted
PHOTO_UPLOAD_LIMIT = 10_000_000
BASE_URL_MAX_AGE = 50 * 60.0  # Google's baseUrls live 60 minutes; re-list well before
MAX_RELISTS_FOR_REFUSALS = 10  # per delivery: baseUrls Google refused although they were not old

# Temp room for an item's files: awaited with a byte count, it holds that much of the temp budget.
Room = Callable[[int], Awaitable[Reservation]]


@dataclass(frozen=True)
class Plan:
    suffix: str
    kind: SendKind


def plan_for(item: PickItem, originals: bool) -> Plan:
    """Which rendition to fetch and how to send it."""
    if item.kind == "VIDEO":
        return Plan("=dv", "document" if originals else "video")
    if originals:
        return Plan("=d", "document")
    w, h = item.width or 0, item.height or 0
    if w and h and max(w, h) / min(w, h) > 20:
        return Plan("=d", "document")  # Telegram refuses photos with an aspect ratio over 20
    return Plan(PHOTO_RENDITION, "photo")


@dataclass
class Fetched:
    """One item after its fetch: a file ready to upload, or why there is none, or "Google is still
    processing this video" (`deferred`)."""

    item: PickItem
    upload: Upload | None = None
    size: int | None = None
    reason: SkipReason | None = None
    detail: str | None = None
    deferred: bool = False
    space: Reservation | None = None  # the temp budget its files hold
    content_hash: str | None = None  # SHA-256 of its bytes (of the chat's copy, for a repeat); None: not known

    def hold(self, space: Reservation) -> None:
        """Keep, of the budget reserved for the download, what its files take."""
        self.space = space
        if self.upload is None:
            space.release()
            return
        files = [self.upload.path if self.upload.file_id is None else None, self.upload.thumbnail]
        space.shrink(sum(path.stat().st_size for path in files if path is not None))

    def remove_file(self) -> None:
        if self.upload is not None:
            self.upload.path.unlink(missing_ok=True)
            if self.upload.thumbnail is not None:
                self.upload.thumbnail.unlink(missing_ok=True)
        if self.space is not None:
            self.space.release()


class UrlBook:
    """Fresh baseUrls for a session's items, re-listed when they get old or Google refuses one."""

    def __init__(self, picker: PickerClient, session: PickSession) -> None:
        self._picker = picker
        self._session = session
        self._items: dict[str, PickedMediaItem] = {}
        self._listed_at = 0.0
        self._listing = 0  # which listing the baseUrls in hand come from
        self._relists_for_refusals = 0
        self._lock = asyncio.Lock()

    async def load(self) -> list[PickedMediaItem]:
        async with self._lock:
            return await self._list()

    async def _list(self) -> list[PickedMediaItem]:
        items = await self._picker.list_items(self._session.user_id, self._session.google_session_id)
        self._items = {item.id: item for item in items}
        self._listed_at = time.monotonic()
        self._listing += 1
        return items

    async def relist(self) -> None:
        async with self._lock:
            await self._list()

    async def get(self, media_id: str, *, refused: int | None = None) -> tuple[PickedMediaItem | None, int]:
        """The item with a baseUrl young enough to use, and the listing that baseUrl comes from.

        `refused`: Google just refused a baseUrl from that listing, so list again — unless a newer listing
        already replaced it (one re-list per expiry, however many downloads ran into it, and however
        young the listing was), and at most MAX_RELISTS_FOR_REFUSALS times per delivery.
        """
        async with self._lock:
            age = time.monotonic() - self._listed_at
            if refused is not None and refused == self._listing:
                if self._relists_for_refusals >= MAX_RELISTS_FOR_REFUSALS:
                    return None, self._listing  # Google refuses even fresh baseUrls: stop asking
                self._relists_for_refusals += 1
                await self._list()
            elif age > BASE_URL_MAX_AGE:
                await self._list()
            return self._items.get(media_id), self._listing


class MediaFetcher:
    """Lists a session's items and downloads each into the delivery's work directory."""

    def __init__(
        self,
        picker: PickerClient,
        session: PickSession,
        workdir: Path,
        upload_limit: int,
        space: TempSpace,
        repeats: Repeats,
    ) -> None:
        self._picker = picker
        self._session = session
        self._repeats = repeats
        self._urls = UrlBook(picker, session)
        self._workdir = workdir
        self._space = space
        self._upload_limit = upload_limit
        self._originals = session.delivery_mode in ("originals", "archive")  # an archive holds the original files

    def for_archives(self, upload_limit: int) -> None:
        """From now on the original files, each at most `upload_limit` (the picker chose archives when asked)."""
        self._originals = True
        self._upload_limit = upload_limit

    async def list_patiently(self) -> list[PickedMediaItem]:
        """List the picked items, waiting out a Google outage (within the session's life): before the first
        listing the bot does not even know what was picked, so giving up would lose the whole pick."""
        pauses = iter(GOOGLE_OUTAGE_PAUSES)
        while True:
            try:
                return await self._urls.load()
            except GoogleUnavailable:
                pause = next(pauses, None)
                if pause is None or time.time() + pause >= self._session.expire_time - 60:
                    raise
                log.info("pick %s: Google is not listing the items yet; again in %.0f s", self._session.id, pause)
                await asyncio.sleep(pause)

    async def relist(self) -> None:
        await self._urls.relist()

    def most_bytes(self) -> int:
        """The most any item's download may take: the upload limit, and a video's thumbnail."""
        return self._upload_limit + thumbnails.MAX_BYTES

    async def fetch(self, item: PickItem, room: Room) -> Fetched:
        """The item, its download's temp bytes taken from `room` once Google announces its size (a copy Telegram
        holds takes none)."""
        if item.seen_hash is not None:
            return await self._again(item)
        seen = await self._repeats.seen_item(item)
        if seen is not None:  # this person sent it to this chat before: known without downloading it
            return Fetched(item, reason=SkipReason.REPEAT, content_hash=seen)
        plan = plan_for(item, self._originals)
        media, listing = await self._urls.get(item.media_id)
        if media is None:
            return Fetched(item, reason=SkipReason.UNAVAILABLE)
        # Picker reference, VideoProcessingStatus: FAILED is final; only PROCESSING is worth waiting for.
        # UNSPECIFIED (or none given) says nothing either way, so the download is tried.
        if media.type == "VIDEO" and media.processing_status == "FAILED":
            return Fetched(item, reason=SkipReason.VIDEO_FAILED)
        if media.type == "VIDEO" and media.processing_status == "PROCESSING":
            return Fetched(item, deferred=True)
        if plan.kind != "video":
            return await self._download(item, plan, media, listing, room)
        # The thumbnail comes from the same baseUrl. It is fetched beside the video, so its latency adds
        # nothing, but only once Google's answer shows the video fits and its room is held: none for one too big.
        frames: list[asyncio.Task[Path | None]] = []

        def fetch_frame() -> None:
            if not frames:  # once, however often the video's download is tried
                frames.append(asyncio.create_task(self._thumbnail(item)))

        try:
            fetched = await self._download(item, plan, media, listing, room, fetch_frame)
        except BaseException:
            for frame in frames:
                frame.cancel()
            raise
        thumbnail = await frames[0] if frames else None
        if fetched.upload is None:
            if thumbnail is not None:
                await asyncio.to_thread(thumbnail.unlink, missing_ok=True)
            return fetched
        upload = await self._with_header(fetched.upload, thumbnail)
        return Fetched(item, upload=upload, size=fetched.size, content_hash=fetched.content_hash)

    async def _again(self, item: PickItem) -> Fetched:
        """A repeat sent anyway: the chat's copy, by the file_id Telegram gave it (no download, no upload)."""
        assert item.seen_hash is not None
        copy = await self._repeats.copy_of(item.seen_hash)
        if copy is None:  # forgotten meanwhile (DEDUP_DAYS): it stays a repeat
            return Fetched(item, reason=SkipReason.REPEAT, content_hash=item.seen_hash)
        kind: SendKind = "video" if copy.kind == "video" else "document" if copy.kind == "document" else "photo"
        path = self._workdir / f"{item.position:05d}"  # never written: nothing is uploaded
        upload = Upload(item.position, path, item.filename, kind, file_id=copy.file_id)
        return Fetched(item, upload=upload, content_hash=item.seen_hash)

    async def _download(
        self,
        item: PickItem,
        plan: Plan,
        media: PickedMediaItem,
        listing: int,
        room: Room,
        on_reserved: Callable[[], None] | None = None,
    ) -> Fetched:
        path = self._workdir / f"{item.position:05d}"
        if self._space.disk_low():
            log.warning(
                "pick %s: the temp folder's disk is nearly full; item %s skipped", self._session.id, item.position
            )
            return Fetched(item, reason=SkipReason.NO_DISK_SPACE)
        extra = thumbnails.MAX_BYTES if plan.kind == "video" else 0  # the thumbnail, fetched beside the video
        held: list[Reservation] = []

        async def reserve(announced: int | None) -> int:
            """Room for the size Google announced (the upload limit when it did not say) and a video's thumbnail,
            taken once however often the download is tried: what the file may take of it. ASSUMPTION: Google's
            media server waits while the answer waits here for room; should it cut the answer, that is retried."""
            if not held:
                held.append(await room((self._upload_limit if announced is None else announced) + extra))
                if on_reserved is not None:
                    on_reserved()
            return held[0].size - extra

        try:
            size = await self._fetch_file(item, media, listing, plan.suffix, path, self._upload_limit, reserve)
        except TooLarge as exc:
            return Fetched(item, size=exc.size, reason=SkipReason.TOO_BIG, detail=str(self._upload_limit))
        except MediaUnavailable:
            return Fetched(item, reason=SkipReason.UNAVAILABLE)
        except GoogleUnavailable:
            return Fetched(item, reason=SkipReason.GOOGLE_DOWN)
        content_hash = await self._repeats.digest(path)
        if content_hash is not None and await self._repeats.seen_bytes(content_hash):
            # Someone sent the same bytes to this chat before: downloaded for nothing, but not uploaded again.
            await asyncio.to_thread(path.unlink, missing_ok=True)
            return Fetched(item, reason=SkipReason.REPEAT, content_hash=content_hash)
        kind = plan.kind
        if kind == "photo" and size > PHOTO_UPLOAD_LIMIT:
            kind = "document"
        name = name_for_file(item.filename, path)  # e.g. IMG_1234.MOV's =dv is an MP4: IMG_1234.mp4
        upload = Upload(item.position, path, name, kind, item.width, item.height)
        return Fetched(item, upload=upload, size=size, content_hash=content_hash)

    async def _fetch_file(
        self,
        item: PickItem,
        media: PickedMediaItem,
        listing: int,
        suffix: str,
        dest: Path,
        limit: int,
        reserve: Reserve | None = None,
    ) -> int:
        """Download `suffix` of the item into `dest`, listing again once when Google refuses its baseUrl (it
        may have expired); nothing is left at `dest` when it fails."""
        user = self._session.user_id
        try:
            try:
                return await self._picker.download(user, media.base_url + suffix, dest, limit, reserve)
            except MediaUnavailable:
                refreshed, _ = await self._urls.get(item.media_id, refused=listing)
                if refreshed is None:
                    raise
            return await self._picker.download(user, refreshed.base_url + suffix, dest, limit, reserve)
        except GoogleError:
            await asyncio.to_thread(dest.unlink, missing_ok=True)
            raise

    @staticmethod
    async def _with_header(upload: Upload, thumbnail: Path | None) -> Upload:
        """The video with what Telegram needs to show it, since it analyses only small uploads itself: the
        duration and size as shown from the file's own header, and the thumbnail."""
        meta = await asyncio.to_thread(read_video_meta, upload.path)
        # A header that is missing or unreadable does not stop the video: over ~10 MB it then arrives
        # showing 0:00 (and Google's listed size, maybe the original's), but it plays.
        if meta.width and meta.height:
            upload = replace(upload, width=meta.width, height=meta.height)
        return replace(upload, duration=meta.whole_seconds, thumbnail=thumbnail)

    async def _thumbnail(self, item: PickItem) -> Path | None:
        """Google's frame of the video if Telegram will take it; else None, and the video goes without one
        (over ~10 MB it then shows a blank tile until played)."""
        dest = self._workdir / f"{item.position:05d}-thumbnail.jpg"
        try:
            media, listing = await self._urls.get(item.media_id)  # the baseUrl that just worked, or a newer one
            if media is None:
                return None
            await self._fetch_file(item, media, listing, thumbnails.RENDITION, dest, thumbnails.MAX_BYTES)
        except (GoogleError, OSError) as exc:
            log.info("pick %s: no thumbnail for item %s (%s)", self._session.id, item.position, type(exc).__name__)
            await asyncio.to_thread(dest.unlink, missing_ok=True)
            return None
        return await asyncio.to_thread(thumbnails.keep_if_usable, dest)
