"""Small helpers shared by the handlers: replying, standard keyboards, the deep link."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, filters

from bot import texts

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
