"""The answer to a long pick's question "send as ZIP files instead?": only its picker's press counts."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes

from bot import keyboards, texts
from bot.context import App, services
from bot.outcomes import Refused
from handlers.common import answer, speaker

OFFER_BUTTON = re.compile(re.escape(keyboards.ARCHIVE_OFFER) + r"(zip|albums):([0-9]{1,18})")


async def archive_offer_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    t = await speaker(update, context)
    match = OFFER_BUTTON.fullmatch(query.data)
    if match is None:
        await answer(query, t(texts.BUTTON_UNKNOWN), alert=True)
        return
    archives = match.group(1) == "zip"
    try:
        await services(context).picks.answer_archive_offer(int(match.group(2)), query.from_user.id, archives)
    except Refused as exc:
        await answer(query, t.say(exc.code, **exc.params), alert=True)
        return
    await answer(query, t(texts.ARCHIVE_OFFER_ARCHIVES if archives else texts.ARCHIVE_OFFER_ALBUMS))


def register(application: App) -> None:
    application.add_handler(CallbackQueryHandler(archive_offer_button, pattern=f"^{keyboards.ARCHIVE_OFFER}"))
