"""/language: the language the bot speaks with this person, anywhere (a group's own language is in /settings)."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import i18n, keyboards, texts
from bot.context import App, services
from handlers.common import NEW_MESSAGES, edit_quietly, is_private, pressed, reply, speaker

LANGUAGE_BUTTON = re.compile(r"lang:([A-Za-z_]{2,12})")


def _data(language: str) -> str:
    return f"lang:{language}"


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    t = await speaker(update, context)
    text = t(texts.LANGUAGE_CHOOSE, language=i18n.native_name(t.language))
    await reply(update, text, keyboards.languages(_data, t.language, t(texts.LANGUAGE_AUTOMATIC)))


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Whoever presses sets their own language: in a group too, where the choice is answered to them alone."""
    press = await pressed(update, context, LANGUAGE_BUTTON)
    if press is None:
        return
    chosen, user = press.match.group(1), press.user
    if not (chosen == keyboards.AUTOMATIC or chosen in i18n.LANGUAGES):
        await press.answer(press.t(texts.BUTTON_UNKNOWN), alert=True)
        return
    languages = services(context).languages
    await languages.choose(user.id, None if chosen == keyboards.AUTOMATIC else chosen)
    saved = (await languages.of_user(user.id, user.language_code))(texts.LANGUAGE_SAVED)  # in the new language
    if is_private(update):
        await press.answer()
        await edit_quietly(press.query, saved)
    else:
        await press.answer(saved)


def register(application: App) -> None:
    application.add_handler(CommandHandler("language", language_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(language_button, pattern=r"^lang:"))
