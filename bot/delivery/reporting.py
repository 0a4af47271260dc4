"""What a delivery tells its chat while it runs and when it ends: the progress line, edited at most every
few seconds, and the summary (PickMessages renders both)."""

from __future__ import annotations

import asyncio
import time

from bot.delivery.target import DeliveryTarget
from bot.outcomes import SkipReason
from bot.pick_messages import PickMessages, ProgressLine, Skipped, Summary
from storage.picks import PickItem, PickRepository

PROGRESS_EVERY = 3.0


class DeliveryReport:
    def __init__(self, messages: PickMessages, repo: PickRepository, target: DeliveryTarget) -> None:
        self._messages = messages
        self._repo = repo
        self._target = target
        self._total = self._downloaded = self._sent = 0
        self._last_edit = 0.0
        self._waiting = 0  # videos Google is still processing, once the delivery waits for them
        self._position: int | None = None  # in line for a delivery slot, until the delivery starts
        self._posted = False  # a line is posted once at most: a chat refusing it is not asked again
        self._shown: ProgressLine | None = None  # Telegram refuses an edit that changes nothing
        self._starting: asyncio.Task[None] | None = None  # the line start() shows, until it is there

    async def queued(self, position: int) -> None:
        """The line says the delivery waits for a free slot, `position` in line (edits paced as usual)."""
        first = self._position is None
        self._position = position
        await self._post_or_show(force=first)

    def start(self, total: int, done: int) -> None:
        """Show the progress line: the group's "choosing photos…" line or the one left by an interrupted run
        or the queue is edited; otherwise a new one is posted and remembered. In the background, so the
        downloads start a round trip sooner; `posted()` waits for it."""
        self._total, self._downloaded, self._sent = total, done, done
        self._position = None
        self._starting = asyncio.create_task(self._post_or_show(force=True))

    async def posted(self) -> None:
        """The line start() shows is there (or was refused): what the chat is sent next comes after it. A waiter
        cancelled (the delivery stopped) leaves the line to be posted and recorded all the same."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def _post_or_show(self, *, force: bool) -> None:
        session = self._target.session
        if session.status_message_id is None and not self._posted:
            self._posted = True
            self._shown = self._line()
            self._last_edit = time.monotonic()
            message_id = await self._messages.progress(
                session.report_chat_id, None, self._shown, session.thread_in(session.report_chat_id)
            )
            await self._repo.set_messages(session.id, status_message_id=message_id)
            await self._target.refresh()
        else:
            await self._show(force=force)

    async def downloaded(self) -> None:
        self._downloaded += 1
        await self._show()

    async def sent(self, count: int) -> None:
        self._sent += count
        await self._show()

    async def waiting_for_videos(self, count: int) -> None:
        """From now on the line says how many videos Google is still processing."""
        self._waiting = count
        await self._show(force=True)

    async def finish(self, items: list[PickItem], *, unlisted: bool, offer: bool = False) -> None:
        """Replace the progress line with the summary, in the chat the pick reports to; `offer`: with "Send them
        anyway" for the items the chat was sent before."""
        await self.posted()
        session = self._target.session
        posted = self._target.posted
        skipped = [item for item in items if item.status == "skipped"]
        summary = Summary(
            total=len(items),
            sent=sum(1 for item in items if item.status == "sent"),
            skipped=[
                Skipped(item.filename, item.size, item.reason or SkipReason.UNAVAILABLE, item.reason_detail)
                for item in skipped
                if item.reason is not SkipReason.REPEAT
            ],
            unlisted=unlisted,
            posted_in=(posted.chat.title or "", posted.link) if posted is not None else None,
            repeats=sum(1 for item in skipped if item.reason is SkipReason.REPEAT),
            elsewhere=session.target_chat_id != session.report_chat_id,
            offer=session.id if offer else None,
        )
        await self._messages.delete(session.report_chat_id, session.status_message_id)
        await self._messages.summary(session.report_chat_id, summary, session.thread_in(session.report_chat_id))

    def _line(self) -> ProgressLine:
        if self._position is not None:
            return ProgressLine("queued", self._position, 0)
        if self._waiting:
            return ProgressLine("waiting_videos", 0, self._waiting)
        if self._downloaded < self._total:
            return ProgressLine("downloading", self._downloaded, self._total)
        return ProgressLine("sending", self._sent, self._total)

    async def _show(self, *, force: bool = False) -> None:
        now = time.monotonic()
        line = self._line()
        if line == self._shown or (not force and now - self._last_edit < PROGRESS_EVERY):
            return
        self._last_edit = now
        session = self._target.session
        if session.status_message_id is not None:
            self._shown = line
            await self._messages.progress(session.report_chat_id, session.status_message_id, line)
