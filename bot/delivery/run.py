"""One delivery of a picked session, from listing its items to the summary; and `Deliveries`, which builds
each run from collaborators wired once in bot/app.py.

A run lists and saves the items (first time only), reports items left in doubt by a crash, checks the
target, feeds the pending items through the pipeline, waits for videos Google is still processing, and
ends with the summary. A restart runs it again on what is still pending.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot

from bot.delivery.archives import OVERHEAD, ArchivePacker
from bot.delivery.capacity import DeliverySlots, TempSpace
from bot.delivery.fetching import Fetched, MediaFetcher
from bot.delivery.offers import ArchiveOffers
from bot.delivery.pipeline import Pipeline
from bot.delivery.repeats import OFFER_SECONDS, Repeats
from bot.delivery.reporting import DeliveryReport
from bot.delivery.sending import BatchSender, ChatUnavailable, Stopping
from bot.delivery.target import ChatMigratedListener, DeliveryTarget
from bot.google.errors import GoogleError, GoogleUnavailable, LinkBroken, Misconfigured, NotLinked, SessionGone
from bot.google.picker import PickedMediaItem, PickerClient
from bot.outcomes import Code, SkipReason
from bot.pick_messages import PickMessages
from bot.session_cleanup import GoogleCleanup
from bot.telegram_send import MediaSender
from storage.chat_memory import ChatMemoryRepository
from storage.picks import PickItem, PickRepository, PickSession

log = logging.getLogger(__name__)

UPLOAD_LIMIT = 50_000_000
LOCAL_UPLOAD_LIMIT = 2_000_000_000
VIDEO_RELIST_MIN_PAUSE = 0.5  # while Google processes videos: the first pause before re-listing the pick…
VIDEO_RELIST_MAX_PAUSE = 60.0  # …doubles each time up to this


@dataclass(frozen=True)
class Deliveries:
    """Everything a delivery needs, built once; `run(session)` delivers one session."""

    picker: PickerClient
    repo: PickRepository
    cleanup: GoogleCleanup  # deletes a finished pick's session at Google
    media: MediaSender
    messages: PickMessages
    bot: Bot
    on_migrated: ChatMigratedListener
    space: TempSpace  # one folder per session in its folder, removed when its run ends
    slots: DeliverySlots
    upload_limit: int
    video_wait: float
    max_items: int
    stopping: asyncio.Event  # set on shutdown: runs stop between uploads
    replica: str  # REPLICA_NAME: a run sends only while this replica holds its pick's lease
    offers: ArchiveOffers  # a long pick is offered as archives before it is delivered
    memory: ChatMemoryRepository | None  # what chats were sent, to skip repeats (None: DEDUP_DAYS=0)

    async def run(self, session: PickSession) -> None:
        workdir = self.space.folder / str(session.id)
        delivery = Delivery(self, session, workdir)
        try:
            await self.slots.take(delivery.queued)
        except Stopping:
            return
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            await delivery.run()
        finally:
            self.slots.give_back()
            shutil.rmtree(workdir, ignore_errors=True)


class Delivery:
    def __init__(self, tools: Deliveries, session: PickSession, workdir: Path) -> None:
        self._tools = tools
        self._repo = tools.repo
        archives = session.delivery_mode == "archive"
        # An item goes alone into an archive when it must: the archive, its name and ZIP's records within the limit.
        item_limit = tools.upload_limit - OVERHEAD if archives else tools.upload_limit
        self._target = DeliveryTarget(
            session,
            repo=tools.repo,
            messages=tools.messages,
            bot=tools.bot,
            on_migrated=tools.on_migrated,
        )
        self._repeats = Repeats(tools.memory, self._target)
        self._fetcher = MediaFetcher(tools.picker, session, workdir, item_limit, tools.space, self._repeats)
        self._report = DeliveryReport(tools.messages, tools.repo, self._target)
        self._sender = BatchSender(
            repo=tools.repo,
            media=tools.media,
            target=self._target,
            report=self._report,
            stopping=tools.stopping,
            holder=tools.replica,
            repeats=self._repeats,
        )
        self._workdir = workdir
        self._packer: ArchivePacker | None = None
        self._pipeline = Pipeline(self._fetcher, self._sender, self._report, tools.space)
        if archives:
            self._use_archives()
        self._unlisted = False  # Google never listed the items: it is not known what was picked
        self._resending = False  # "Send them anyway": the items pending are copies Telegram holds

    @property
    def _session(self) -> PickSession:
        return self._target.session

    async def queued(self, position: int) -> None:
        """Waiting for a free delivery slot, `position` in line; raises Stopping when a shutdown begins."""
        if self._tools.stopping.is_set():
            raise Stopping
        await self._report.queued(position)

    async def run(self) -> None:
        try:
            await self._run()
        finally:  # even when stopped or taken over: its line is recorded, so the next run edits it, posting no other
            await self._report.posted()

    async def _run(self) -> None:
        session = self._session
        try:
            if await self._deliver() is False:
                return
        except (LinkBroken, NotLinked):
            await self._skip_rest(SkipReason.LINK_BROKEN)
            await self._tools.messages.say(session.prompt_chat_id, Code.DELIVERY_LINK_BROKEN)
        except SessionGone:
            await self._skip_rest(SkipReason.SESSION_EXPIRED)
        except GoogleUnavailable:
            await self._skip_rest(SkipReason.GOOGLE_DOWN)
        except Misconfigured:
            await self._skip_rest(SkipReason.BOT_MISCONFIGURED)
            await self._tools.messages.say(session.prompt_chat_id, Code.BOT_MISCONFIGURED)
        except GoogleError as exc:  # any other refusal, e.g. the listing answering 400
            log.warning("pick %s: Google refused (%s); reporting what is left", session.id, exc)
            self._unlisted = not await self._repo.items(session.id)
            await self._skip_rest(SkipReason.UNAVAILABLE)
        except ChatUnavailable:
            await self._skip_rest(SkipReason.CHAT_GONE)
        except Stopping:
            log.info("pick %s: stopped (shutdown or taken over); the rest is delivered by whoever holds it", session.id)
            return
        await self._finish()

    async def _deliver(self) -> bool:
        """Deliver what is pending; False when the pick was refused whole (it is over already)."""
        session = self._session
        if session.status == "picked":
            listed = await self._list()
            if len(listed) > self._tools.max_items:
                await self._refuse_oversized(len(listed))
                return False
            await self._repo.save_items(session.id, [_to_item(i, n) for n, i in enumerate(listed)])
        items = await self._repo.items(session.id)
        if any(item.in_doubt for item in items):
            await self._report_in_doubt(items)
            items = await self._repo.items(session.id)
        pending = [i for i in items if i.status == "pending"]
        if pending:
            self._resending = all(item.seen_hash is not None for item in pending)
            if session.status != "picked" and not self._resending:  # copies Telegram holds need no Google
                await self._list()
            await self._target.check()
            done = len(items) - len(pending)
            self._target.credited = _credited(items, done, resending=self._resending)
            # Copies sent again go as they were (by file_id, never packed): no archives to offer for them.
            if (
                done == 0
                and not self._resending
                and await self._tools.offers.ask(self._session, pending, private=self._target.private)
            ):
                self._fetcher.for_archives(self._tools.upload_limit - OVERHEAD)
                self._use_archives()
            self._report.start(len(items), done)
            if self._packer is not None:
                self._packer.total = len(items)
            deferred = await self._pipeline.run(pending)
            if deferred:
                await self._wait_for_videos(deferred)
        return True

    def _use_archives(self) -> None:
        """Pack the items into ZIP files instead of albums."""
        tools = self._tools
        self._packer = ArchivePacker(self._workdir, tools.upload_limit, self._sender.send_archive)
        self._pipeline = Pipeline(self._fetcher, self._sender, self._report, tools.space, self._packer)

    async def _list(self) -> list[PickedMediaItem]:
        try:
            return await self._fetcher.list_patiently()
        except GoogleUnavailable:
            self._unlisted = not await self._repo.items(self._session.id)
            raise

    async def _refuse_oversized(self, count: int) -> None:
        """More items than one pick may hold (Google should have capped it): nothing is downloaded."""
        session, limit = self._session, self._tools.max_items
        await self._tools.messages.say(
            session.report_chat_id, Code.PICK_TOO_BIG, pick_again=True, count=count, limit=limit
        )
        await self._repo.set_status(session.id, "done", failure="too_many_items")
        await self._tools.cleanup.delete(session, patient=True)

    async def _report_in_doubt(self, items: list[PickItem]) -> None:
        """Items whose upload was under way when the bot stopped may have arrived: Telegram cannot be
        asked, so they are reported rather than risked twice."""
        for item in items:
            if item.in_doubt:
                log.warning(
                    "pick %s: item %s was being uploaded at a restart; reporting it", self._session.id, item.position
                )
                await self._repo.mark_skipped(self._session.id, item.position, SkipReason.IN_DOUBT)

    async def _wait_for_videos(self, videos: list[PickItem]) -> None:
        """Re-list until Google has processed the videos, within VIDEO_PROCESSING_TIMEOUT and expireTime.

        Each re-listing fetches the whole pick again, so the pauses between them grow (from the session's
        poll interval, doubling up to VIDEO_RELIST_MAX_PAUSE). A shutdown ends the wait at once: the videos
        stay pending for the restart.
        """
        session = self._session
        deadline = min(time.time() + self._tools.video_wait, session.expire_time - 60)
        pause = max(session.poll_interval, VIDEO_RELIST_MIN_PAUSE)
        waiting = videos
        while waiting and time.time() < deadline:
            await self._report.waiting_for_videos(len(waiting))
            await self._pause(min(pause, deadline - time.time()))
            pause = min(pause * 2, VIDEO_RELIST_MAX_PAUSE)
            await self._fetcher.relist()
            waiting = await self._pipeline.run(waiting)
        await self._sender.skip_all([Fetched(item) for item in waiting], SkipReason.STILL_PROCESSING)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`; raises Stopping as soon as a shutdown begins."""
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._tools.stopping.wait()
        except TimeoutError:
            return
        raise Stopping

    async def _skip_rest(self, reason: SkipReason) -> None:
        """Report what is left for `reason`; an item handed to Telegram by an upload the failure cut short (an
        archive being sent while the next one was written) may have arrived, and is reported so."""
        for item in await self._repo.items(self._session.id):
            if item.status == "pending":
                why = SkipReason.UNCONFIRMED if item.in_doubt else reason
                await self._repo.mark_skipped(self._session.id, item.position, why)

    async def _finish(self) -> None:
        session = await self._target.refresh()
        items = await self._repo.items(session.id)
        offer = not self._resending and any(_repeat(item) for item in items)
        if offer:
            await self._repo.offer_repeats(session.id, time.time() + OFFER_SECONDS)
        await self._report.finish(items, unlisted=self._unlisted, offer=offer)
        await self._repo.set_status(session.id, "done")
        await self._tools.cleanup.delete(session, patient=True)


def _repeat(item: PickItem) -> bool:
    return item.status == "skipped" and item.reason is SkipReason.REPEAT


def _credited(items: list[PickItem], done: int, *, resending: bool) -> bool:
    """Whether the "Shared by" credit went out already: with the first items of a resumed run, or, sending repeats
    anyway, with the first of those (a new post in the chat, credited again)."""
    if resending:
        return any(item.status == "sent" and item.seen_hash is not None for item in items)
    return done > 0


def _to_item(media: PickedMediaItem, position: int) -> PickItem:
    return PickItem(
        position=position,
        media_id=media.id,
        kind=media.type,
        filename=media.filename,
        mime_type=media.mime_type,
        width=media.width,
        height=media.height,
        taken_at=media.create_time,
        camera=media.camera,
    )
