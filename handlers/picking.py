"""/pick, /cancel and the pick's buttons (QR code, Cancel, Pick photos)."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import texts
from bot.context import App, services
from bot.picking import PickError, PromptUndeliverable
from handlers.common import NEW_MESSAGES, answer, is_private, link_keyboard, reply, url_keyboard

PICK_BUTTON = re.compile(r"pick:(qr|cancel):([0-9]{1,18})")


def parse_max_items(args: list[str], most: int) -> int | str | None:
    """None for no limit, the limit, or "usage" when the arguments make no sense."""
    if not args:
        return None
    if len(args) == 1 and re.fullmatch(r"[0-9]{1,4}", args[0]) and 1 <= int(args[0]) <= most:
        return int(args[0])
    return "usage"


async def start_pick(update: Update, context: ContextTypes.DEFAULT_TYPE, max_items: int | None) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    found = services(context)
    if not is_private(update):
        await start_group_pick(update, context, max_items)
        return
    try:
        await found.picks.start(user.id, await found.sharing.private_route(user.id), max_items)
    except PickError as exc:
        markup = link_keyboard() if str(exc) in (texts.NOT_LINKED, texts.LINK_BROKEN) else None
        await reply(update, str(exc), markup)
    except PromptUndeliverable:
        pass  # the user blocked the bot between sending /pick and our answer: nobody to tell


async def start_group_pick(update: Update, context: ContextTypes.DEFAULT_TYPE, max_items: int | None) -> None:
    """In a group the Google Photos button goes to the member privately; the group sees one line."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    name = texts.html(user.first_name)
    outcome = await services(context).sharing.pick_in_group(user.id, user.first_name, chat.id, max_items)
    if outcome.kind == "link_first" and outcome.url:
        await reply(update, texts.GROUP_LINK_FIRST.format(name=name), url_keyboard(texts.BUTTON_LINK, outcome.url))
    elif outcome.kind == "start_privately" and outcome.url:
        await reply(update, texts.GROUP_START_PRIVATELY.format(name=name), url_keyboard(texts.BUTTON_PICK, outcome.url))
    elif outcome.kind == "failed":
        await reply(update, texts.GROUP_PICK_FAILED.format(name=name, error=outcome.text))


async def pick_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    most = services(context).picks.limits.max_items
    max_items = parse_max_items(context.args or [], most)
    if max_items == "usage":
        await reply(update, texts.PICK_USAGE.format(max=most))
        return
    await start_pick(update, context, max_items if isinstance(max_items, int) else None)


async def pick_again_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await answer(update.callback_query)
    await start_pick(update, context, None)


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    result = await services(context).picks.cancel(user.id, chat.id)
    if not result.ok:
        await reply(update, result.text)
    # On success the pick's own message now says it was cancelled.


async def pick_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = PICK_BUTTON.fullmatch(query.data)
    if match is None:
        await answer(query, texts.SESSION_OVER, alert=True)
        return
    action, session_id = match.group(1), int(match.group(2))
    picks = services(context).picks
    tapped = (query.message.chat.id, query.message.message_id) if query.message is not None else None
    found = await picks.session_for_button(session_id, query.from_user.id, tapped)
    if isinstance(found, str):
        await answer(query, found, alert=True)
        return
    if action == "qr":
        await answer(query)
        await picks.send_qr(found)
        return
    result = await picks.cancel_session(found)
    await answer(query, result.text if not result.ok else None, alert=not result.ok)


def register(application: App) -> None:
    application.add_handler(CommandHandler("pick", pick_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("cancel", cancel_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(pick_again_button, pattern=r"^pick:new$"))
    application.add_handler(CallbackQueryHandler(pick_button, pattern=r"^pick:"))
