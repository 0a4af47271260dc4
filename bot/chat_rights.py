"""Who may post where: checked with getChatMember when a destination is chosen and again at delivery.

getChatMember is "only guaranteed to work for other users if the bot is an administrator" (Bot API spec): in
a supergroup that hides its member list a bot that is no admin gets "member list is inaccessible". That is
"cannot check", not "not a member"; the bot's own membership and rights can always be read.
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatMember, ChatMemberAdministrator, ChatMemberOwner, ChatMemberRestricted
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden

from bot.outcomes import Code

log = logging.getLogger(__name__)


def _in_chat(member: ChatMember) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)


def _may_post(member: ChatMember, is_channel: bool) -> bool:
    """Channels: the owner, or an administrator allowed to post. Groups: anyone in it allowed to send media."""
    if isinstance(member, ChatMemberOwner):
        return True
    if is_channel:
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    if isinstance(member, ChatMemberRestricted):
        return member.is_member and member.can_send_messages and member.can_send_photos
    return _in_chat(member)


async def posting_problem(bot: Bot, chat_id: int, user_id: int) -> Code | None:
    """Why the bot should not post into `chat_id` for `user_id` right now (CHAT_GONE, BOT_CANNOT_POST,
    USER_NOT_ADMIN or USER_NOT_MEMBER), or None when it may.

    Every caller holds proof that the user was in the chat: they sent /pick there, or chose it with Telegram's
    chat picker, which offers only chats they are in (and, for channels, administer with the right to post).
    So when Telegram will not show the user's membership, that proof stands.
    """
    try:
        is_channel = (await bot.get_chat(chat_id)).type == ChatType.CHANNEL
        me = await bot.get_chat_member(chat_id, bot.id)
    except (BadRequest, Forbidden) as exc:
        log.info("cannot see chat %s: %s", chat_id, exc.message)
        return Code.CHAT_GONE
    if not _may_post(me, is_channel):
        return Code.BOT_CANNOT_POST
    try:
        user = await bot.get_chat_member(chat_id, user_id)
    except BadRequest as exc:
        log.info("cannot check user %s in chat %s (%s): going by what they did there", user_id, chat_id, exc.message)
        return None
    if is_channel and not _may_post(user, is_channel=True):
        return Code.USER_NOT_ADMIN
    if not _in_chat(user):
        return Code.USER_NOT_MEMBER
    return None
