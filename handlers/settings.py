"""/settings, per chat: Photos (Telegram-sized, in albums), Original files (full-quality documents) or Archive (ZIP);
captions from each item's metadata (none, date, date and camera); in a group also the language of what the whole
group reads."""

from __future__ import annotations

import logging
import re

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot import i18n, keyboards, texts
from bot.context import App, services
from bot.texts import Speaker
from handlers.common import NEW_MESSAGES, Press, edit_quietly, is_private, pressed, reply, speaker
from storage.chat_settings import CAPTIONS, Captions, DeliveryMode

log = logging.getLogger(__name__)

# A delivery mode or a captions choice, then who opened the menu.
SETTINGS_BUTTON = re.compile(
    r"(?:set:(?P<mode>photos|originals|archive)|cap:(?P<captions>none|date|camera)):(?P<opener>\d{1,18})"
)
MODES: dict[str, DeliveryMode] = {"photos": "photos", "originals": "originals", "archive": "archive"}
GROUP_LANGUAGE_BUTTON = re.compile(r"glang:(?P<choice>menu|[A-Za-z_]{2,12}):(?P<opener>\d{1,18})")


def settings_view(
    t: Speaker, mode: DeliveryMode, captions: Captions, opener: int, group_language: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The settings in the opener's language; `group_language`: a group's, with a button to change it."""

    def option(value: DeliveryMode, label: str) -> InlineKeyboardButton:
        mark = "✅ " if value == mode else ""
        return InlineKeyboardButton(mark + label, callback_data=f"set:{value}:{opener}")

    def caption_option(value: Captions) -> InlineKeyboardButton:
        mark = "✅ " if value == captions else ""
        return InlineKeyboardButton(mark + t(texts.CAPTIONS_NAMES[value]), callback_data=f"cap:{value}:{opener}")

    text = t(texts.SETTINGS, current=t(texts.SETTINGS_NAMES[mode]))
    text += "\n\n" + t(texts.SETTINGS_CAPTIONS, current=t(texts.CAPTIONS_NAMES[captions]))
    rows = [[option("photos", t(texts.SETTINGS_PHOTOS))], [option("originals", t(texts.SETTINGS_ORIGINALS))]]
    rows.append([option("archive", t(texts.SETTINGS_ARCHIVE))])
    rows.append([caption_option("none"), caption_option("date"), caption_option("camera")])
    if group_language is not None:
        text += "\n\n" + t(texts.SETTINGS_GROUP_LANGUAGE, language=i18n.native_name(group_language))
        rows.append([InlineKeyboardButton(t(texts.BUTTON_GROUP_LANGUAGE), callback_data=f"glang:menu:{opener}")])
    return text, InlineKeyboardMarkup(rows)


async def current_view(
    t: Speaker, update: Update, context: ContextTypes.DEFAULT_TYPE, chat: Chat, opener: int
) -> tuple[str, InlineKeyboardMarkup]:
    found = services(context)
    mode = await found.chat_settings.get_delivery_mode(chat.id)
    captions = await found.chat_settings.get_captions(chat.id)
    group = None if is_private(update) else (await found.languages.of_group(chat.id, t.language)).language
    return settings_view(t, mode, captions, opener, group)


async def may_change(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool | None:
    """Whether the user may change the chat's settings (None: Telegram will not say). A group's admins are read
    from its admin list rather than getChatMember, which fails for a bot that is no admin of a group hiding
    its members. ASSUMPTION: the admin list stays readable there, as group members still see the admins."""
    if is_private(update):
        return True
    chat = update.effective_chat
    assert chat is not None
    try:
        admins = await context.bot.get_chat_administrators(chat.id)
    except (BadRequest, Forbidden) as exc:
        log.info("cannot read the admins of chat %s: %s", chat.id, exc.message)
        return None
    return any(admin.user.id == user_id for admin in admins)


def refusal(t: Speaker, allowed: bool | None) -> str | None:
    """What to tell someone who may not change the settings (None: they may)."""
    if allowed is None:
        return t(texts.SETTINGS_CANNOT_CHECK)
    return None if allowed else t(texts.SETTINGS_ADMINS_ONLY)


async def opener_may_change(press: Press, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """The menu's opener, if it is they who pressed and they may still change the settings; else the presser is
    told why, and None."""
    opener = int(press.match["opener"])
    if press.user.id != opener:
        await press.answer(press.t(texts.SETTINGS_NOT_YOURS), alert=True)
        return None
    refused = refusal(press.t, await may_change(update, context, opener))
    if refused is not None:
        await press.answer(refused, alert=True)
        return None
    return opener


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    t = await speaker(update, context)
    refused = refusal(t, await may_change(update, context, user.id))
    if refused is not None:
        await reply(update, refused)
        return
    text, keyboard = await current_view(t, update, context, chat, user.id)
    await reply(update, text, keyboard)


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    press = await pressed(update, context, SETTINGS_BUTTON, unmatched=texts.SETTINGS_EXPIRED)
    if press is None or chat is None:
        return
    opener = await opener_may_change(press, update, context)
    if opener is None:
        return
    t, chat_settings = press.t, services(context).chat_settings
    if press.match["mode"] is not None:
        mode = MODES[press.match["mode"]]
        await chat_settings.set_delivery_mode(chat.id, mode)
        saved = t(texts.SETTINGS_NAMES[mode])
    else:
        chosen = CAPTIONS[press.match["captions"]]
        await chat_settings.set_captions(chat.id, chosen)
        saved = t(texts.CAPTIONS_NAMES[chosen])
    await press.answer(t(texts.SETTINGS_SAVED, current=saved))
    text, keyboard = await current_view(t, update, context, chat, opener)
    await edit_quietly(press.query, text, keyboard)


async def group_language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Group language" in a group's /settings: the languages, then the one its opener (an admin) picks."""
    chat = update.effective_chat
    press = await pressed(update, context, GROUP_LANGUAGE_BUTTON)
    if press is None or chat is None:
        return
    t = press.t
    if is_private(update):  # a group's button only
        await press.answer(t(texts.BUTTON_UNKNOWN), alert=True)
        return
    opener = await opener_may_change(press, update, context)
    if opener is None:
        return
    choice, languages = press.match["choice"], services(context).languages
    if choice == "menu":
        current = (await languages.of_group(chat.id, t.language)).language
        await press.answer()
        text = t(texts.GROUP_LANGUAGE_CHOOSE, language=i18n.native_name(current))
        markup = keyboards.languages(lambda language: f"glang:{language}:{opener}", current)
        await edit_quietly(press.query, text, markup)
        return
    if choice not in i18n.LANGUAGES:
        await press.answer(t(texts.BUTTON_UNKNOWN), alert=True)
        return
    await languages.choose_for_group(chat.id, choice)
    await press.answer(t(texts.GROUP_LANGUAGE_SAVED, language=i18n.native_name(choice)))
    text, keyboard = await current_view(t, update, context, chat, opener)
    await edit_quietly(press.query, text, keyboard)


def register(application: App) -> None:
    application.add_handler(CommandHandler("settings", settings_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(settings_button, pattern=r"^(set|cap):"))
    application.add_handler(CallbackQueryHandler(group_language_button, pattern=r"^glang:"))
