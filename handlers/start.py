"""/start (with deep-link payloads) and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import keyboards, texts
from bot.context import App, services
from bot.outcomes import Code, Refused
from bot.sharing import PAYLOAD_PREFIX, GroupPickCode
from handlers.common import NEW_MESSAGES, answer, is_private, private_chat_keyboard, reply, reply_refused, speaker
from handlers.linking import link_prompt, send_link_prompt, user_label


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    if context.args == ["link"]:
        await send_link_prompt(update, context)
        return
    if context.args and context.args[0].startswith(PAYLOAD_PREFIX) and is_private(update):
        await claim(update, context, context.args[0].removeprefix(PAYLOAD_PREFIX))
        return
    t = await speaker(update, context)
    link = await services(context).links.status(user.id)
    name = texts.html(user.first_name)
    if not is_private(update):  # the group sees whether, never which account
        linked = link is not None and not link.broken
        welcome = t(texts.WELCOME_GROUP_LINKED if linked else texts.WELCOME_GROUP, name=name)
        await reply(update, welcome, private_chat_keyboard(t, context), droppable=True)
    elif link is not None and not link.broken:
        welcome = t(texts.WELCOME_LINKED, name=name, email=texts.html(link.email))
        await reply(update, welcome, keyboards.pick_again(t))
    else:
        await reply(update, t(texts.WELCOME, name=name), keyboards.link(t))


async def claim(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """A deep link or "continue" button for a group pick; only its member, once, within 10 minutes."""
    user = update.effective_user
    assert user is not None
    t = await speaker(update, context)
    try:
        claimed = await services(context).sharing.claim(token, user.id, user.first_name, user_label(user))
    except Refused as exc:
        # PROMPT_UNDELIVERABLE: this very chat refuses our messages, nobody to tell.
        if exc.code is not Code.PROMPT_UNDELIVERABLE:
            await reply_refused(t, update, exc)
        return
    if claimed.code is GroupPickCode.LINK and claimed.url:
        await reply(update, link_prompt(t, context), keyboards.one_button(t(texts.BUTTON_SIGN_IN), url=claimed.url))


async def continue_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    await answer(query)
    await claim(update, context, query.data.removeprefix("go:"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, (await speaker(update, context))(texts.HELP), droppable=True)


def register(application: App) -> None:
    application.add_handler(CommandHandler("start", start, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("help", help_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(continue_button, pattern=r"^go:"))
