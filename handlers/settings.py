"""/settings: Photos (Telegram-sized, in albums) or Original files (full-quality documents), per chat."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import texts
from bot.context import App, services
from handlers.common import NEW_MESSAGES, answer, carries, edit_quietly, is_private, reply
from storage.chat_settings import DeliveryMode

SETTINGS_BUTTON = re.compile(r"^set:(photos|originals):(\d{1,18})$")
ADMINS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


def settings_view(mode: DeliveryMode, opener: int) -> tuple[str, InlineKeyboardMarkup]:
    def option(value: DeliveryMode, label: str) -> InlineKeyboardButton:
        mark = "✅ " if value == mode else ""
        return InlineKeyboardButton(mark + label, callback_data=f"set:{value}:{opener}")

    keyboard = InlineKeyboardMarkup(
        [[option("photos", texts.SETTINGS_PHOTOS)], [option("originals", texts.SETTINGS_ORIGINALS)]]
    )
    return texts.SETTINGS.format(current=texts.SETTINGS_NAMES[mode]), keyboard


async def may_change(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    if is_private(update):
        return True
    chat = update.effective_chat
    assert chat is not None
    member = await context.bot.get_chat_member(chat.id, user_id)
    return member.status in ADMINS


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    if not await may_change(update, context, user.id):
        await reply(update, texts.SETTINGS_ADMINS_ONLY)
        return
    mode = await services(context).chat_settings.get_delivery_mode(chat.id)
    text, keyboard = settings_view(mode, user.id)
    await reply(update, text, keyboard)


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, chat = update.callback_query, update.effective_chat
    if query is None or query.data is None or chat is None:
        return
    if not carries(query):
        await answer(query, texts.BUTTON_UNKNOWN, alert=True)
        return
    match = SETTINGS_BUTTON.fullmatch(query.data)
    if match is None:
        await answer(query, texts.SETTINGS_EXPIRED, alert=True)
        return
    mode: DeliveryMode = "originals" if match.group(1) == "originals" else "photos"
    opener = int(match.group(2))
    if query.from_user.id != opener:
        await answer(query, texts.SETTINGS_NOT_YOURS, alert=True)
        return
    if not await may_change(update, context, opener):
        await answer(query, texts.SETTINGS_ADMINS_ONLY, alert=True)
        return
    await services(context).chat_settings.set_delivery_mode(chat.id, mode)
    await answer(query, texts.SETTINGS_SAVED.format(current=texts.SETTINGS_NAMES[mode]))
    text, keyboard = settings_view(mode, opener)
    await edit_quietly(query, text, keyboard)


def register(application: App) -> None:
    application.add_handler(CommandHandler("settings", settings_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(settings_button, pattern=r"^set:"))
