"""The pick's messages in the chat: prompt with buttons, QR code, notices, progress, summary, endings.

This is the edge for everything a pick says while no update is being handled: it gets codes and data
from the pick and delivery services and renders them with bot/texts.py.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, field
from typing import Literal

import qrcode
from telegram import InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ExtBot

from bot import keyboards, texts
from bot.flood import ProgressSkipped, SendInfo
from bot.outcomes import Code, SkipReason

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
SUMMARY_RETRY_PAUSES = (1.0, 3.0, 10.0)
PROGRESS = SendInfo(progress=True)
MAX_TEXT = 4096  # a message's text, after entity parsing (Bot API, sendMessage)
NAME_CHARS = 60  # of each file name the summary lists
REASON_CHARS = 200  # of each reason (Telegram's refusal texts included)


@dataclass(frozen=True)
class ProgressLine:
    """Where a delivery stands: downloading (done = downloaded), sending (done = sent), waiting for Google
    to process `total` videos, or queued for a free delivery slot (done = its position in line)."""

    phase: Literal["downloading", "sending", "waiting_videos", "queued"]
    done: int
    total: int


@dataclass(frozen=True)
class Skipped:
    filename: str
    size: int | None
    reason: SkipReason
    detail: str | None


@dataclass(frozen=True)
class Summary:
    """How a delivery ended. `unlisted`: Google never listed the items, so it is not known what was picked."""

    total: int
    sent: int
    skipped: list[Skipped] = field(default_factory=list)
    unlisted: bool = False
    posted_in: tuple[str, str | None] | None = None  # (title, link) of a forwarding destination


def render_progress(line: ProgressLine) -> str:
    if line.phase == "downloading":
        return texts.PROGRESS_DOWNLOADING.format(done=line.done, total=line.total)
    if line.phase == "sending":
        return texts.PROGRESS_SENDING.format(done=line.done, total=line.total)
    if line.phase == "queued":
        return texts.PROGRESS_QUEUED.format(position=line.done)
    return texts.PROGRESS_WAITING_VIDEOS.format(count=line.total)


def render_summary(summary: Summary) -> str:
    """The summary, within Telegram's 4096 characters however many items were skipped for however many
    reasons: long names and reasons are cut, and reasons that do not fit are counted on a last line."""
    posted = "\n" + texts.posted_in(*summary.posted_in) if summary.posted_in is not None else ""
    if summary.unlisted:
        text = texts.GOOGLE_DOWN
    elif summary.total == 0:
        text = texts.PICK_NOTHING_PICKED
    else:
        groups: dict[str, list[str]] = {}
        for item in summary.skipped:
            name = _one_line(item.filename, NAME_CHARS)
            if item.size:
                name += f" ({texts.file_size(item.size)})"
            groups.setdefault(_one_line(texts.skip_reason(item.reason, item.detail), REASON_CHARS), []).append(name)
        text = _fit(texts.summary(summary.total, summary.sent, groups), groups, MAX_TEXT - _length(posted))
    return text + posted


def _one_line(text: str, most: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[: most - 1] + "…"


def _length(text: str) -> int:
    """Characters as Telegram counts them (UTF-16 units), of the HTML source: never less than after parsing."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, groups: dict[str, list[str]], room: int) -> str:
    """`text` (a head line, then one line per reason of `groups`) cut to whole lines within `room`, the items
    of the reasons left out counted on a last line."""
    if _length(text) <= room:
        return text
    head, *lines = text.split("\n")
    counts = [len(names) for names in groups.values()]
    kept = [head]
    for number, line in enumerate(lines):
        more = "\n" + texts.SUMMARY_MORE.format(count=sum(counts[number:]))
        if _length("\n".join([*kept, line])) + _length(more) > room:
            return "\n".join(kept) + more
        kept.append(line)
    return "\n".join(kept)


def qr_png(data: str) -> bytes:
    image = qrcode.make(data, border=2, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def _pick_again(wanted: bool) -> InlineKeyboardMarkup | None:
    return keyboards.pick_again() if wanted else None


class PickMessages:
    """Sends and edits the pick's messages; a message that cannot be edited any more is not an error."""

    def __init__(self, bot: ExtBot[SendInfo]) -> None:
        self._bot = bot

    async def prompt(self, chat_id: int, session_id: int, picker_uri: str, email: str, limit: int | None) -> int:
        text = texts.PICK_PROMPT.format(
            email=texts.html(email), limit=texts.PICK_PROMPT_LIMIT.format(count=limit) if limit else ""
        )
        message = await self._bot.send_message(
            chat_id, text, reply_markup=keyboards.prompt(session_id, picker_uri), link_preview_options=NO_PREVIEW
        )
        return message.message_id

    async def notice(self, chat_id: int, session_id: int, name: str) -> int | None:
        """The group's line while a member chooses, with a Cancel only they may use."""
        try:
            message = await self._bot.send_message(
                chat_id,
                texts.GROUP_CHOOSING.format(name=texts.html(name)),
                reply_markup=keyboards.cancel_pick(session_id),
            )
        except TelegramError as exc:
            log.warning("could not post the pick notice in chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def qr(self, chat_id: int, picker_uri: str) -> None:
        await self._bot.send_photo(chat_id, qr_png(picker_uri), caption=texts.QR_CAPTION)

    async def say(self, chat_id: int, code: Code, *, pick_again: bool = False, **params: object) -> int | None:
        return await self._send(chat_id, texts.say(code, **params), pick_again=pick_again)

    async def replace(
        self, chat_id: int, message_id: int | None, code: Code, *, pick_again: bool = False, **params: object
    ) -> None:
        """Turn the message into what `code` says; when its id is unknown (the answer to sending it was lost,
        though the user may see it) the news comes as a new message instead of not at all."""
        if message_id is None:
            await self.say(chat_id, code, pick_again=pick_again, **params)
        else:
            await self._edit(chat_id, message_id, texts.say(code, **params), pick_again=pick_again)

    async def picked(self, chat_id: int, message_id: int | None) -> None:
        """The prompt says the selection arrived. A prompt whose id is unknown is left alone: progress follows."""
        if message_id is not None:
            await self._edit(chat_id, message_id, texts.say(Code.PICK_PICKED))

    async def progress(self, chat_id: int, message_id: int | None, line: ProgressLine) -> int | None:
        """Show the delivery's progress line: edit it in place, or post it when there is none yet."""
        if message_id is None:
            return await self._send(chat_id, render_progress(line))
        await self._edit(chat_id, message_id, render_progress(line), progress=True)
        return message_id

    async def summary(self, chat_id: int, summary: Summary) -> None:
        """The summary is the only word the user gets on what did not arrive: when Telegram answers 5xx or
        the connection breaks it is sent again (the same summary twice beats none); a chat that refuses it
        (blocked, removed, a 400) is left alone."""
        text = render_summary(summary)
        for pause in (*SUMMARY_RETRY_PAUSES, None):
            try:
                await self._bot.send_message(
                    chat_id, text, reply_markup=keyboards.pick_again(), link_preview_options=NO_PREVIEW
                )
                return
            except BadRequest as exc:  # a refusal, though python-telegram-bot makes it a NetworkError
                log.warning("Telegram refused the summary for chat %s: %s", chat_id, exc.message)
                return
            except NetworkError as exc:
                if pause is None:
                    log.warning("could not send a summary to chat %s: %s", chat_id, exc)
                    return
                log.info("summary to chat %s not sent (%s); again in %.0f s", chat_id, exc, pause)
                await asyncio.sleep(pause)
            except TelegramError as exc:
                log.warning("could not send a summary to chat %s: %s", chat_id, exc)
                return

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        try:
            await self._bot.delete_message(chat_id, message_id)
        except TelegramError as exc:
            log.info("could not delete message %s in chat %s: %s", message_id, chat_id, exc)

    async def _send(self, chat_id: int, text: str, *, pick_again: bool = False) -> int | None:
        try:
            message = await self._bot.send_message(
                chat_id, text, reply_markup=_pick_again(pick_again), link_preview_options=NO_PREVIEW
            )
        except TelegramError as exc:
            log.warning("could not message chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def _edit(
        self, chat_id: int, message_id: int, text: str, *, pick_again: bool = False, progress: bool = False
    ) -> None:
        """Replace a message's text (and drop its buttons). A `progress` edit is skipped, never waited for,
        while the chat's edits are paced or refused (bot/flood.py)."""
        try:
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=_pick_again(pick_again),
                link_preview_options=NO_PREVIEW,
                rate_limit_args=PROGRESS if progress else None,
            )
        except ProgressSkipped:
            log.debug("progress edit in chat %s skipped: edits there are paced", chat_id)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc.message)
        except TelegramError as exc:
            log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc)
