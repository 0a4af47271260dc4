"""Who may post where: checked with getChatMember when a destination is chosen, when a group pick starts and
again at delivery.

A group post of photos needs the right to send messages, photos, videos and documents, both the member's
own (a restricted member's can_send_*) and the chat's default `permissions` (getChat), which bind every
member but administrators and the owner. That holds for the bot as much as for the person it posts for.

getChatMember is "only guaranteed to work for other users if the bot is an administrator" (Bot API spec): in
a supergroup that hides its member list a bot that is no admin gets "member list is inaccessible". That is
"cannot check", not "not a member"; the bot's own membership and rights can always be read.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden

from bot.outcomes import Code

log = logging.getLogger(__name__)

POST_RIGHTS = ("can_send_messages", "can_send_photos", "can_send_videos", "can_send_documents")


def _in_chat(member: ChatMember) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)


def _holds(rights: ChatMemberRestricted | ChatPermissions | None) -> bool:
    """Every right a post of photos needs (None: no restriction of this kind). An omitted optional right
    of ChatPermissions is False, as Bot API booleans are."""
    return rights is None or all(getattr(rights, right) for right in POST_RIGHTS)


def _may_post(member: ChatMember, is_channel: bool, defaults: ChatPermissions | None) -> bool:
    """Channels: the owner, or an administrator allowed to post. Groups: administrators, and members who,
    like the chat's default permissions, may send text and media."""
    if isinstance(member, ChatMemberOwner):
        return True
    if is_channel:
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    if isinstance(member, ChatMemberAdministrator):
        return True
    if isinstance(member, ChatMemberRestricted):
        return member.is_member and _holds(member) and _holds(defaults)
    return isinstance(member, ChatMemberMember) and _holds(defaults)


async def posting_problem(bot: Bot, chat_id: int, user_id: int) -> Code | None:
    """Why the bot should not post into `chat_id` for `user_id` right now (CHAT_GONE, BOT_CANNOT_POST,
    USER_NOT_ADMIN, USER_NOT_MEMBER or USER_CANNOT_POST_MEDIA), or None when it may.

    Every caller holds proof that the user was in the chat: they sent /pick there, pressed a button there,
    or chose it with Telegram's chat picker, which offers only chats they are in (and, for channels,
    administer with the right to post). So when Telegram will not show the user's membership, that proof
    stands (a member muted one by one is then missed: only an admin bot can see that).
    """
    try:
        chat = await bot.get_chat(chat_id)
        me = await bot.get_chat_member(chat_id, bot.id)
    except (BadRequest, Forbidden) as exc:
        log.info("cannot see chat %s: %s", chat_id, exc.message)
        return Code.CHAT_GONE
    is_channel, defaults = chat.type == ChatType.CHANNEL, chat.permissions
    if not _may_post(me, is_channel, defaults):
        return Code.BOT_CANNOT_POST
    try:
        user = await bot.get_chat_member(chat_id, user_id)
    except BadRequest as exc:
        # Only a bot that is no admin is refused, and the chat's defaults bind it as they bind members: the
        # check above already found they allow media.
        log.info("cannot check user %s in chat %s (%s): going by what they did there", user_id, chat_id, exc.message)
        return None
    if is_channel and not _may_post(user, True, None):
        return Code.USER_NOT_ADMIN
    if not _in_chat(user):
        return Code.USER_NOT_MEMBER
    if not _may_post(user, is_channel, defaults):
        return Code.USER_CANNOT_POST_MEDIA
    return None


def lost_the_topic(error: str) -> bool:
    """Telegram's ways of saying a forum topic is gone (deleted: "message thread not found") or closed to the
    bot (TOPIC_CLOSED)."""
    text = error.lower()
    return "message thread not found" in text or "topic_closed" in text or "topic_deleted" in text
