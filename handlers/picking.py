"""/pick, /cancel and the pick's buttons (QR code, Cancel, Pick photos)."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import keyboards, texts
from bot.context import App, services
from bot.outcomes import Code, Refused
from bot.sharing import GroupPickCode
from handlers.common import NEW_MESSAGES, answer, is_private, pressed, reply, reply_refused, speaker, topic_of

PICK_BUTTON = re.compile(r"pick:(qr|cancel):([0-9]{1,18})")
REPEATS_BUTTON = re.compile(re.escape(keyboards.REPEATS) + r"([0-9]{1,18})")
AGAIN_BUTTON = re.compile(r"pick:again:([0-9]{1,18})")


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
        await found.picks.start(user.id, await found.sharing.private_route(user.id, user.first_name), max_items)
    except Refused as exc:
        # PROMPT_UNDELIVERABLE: the user blocked the bot between sending /pick and our answer, nobody to tell.
        if exc.code is not Code.PROMPT_UNDELIVERABLE:
            await reply_refused(await speaker(update, context), update, exc)


async def start_group_pick(update: Update, context: ContextTypes.DEFAULT_TYPE, max_items: int | None) -> None:
    """In a group the Google Photos button goes to the member privately; the group sees one line."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    t = await speaker(update, context)  # what the group reads here is addressed to this member
    name = texts.html(user.first_name)
    query = update.callback_query  # a "Pick photos" button: a refusal is for the presser's eyes only
    sharing = services(context).sharing
    try:
        started = await sharing.pick_in_group(
            user.id, user.first_name, chat.id, max_items, pressed=query is not None, thread_id=topic_of(update)
        )
    except Refused as exc:
        if query is not None:
            await answer(query, t.say(exc.code, **exc.params), alert=True)
        else:
            await reply(update, t(texts.GROUP_PICK_FAILED, name=name, error=t.say(exc.code, **exc.params)))
        return
    if query is not None:
        await answer(query)
    if started.code is GroupPickCode.LINK_FIRST and started.url:
        link = keyboards.one_button(t(texts.BUTTON_LINK), url=started.url)
        await reply(update, t(texts.GROUP_LINK_FIRST, name=name), link)
    elif started.code is GroupPickCode.START_PRIVATELY and started.url:
        go = keyboards.one_button(t(texts.BUTTON_PICK), url=started.url)
        await reply(update, t(texts.GROUP_START_PRIVATELY, name=name), go)


async def pick_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    most = services(context).picks.limits.max_items
    max_items = parse_max_items(context.args or [], most)
    if max_items == "usage":
        # The limit as the command takes it back: digits only, not written the reader's way ("2,000")
        await reply(update, (await speaker(update, context))(texts.PICK_USAGE, max=str(most)))
        return
    await start_pick(update, context, max_items if isinstance(max_items, int) else None)


async def pick_again_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None and is_private(update):
        await answer(update.callback_query)  # in a group, start_group_pick answers
    await start_pick(update, context, None)


async def again_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Pick again" under an expired pick: the same chat (group, topic), the same limit."""
    press = await pressed(update, context, AGAIN_BUTTON)
    if press is None:
        return
    user = press.user
    try:
        started = await services(context).sharing.pick_again(int(press.match.group(1)), user.id, user.first_name)
    except Refused as exc:
        await press.answer()
        if exc.code is not Code.PROMPT_UNDELIVERABLE:  # blocked meanwhile: nobody to tell
            await reply_refused(press.t, update, exc)
        return
    await press.answer()
    if started.code is GroupPickCode.LINK_FIRST:
        await reply_refused(press.t, update, Refused(Code.NOT_LINKED))


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    try:
        await services(context).picks.cancel(user.id, chat.id)
    except Refused as exc:
        await reply(update, (await speaker(update, context)).say(exc.code, **exc.params))
    # On success the pick's own message now says it was cancelled.


async def pick_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Its service checks the pressed message: the answer says whose pick it is, or that it is over.
    press = await pressed(update, context, PICK_BUTTON, on_its_message=False, unmatched=texts.SESSION_OVER)
    if press is None:
        return
    action, session_id = press.match.group(1), int(press.match.group(2))
    picks = services(context).picks
    message = press.query.message
    tapped = (message.chat.id, message.message_id) if message is not None else None
    try:
        session = await picks.session_for_button(session_id, press.user.id, tapped)
        if action == "cancel":
            await picks.cancel_session(session)
    except Refused as exc:
        await press.refuse(exc)
        return
    await press.answer()  # a cancelled pick's own message says so
    if action == "qr":
        await picks.send_qr(session)


async def repeats_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Send them anyway" under a summary: its picker's press sends the repeats once; anyone else's, or a press
    once it was used or expired, is answered to the presser alone."""
    press = await pressed(update, context, REPEATS_BUTTON, on_its_message=False)
    if press is None:
        return
    try:
        await services(context).picks.send_repeats(int(press.match.group(1)), press.user.id)
    except Refused as exc:
        await press.refuse(exc)
        return
    await press.answer(press.t(texts.REPEATS_SENDING))


def register(application: App) -> None:
    application.add_handler(CommandHandler("pick", pick_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("cancel", cancel_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(pick_again_button, pattern=f"^{keyboards.PICK_NEW}$"))
    application.add_handler(CallbackQueryHandler(again_button, pattern=r"^pick:again:"))
    application.add_handler(CallbackQueryHandler(pick_button, pattern=r"^pick:"))
    application.add_handler(CallbackQueryHandler(repeats_button, pattern=f"^{keyboards.REPEATS}"))
