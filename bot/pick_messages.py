"""The pick's messages in the chat: prompt with buttons, QR code, progress, summary, endings."""

from __future__ import annotations

import io
import logging

import qrcode
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, TelegramError

from bot import texts

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def autoclose_uri(picker_uri: str) -> str:
    return picker_uri.rstrip("/") + "/autoclose"


def prompt_keyboard(session_id: int, picker_uri: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.BUTTON_OPEN_PHOTOS, url=autoclose_uri(picker_uri))],
            [
                InlineKeyboardButton(texts.BUTTON_QR, callback_data=f"pick:qr:{session_id}"),
                InlineKeyboardButton(texts.BUTTON_CANCEL, callback_data=f"pick:cancel:{session_id}"),
            ],
        ]
    )


def pick_again_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_PICK, callback_data="pick:new")]])


def qr_png(data: str) -> bytes:
    image = qrcode.make(data, border=2, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


class PickMessages:
    """Sends and edits the pick's messages; a message that cannot be edited any more is not an error."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def prompt(self, chat_id: int, session_id: int, picker_uri: str, email: str, limit: int | None) -> int:
        text = texts.PICK_PROMPT.format(
            email=texts.html(email), limit=texts.PICK_PROMPT_LIMIT.format(count=limit) if limit else ""
        )
        message = await self._bot.send_message(
            chat_id, text, reply_markup=prompt_keyboard(session_id, picker_uri), link_preview_options=NO_PREVIEW
        )
        return message.message_id

    async def notice(self, chat_id: int, session_id: int, name: str) -> int | None:
        """The group's line while a member chooses, with a Cancel only they may use."""
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton(texts.BUTTON_CANCEL, callback_data=f"pick:cancel:{session_id}")]]
        )
        try:
            message = await self._bot.send_message(
                chat_id, texts.GROUP_CHOOSING.format(name=texts.html(name)), reply_markup=keyboard
            )
        except TelegramError as exc:
            log.warning("could not post the pick notice in chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def qr(self, chat_id: int, picker_uri: str) -> None:
        await self._bot.send_photo(chat_id, qr_png(picker_uri), caption=texts.QR_CAPTION)

    async def say(self, chat_id: int, text: str, *, pick_again: bool = False) -> int | None:
        try:
            message = await self._bot.send_message(
                chat_id,
                text,
                reply_markup=pick_again_keyboard() if pick_again else None,
                link_preview_options=NO_PREVIEW,
            )
        except TelegramError as exc:
            log.warning("could not message chat %s: %s", chat_id, exc)
            return None
        return message.message_id

    async def edit(self, chat_id: int, message_id: int | None, text: str, *, pick_again: bool = False) -> None:
        """Replace a message's text (and drop its buttons)."""
        if message_id is None:
            return
        try:
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=pick_again_keyboard() if pick_again else None,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc.message)
        except TelegramError as exc:
            log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc)

    async def replace(self, chat_id: int, message_id: int | None, text: str, *, pick_again: bool = False) -> None:
        """Turn the message into `text`; when its id is unknown (the answer to sending it was lost, though the
        user may see it) the news comes as a new message instead of not at all."""
        if message_id is None:
            await self.say(chat_id, text, pick_again=pick_again)
        else:
            await self.edit(chat_id, message_id, text, pick_again=pick_again)

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        try:
            await self._bot.delete_message(chat_id, message_id)
        except TelegramError as exc:
            log.info("could not delete message %s in chat %s: %s", message_id, chat_id, exc)
