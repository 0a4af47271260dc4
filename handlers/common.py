"""Small helpers shared by the handlers: the reader's language, replying, rendering a refusal, the deep link,
a button press parsed and checked."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes, ExtBot, filters

from bot import keyboards, texts
from bot.chat_rights import lost_the_topic
from bot.context import services
from bot.flood import ReplyDropped, SendInfo
from bot.outcomes import Code, Refused
from bot.texts import Speaker

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# New messages only: an edited "/pick" should not start a second pick.
NEW_MESSAGES = filters.UpdateType.MESSAGE


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def _topic_message(update: Update) -> Message | None:
    """The message of the update (a command, or the one whose button was pressed) if it is in a forum topic."""
    message = update.effective_message
    return message if message is not None and message.is_topic_message else None


def topic_of(update: Update) -> int | None:
    """The forum topic the update came from (None: not a forum, or its General topic, which takes no id)."""
    message = _topic_message(update)
    return message.message_thread_id if message is not None else None


def topic_name(update: Update) -> str | None:
    """That topic's name: messages in a topic answer its first message, which says how it was created."""
    message = _topic_message(update)
    root = message.reply_to_message if message is not None else None
    created = root.forum_topic_created if root is not None else None
    return created.name if created is not None else None


# Refusals a Google link would cure: their answer offers the "Link Google account" button.
RELINK = frozenset({Code.NOT_LINKED, Code.LINK_BROKEN})


async def speaker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Speaker:
    """The language of the person the update comes from: every handler's answer is addressed to them (in a
    group too: what the whole group reads is sent by the pick's messages, in the group's language)."""
    languages, user = services(context).languages, update.effective_user
    if user is None:
        chat = update.effective_chat
        return await languages.of_chat(chat.id) if chat is not None else texts.ENGLISH
    return await languages.of_user(user.id, user.language_code)


def private_chat_keyboard(
    t: Speaker, context: ContextTypes.DEFAULT_TYPE, payload: str | None = None
) -> InlineKeyboardMarkup:
    url = f"https://t.me/{context.bot.username}" + (f"?start={payload}" if payload else "")
    return keyboards.one_button(t(texts.BUTTON_OPEN_PRIVATE), url=url)


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None, *, droppable: bool = False
) -> None:
    """Answer in the chat (and forum topic) the update came from (commands and button presses). A `droppable` answer
    is left unsent when the chat's flood budget is far off, instead of holding the handler until it is there."""
    chat, bot = update.effective_chat, update.get_bot()
    if chat is None:
        return
    assert isinstance(bot, ExtBot)  # the Application's bot: it takes rate_limit_args
    topic = topic_of(update)
    try:
        try:
            await bot.send_message(
                chat.id,
                text,
                message_thread_id=topic,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
                rate_limit_args=SendInfo(droppable=droppable),
            )
        except BadRequest as exc:
            if topic is None or not lost_the_topic(exc.message):
                raise
            # The topic was closed or deleted since: the group's General topic gets the answer.
            await bot.send_message(
                chat.id,
                text,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
                rate_limit_args=SendInfo(droppable=droppable),
            )
    except ReplyDropped:
        log.info("reply in chat %s dropped: its flood budget is too far off", chat.id)


async def reply_refused(t: Speaker, update: Update, refusal: Refused) -> None:
    """Say why a service refused, with the link button when linking would help."""
    markup = keyboards.link(t) if refusal.code in RELINK else None
    await reply(update, t.say(refusal.code, **refusal.params), markup)


def carries(query: CallbackQuery) -> bool:
    """Whether the pressed message really has a button with the pressed data. A modified client can send any
    data from any message; a message too old for Telegram to include gets the benefit of the doubt."""
    message = query.message
    if not isinstance(message, Message):
        return True
    markup = message.reply_markup
    return markup is not None and any(b.callback_data == query.data for row in markup.inline_keyboard for b in row)


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press. A press Telegram has forgotten (too old, e.g. it waited for a restart) can no
    longer be answered, but what it asked for is still done."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if "query is too old" not in exc.message.lower() and "query id is invalid" not in exc.message.lower():
            raise
        log.info("button press %s is too old to answer", query.id)


async def edit_quietly(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message; that it is unchanged, deleted meanwhile or too old to edit is no error."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        gone = ("not modified", "message to edit not found", "message can't be edited")
        if not any(reason in exc.message.lower() for reason in gone):
            raise


@dataclass(frozen=True)
class Press:
    """A press of one of our buttons: its data as the button's pattern parsed it, and the presser's language."""

    query: CallbackQuery
    match: re.Match[str]
    t: Speaker

    @property
    def user(self) -> User:
        return self.query.from_user

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        await answer(self.query, text, alert=alert)

    async def refuse(self, refusal: Refused) -> None:
        """Why the service refused, for the presser's eyes only."""
        await self.answer(self.t.say(refusal.code, **refusal.params), alert=True)


async def pressed(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    button: re.Pattern[str],
    *,
    on_its_message: bool = True,
    unmatched: str = texts.BUTTON_UNKNOWN,
) -> Press | None:
    """The update's button press, its data parsed by `button`. A press whose message has no such button
    (`on_its_message`: a modified client's) is answered "unknown button", data that `button` does not match is
    answered `unmatched`: both give None, having changed nothing. Buttons whose service itself checks who
    pressed and whether the offer still stands take `on_its_message=False`, so that its answer says why."""
    query = update.callback_query
    if query is None or query.data is None:
        return None
    t = await speaker(update, context)
    if on_its_message and not carries(query):
        await answer(query, t(texts.BUTTON_UNKNOWN), alert=True)
        return None
    match = button.fullmatch(query.data)
    if match is None:
        await answer(query, t(unmatched), alert=True)
        return None
    return Press(query, match, t)
