"""Every inline keyboard the bot shows, in one place (labels from bot/texts.py; callback data here)."""

from __future__ import annotations

from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import i18n, texts
from bot.texts import Speaker

PICK_NEW = "pick:new"
REPEATS = "rep:"  # + the pick's id: "Send them anyway"
LINK = "link"
AUTOMATIC = "auto"  # a person's language: as their Telegram app
ARCHIVE_OFFER = "arch:"  # + zip|albums + ":" + the pick's id


def one_button(label: str, *, url: str | None = None, data: str | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url, callback_data=data)]])


def pick_again(t: Speaker) -> InlineKeyboardMarkup:
    """ "📷 Pick photos": starts a new pick in the chat it is tapped in."""
    return one_button(t(texts.BUTTON_PICK), data=PICK_NEW)


def summary(t: Speaker, repeats_of: int | None) -> InlineKeyboardMarkup:
    """A summary's buttons: "Send them anyway" for pick `repeats_of`'s repeats (when given), and "Pick photos"."""
    if repeats_of is None:
        return pick_again(t)
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(t(texts.BUTTON_SEND_ANYWAY), callback_data=f"{REPEATS}{repeats_of}")],
            [InlineKeyboardButton(t(texts.BUTTON_PICK), callback_data=PICK_NEW)],
        ]
    )


def pick_again_for(t: Speaker, session_id: int) -> InlineKeyboardMarkup:
    """ "📷 Pick again": a new pick in the chat of pick `session_id`, with its item limit."""
    return one_button(t(texts.BUTTON_PICK_AGAIN), data=f"pick:again:{session_id}")


def link(t: Speaker) -> InlineKeyboardMarkup:
    """ "🔗 Link Google account": sends the consent button (privately)."""
    return one_button(t(texts.BUTTON_LINK), data=LINK)


def prompt(t: Speaker, session_id: int, picker_uri: str) -> InlineKeyboardMarkup:
    """The pick's prompt: open Google Photos; a QR code for another device; cancel.

    The button carries the plain pickerUri, like the QR code. Google's picking-experience guide keeps
    `/autoclose` for web apps that open Google Photos in a new browser tab, and not where the link may be
    opened on a phone; on a phone this link is meant for the Google Photos app, and the one button serves
    every device (a desktop browser then shows Google's Done page instead of closing its tab).
    """
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(t(texts.BUTTON_OPEN_PHOTOS), url=picker_uri)],
            [
                InlineKeyboardButton(t(texts.BUTTON_QR), callback_data=f"pick:qr:{session_id}"),
                InlineKeyboardButton(t(texts.BUTTON_CANCEL), callback_data=f"pick:cancel:{session_id}"),
            ],
        ]
    )


def archive_offer(t: Speaker, session_id: int) -> InlineKeyboardMarkup:
    """A long pick's question: ZIP files or albums (only its picker's answer counts)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(texts.BUTTON_ARCHIVES), callback_data=f"{ARCHIVE_OFFER}zip:{session_id}"),
                InlineKeyboardButton(t(texts.BUTTON_ALBUMS), callback_data=f"{ARCHIVE_OFFER}albums:{session_id}"),
            ]
        ]
    )


def cancel_pick(t: Speaker, session_id: int) -> InlineKeyboardMarkup:
    """The group's "choosing photos…" line: a Cancel only the picker may use."""
    return one_button(t(texts.BUTTON_CANCEL), data=f"pick:cancel:{session_id}")


def languages(data: Callable[[str], str], current: str, automatic: str | None = None) -> InlineKeyboardMarkup:
    """Every language, each named in itself so its speakers find it whatever language the bot speaks now, two
    a row, the current one ticked; `automatic`: the label of a last button for "as my Telegram app"."""
    buttons = [
        InlineKeyboardButton(
            ("✅ " if language == current else "") + i18n.native_name(language), callback_data=data(language)
        )
        for language in i18n.LANGUAGES
    ]
    rows = [buttons[n : n + 2] for n in range(0, len(buttons), 2)]
    if automatic is not None:
        rows.append([InlineKeyboardButton(automatic, callback_data=data(AUTOMATIC))])
    return InlineKeyboardMarkup(rows)
