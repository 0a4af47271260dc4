"""The progress line goes out in the background: a delivery's downloads need not wait for it, its media do."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from bot.delivery.fetching import Fetched
from bot.delivery.repeats import Repeats
from bot.delivery.reporting import DeliveryReport
from bot.delivery.sending import BatchSender
from bot.delivery.target import DeliveryTarget
from bot.pick_messages import PickMessages, ProgressLine
from bot.telegram_send import MediaSender
from storage.picks import PickItem, PickRepository

LINE_ID = 42


class SlowMessages:
    """PickMessages whose progress line Telegram answers only once `answer` is set."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.lines: list[ProgressLine] = []
        self.deleted: list[int | None] = []

    async def progress(self, chat_id: int, message_id: int | None, line: ProgressLine, thread_id: int | None) -> int:
        await self.answer.wait()
        self.lines.append(line)
        return LINE_ID

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        self.deleted.append(message_id)

    async def summary(self, *args: Any) -> None:
        return None


class Repo:
    def __init__(self, session: SimpleNamespace) -> None:
        self._session = session

    async def set_messages(self, session_id: int, *, status_message_id: int) -> None:
        self._session.status_message_id = status_message_id

    async def mark_sending(self, session_id: int, positions: list[int], holder: str) -> bool:
        return True


class Target:
    def __init__(self, session: SimpleNamespace) -> None:
        self.session = session
        self.chat_id = self.session.report_chat_id
        self.thread_id = None
        self.posted = None

    async def refresh(self) -> SimpleNamespace:
        return self.session


class Media:
    """MediaSender noting how many progress lines were there when each send began."""

    def __init__(self, messages: SlowMessages) -> None:
        self._messages = messages
        self.lines_before: list[int] = []

    async def send(self, chat_id: int, uploads: list[Any], captions: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
        self.lines_before.append(len(self._messages.lines))
        return []


def delivery() -> tuple[SlowMessages, DeliveryReport, BatchSender, Media, SimpleNamespace]:
    session = SimpleNamespace(
        id=1, status_message_id=None, report_chat_id=7, target_chat_id=7, thread_in=lambda chat_id: None
    )
    messages, repo, target = SlowMessages(), Repo(session), Target(session)
    report = DeliveryReport(cast(PickMessages, messages), cast(PickRepository, repo), cast(DeliveryTarget, target))
    media = Media(messages)
    sender = BatchSender(
        repo=cast(PickRepository, repo),
        media=cast(MediaSender, media),
        target=cast(DeliveryTarget, target),
        report=report,
        stopping=asyncio.Event(),
        holder="here",
        repeats=cast(Repeats, None),
    )
    return messages, report, sender, media, session


async def settle() -> None:
    """Let every task run until it waits on something (nothing here waits on I/O or time)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_start_returns_at_once_and_the_media_waits_for_the_line() -> None:
    messages, report, sender, media, _ = delivery()
    report.start(3, 0)  # returns while Telegram has not answered the line yet
    item = Fetched(PickItem(0, "m0", "PHOTO", "a.jpg", "image/jpeg", 1, 1))
    sending = asyncio.create_task(sender._upload([item], [], [None]))
    await settle()
    assert media.lines_before == []  # the album waits for the line
    messages.answer.set()
    await sending
    assert media.lines_before == [1]  # and went after it


async def test_finish_waits_for_the_line_and_then_removes_it() -> None:
    messages, report, _, _, _ = delivery()
    report.start(3, 0)
    finishing = asyncio.create_task(report.finish([], unlisted=False))
    await settle()
    assert messages.deleted == []
    messages.answer.set()
    await finishing
    assert messages.deleted == [LINE_ID]  # the line just posted, not one still unknown


async def test_a_delivery_stopped_while_its_line_is_on_its_way_still_records_the_line() -> None:
    messages, report, sender, _, session = delivery()
    report.start(3, 0)
    item = Fetched(PickItem(0, "m0", "PHOTO", "a.jpg", "image/jpeg", 1, 1))
    sending = asyncio.create_task(sender._upload([item], [], [None]))
    await settle()
    sending.cancel()  # the delivery is stopped, or taken over, while its first send waits for the line
    await asyncio.gather(sending, return_exceptions=True)
    messages.answer.set()
    await report.posted()
    assert messages.lines == [ProgressLine("downloading", 0, 3)]  # posted, and its id recorded for the next run
    assert session.status_message_id == LINE_ID
