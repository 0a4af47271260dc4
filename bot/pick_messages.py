"""The pick's messages in the chat: prompt with buttons, QR code, notices, progress, summary, endings.

This is the edge for everything a pick says while no update is being handled: it gets codes and data
from the pick and delivery services and renders them with bot/texts.py, in the language of the chat each
message goes to: a private chat's person, or a group's language for what the whole group reads.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import qrcode
from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ExtBot

from bot import keyboards, texts
from bot.chat_rights import lost_the_topic
from bot.flood import ProgressSkipped, SendInfo
from bot.outcomes import Code, SkipReason
from bot.texts import Speaker

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
SUMMARY_RETRY_PAUSES = (1.0, 3.0, 10.0)
PROGRESS = SendInfo(progress=True)
MAX_TEXT = 4096  # a message's text, after entity parsing (Bot API, sendMessage)
NAME_CHARS = 60  # of each file name the summary lists
REASON_CHARS = 200  # of each reason (Telegram's refusal texts included)

ChatSpeaker = Callable[[int], Awaitable[Speaker]]  # the language a chat reads, by its id


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
class OfferEstimate:
    """How long a pick would take as albums and as archives (bot/delivery/offers.py)."""

    items: int
    videos: bool
    album_seconds: float
    archives: int
    archive_seconds: float


@dataclass(frozen=True)
class Summary:
    """How a delivery ended. `unlisted`: Google never listed the items, so it is not known what was picked."""

    total: int
    sent: int
    skipped: list[Skipped] = field(default_factory=list)
    unlisted: bool = False
    posted_in: tuple[str, str | None] | None = None  # (title, link) of a forwarding destination
    repeats: int = 0  # items not sent because the chat was sent them before (counted, not in `skipped`)
    elsewhere: bool = False  # the items go to another chat than the summary (a forwarding destination)
    offer: int | None = None  # the pick whose repeats "Send them anyway" sends (None: no such button)


def render_progress(t: Speaker, line: ProgressLine) -> str:
    if line.phase == "downloading":
        return t(texts.PROGRESS_DOWNLOADING, done=line.done, total=line.total)
    if line.phase == "sending":
        return t(texts.PROGRESS_SENDING, done=line.done, total=line.total)
    if line.phase == "queued":
        return t(texts.PROGRESS_QUEUED, position=line.done)
    return t.plural(texts.PROGRESS_WAITING_VIDEOS, line.total)


def render_summary(t: Speaker, summary: Summary) -> str:
    """The summary, within Telegram's 4096 characters however many items were skipped for however many
    reasons: long names and reasons are cut, and reasons that do not fit are counted on a last line."""
    posted = "\n" + t.posted_in(*summary.posted_in) if summary.posted_in is not None else ""
    if summary.unlisted:
        text = t(texts.GOOGLE_DOWN)
    elif summary.total == 0:
        text = t(texts.PICK_NOTHING_PICKED)
    elif summary.repeats == summary.total:
        text = t.plural(
            texts.SUMMARY_ALL_REPEATS_THERE if summary.elsewhere else texts.SUMMARY_ALL_REPEATS, summary.repeats
        )
    else:
        groups: dict[str, list[str]] = {}
        for item in summary.skipped:
            name = _one_line(item.filename, NAME_CHARS)
            if item.size:
                name += f" ({t.file_size(item.size)})"
            groups.setdefault(_one_line(t.skip_reason(item.reason, item.detail), REASON_CHARS), []).append(name)
        line = texts.SUMMARY_REPEATS_THERE if summary.elsewhere else texts.SUMMARY_REPEATS
        repeats = "\n" + t.plural(line, summary.repeats) if summary.repeats else ""
        head = t.summary(summary.total - summary.repeats, summary.sent, groups)
        text = _fit(t, head, groups, MAX_TEXT - _length(posted) - _length(repeats)) + repeats
    return text + posted


def _one_line(text: str, most: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[: most - 1] + "…"


def _length(text: str) -> int:
    """Characters as Telegram counts them (UTF-16 units), of the HTML source: never less than after parsing."""
    return len(text.encode("utf-16-le")) // 2


def _fit(t: Speaker, text: str, groups: dict[str, list[str]], room: int) -> str:
    """`text` (a head line, then one line per reason of `groups`) cut to whole lines within `room`, the items
    of the reasons left out counted on a last line."""
    if _length(text) <= room:
        return text
    head, *lines = text.split("\n")
    counts = [len(names) for names in groups.values()]
    kept = [head]
    for number, line in enumerate(lines):
        more = "\n" + t.plural(texts.SUMMARY_MORE, sum(counts[number:]))
        if _length("\n".join([*kept, line])) + _length(more) > room:
            return "\n".join(kept) + more
        kept.append(line)
    return "\n".join(kept)


def qr_png(data: str) -> bytes:
    image = qrcode.make(data, border=2, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def _prompt_text(t: Speaker, email: str, limit: int | None) -> str:
    limited = t.plural(texts.PICK_PROMPT_LIMIT, limit) if limit else ""
    return t(texts.PICK_PROMPT, email=texts.html(email), limit=limited)


def _pick_again(t: Speaker, wanted: bool) -> InlineKeyboardMarkup | None:
    return keyboards.pick_again(t) if wanted else None


class PickMessages:
    """Sends and edits the pick's messages; a message that cannot be edited any more is not an error."""

    def __init__(self, bot: ExtBot[SendInfo], speaker: ChatSpeaker) -> None:
        self._bot = bot
        self._speaker = speaker

    async def prompt(self, chat_id: int, session_id: int, picker_uri: str, email: str, limit: int | None) -> int:
        t = await self._speaker(chat_id)
        message = await self._bot.send_message(
            chat_id,
            _prompt_text(t, email, limit),
            reply_markup=keyboards.prompt(t, session_id, picker_uri),
            link_preview_options=NO_PREVIEW,
        )
        return message.message_id

    async def remind(
        self,
        chat_id: int,
        message_id: int,
        session_id: int,
        picker_uri: str,
        email: str,
        limit: int | None,
        left: float,
    ) -> None:
        """The prompt, with its buttons, now also says the link runs out in `left` seconds."""
        t = await self._speaker(chat_id)
        text = _prompt_text(t, email, limit) + "\n\n" + t(texts.PICK_REMINDER, duration=t.duration(left))
        await self._edit(chat_id, message_id, text, keyboards.prompt(t, session_id, picker_uri))

    async def notice(
        self, chat_id: int, session_id: int, user_id: int, name: str, thread_id: int | None = None
    ) -> int | None:
        """The group's line while a member chooses, naming them with a real mention (a first name could be anyone's),
        with a Cancel only they may use."""
        t = await self._speaker(chat_id)
        line = t(texts.GROUP_CHOOSING, name=texts.mention(user_id, name))
        try:
            message = await self._post(chat_id, line, keyboards.cancel_pick(t, session_id), thread_id)
        except TelegramError as exc:
            log.warning("could not post the pick notice in chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def qr(self, chat_id: int, picker_uri: str) -> None:
        t = await self._speaker(chat_id)
        await self._bot.send_photo(chat_id, qr_png(picker_uri), caption=t(texts.QR_CAPTION))

    async def say(
        self, chat_id: int, code: Code, *, pick_again: bool = False, thread_id: int | None = None, **params: object
    ) -> int | None:
        t = await self._speaker(chat_id)
        return await self._send(chat_id, t.say(code, **params), _pick_again(t, pick_again), thread_id)

    async def replace(
        self,
        chat_id: int,
        message_id: int | None,
        code: Code,
        *,
        pick_again: bool = False,
        again_for: int | None = None,
        **params: object,
    ) -> None:
        """Turn the message into what `code` says; when its id is unknown (the answer to sending it was lost,
        though the user may see it) the news comes as a new message instead of not at all. `again_for`: its
        button picks again like pick `again_for` (same chat, same limit) instead of afresh."""
        t = await self._speaker(chat_id)
        markup = keyboards.pick_again_for(t, again_for) if again_for is not None else _pick_again(t, pick_again)
        if message_id is None:
            await self._send(chat_id, t.say(code, **params), markup)
        else:
            await self._edit(chat_id, message_id, t.say(code, **params), markup)

    async def picked(self, chat_id: int, message_id: int | None) -> None:
        """The prompt says the selection arrived. A prompt whose id is unknown is left alone: progress follows."""
        if message_id is not None:
            t = await self._speaker(chat_id)
            await self._edit(chat_id, message_id, t.say(Code.PICK_PICKED))

    async def progress(
        self, chat_id: int, message_id: int | None, line: ProgressLine, thread_id: int | None = None
    ) -> int | None:
        """Show the delivery's progress line: edit it in place, or post it (in `thread_id`) when there is none."""
        text = render_progress(await self._speaker(chat_id), line)
        if message_id is None:
            return await self._send(chat_id, text, None, thread_id)
        await self._edit(chat_id, message_id, text, progress=True)
        return message_id

    async def summary(self, chat_id: int, summary: Summary, thread_id: int | None = None) -> None:
        """The summary is the only word the user gets on what did not arrive: when Telegram answers 5xx or
        the connection breaks it is sent again (the same summary twice beats none); a chat that refuses it
        (blocked, removed, a 400) is left alone."""
        t = await self._speaker(chat_id)
        text = render_summary(t, summary)
        for pause in (*SUMMARY_RETRY_PAUSES, None):
            try:
                await self._post(chat_id, text, keyboards.summary(t, summary.offer), thread_id)
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

    async def caption(self, chat_id: int, user_id: int, name: str) -> str:
        """ "Shared by …" on photos posted into a group, as a real mention (the name alone could be anyone's)."""
        t = await self._speaker(chat_id)
        return t(texts.SHARED_BY, name=texts.mention(user_id, name))

    async def item_captions(
        self, chat_id: int, style: str, items: Sequence[tuple[float | None, str | None]]
    ) -> list[str | None]:
        """The captions of an album's items (when taken, camera) from their metadata, as the chat asked in /settings
        (style none, date or camera); the chat's language is looked up once for them all."""
        if style == "none" or all(taken_at is None for taken_at, _ in items):
            return [None] * len(items)
        t = await self._speaker(chat_id)

        def caption(taken_at: float | None, camera: str | None) -> str | None:
            if taken_at is None:
                return None
            if style == "camera" and camera:
                return t(texts.CAPTION_DATE_CAMERA, date=t.date(taken_at), camera=texts.html(camera))
            return t(texts.CAPTION_DATE, date=t.date(taken_at))

        return [caption(taken_at, camera) for taken_at, camera in items]

    async def archive_caption(self, chat_id: int, first: int, last: int, total: int, kind: str) -> str:
        """Which items of the pick an archive holds, e.g. "Photos 1–87 of 400"."""
        t = await self._speaker(chat_id)
        if first == last:
            return t(texts.ARCHIVE_ONE_VIDEO if kind == "videos" else texts.ARCHIVE_ONE_PHOTO, first=first, total=total)
        return t(texts.ARCHIVE_CAPTIONS[kind], first=first, last=last, total=total)

    async def archive_offer(
        self, chat_id: int, session_id: int, figures: OfferEstimate, thread_id: int | None
    ) -> int | None:
        """Ask whether a long pick should come as ZIP files; the question's message id (None: not posted)."""
        t = await self._speaker(chat_id)
        text = t.plural(
            texts.ARCHIVE_OFFER_WITH_VIDEOS if figures.videos else texts.ARCHIVE_OFFER,
            figures.items,
            albums=t.duration(figures.album_seconds),
            archives=t.plural(texts.ARCHIVE_FILES, figures.archives),
            zips=t.duration(figures.archive_seconds),
        )
        return await self._send(chat_id, text, keyboards.archive_offer(t, session_id), thread_id)

    async def archive_offer_ended(
        self, chat_id: int, message_id: int | None, answer: str, thread_id: int | None
    ) -> None:
        """The question says how the pick comes, its buttons gone; when its id is unknown (the bot stopped before
        storing it) the news comes as a new message."""
        t = await self._speaker(chat_id)
        ended = {"archives": texts.ARCHIVE_OFFER_ARCHIVES, "albums": texts.ARCHIVE_OFFER_ALBUMS}
        text = t(ended.get(answer, texts.ARCHIVE_OFFER_SILENCE))
        if message_id is None:
            await self._send(chat_id, text, thread_id=thread_id)
        else:
            await self._edit(chat_id, message_id, text)

    async def _send(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None, thread_id: int | None = None
    ) -> int | None:
        try:
            message = await self._post(chat_id, text, markup, thread_id)
        except TelegramError as exc:
            log.warning("could not message chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def _post(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, thread_id: int | None
    ) -> Message:
        """Send into forum topic `thread_id` (if any); a topic deleted or closed meanwhile gets it in the group's
        General topic instead."""
        try:
            return await self._bot.send_message(
                chat_id, text, message_thread_id=thread_id, reply_markup=markup, link_preview_options=NO_PREVIEW
            )
        except BadRequest as exc:
            if thread_id is None or not lost_the_topic(exc.message):
                raise
            log.info("topic %s of chat %s is gone: posting in General", thread_id, chat_id)
            return await self._bot.send_message(chat_id, text, reply_markup=markup, link_preview_options=NO_PREVIEW)

    async def _edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        progress: bool = False,
    ) -> None:
        """Replace a message's text (and drop its buttons). A `progress` edit is skipped, never waited for,
        while the chat's edits are paced or refused (bot/flood.py)."""
        try:
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
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
