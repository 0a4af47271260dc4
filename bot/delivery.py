"""Download → upload pipeline for one picked session.

Downloads run a few at a time into temporary files and feed a small queue; the sender takes them in
pick order, sends an album as soon as ten are ready, and records every item as sent (after Telegram
confirmed it) or skipped with a reason. A restart continues with the items still pending.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError, TimedOut

from bot import texts
from bot.chat_rights import posting_problem
from bot.flood import BEFORE_SEND
from bot.google.errors import (
    GoogleError,
    GoogleUnavailable,
    LinkBroken,
    MediaUnavailable,
    NotLinked,
    SessionGone,
    TooLarge,
)
from bot.google.picker import PickedMediaItem, PickerClient
from bot.pick_messages import NO_PREVIEW, PickMessages, pick_again_keyboard
from bot.telegram_send import MediaSender, SendKind, Upload, file_id_of
from storage.picks import PickItem, PickRepository, PickSession, SentItem

log = logging.getLogger(__name__)

ChatMigratedListener = Callable[[int, int], Awaitable[None]]

PHOTO_RENDITION = "=w2560-h2560"  # Telegram shows photos at most 2560 px; bigger bytes would be wasted
PHOTO_UPLOAD_LIMIT = 10_000_000
UPLOAD_LIMIT = 50_000_000
LOCAL_UPLOAD_LIMIT = 2_000_000_000
ALBUM_SIZE = 10
DOWNLOADS_IN_FLIGHT = 4
QUEUE_AHEAD = 12
# Ready bytes that are sent at once, without waiting for the next download to fill the album: an album
# of photos at 2560 px (≈1.5 MB each) fills long before this; a big video does not keep the uplink idle.
SEND_WITHOUT_WAITING = 20_000_000
BASE_URL_MAX_AGE = 50 * 60.0  # Google's baseUrls live 60 minutes; re-list well before
SUMMARY_RETRY_PAUSES = (1.0, 3.0, 10.0)
MAX_RELISTS_FOR_REFUSALS = 10  # per delivery: baseUrls Google refused although they were not old
PROGRESS_EVERY = 3.0
GOOGLE_OUTAGE_PAUSES = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)  # when the client's own retries have failed


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
    item: PickItem
    upload: Upload | None = None
    size: int | None = None
    reason: str | None = None
    deferred: bool = False


class Stopping(Exception):
    """The bot is shutting down: stop between uploads; what is not sent stays pending."""


class ChatUnavailable(Exception):
    """The chat refuses our messages (bot blocked or removed)."""


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

    async def load(self, items: list[PickedMediaItem] | None = None) -> list[PickedMediaItem]:
        async with self._lock:
            return await self._list(items)

    async def _list(self, items: list[PickedMediaItem] | None = None) -> list[PickedMediaItem]:
        if items is None:
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


@dataclass
class Progress:
    total: int
    downloaded: int
    sent: int
    last_edit: float = 0.0

    def text(self) -> str:
        if self.downloaded < self.total:
            return texts.PROGRESS_DOWNLOADING.format(done=self.downloaded, total=self.total)
        return texts.PROGRESS_SENDING.format(done=self.sent, total=self.total)


class Delivery:
    """Delivers one session's pending items; create one per run."""

    def __init__(
        self,
        *,
        session: PickSession,
        picker: PickerClient,
        repo: PickRepository,
        sender: MediaSender,
        messages: PickMessages,
        bot: Bot,
        on_migrated: ChatMigratedListener,
        workdir: Path,
        upload_limit: int,
        video_wait: float,
        max_items: int,
        stopping: asyncio.Event,
    ) -> None:
        self.session = session
        self._max_items = max_items
        self._stopping = stopping
        self._bot = bot
        self._on_migrated = on_migrated
        self._posted: Message | None = None  # the first message posted into a forwarding destination
        self._picker = picker
        self._repo = repo
        self._sender = sender
        self._messages = messages
        self._workdir = workdir
        self._upload_limit = upload_limit
        self._video_wait = video_wait
        self._urls = UrlBook(picker, session)
        self._originals = session.delivery_mode == "originals"
        self._unlisted = False  # Google never listed the items: it is not known what was picked

    async def run(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        try:
            await self._run()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    async def _run(self) -> None:
        session = self.session
        try:
            if session.status == "picked":
                listed = await self._load_patiently()
                if len(listed) > self._max_items:
                    await self._refuse_oversized(len(listed))
                    return
                await self._repo.save_items(session.id, [_to_item(i, n) for n, i in enumerate(listed)])
            items = await self._repo.items(session.id)
            if any(item.in_doubt for item in items):
                await self._report_in_doubt(items)
                items = await self._repo.items(session.id)
            pending = [i for i in items if i.status == "pending"]
            if pending:
                if session.status != "picked":
                    await self._load_patiently()
                await self._check_target()
                await self._deliver(items, pending)
        except (LinkBroken, NotLinked):
            await self._skip_rest(texts.REASON_LINK_BROKEN)
            await self._messages.say(session.prompt_chat_id, texts.DELIVERY_LINK_BROKEN)
        except SessionGone:
            await self._skip_rest(texts.REASON_SESSION_EXPIRED)
        except GoogleUnavailable:
            await self._skip_rest(texts.REASON_GOOGLE_DOWN)
        except GoogleError as exc:  # any other refusal, e.g. the listing answering 400
            log.warning("pick %s: Google refused (%s); reporting what is left", session.id, exc)
            self._unlisted = not await self._repo.items(session.id)
            await self._skip_rest(texts.REASON_UNAVAILABLE)
        except ChatUnavailable:
            await self._skip_rest(texts.REASON_CHAT_GONE)
        except Stopping:
            log.info("pick %s: stopped for shutdown; the rest is delivered after the restart", session.id)
            return
        await self._finish()

    async def _load_patiently(self) -> list[PickedMediaItem]:
        """List the picked items, waiting out a Google outage (within the session's life): before the first
        listing the bot does not even know what was picked, so giving up would lose the whole pick."""
        pauses = iter(GOOGLE_OUTAGE_PAUSES)
        while True:
            try:
                return await self._urls.load()
            except GoogleUnavailable:
                pause = next(pauses, None)
                if pause is None or time.time() + pause >= self.session.expire_time - 60:
                    self._unlisted = not await self._repo.items(self.session.id)
                    raise
                log.info("pick %s: Google is not listing the items yet; again in %.0f s", self.session.id, pause)
                await asyncio.sleep(pause)

    async def _refuse_oversized(self, count: int) -> None:
        """More items than one pick may hold (Google should have capped it): nothing is downloaded."""
        session = self.session
        text = texts.PICK_TOO_BIG.format(count=count, limit=self._max_items)
        await self._messages.say(session.report_chat_id, text, pick_again=True)
        await self._repo.set_status(session.id, "done", failure="too many items")
        await delete_at_google(self._picker, self._repo, session, patient=True)

    async def _check_target(self) -> None:
        """Rights are checked again now: a destination that can no longer take the photos is replaced
        by the picker's private chat, so nothing is lost."""
        session = self.session
        if session.target_chat_id == session.prompt_chat_id:
            return
        if await posting_problem(self._bot, session.target_chat_id, session.user_id) is not None:
            await self._fall_back_to_private()

    async def _fall_back_to_private(self) -> None:
        session = self.session
        log.info("pick %s: chat %s no longer takes posts; delivering privately", session.id, session.target_chat_id)
        await self._messages.delete(session.report_chat_id, session.status_message_id)
        await self._repo.redirect(session.id, session.prompt_chat_id, session.prompt_chat_id)
        self.session = await self._must_get()
        await self._messages.say(session.prompt_chat_id, texts.TARGET_LOST)

    @property
    def _caption(self) -> str | None:
        """Who shared them, on the first item posted into a group."""
        session = self.session
        if session.shared_by is None or session.target_chat_id == session.prompt_chat_id or self._captioned:
            return None
        return str(texts.SHARED_BY.format(name=texts.html(session.shared_by)))

    async def _report(self, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - progress.last_edit < PROGRESS_EVERY:
            return
        progress.last_edit = now
        await self._messages.edit(self.session.report_chat_id, self.session.status_message_id, progress.text())

    async def _deliver(self, items: list[PickItem], pending: list[PickItem]) -> None:
        done = len(items) - len(pending)
        self._captioned = done > 0
        progress = Progress(len(items), done, done)
        if self.session.status_message_id is None:
            message_id = await self._messages.say(self.session.report_chat_id, progress.text())
            await self._repo.set_messages(self.session.id, status_message_id=message_id)
            self.session = await self._must_get()
        else:
            await self._report(progress, force=True)
        deferred = await self._pipeline(pending, progress)
        if deferred:
            await self._wait_for_videos(deferred, progress)

    async def _pipeline(self, pending: list[PickItem], progress: Progress) -> list[PickItem]:
        """Fetch and send `pending` in order; returns the videos Google is still processing."""
        queue: asyncio.Queue[asyncio.Task[Fetched] | None] = asyncio.Queue(QUEUE_AHEAD)
        slots = asyncio.Semaphore(DOWNLOADS_IN_FLIGHT)

        async def fetch(item: PickItem) -> Fetched:
            async with slots:
                fetched = await self._fetch(item)
            progress.downloaded += 1
            await self._report(progress)
            return fetched

        async def produce() -> None:
            for item in pending:
                await queue.put(asyncio.create_task(fetch(item)))
            await queue.put(None)

        producer = asyncio.create_task(produce())
        deferred: list[PickItem] = []
        batch: list[Fetched] = []
        try:
            while (task := await queue.get()) is not None:
                if batch and not task.done() and sum(f.size or 0 for f in batch) >= SEND_WITHOUT_WAITING:
                    await self._send(batch, progress)
                    batch = []
                fetched = await task
                if fetched.deferred:
                    deferred.append(fetched.item)
                    continue
                if fetched.upload is None:
                    await self._skip(fetched)
                    continue
                if batch and (_album_group(batch[0]) != _album_group(fetched) or len(batch) == ALBUM_SIZE):
                    await self._send(batch, progress)
                    batch = []
                batch.append(fetched)
                if len(batch) == ALBUM_SIZE:
                    await self._send(batch, progress)
                    batch = []
            if batch:
                await self._send(batch, progress)
        finally:
            producer.cancel()
            while not queue.empty():
                leftover = queue.get_nowait()
                if leftover is not None:
                    leftover.cancel()
        return deferred

    async def _fetch(self, item: PickItem) -> Fetched:
        plan = plan_for(item, self._originals)
        media, listing = await self._urls.get(item.media_id)
        if media is None:
            return Fetched(item, reason=texts.REASON_UNAVAILABLE)
        if media.type == "VIDEO" and media.processing_status not in (None, "READY"):
            return Fetched(item, deferred=True)
        path = self._workdir / f"{item.position:05d}"
        for attempt in range(2):
            try:
                size = await self._picker.download(
                    self.session.user_id, media.base_url + plan.suffix, path, self._upload_limit
                )
            except TooLarge as exc:
                path.unlink(missing_ok=True)
                return Fetched(item, size=exc.size, reason=self._too_big())
            except MediaUnavailable:
                path.unlink(missing_ok=True)
                refreshed, listing = await self._urls.get(item.media_id, refused=listing) if attempt == 0 else (None, 0)
                if refreshed is None:
                    return Fetched(item, reason=texts.REASON_UNAVAILABLE)
                media = refreshed
                continue
            except GoogleUnavailable:
                path.unlink(missing_ok=True)
                return Fetched(item, reason=texts.REASON_GOOGLE_DOWN)
            kind = plan.kind
            if kind == "photo" and size > PHOTO_UPLOAD_LIMIT:
                kind = "document"
            upload = Upload(item.position, path, item.filename, kind, item.width, item.height)
            return Fetched(item, upload=upload, size=size)
        return Fetched(item, reason=texts.REASON_UNAVAILABLE)

    def _too_big(self) -> str:
        return texts.REASON_TOO_BIG.format(limit=texts.file_size(self._upload_limit))

    async def _report_in_doubt(self, items: list[PickItem]) -> None:
        """Items whose upload was under way when the bot stopped may have arrived: Telegram cannot be
        asked, so they are reported rather than risked twice."""
        for item in items:
            if item.in_doubt:
                log.warning(
                    "pick %s: item %s was being uploaded at a restart; reporting it", self.session.id, item.position
                )
                await self._repo.mark_skipped(self.session.id, item.position, texts.REASON_IN_DOUBT)

    async def _upload(self, batch: list[Fetched]) -> list[Message]:
        """One send, recording the moment the items are handed to Telegram; a definite refusal clears it."""
        session = self.session
        positions = [f.item.position for f in batch]

        async def handed_over() -> None:
            await self._repo.mark_sending(session.id, positions, True)

        uploads = [f.upload for f in batch if f.upload is not None]
        hook = BEFORE_SEND.set(handed_over)
        try:
            return await self._sender.send(session.target_chat_id, uploads, self._caption)
        except TimedOut:
            raise  # no answer: the items stay in doubt
        except TelegramError:
            await self._repo.mark_sending(session.id, positions, False)
            raise
        finally:
            BEFORE_SEND.reset(hook)

    async def _send(self, batch: list[Fetched], progress: Progress) -> None:
        if self._stopping.is_set():
            raise Stopping
        session = self.session
        private = session.target_chat_id == session.prompt_chat_id
        try:
            messages = await self._upload(batch)
        except TimedOut:
            for fetched in batch:
                fetched.reason = texts.REASON_UNCONFIRMED
                await self._skip(fetched)
            return
        except ChatMigrated as exc:
            await self._on_migrated(session.target_chat_id, exc.new_chat_id)
            self.session = await self._must_get()
            await self._send(batch, progress)
            return
        except Forbidden as exc:
            if private:
                _remove(batch)
                raise ChatUnavailable(exc.message) from None
            await self._fall_back_to_private()
            await self._send(batch, progress)
            return
        except BadRequest as exc:
            if not private and _lost_the_chat(exc):
                await self._fall_back_to_private()
                await self._send(batch, progress)
                return
            if len(batch) > 1:
                # One bad item fails the whole album: send them one by one to find it.
                for single in batch:
                    await self._send([single], progress)
                return
            await self._send_single_fallback(batch[0], exc, progress)
            return
        except TelegramError as exc:
            for fetched in batch:
                fetched.reason = texts.REASON_REFUSED.format(error=str(exc))
                await self._skip(fetched)
            return
        sent = [SentItem(f.item.position, m.message_id, file_id_of(m)) for f, m in zip(batch, messages, strict=False)]
        await self._repo.mark_sent(self.session.id, sent, {f.item.position: f.size or 0 for f in batch})
        _remove(batch)
        self._captioned = True
        if self._posted is None and session.target_chat_id != session.report_chat_id and messages:
            self._posted = messages[0]
        progress.sent += len(batch)
        await self._report(progress)

    async def _send_single_fallback(self, fetched: Fetched, error: BadRequest, progress: Progress) -> None:
        """A photo Telegram will not take as a photo goes as a document; anything else is reported."""
        if fetched.upload is not None and fetched.upload.kind == "photo":
            as_document = Upload(fetched.upload.position, fetched.upload.path, fetched.upload.filename, "document")
            await self._send([Fetched(fetched.item, upload=as_document, size=fetched.size)], progress)
            return
        fetched.reason = texts.REASON_REFUSED.format(error=error.message)
        await self._skip(fetched)

    async def _skip(self, fetched: Fetched) -> None:
        _remove([fetched])
        await self._repo.mark_skipped(
            self.session.id, fetched.item.position, fetched.reason or texts.REASON_UNAVAILABLE, fetched.size
        )

    async def _wait_for_videos(self, videos: list[PickItem], progress: Progress) -> None:
        """Re-list until Google has processed the videos, within VIDEO_PROCESSING_TIMEOUT and expireTime."""
        deadline = min(time.time() + self._video_wait, self.session.expire_time - 60)
        waiting = videos
        await self._messages.edit(
            self.session.report_chat_id,
            self.session.status_message_id,
            texts.PROGRESS_WAITING_VIDEOS.format(count=len(waiting)),
        )
        while waiting and time.time() < deadline:
            await asyncio.sleep(min(max(self.session.poll_interval, 0.5), 30.0))
            await self._urls.relist()
            waiting = await self._pipeline(waiting, progress)
        for item in waiting:
            await self._skip(Fetched(item, reason=texts.REASON_PROCESSING))

    async def _skip_rest(self, reason: str) -> None:
        for item in await self._repo.items(self.session.id):
            if item.status == "pending":
                await self._repo.mark_skipped(self.session.id, item.position, reason)

    async def _finish(self) -> None:
        session = await self._must_get()
        items = await self._repo.items(session.id)
        skipped: dict[str, list[str]] = {}
        for item in items:
            if item.status == "skipped":
                label = item.reason or texts.REASON_UNAVAILABLE
                name = f"{item.filename} ({texts.file_size(item.size)})" if item.size else item.filename
                skipped.setdefault(label, []).append(name)
        sent = sum(1 for i in items if i.status == "sent")
        text = texts.summary(len(items), sent, skipped) if items else texts.PICK_NOTHING_PICKED
        if self._unlisted:
            text = texts.GOOGLE_DOWN
        if self._posted is not None:
            text += "\n" + texts.posted_in(self._posted.chat.title or "", self._posted.link)
        await self._messages.delete(session.report_chat_id, session.status_message_id)
        await self._say_summary(session.report_chat_id, text)
        await self._repo.set_status(session.id, "done")
        await delete_at_google(self._picker, self._repo, session, patient=True)

    async def _say_summary(self, chat_id: int, text: str) -> None:
        """The summary is the only word the user gets on what did not arrive: when Telegram answers 5xx or
        the connection breaks it is sent again (the same summary twice beats none); a chat that refuses it
        (blocked, removed) is left alone."""
        for pause in (*SUMMARY_RETRY_PAUSES, None):
            try:
                await self._bot.send_message(
                    chat_id, text, reply_markup=pick_again_keyboard(), link_preview_options=NO_PREVIEW
                )
                return
            except NetworkError as exc:
                if pause is None:
                    log.warning("could not send the summary of pick %s: %s", self.session.id, exc)
                    return
                log.info("summary of pick %s not sent (%s); again in %.0f s", self.session.id, exc, pause)
                await asyncio.sleep(pause)
            except TelegramError as exc:
                log.warning("could not send the summary of pick %s: %s", self.session.id, exc)
                return

    async def _must_get(self) -> PickSession:
        session = await self._repo.get_session(self.session.id)
        assert session is not None
        return session


async def delete_at_google(
    picker: PickerClient, repo: PickRepository, session: PickSession, *, patient: bool = False
) -> None:
    """Delete the picking session at Google (its baseUrls stop working) and record that it is gone.

    When Google keeps failing, a `patient` caller (a delivery finishing, a background clean-up) tries again
    after growing pauses until it works or Google's own expiry makes it moot; others leave it to the next
    start, which retries every session not yet deleted.
    """
    pauses = iter(GOOGLE_OUTAGE_PAUSES if patient else ())
    while True:
        try:
            await picker.delete_session(session.user_id, session.google_session_id)
        except (LinkBroken, NotLinked) as exc:
            log.warning("cannot delete Google session of pick %s: %s", session.id, type(exc).__name__)
            return
        except Exception as exc:
            pause = next(pauses, None)
            if pause is None or time.time() + pause >= session.expire_time:
                log.warning("could not delete Google session of pick %s yet: %s", session.id, type(exc).__name__)
                return
            log.info(
                "could not delete Google session of pick %s (%s); again in %.0f s",
                session.id,
                type(exc).__name__,
                pause,
            )
            await asyncio.sleep(pause)
            continue
        await repo.mark_google_deleted(session.id)
        return


def _lost_the_chat(error: BadRequest) -> bool:
    """Telegram's ways of saying the bot may no longer post in a group or channel."""
    text = error.message.lower()
    return any(
        marker in text
        for marker in (
            "chat not found",
            "not enough rights",
            "have no rights",
            "chat_write_forbidden",
            "need administrator rights",
            "chat_admin_required",
        )
    )


def _album_group(fetched: Fetched) -> str:
    """Photos and videos share albums; documents only go with documents."""
    assert fetched.upload is not None
    return "document" if fetched.upload.kind == "document" else "media"


def _remove(batch: list[Fetched]) -> None:
    for fetched in batch:
        if fetched.upload is not None:
            fetched.upload.path.unlink(missing_ok=True)


def _to_item(media: PickedMediaItem, position: int) -> PickItem:
    return PickItem(
        position=position,
        media_id=media.id,
        kind=media.type,
        filename=media.filename,
        mime_type=media.mime_type,
        width=media.width,
        height=media.height,
    )
