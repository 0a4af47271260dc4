"""Sending fetched items exactly once, with Telegram's fallbacks, and recording each item's end.

Telegram cannot be asked whether a message arrived. So items are marked "sending" right before their
request leaves (the rate limiter awaits `on_handover` after any flood wait), and "sent" only from
Telegram's answer: an item still marked after a crash, or whose send got no answer, is reported as maybe
arrived instead of being sent again. A definite refusal clears the mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from telegram import Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError, TimedOut

from bot.delivery.fetching import Fetched
from bot.delivery.reporting import DeliveryReport
from bot.delivery.target import DeliveryTarget
from bot.outcomes import SkipReason
from bot.telegram_send import MediaSender, Upload, file_id_of
from storage.picks import PickRepository, SentItem


class Stopping(Exception):
    """The bot is shutting down: stop between uploads; what is not sent stays pending."""


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
    ) -> None:
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
        try:
            messages = await self._upload(batch)
        except TimedOut:
            await self.skip_all(batch, SkipReason.UNCONFIRMED)
        except ChatMigrated as exc:
            await self._target.follow_migration(exc.new_chat_id)
            await self.send(batch)
        except Forbidden as exc:
            if self._target.private:
                _remove_files(batch)
                raise ChatUnavailable(exc.message) from None
            await self._target.fall_back_to_private()
            await self.send(batch)
        except BadRequest as exc:
            await self._refused(batch, exc)
        except TelegramError as exc:
            await self.skip_all(batch, SkipReason.TELEGRAM_REFUSED, str(exc))
        else:
            await self._delivered(batch, messages)

    async def skip(self, fetched: Fetched) -> None:
        fetched.remove_file()
        reason = fetched.reason or SkipReason.UNAVAILABLE
        await self._repo.mark_skipped(
            self._target.session.id, fetched.item.position, reason, detail=fetched.detail, size=fetched.size
        )

    async def skip_all(self, batch: Sequence[Fetched], reason: SkipReason, detail: str | None = None) -> None:
        for fetched in batch:
            fetched.reason, fetched.detail = reason, detail
            await self.skip(fetched)

    async def _upload(self, batch: list[Fetched]) -> list[Message]:
        """One send, recording the moment the items are handed to Telegram; a definite refusal clears it."""
        session_id = self._target.session.id
        positions = [f.item.position for f in batch]

        async def handed_over() -> None:
            await self._repo.mark_sending(session_id, positions, True)

        uploads = [f.upload for f in batch if f.upload is not None]
        try:
            return await self._media.send(self._target.chat_id, uploads, self._target.caption(), handed_over)
        except TimedOut:
            raise  # no answer: the items stay in doubt
        except TelegramError:
            await self._repo.mark_sending(session_id, positions, False)
            raise

    async def _refused(self, batch: list[Fetched], error: BadRequest) -> None:
        if not self._target.private and _lost_the_chat(error):
            await self._target.fall_back_to_private()
            await self.send(batch)
        elif len(batch) > 1:
            for single in batch:  # one bad item fails the whole album: send them one by one to find it
                await self.send([single])
        elif batch[0].upload is not None and batch[0].upload.kind == "photo":
            await self.send([_as_document(batch[0])])  # a photo Telegram will not take as a photo
        else:
            await self.skip_all(batch, SkipReason.TELEGRAM_REFUSED, error.message)

    async def _delivered(self, batch: list[Fetched], messages: list[Message]) -> None:
        sent = [SentItem(f.item.position, m.message_id, file_id_of(m)) for f, m in zip(batch, messages, strict=False)]
        await self._repo.mark_sent(self._target.session.id, sent, {f.item.position: f.size or 0 for f in batch})
        _remove_files(batch)
        self._target.delivered(messages)
        await self._report.sent(len(batch))


def _as_document(fetched: Fetched) -> Fetched:
    assert fetched.upload is not None
    upload = fetched.upload
    return Fetched(
        fetched.item, upload=Upload(upload.position, upload.path, upload.filename, "document"), size=fetched.size
    )


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


def _remove_files(batch: Sequence[Fetched]) -> None:
    for fetched in batch:
        fetched.remove_file()
