"""/start (with deep-link payloads) and /help."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot import texts
from bot.context import services
from handlers.common import NEW_MESSAGES, link_keyboard, reply
from handlers.linking import send_link_prompt


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    if context.args == ["link"]:
        await send_link_prompt(update, context)
        return
    link = await services(context).links.status(user.id)
    name = texts.html(user.first_name)
    if link is not None and not link.broken:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_PICK, callback_data="pick:new")]])
        await reply(update, texts.WELCOME_LINKED.format(name=name, email=texts.html(link.email)), keyboard)
    else:
        await reply(update, texts.WELCOME.format(name=name), link_keyboard())


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, texts.HELP)


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("start", start, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("help", help_command, filters=NEW_MESSAGES))
