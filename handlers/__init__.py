"""Telegram update handlers: parse the update, call a service in bot/, render the reply."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, ContextTypes, TypeHandler

from bot import texts
from bot.context import App
from handlers import admin, forwarding, lifecycle, linking, picking, settings, start
from handlers.common import answer

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the person, so nobody is left with silence or a traceback."""
    if _chat_refuses(context.error):
        # Blocked, removed or deleted between the update and our answer: nobody to tell, nothing to fix.
        log.warning("could not answer an update, its chat refuses our messages: %s", context.error)
        return
    log.error("handling an update failed", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.UNEXPECTED, show_alert=True)
        elif update.effective_chat is not None:
            await update.effective_chat.send_message(texts.UNEXPECTED)
    except Exception:
        log.warning("could not tell the user about the failure")


def _chat_refuses(error: object) -> bool:
    return isinstance(error, Forbidden) or (isinstance(error, BadRequest) and "chat not found" in error.message.lower())


KNOWN_CHATS = frozenset({ChatType.PRIVATE, ChatType.GROUP, ChatType.SUPERGROUP, ChatType.CHANNEL})


async def ignore_unknown_chats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A chat of a type this version does not know (Telegram adds some now and then): not ours to act in."""
    chat = update.effective_chat
    if chat is not None and chat.type not in KNOWN_CHATS:
        log.info("ignoring an update from chat %s of unknown type %r", chat.id, chat.type)
        raise ApplicationHandlerStop


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Callback data none of our buttons carries (an old keyboard, a modified client): stop the spinner."""
    if update.callback_query is not None:
        await answer(update.callback_query, texts.BUTTON_UNKNOWN, alert=True)


def register(application: App) -> None:
    application.add_handler(TypeHandler(Update, ignore_unknown_chats), group=-1)
    for module in (start, linking, picking, settings, forwarding, lifecycle, admin):
        module.register(application)
    application.add_handler(CallbackQueryHandler(unknown_button))  # last: only what nothing else took
    application.add_error_handler(on_error)
