"""Who may post where: checked with getChatMember when a destination is chosen and again at delivery."""

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
    USER_NOT_ADMIN or USER_NOT_MEMBER), or None when it may."""
    try:
        is_channel = (await bot.get_chat(chat_id)).type == ChatType.CHANNEL
        me = await bot.get_chat_member(chat_id, bot.id)
        user = await bot.get_chat_member(chat_id, user_id)
    except (BadRequest, Forbidden) as exc:
        log.info("cannot check rights in chat %s: %s", chat_id, exc.message)
        return Code.CHAT_GONE
    if not _may_post(me, is_channel):
        return Code.BOT_CANNOT_POST
    if is_channel and not _may_post(user, is_channel=True):
        return Code.USER_NOT_ADMIN
    if not _in_chat(user):
        return Code.USER_NOT_MEMBER
    return None
