"""Telegram update handlers: parse the update, call a service in bot/, render the reply."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, ContextTypes, TypeHandler

from bot import texts
from bot.context import App
from bot.throttle import Throttle, Verdict
from handlers import admin, archives, forwarding, language, lifecycle, linking, picking, settings, start
from handlers.common import answer, reply, speaker

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
        t = await speaker(update, context)
        if update.callback_query is not None:
            await update.callback_query.answer(t(texts.UNEXPECTED), show_alert=True)
        elif update.effective_chat is not None:
            await update.effective_chat.send_message(t(texts.UNEXPECTED))
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


def throttled(throttle: Throttle) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """Commands and button presses beyond their sender's or chat's budget stop here, before any work."""

    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat, query = update.effective_user, update.effective_chat, update.callback_query
        message = update.message
        is_command = message is not None and (message.text or "").startswith("/")
        if user is None or chat is None or not (is_command or query is not None):
            return
        verdict = throttle.check(user.id, chat.id)
        if verdict is Verdict.ADMIT:
            return
        if verdict is Verdict.WARN:
            notice = (await speaker(update, context))(texts.SLOW_DOWN, name=texts.html(user.first_name))
            if query is not None:
                await answer(query, notice, alert=True)
            else:
                await reply(update, notice, droppable=True)
        raise ApplicationHandlerStop

    return check


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Callback data none of our buttons carries (an old keyboard, a modified client): stop the spinner."""
    if update.callback_query is not None:
        t = await speaker(update, context)
        await answer(update.callback_query, t(texts.BUTTON_UNKNOWN), alert=True)


def register(application: App, throttle: Throttle) -> None:
    # One handler runs per group: first the chat type check, then the throttle, then everything else.
    application.add_handler(TypeHandler(Update, ignore_unknown_chats), group=-2)
    application.add_handler(TypeHandler(Update, throttled(throttle)), group=-1)
    for module in (start, linking, picking, archives, settings, language, forwarding, lifecycle, admin):
        module.register(application)
    application.add_handler(CallbackQueryHandler(unknown_button))  # last: only what nothing else took
    application.add_error_handler(on_error)
