"""The answer to a long pick's question "send as ZIP files instead?": only its picker's press counts."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes

from bot import keyboards, texts
from bot.context import App, services
from bot.outcomes import Refused
from handlers.common import pressed

OFFER_BUTTON = re.compile(re.escape(keyboards.ARCHIVE_OFFER) + r"(zip|albums):([0-9]{1,18})")


async def archive_offer_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await pressed(update, context, OFFER_BUTTON, on_its_message=False)
    if press is None:
        return
    archives = press.match.group(1) == "zip"
    try:
        await services(context).picks.answer_archive_offer(int(press.match.group(2)), press.user.id, archives)
    except Refused as exc:
        await press.refuse(exc)
        return
    await press.answer(press.t(texts.ARCHIVE_OFFER_ARCHIVES if archives else texts.ARCHIVE_OFFER_ALBUMS))


def register(application: App) -> None:
    application.add_handler(CallbackQueryHandler(archive_offer_button, pattern=f"^{keyboards.ARCHIVE_OFFER}"))
