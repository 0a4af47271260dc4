"""Groups and channels: picking for a group from the private chat, forwarding destinations, chat lifecycle."""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from telegram import Bot, Chat
from telegram.constants import ChatType

from bot.chat_rights import posting_problem
from bot.linking import LinkService
from bot.outcomes import Code, Refused
from bot.pick_messages import PickMessages
from bot.picking import PickService
from storage.chat_intents import ChatIntent, ChatIntentRepository
from storage.chat_upgrades import upgrade_chat_id
from storage.database import Database
from storage.destinations import Destination, DestinationRepository
from storage.picks import PickRepository, Route

log = logging.getLogger(__name__)

INTENT_TTL = 600.0
# A group's "Pick photos" button may make the bot work and post for one person this often (anyone who can
# see a public group may press it).
GROUP_PRESSES = 3
GROUP_PRESS_WINDOW = 60.0
PAYLOAD_PREFIX = "p_"  # deep-link payloads: "link", or "p_" + a single-use token (24 chars in all)


class GroupPickCode(StrEnum):
    STARTED = "started"  # the prompt is in the member's private chat
    START_PRIVATELY = "start_privately"  # url: a deep link to open the private chat first
    LINK_FIRST = "link_first"  # url: a deep link to link a Google account privately first
    LINK = "link"  # url: the consent URL; linking continues with the group's pick


@dataclass(frozen=True)
class Offer:
    """A group (topic) offered as a member's destination: the button's token and the place's name."""

    token: str
    title: str


@dataclass(frozen=True)
class GroupPick:
    """How a pick for a group got under way (refusals are raised as Refused)."""

    code: GroupPickCode
    url: str | None = None


class PressLimit:
    """At most `count` presses per user within `window` seconds; users idle that long are forgotten."""

    def __init__(self, count: int, window: float) -> None:
        self._count = count
        self._window = window
        self._presses: dict[int, deque[float]] = {}
        self._swept = time.monotonic()

    def allow(self, user_id: int) -> bool:
        now = time.monotonic()
        self._forget_idle(now)
        recent = self._presses.setdefault(user_id, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) >= self._count:
            return False
        recent.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        if now - self._swept < self._window:
            return
        self._swept = now
        for user_id in [u for u, presses in self._presses.items() if presses[-1] <= now - self._window]:
            del self._presses[user_id]

    def __len__(self) -> int:
        return len(self._presses)


class SharingService:
    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        picks: PickService,
        pick_repo: PickRepository,
        links: LinkService,
        intents: ChatIntentRepository,
        destinations: DestinationRepository,
        messages: PickMessages,
    ) -> None:
        self._bot = bot
        self._db = db
        self._picks = picks
        self._pick_repo = pick_repo
        self._links = links
        self._intents = intents
        self._destinations = destinations
        self._messages = messages
        self._presses = PressLimit(GROUP_PRESSES, GROUP_PRESS_WINDOW)

    # --- picking --------------------------------------------------------------------------
    async def private_route(self, user_id: int, name: str) -> Route:
        """A pick made in the private chat goes to the user's destination if they set one; a group
        destination is told who shared them."""
        destination = await self._destinations.get_destination(user_id)
        if destination is None:
            return Route(chat_id=user_id, prompt_chat_id=user_id, target_chat_id=user_id, report_chat_id=user_id)
        return Route(
            chat_id=user_id,
            prompt_chat_id=user_id,
            target_chat_id=destination.chat_id,
            report_chat_id=user_id,
            shared_by=None if destination.is_channel else name,
            thread_id=destination.thread_id,
        )

    async def pick_in_group(
        self,
        user_id: int,
        name: str,
        group_id: int,
        max_items: int | None,
        *,
        pressed: bool = False,
        thread_id: int | None = None,
    ) -> GroupPick:
        """A member's /pick (or, `pressed`, a "Pick photos" button) in a group, or in its forum topic
        `thread_id`: the Google Photos button goes to their private chat; the rest to that topic.

        Raises Refused(GROUP_BUTTON_TOO_OFTEN) for a button pressed too often, Refused with the rights problem
        of bot/chat_rights.py, or as PickService.start does, but for a private chat that refuses our messages.
        """
        if pressed and not self._presses.allow(user_id):
            raise Refused(Code.GROUP_BUTTON_TOO_OFTEN)
        problem = await posting_problem(self._bot, group_id, user_id)
        if problem is not None:
            raise Refused(problem)
        link = await self._links.status(user_id)
        if link is None or link.broken:
            return GroupPick(GroupPickCode.LINK_FIRST, url=await self._deep_link(user_id, group_id, thread_id))
        try:
            await self._picks.start(user_id, _group_route(user_id, name, group_id, thread_id), max_items)
        except Refused as exc:
            if exc.code is not Code.PROMPT_UNDELIVERABLE:
                raise
            return GroupPick(GroupPickCode.START_PRIVATELY, url=await self._deep_link(user_id, group_id, thread_id))
        return GroupPick(GroupPickCode.STARTED)

    async def claim(self, token: str, user_id: int, name: str, label: str) -> GroupPick:
        """A deep-link payload or a "continue" button: only its member, only once, only within 10 minutes.
        `name` credits them in the group; `label` ("Name (@username)") names them on the sign-in page.

        Raises Refused(CLAIM_EXPIRED | CLAIM_NOT_YOURS | CLAIM_NOT_IN_GROUP), or as PickService.start does.
        """
        intent = await self._intents.claim_intent(token, user_id)
        if intent is None:
            someone_elses = await self._intents.peek_intent(token) is not None
            raise Refused(Code.CLAIM_NOT_YOURS if someone_elses else Code.CLAIM_EXPIRED)
        if intent.expired:
            raise Refused(Code.CLAIM_EXPIRED)
        if await posting_problem(self._bot, intent.chat_id, user_id) is not None:
            raise Refused(Code.CLAIM_NOT_IN_GROUP)
        link = await self._links.status(user_id)
        if link is None or link.broken:
            url = await self._links.start_link(user_id, user_id, label, then_pick_chat_id=intent.chat_id)
            return GroupPick(GroupPickCode.LINK, url=url)
        await self._picks.start(user_id, _group_route(user_id, name, intent.chat_id, intent.thread_id), None)
        return GroupPick(GroupPickCode.STARTED)

    async def pick_again(self, session_id: int, user_id: int, name: str) -> GroupPick:
        """The "Pick again" button of an expired pick: a new pick for the same chat (group, topic) with the same
        item limit.

        Raises Refused(SESSION_OVER | SESSION_NOT_YOURS), or as pick_in_group and PickService.start do.
        """
        session = await self._pick_repo.get_session(session_id)
        if session is None:
            raise Refused(Code.SESSION_OVER)
        if session.user_id != user_id:
            raise Refused(Code.SESSION_NOT_YOURS)
        if session.chat_id != session.prompt_chat_id:  # asked for in a group
            return await self.pick_in_group(
                user_id, name, session.chat_id, session.max_items, thread_id=session.thread_id
            )
        await self._picks.start(user_id, await self.private_route(user_id, name), session.max_items)
        return GroupPick(GroupPickCode.STARTED)

    async def continue_token(self, user_id: int, group_id: int, thread_id: int | None = None) -> str:
        """A fresh single-use token for "continue the pick for that group (topic)" after linking."""
        return await self._intent(ChatIntent(user_id, group_id, time.time() + INTENT_TTL, thread_id))

    async def _deep_link(self, user_id: int, group_id: int, thread_id: int | None) -> str:
        token = await self.continue_token(user_id, group_id, thread_id)
        return f"https://t.me/{self._bot.username}?start={PAYLOAD_PREFIX}{token}"

    async def _intent(self, intent: ChatIntent) -> str:
        token = secrets.token_urlsafe(16)
        await self._intents.save_intent(token, intent)
        return token

    # --- forwarding -----------------------------------------------------------------------
    async def destination(self, user_id: int) -> Destination | None:
        return await self._destinations.get_destination(user_id)

    async def choose_destination(self, user_id: int, chat_id: int) -> Destination:
        """Verify and save a shared chat as the destination.

        Raises Refused(CHAT_GONE | BOT_CANNOT_POST | USER_NOT_MEMBER | USER_NOT_ADMIN).
        """
        problem = await posting_problem(self._bot, chat_id, user_id)
        if problem is not None:
            raise Refused(problem)
        chat = await self._bot.get_chat(chat_id)
        destination = Destination(
            user_id, chat_id, chat.title or chat.username or str(chat_id), chat.type == ChatType.CHANNEL
        )
        await self._destinations.set_destination(destination)
        log.info("user %s forwards picks to chat %s", user_id, chat_id)
        return destination

    async def offer_here(self, user_id: int, group: Chat, thread_id: int | None, topic: str | None) -> Offer:
        """/forward sent in a group, or in its forum topic `thread_id` named `topic`: a single-use token for
        the private button that makes it the member's destination, and how to name it.

        Raises Refused with the rights problem of bot/chat_rights.py.
        """
        problem = await posting_problem(self._bot, group.id, user_id)
        if problem is not None:
            raise Refused(problem)
        token = await self._intent(ChatIntent(user_id, group.id, time.time() + INTENT_TTL, thread_id, topic))
        return Offer(token, _place(group.title or str(group.id), thread_id, topic))

    async def forward_here(self, token: str, user_id: int) -> Destination:
        """The member confirmed, privately, the group (topic) offered by `offer_here`.

        Raises Refused(FORWARD_HERE_EXPIRED), or with the rights problem of bot/chat_rights.py.
        """
        intent = await self._intents.claim_intent(token, user_id)
        if intent is None or intent.expired:
            raise Refused(Code.FORWARD_HERE_EXPIRED)
        problem = await posting_problem(self._bot, intent.chat_id, user_id)
        if problem is not None:
            raise Refused(problem)
        chat = await self._bot.get_chat(intent.chat_id)
        title = _place(chat.title or str(chat.id), intent.thread_id, intent.topic)
        destination = Destination(user_id, intent.chat_id, title, False, intent.thread_id)
        await self._destinations.set_destination(destination)
        log.info("user %s forwards picks to chat %s, topic %s", user_id, intent.chat_id, intent.thread_id)
        return destination

    async def stop_forwarding(self, user_id: int) -> bool:
        had = await self._destinations.get_destination(user_id) is not None
        await self._destinations.clear_destination(user_id)
        return had

    # --- chat lifecycle -------------------------------------------------------------------
    async def bot_left(self, chat_id: int, title: str) -> None:
        """Removed from a group or channel: forget it as a destination and stop picks meant for it."""
        for destination in await self._destinations.pop_destinations_to(chat_id):
            await self._messages.say(destination.user_id, Code.FORWARD_GONE, title=title)
        for session in await self._pick_repo.active_sessions_involving(chat_id):
            if session.status == "waiting":
                await self._picks.end(session, Code.PICK_CHAT_GONE, title=title)
        log.info("removed from chat %s: destinations and waiting picks cleaned up", chat_id)

    async def user_blocked(self, user_id: int) -> None:
        """The user blocked the bot: their waiting picks end and are deleted at Google."""
        for session in await self._pick_repo.active_sessions_of(user_id):
            if session.status == "waiting":
                await self._picks.end(session, None)
        log.info("user %s blocked the bot: waiting picks cancelled", user_id)

    async def chat_migrated(self, old: int, new: int) -> None:
        await upgrade_chat_id(self._db, old, new)
        log.info("chat %s became supergroup %s: stored ids follow", old, new)


def _place(title: str, thread_id: int | None, topic: str | None) -> str:
    """How a group, or one of its forum topics, is named to people: "Family", "Class › Trip"."""
    if thread_id is None:
        return title
    return f"{title} › {topic or '#' + str(thread_id)}"


def _group_route(user_id: int, name: str, group_id: int, thread_id: int | None) -> Route:
    return Route(
        chat_id=group_id,
        prompt_chat_id=user_id,
        target_chat_id=group_id,
        report_chat_id=group_id,
        shared_by=name,
        thread_id=thread_id,
    )
