"""Telegram update handlers: parse the update, call a service in bot/, render the reply."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import texts
from handlers import admin, forwarding, lifecycle, linking, picking, settings, start

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the person, so nobody is left with silence or a traceback."""
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


def register(application: Application) -> None:  # type: ignore[type-arg]
    for module in (start, linking, picking, settings, forwarding, lifecycle, admin):
        module.register(application)
    application.add_error_handler(on_error)
