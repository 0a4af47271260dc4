"""/link, /unlink, /status, the "Link" button, the chat message after Google's redirect, and that redirect's
address pasted into the chat (sign-in by paste)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from telegram import Bot, Update, User
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot import keyboards, texts
from bot.context import App, services
from bot.linking import STATE_TTL, CallbackCode, CallbackOutcome, UnlinkCode
from bot.outcomes import Code, Refused
from bot.sharing import SharingService
from bot.texts import Speaker
from handlers.common import NEW_MESSAGES, NO_PREVIEW, answer, is_private, private_chat_keyboard, reply, speaker

log = logging.getLogger(__name__)

# Text that is, or looks like, Google's redirect to the bot: taken out of the chat whether it is valid or not.
PASTED_ADDRESS = filters.TEXT & ~filters.COMMAND & filters.Regex(r"(?i)oauth/callback|[?&](?:code|state)=")


def user_label(user: User) -> str:
    """How the sign-in page names the Telegram account being linked: "Name (@username)"."""
    return f"{user.full_name} (@{user.username})" if user.username else user.full_name


def link_prompt(t: Speaker, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The sign-in button's message; signing in by paste, it tells beforehand what to do with the address."""
    text = t(texts.LINK_PROMPT, duration=t.duration(STATE_TTL))
    settings = services(context).settings
    if settings.sign_in_by_paste:
        text += "\n\n" + t(texts.LINK_PASTE_HINT, address=texts.html(urlsplit(settings.redirect_uri).netloc))
    return text


async def send_link_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The consent button, in private chats only: an authorisation URL never goes into a group."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    t = await speaker(update, context)
    if not is_private(update):
        await reply(update, t(texts.LINK_IN_GROUP), private_chat_keyboard(t, context, "link"))
        return
    links = services(context).links
    current = await links.status(user.id)
    url = await links.start_link(user.id, chat.id, user_label(user))
    keyboard = keyboards.one_button(t(texts.BUTTON_SIGN_IN), url=url)
    text = link_prompt(t, context)
    if current is not None and not current.broken:
        text = t(texts.LINK_PROMPT_RELINK, email=texts.html(current.email)) + "\n\n" + text
    await reply(update, text, keyboard)


async def link_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send_link_prompt(update, context)


async def link_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await answer(update.callback_query)
    await send_link_prompt(update, context)


async def account_in_private(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str) -> bool:
    """In a group, point to the private chat instead of showing or changing the account there."""
    if is_private(update):
        return False
    t = await speaker(update, context)
    await reply(update, t(texts.ACCOUNT_IN_PRIVATE, command=command), private_chat_keyboard(t, context), droppable=True)
    return True


async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None or await account_in_private(update, context, "status"):
        return
    t = await speaker(update, context)
    link = await services(context).links.status(user.id)
    if link is None:
        await reply(update, t.say(Code.NOT_LINKED), keyboards.link(t))
    elif link.broken:
        await reply(update, t(texts.STATUS_BROKEN, email=texts.html(link.email)), keyboards.link(t))
    else:
        await reply(update, t(texts.STATUS_LINKED, email=texts.html(link.email)))


async def unlink_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None or await account_in_private(update, context, "unlink"):
        return
    t = await speaker(update, context)
    try:
        unlinked = await services(context).links.unlink(user.id)
    except Refused:  # NOT_LINKED
        await reply(update, t(texts.UNLINK_NOTHING))
        return
    done = texts.UNLINKED if unlinked.code is UnlinkCode.REVOKED else texts.UNLINKED_REVOKE_FAILED
    await reply(update, t(done, email=texts.html(unlinked.email)))


# Sign-ins that linked nothing: the sentence, and a button to try again.
_NOT_LINKED_TEXTS = {
    CallbackCode.DENIED: texts.LINK_DENIED,
    CallbackCode.SCOPE_MISSING: texts.LINK_SCOPE_MISSING,
    CallbackCode.EXCHANGE_FAILED: texts.LINK_EXCHANGE_FAILED,
    CallbackCode.MISCONFIGURED: texts.LINK_MISCONFIGURED,
    CallbackCode.EXPIRED_STATE: texts.LINK_STATE_EXPIRED,
    CallbackCode.CANCELLED: texts.LINK_CANCELLED_ON_PAGE,
}


async def notify_link_outcome(bot: Bot, sharing: SharingService, t: Speaker, outcome: CallbackOutcome) -> None:
    """Tell the user in Telegram how the Google sign-in ended (and offer to continue a group's pick)."""
    if outcome.chat_id is None or outcome.user_id is None:
        return
    if outcome.code is CallbackCode.LINKED and outcome.then_pick_chat_id is not None:
        group = await bot.get_chat(outcome.then_pick_chat_id)
        title = texts.html(group.title or "")
        token = await sharing.continue_token(outcome.user_id, outcome.then_pick_chat_id)
        text = t(texts.LINKED_CONTINUE, email=texts.html(outcome.email), title=title)
        label = t(texts.BUTTON_CONTINUE_PICK, title=group.title or "")
        keyboard = keyboards.one_button(label, data=f"go:{token}")
    elif outcome.code is CallbackCode.LINKED:
        text = t(texts.LINKED, email=texts.html(outcome.email))
        keyboard = keyboards.pick_again(t)
    elif outcome.code in _NOT_LINKED_TEXTS:
        text = t(_NOT_LINKED_TEXTS[outcome.code])
        keyboard = keyboards.one_button(t(texts.BUTTON_TRY_AGAIN), data=keyboards.LINK)
    else:
        return
    await bot.send_message(outcome.chat_id, text, reply_markup=keyboard, link_preview_options=NO_PREVIEW)


async def pasted_address(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Google's redirect pasted from a browser's address bar: deleted at once (it carries a one-time code), then
    settled like the callback in a private chat; in a group never used."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    try:
        await message.delete()
    except TelegramError as exc:  # a group where the bot may not delete others' messages
        log.warning("could not delete a pasted sign-in address in chat %s: %s", message.chat_id, exc)
    t = await speaker(update, context)
    if not is_private(update):
        notice = t(texts.PASTE_IN_GROUP, name=texts.html(user.first_name))
        await reply(update, notice, private_chat_keyboard(t, context), droppable=True)
        return
    found = services(context)
    outcome = await found.links.complete_pasted(user.id, message.text)
    log.info("pasted OAuth address: %s (user %s)", outcome.code, user.id, extra={"user_id": user.id})
    if outcome.code is CallbackCode.BAD_STATE:
        await reply(update, t(texts.PASTE_NOT_VALID), keyboards.link(t))
    else:
        await notify_link_outcome(context.bot, found.sharing, t, outcome)


def register(application: App) -> None:
    application.add_handler(CommandHandler("link", link_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("status", status_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("unlink", unlink_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(link_button, pattern=f"^{keyboards.LINK}$"))
    application.add_handler(MessageHandler(NEW_MESSAGES & PASTED_ADDRESS, pasted_address))
