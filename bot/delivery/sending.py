"""Sending fetched items exactly once, with Telegram's fallbacks, and recording each item's end.

Telegram cannot be asked whether a message arrived. So items are marked "sending" right before their
request leaves (the rate limiter awaits `on_handover` after any flood wait), and "sent" only from
Telegram's answer: an item still marked after a crash, or whose send got no confirmation (no answer, a 5xx),
is reported as maybe arrived instead of being sent again. A definite refusal clears the mark.

An album goes out item by item and the first item that fails fails the request, the items before it staying
in the chat ("failed to send message #N"): those are reported as unconfirmed (the answer carries no message
for them, so nothing proves they arrived, and sending them again could show them twice), the rest is sent
again. A 429 for an album sent none of it (TDLib sends an album as one request): the rate limiter waits and
sends it again. Albums stay under
ALBUM_MAX_MB of uploads; one that Telegram still finds too large (413) is halved down to single items.

An archive (one ZIP document holding several items) is one send for all its items: they are marked together
before it leaves and sent together from Telegram's answer, so an archive in doubt is reported with every item it
held, and one Telegram refuses is reported with them and its reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from telegram import Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError, TimedOut

from bot.chat_rights import lost_the_topic
from bot.delivery.archives import Archive
from bot.delivery.fetching import Fetched
from bot.delivery.repeats import Repeats
from bot.delivery.reporting import DeliveryReport
from bot.delivery.target import DeliveryTarget
from bot.flood import failed_item, flood_wait
from bot.outcomes import SkipReason
from bot.telegram_send import MediaSender, TooLarge, Unconfirmed, Upload
from storage.picks import PickRepository

log = logging.getLogger(__name__)
ITEM_ERROR = re.compile(r'with the error message "(.*)"', re.IGNORECASE | re.DOTALL)


class Stopping(Exception):
    """The bot is shutting down, or another replica took the pick over: stop between uploads; what is not sent
    stays pending."""


class ChatUnavailable(Exception):
    """The chat refuses our messages (bot blocked or removed)."""


class BatchSender:
    def __init__(
        self,
        *,
        repo: PickRepository,
        media: MediaSender,
        target: DeliveryTarget,
        report: DeliveryReport,
        stopping: asyncio.Event,
        holder: str,
        repeats: Repeats,
    ) -> None:
        self._repeats = repeats  # what the chat was sent is remembered, to skip repeats
        self._holder = holder  # this replica: it sends only while it holds the pick's lease
        self._repo = repo
        self._media = media
        self._target = target
        self._report = report
        self._stopping = stopping

    async def send(self, batch: list[Fetched]) -> None:
        """Send one item or an album; every item in it ends sent or skipped, or stays pending when the chat
        is gone (ChatUnavailable) or the bot stops (Stopping)."""
        if self._stopping.is_set():
            raise Stopping
        parts = self._album_parts(batch)
        if len(parts) > 1:
            for part in parts:
                await self.send(part)
            return
        try:
            messages = await self._upload(batch, _uploads(batch), await self._target.captions([f.item for f in batch]))
        except (TimedOut, Unconfirmed):
            await self.skip_all(batch, SkipReason.UNCONFIRMED)
        except TelegramError as exc:
            await self._failed(batch, exc)
        else:
            await self._delivered(batch, messages)

    async def send_archive(self, archive: Archive) -> None:
        """Send one archive; its items end sent or skipped together, or stay pending when the chat is gone
        (ChatUnavailable) or the bot stops (Stopping)."""
        if self._stopping.is_set():
            raise Stopping
        members = archive.members
        try:
            caption = await self._target.archive_caption(archive.range)
            messages = await self._upload(members, [archive.upload], [caption])
        except (TimedOut, Unconfirmed):
            await self.skip_all(members, SkipReason.UNCONFIRMED)
        except TelegramError as exc:
            await self._repo.clear_sending(self._target.session.id, [f.item.position for f in members])
            if await self._moved(exc):
                await self.send_archive(archive)
            else:
                await self.skip_all(members, SkipReason.TELEGRAM_REFUSED, exc.message)
        else:
            await self._repo.mark_sent(self._target.session.id, {f.item.position: f.size or 0 for f in members})
            _remove_files(members)
            self._target.delivered(messages)
            await self._report.sent(len(members))
        finally:
            archive.upload.path.unlink(missing_ok=True)

    async def _moved(self, error: TelegramError) -> bool:
        """Whether the error says the target moved (a migrated group, a lost topic or chat), now followed: the
        send goes again there. Raises ChatUnavailable when the private chat itself refuses."""
        if isinstance(error, ChatMigrated):
            await self._target.follow_migration(error.new_chat_id)
        elif isinstance(error, Forbidden):
            if self._target.private:
                raise ChatUnavailable(error.message) from None
            await self._target.fall_back_to_private()
        elif isinstance(error, BadRequest) and self._target.thread_id is not None and lost_the_topic(error.message):
            await self._target.leave_topic()
        elif isinstance(error, BadRequest) and not self._target.private and _lost_the_chat(error.message):
            await self._target.fall_back_to_private()
        else:
            return False
        return True

    async def skip(self, fetched: Fetched) -> None:
        fetched.remove_file()
        reason = fetched.reason or SkipReason.UNAVAILABLE
        await self._repo.mark_skipped(
            self._target.session.id,
            fetched.item.position,
            reason,
            detail=fetched.detail,
            size=fetched.size,
            seen_hash=fetched.content_hash if reason is SkipReason.REPEAT else None,
        )

    async def skip_all(self, batch: Sequence[Fetched], reason: SkipReason, detail: str | None = None) -> None:
        for fetched in batch:
            fetched.reason, fetched.detail = reason, detail
            await self.skip(fetched)

    def _album_parts(self, batch: list[Fetched]) -> list[list[Fetched]]:
        """The batch in consecutive parts whose uploads each fit one album (a single item always does)."""
        parts: list[list[Fetched]] = [[]]
        for fetched in batch:
            if parts[-1] and not self._media.fits_one_album(_uploads([*parts[-1], fetched])):
                parts.append([])
            parts[-1].append(fetched)
        return parts

    async def _upload(
        self, batch: list[Fetched], uploads: list[Upload], captions: Sequence[str | None]
    ) -> list[Message]:
        """One send of `uploads` (the items of `batch`, or their archive), recording the moment the items are
        handed to Telegram; after the progress line, which the chat sees above the media."""
        await self._report.posted()
        session_id = self._target.session.id
        positions = [f.item.position for f in batch]

        async def handed_over() -> None:
            if not await self._repo.mark_sending(session_id, positions, self._holder):
                log.warning("pick %s: another replica took it over; this one stops", session_id)
                raise Stopping

        return await self._media.send(
            self._target.chat_id,
            uploads,
            captions,
            handed_over,
            thread_id=self._target.thread_id,
        )

    async def _failed(self, batch: list[Fetched], error: TelegramError) -> None:
        """Telegram answered with an error: report what may have arrived, clear the rest and deal with it."""
        item = failed_item(error) if len(batch) > 1 else None
        sent = _maybe_arrived(len(batch), item)
        await self.skip_all(batch[:sent], SkipReason.UNCONFIRMED)
        if item is not None and item > 1:
            self._target.credited = True  # item 1 went out, with the credit if it carried one
        rest = batch[sent:]
        await self._repo.clear_sending(self._target.session.id, [f.item.position for f in rest])
        if not rest:
            return
        if isinstance(error, ChatMigrated):
            await self._target.follow_migration(error.new_chat_id)
            await self.send(rest)
        elif isinstance(error, Forbidden):
            if self._target.private:
                _remove_files(rest)
                raise ChatUnavailable(error.message) from None
            await self._target.fall_back_to_private()
            await self.send(rest)
        elif isinstance(error, TooLarge):
            await self._too_large(rest, error)
        elif isinstance(error, BadRequest) and item is not None:
            await self._item_refused(rest, error, item)
        elif isinstance(error, BadRequest):
            await self._refused(rest, error.message)
        else:
            await self.skip_all(rest, SkipReason.TELEGRAM_REFUSED, error.message)

    async def _item_refused(self, rest: list[Fetched], error: BadRequest, item: int) -> None:
        """Album item #`item`, `rest[0]`, failed (those before it went out). A flood refusal or a lost chat holds
        for the rest too; any other error is that item's alone."""
        if flood_wait(error) is not None:
            if item > 1:
                await self.send(rest)  # the rate limiter recorded the wait and left the album to us
            else:
                await self.skip_all(rest, SkipReason.TELEGRAM_REFUSED, error.message)  # refused after its retries
        elif self._target.thread_id is not None and lost_the_topic(error.message):
            await self._target.leave_topic()
            await self.send(rest)
        elif not self._target.private and _lost_the_chat(error.message):
            await self._target.fall_back_to_private()
            await self.send(rest)
        else:
            match = ITEM_ERROR.search(error.message)
            await self._refused(rest[:1], match.group(1) if match else error.message)
            if rest[1:]:
                await self.send(rest[1:])

    async def _refused(self, batch: list[Fetched], error: str) -> None:
        if self._target.thread_id is not None and lost_the_topic(error):
            await self._target.leave_topic()
            await self.send(batch)
        elif not self._target.private and _lost_the_chat(error):
            await self._target.fall_back_to_private()
            await self.send(batch)
        elif len(batch) > 1:
            for single in batch:  # one bad item fails the whole album: send them one by one to find it
                await self.send([single])
        elif batch[0].upload is not None and batch[0].upload.kind == "photo" and batch[0].upload.file_id is None:
            await self.send([_as_document(batch[0])])  # a photo Telegram will not take as a photo
        else:
            await self.skip_all(batch, SkipReason.TELEGRAM_REFUSED, error)

    async def _too_large(self, batch: list[Fetched], error: TooLarge) -> None:
        """Telegram found the request too large (413): halve an album down to single items, then report."""
        if len(batch) == 1:
            await self.skip_all(batch, SkipReason.TELEGRAM_REFUSED, error.message)
            return
        middle = len(batch) // 2
        await self.send(batch[:middle])
        await self.send(batch[middle:])

    async def _delivered(self, batch: list[Fetched], messages: list[Message]) -> None:
        confirmed = {f.item.position: f.size or 0 for f, _ in zip(batch, messages, strict=False)}  # one message each
        await self._repo.mark_sent(self._target.session.id, confirmed)
        await self._repeats.remember([(f.item, f.content_hash, m) for f, m in zip(batch, messages, strict=False)])
        _remove_files(batch)
        self._target.delivered(messages)
        await self._report.sent(len(batch))


def _maybe_arrived(count: int, item: int | None) -> int:
    """How many of the first items of a send of `count` an error leaves in doubt: those before the album item
    it names (a 429 names none: an album refused for flood is refused whole)."""
    return min((item or 1) - 1, count)


def _uploads(batch: Sequence[Fetched]) -> list[Upload]:
    return [f.upload for f in batch if f.upload is not None]


def _as_document(fetched: Fetched) -> Fetched:
    assert fetched.upload is not None
    upload = fetched.upload
    return Fetched(
        fetched.item,
        upload=Upload(upload.position, upload.path, upload.filename, "document"),
        size=fetched.size,
        space=fetched.space,
        content_hash=fetched.content_hash,
    )


def _lost_the_chat(error: str) -> bool:
    """Telegram's ways of saying the bot may no longer post in a group or channel."""
    text = error.lower()
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


def _remove_files(batch: Sequence[Fetched]) -> None:
    for fetched in batch:
        fetched.remove_file()
