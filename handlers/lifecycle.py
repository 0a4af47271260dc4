"""Chat lifecycle: the bot added to a group or removed from a chat, blocked by a user, a group upgraded to a
supergroup."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ChatMemberHandler, ContextTypes, MessageHandler, filters

from bot.context import App, services

GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)


async def my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    change, chat = update.my_chat_member, update.effective_chat
    if change is None or chat is None:
        return
    if change.old_chat_member.status in GONE and change.new_chat_member.status not in GONE:
        if chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            adder = change.from_user
            await services(context).languages.group_joined(chat.id, adder.id, adder.language_code)
        return
    if change.new_chat_member.status not in GONE:
        return
    sharing = services(context).sharing
    if chat.type == ChatType.PRIVATE:
        await sharing.user_blocked(chat.id)
    else:
        await sharing.bot_left(chat.id, chat.title or "")


async def migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.migrate_to_chat_id:
        await services(context).sharing.chat_migrated(message.chat.id, message.migrate_to_chat_id)


def register(application: App) -> None:
    application.add_handler(ChatMemberHandler(my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
