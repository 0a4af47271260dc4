"""/link, /unlink, /status, the "Link" button, and the chat message after Google's redirect."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import texts
from bot.context import App, services
from bot.linking import CallbackOutcome
from bot.sharing import SharingService
from handlers.common import (
    NEW_MESSAGES,
    NO_PREVIEW,
    answer,
    is_private,
    link_keyboard,
    private_chat_keyboard,
    reply,
)


async def send_link_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The consent button, in private chats only: an authorisation URL never goes into a group."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    if not is_private(update):
        await reply(update, texts.LINK_IN_GROUP, private_chat_keyboard(context, "link"))
        return
    links = services(context).links
    current = await links.status(user.id)
    url = await links.start_link(user.id, chat.id)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_SIGN_IN, url=url)]])
    if current is not None and not current.broken:
        text = texts.LINK_PROMPT_RELINK.format(email=texts.html(current.email))
    else:
        text = texts.LINK_PROMPT
    await reply(update, text, keyboard)


async def link_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send_link_prompt(update, context)


async def link_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await answer(update.callback_query)
    await send_link_prompt(update, context)


async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    link = await services(context).links.status(user.id)
    if link is None:
        await reply(update, texts.NOT_LINKED, link_keyboard())
    elif link.broken:
        await reply(update, texts.STATUS_BROKEN.format(email=texts.html(link.email)), link_keyboard())
    else:
        await reply(update, texts.STATUS_LINKED.format(email=texts.html(link.email)))


async def unlink_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    links = services(context).links
    link = await links.status(user.id)
    outcome = await links.unlink(user.id)
    if outcome == "not_linked" or link is None:
        await reply(update, texts.UNLINK_NOTHING)
    elif outcome == "revoked":
        await reply(update, texts.UNLINKED.format(email=texts.html(link.email)))
    else:
        await reply(update, texts.UNLINKED_REVOKE_FAILED.format(email=texts.html(link.email)))


_OUTCOME_TEXTS = {
    "denied": texts.LINK_DENIED,
    "scope_missing": texts.LINK_SCOPE_MISSING,
    "exchange_failed": texts.LINK_EXCHANGE_FAILED,
    "expired_state": texts.LINK_STATE_EXPIRED,
}


async def notify_link_outcome(bot: Bot, sharing: SharingService, outcome: CallbackOutcome) -> None:
    """Tell the user in Telegram how the Google sign-in ended (and offer to continue a group's pick)."""
    if outcome.chat_id is None or outcome.user_id is None:
        return
    if outcome.kind == "linked" and outcome.then_pick_chat_id is not None:
        group = await bot.get_chat(outcome.then_pick_chat_id)
        title = texts.html(group.title or "")
        token = await sharing.continue_token(outcome.user_id, outcome.then_pick_chat_id)
        text = texts.LINKED_CONTINUE.format(email=texts.html(outcome.email), title=title)
        label = texts.BUTTON_CONTINUE_PICK.format(title=group.title or "")
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"go:{token}")]])
    elif outcome.kind == "linked":
        text = texts.LINKED.format(email=texts.html(outcome.email))
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_PICK, callback_data="pick:new")]])
    elif outcome.kind in _OUTCOME_TEXTS:
        text = _OUTCOME_TEXTS[outcome.kind]
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_TRY_AGAIN, callback_data="link")]])
    else:
        return
    await bot.send_message(outcome.chat_id, text, reply_markup=keyboard, link_preview_options=NO_PREVIEW)


def register(application: App) -> None:
    application.add_handler(CommandHandler("link", link_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("status", status_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("unlink", unlink_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(link_button, pattern=r"^link$"))
