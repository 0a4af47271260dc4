"""Small helpers shared by the handlers: replying, standard keyboards, the deep link."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from bot import texts

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# New messages only: an edited "/pick" should not start a second pick.
NEW_MESSAGES = filters.UpdateType.MESSAGE


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def link_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_LINK, callback_data="link")]])


def url_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, url=url)]])


def private_chat_keyboard(context: ContextTypes.DEFAULT_TYPE, payload: str) -> InlineKeyboardMarkup:
    return url_keyboard(texts.BUTTON_OPEN_PRIVATE, f"https://t.me/{context.bot.username}?start={payload}")


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer in the chat the update came from (works for commands and button presses)."""
    chat = update.effective_chat
    if chat is None:
        return
    await chat.send_message(text, reply_markup=markup, link_preview_options=NO_PREVIEW)


def carries(query: CallbackQuery) -> bool:
    """Whether the pressed message really has a button with the pressed data. A modified client can send any
    data from any message; a message too old for Telegram to include gets the benefit of the doubt."""
    message = query.message
    if not isinstance(message, Message):
        return True
    markup = message.reply_markup
    return markup is not None and any(b.callback_data == query.data for row in markup.inline_keyboard for b in row)


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press. A press Telegram has forgotten (too old, e.g. it waited for a restart) can no
    longer be answered, but what it asked for is still done."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if "query is too old" not in exc.message.lower() and "query id is invalid" not in exc.message.lower():
            raise
        log.info("button press %s is too old to answer", query.id)


async def edit_quietly(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message; that it is unchanged, deleted meanwhile or too old to edit is no error."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        gone = ("not modified", "message to edit not found", "message can't be edited")
        if not any(reason in exc.message.lower() for reason in gone):
            raise
