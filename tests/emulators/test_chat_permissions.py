"""The Telegram emulator's chat permissions, driven by a real python-telegram-bot ``Bot``: a group's default
`permissions` on getChat (ChatFullInfo: "Default chat member permissions, for groups and supergroups"), a
restricted member's can_send_* on getChatMember (ChatMemberRestricted: "Supergroups only"), both binding
the bot's own sends unless it is an administrator, strangers pressing a public group's buttons, and
``tg://user?id=`` links becoming mentions (Bot API spec: /work/shared/reference/telegram/api.json)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, ChatMemberMember, ChatMemberRestricted, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from emulators.telegram import TelegramEmulator

TOKEN = "123456:TEST"
ALICE, BOB, STRANGER = 111, 222, 333
GROUP = -1001


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(token=TOKEN, bot_username="photos_test_bot")
    await emulator.start()
    emulator.add_user(ALICE, "Alice")
    emulator.add_user(BOB, "Bob")
    emulator.add_user(STRANGER, "Mallory")
    emulator.add_group(GROUP, "Family", members={ALICE: "member", BOB: "member"}, username="family")
    yield emulator
    await emulator.stop()
    emulator.assert_no_violations()


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot") as client:
        yield client


async def test_default_permissions_are_on_get_chat_and_bind_members_and_the_bot(tg: TelegramEmulator, bot: Bot) -> None:
    permissions = (await bot.get_chat(GROUP)).permissions
    assert permissions is not None and permissions.can_send_photos and permissions.can_send_videos
    tg.set_chat_permissions(GROUP, can_send_messages=True)
    permissions = (await bot.get_chat(GROUP)).permissions
    assert permissions is not None and permissions.can_send_messages and not permissions.can_send_photos
    assert isinstance(await bot.get_chat_member(GROUP, ALICE), ChatMemberMember)
    await bot.send_message(GROUP, "text still goes")
    with pytest.raises(BadRequest, match="Not enough rights to send photos"):
        await bot.send_photo(GROUP, "AgACAgIAAxkBAAIfake")
    tg.set_bot_status(GROUP, "administrator")  # administrators are not bound by the defaults
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(GROUP, "AgACAgIAAxkBAAIfake")
    tg.add_group(-1003, "News", type="channel", bot_status="administrator")
    assert (await bot.get_chat(-1003)).permissions is None  # "for groups and supergroups" only


async def test_a_restricted_member_shows_their_own_rights(tg: TelegramEmulator, bot: Bot) -> None:
    tg.restrict_member(GROUP, ALICE, can_send_messages=True)
    alice = await bot.get_chat_member(GROUP, ALICE)
    assert isinstance(alice, ChatMemberRestricted) and alice.is_member
    assert alice.can_send_messages and not (alice.can_send_photos or alice.can_send_videos or alice.can_send_documents)
    tg.send_text(ALICE, "muted for media only", GROUP)
    tg.restrict_member(GROUP, BOB)
    with pytest.raises(ValueError, match="may not send messages"):
        tg.send_text(BOB, "fully muted", GROUP)
    with pytest.raises(ValueError, match="Supergroups only"):
        tg.add_group(-55, "Basic", type="group", members={ALICE: "restricted"})


async def test_strangers_press_buttons_of_public_groups_only(tg: TelegramEmulator, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    message = await bot.send_message(GROUP, "press", reply_markup=markup)
    tg.press_button(STRANGER, GROUP, message.message_id, "go")
    tg.add_group(-1002, "Private", members={ALICE: "member"})
    closed = await bot.send_message(-1002, "press", reply_markup=markup)
    with pytest.raises(ValueError, match="can't see chat"):
        tg.press_button(STRANGER, -1002, closed.message_id, "go")


async def test_user_links_become_mentions(tg: TelegramEmulator, bot: Bot) -> None:
    sent = await bot.send_message(
        GROUP,
        f'Shared by <a href="tg://user?id={ALICE}">Alice</a> and <a href="tg://user?id=999">Ghost</a>',
        parse_mode="HTML",
    )
    assert sent.text == "Shared by Alice and Ghost"
    (mention,) = sent.entities
    assert mention.type == "text_mention" and mention.user is not None and mention.user.id == ALICE
    assert (mention.offset, mention.length) == (10, 5)
