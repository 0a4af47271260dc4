"""/forward: choose a group or channel with Telegram's chat picker; picks made here then go there."""

from __future__ import annotations

import re

from telegram import (
    ChatAdministratorRights,
    KeyboardButton,
    KeyboardButtonRequestChat,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import Forbidden
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot import keyboards, texts
from bot.context import App, services
from bot.outcomes import Refused
from bot.texts import Speaker
from handlers.common import (
    NEW_MESSAGES,
    edit_quietly,
    is_private,
    pressed,
    private_chat_keyboard,
    reply,
    speaker,
    topic_name,
    topic_of,
)

REQUEST_GROUP = 1
REQUEST_CHANNEL = 2
STOP = "fwd:off"
STOP_BUTTON = re.compile(re.escape(STOP))
HERE = "fwd:here:"  # + the single-use token of SharingService.offer_here
HERE_BUTTON = re.compile(r"fwd:here:([A-Za-z0-9_-]{22})")


def _post_rights() -> ChatAdministratorRights:
    """Only the right to post: what a channel must grant the bot (and its administrator must have)."""
    return ChatAdministratorRights(**{**ChatAdministratorRights.no_rights().to_dict(), "can_post_messages": True})


def chooser_keyboard(t: Speaker) -> ReplyKeyboardMarkup:
    group = KeyboardButton(
        t(texts.BUTTON_CHOOSE_GROUP),
        request_chat=KeyboardButtonRequestChat(REQUEST_GROUP, chat_is_channel=False, bot_is_member=True),
    )
    channel = KeyboardButton(
        t(texts.BUTTON_CHOOSE_CHANNEL),
        request_chat=KeyboardButtonRequestChat(
            REQUEST_CHANNEL,
            chat_is_channel=True,
            user_administrator_rights=_post_rights(),
            bot_administrator_rights=_post_rights(),
        ),
    )
    return ReplyKeyboardMarkup([[group, channel]], resize_keyboard=True, one_time_keyboard=True)


async def forward_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    t = await speaker(update, context)
    if not is_private(update):
        await offer_here(update, context, t)
        return
    sharing = services(context).sharing
    if context.args == ["off"]:
        stopped = await sharing.stop_forwarding(user.id)
        await reply(update, t(texts.FORWARD_OFF if stopped else texts.FORWARD_NONE))
        return
    current = await sharing.destination(user.id)
    if current is not None:
        stop = keyboards.one_button(t(texts.BUTTON_STOP_FORWARDING), data=STOP)
        await reply(update, t(texts.FORWARD_CURRENT, title=texts.html(current.title)), stop)
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message(t(texts.FORWARD_HOW), reply_markup=chooser_keyboard(t))


async def offer_here(update: Update, context: ContextTypes.DEFAULT_TYPE, t: Speaker) -> None:
    """/forward in a group (or one of its topics): the member confirms privately, so that nobody else sees
    the button and the group sees one line."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    name = texts.html(user.first_name)
    try:
        offer = await services(context).sharing.offer_here(user.id, chat, topic_of(update), topic_name(update))
    except Refused as exc:
        await reply(update, t.say(exc.code, **exc.params))
        return
    confirm = keyboards.one_button(t(texts.BUTTON_FORWARD_HERE), data=HERE + offer.token)
    try:
        await context.bot.send_message(
            user.id, t(texts.FORWARD_HERE_CONFIRM, title=texts.html(offer.title)), reply_markup=confirm
        )
    except Forbidden:  # the member never opened the private chat, or blocked the bot
        await reply(update, t(texts.FORWARD_HERE_OPEN_PRIVATE, name=name), private_chat_keyboard(t, context))
        return
    await reply(update, t(texts.FORWARD_HERE_SENT, name=name), droppable=True)


async def here_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await pressed(update, context, HERE_BUTTON)
    if press is None:
        return
    try:
        chosen = await services(context).sharing.forward_here(press.match.group(1), press.user.id)
    except Refused as exc:
        await press.refuse(exc)
        return
    await press.answer()
    await edit_quietly(press.query, press.t(texts.FORWARD_SET, title=texts.html(chosen.title)))


async def chat_shared(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.chat_shared is None:
        return
    if message.chat_shared.request_id not in (REQUEST_GROUP, REQUEST_CHANNEL):
        return
    t = await speaker(update, context)
    try:
        chosen = await services(context).sharing.choose_destination(user.id, message.chat_shared.chat_id)
    except Refused as exc:
        text = t.say(exc.code, **exc.params)
    else:
        text = t(texts.FORWARD_SET, title=texts.html(chosen.title))
    await message.reply_text(text, reply_markup=ReplyKeyboardRemove())


async def stop_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    # STOP sent from another message is refused: that message is not ours to rewrite.
    press = await pressed(update, context, STOP_BUTTON)
    if press is None:
        return
    stopped = await services(context).sharing.stop_forwarding(press.user.id)
    await press.answer()
    await edit_quietly(press.query, press.t(texts.FORWARD_OFF if stopped else texts.FORWARD_NONE))


def register(application: App) -> None:
    application.add_handler(CommandHandler("forward", forward_command, filters=NEW_MESSAGES))
    application.add_handler(MessageHandler(filters.StatusUpdate.CHAT_SHARED & filters.ChatType.PRIVATE, chat_shared))
    application.add_handler(CallbackQueryHandler(stop_button, pattern=f"^{STOP}$"))
    application.add_handler(CallbackQueryHandler(here_button, pattern=f"^{HERE}"))
