"""Groups and channels: picking for a group from the private chat, forwarding destinations, chat lifecycle."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from telegram import Bot
from telegram.constants import ChatType

from bot import texts
from bot.chat_rights import posting_problem
from bot.linking import LinkService
from bot.pick_messages import PickMessages
from bot.picking import PickError, PickService, PromptUndeliverable
from storage.chat_intents import ChatIntentRepository
from storage.chat_upgrades import upgrade_chat_id
from storage.database import Database
from storage.destinations import Destination, DestinationRepository
from storage.picks import PickRepository, Route

log = logging.getLogger(__name__)

INTENT_TTL = 600.0
PAYLOAD_PREFIX = "p_"  # deep-link payloads: "link", or "p_" + a single-use token (24 chars in all)


@dataclass(frozen=True)
class Outcome:
    """What happened, for the handler to render: `kind`, plus a deep link or consent URL when there is one."""

    kind: Literal["started", "start_privately", "link_first", "link", "not_yours", "expired", "failed"]
    url: str | None = None
    text: str | None = None


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

    # --- picking --------------------------------------------------------------------------
    async def private_route(self, user_id: int) -> Route:
        """A pick made in the private chat goes to the user's destination if they set one."""
        destination = await self._destinations.get_destination(user_id)
        target = destination.chat_id if destination else user_id
        return Route(chat_id=user_id, prompt_chat_id=user_id, target_chat_id=target, report_chat_id=user_id)

    async def pick_in_group(self, user_id: int, name: str, group_id: int, max_items: int | None) -> Outcome:
        """A member's /pick in a group: the Google Photos button goes to their private chat."""
        link = await self._links.status(user_id)
        if link is None or link.broken:
            return Outcome("link_first", url=await self._deep_link(user_id, group_id))
        try:
            await self._picks.start(user_id, _group_route(user_id, name, group_id), max_items)
        except PromptUndeliverable:
            return Outcome("start_privately", url=await self._deep_link(user_id, group_id))
        except PickError as exc:
            return Outcome("failed", text=str(exc))
        return Outcome("started")

    async def claim(self, token: str, user_id: int, name: str) -> Outcome:
        """A deep-link payload or a "continue" button: only its member, only once, only within 10 minutes."""
        intent = await self._intents.peek_intent(token)
        if intent is None:
            return Outcome("expired")
        if intent.user_id != user_id:
            return Outcome("not_yours")
        await self._intents.pop_intent(token)
        if intent.expired:
            return Outcome("expired")
        if await posting_problem(self._bot, intent.chat_id, user_id) is not None:
            return Outcome("failed", text=texts.CLAIM_NOT_IN_GROUP)
        link = await self._links.status(user_id)
        if link is None or link.broken:
            url = await self._links.start_link(user_id, user_id, then_pick_chat_id=intent.chat_id)
            return Outcome("link", url=url)
        try:
            await self._picks.start(user_id, _group_route(user_id, name, intent.chat_id), None)
        except PickError as exc:
            return Outcome("failed", text=str(exc))
        return Outcome("started")

    async def continue_token(self, user_id: int, group_id: int) -> str:
        """A fresh single-use token for "continue the pick for that group" after linking."""
        token = secrets.token_urlsafe(16)
        await self._intents.save_intent(token, user_id, group_id, time.time() + INTENT_TTL)
        return token

    async def _deep_link(self, user_id: int, group_id: int) -> str:
        token = await self.continue_token(user_id, group_id)
        return f"https://t.me/{self._bot.username}?start={PAYLOAD_PREFIX}{token}"

    # --- forwarding -----------------------------------------------------------------------
    async def destination(self, user_id: int) -> Destination | None:
        return await self._destinations.get_destination(user_id)

    async def choose_destination(self, user_id: int, chat_id: int) -> str:
        """Verify and save a shared chat as the destination; returns the sentence to answer with."""
        problem = await posting_problem(self._bot, chat_id, user_id)
        if problem is not None:
            return texts.FORWARD_REFUSED[problem]
        chat = await self._bot.get_chat(chat_id)
        title = chat.title or chat.username or str(chat_id)
        await self._destinations.set_destination(user_id, chat_id, title, chat.type == ChatType.CHANNEL)
        log.info("user %s forwards picks to chat %s", user_id, chat_id)
        return texts.FORWARD_SET.format(title=texts.html(title))

    async def stop_forwarding(self, user_id: int) -> bool:
        had = await self._destinations.get_destination(user_id) is not None
        await self._destinations.clear_destination(user_id)
        return had

    # --- chat lifecycle -------------------------------------------------------------------
    async def bot_left(self, chat_id: int, title: str) -> None:
        """Removed from a group or channel: forget it as a destination and stop picks meant for it."""
        for destination in await self._destinations.pop_destinations_to(chat_id):
            await self._messages.say(destination.user_id, texts.FORWARD_GONE.format(title=texts.html(title)))
        for session in await self._pick_repo.active_sessions_involving(chat_id):
            if session.status == "waiting":
                await self._picks.end(session, texts.PICK_CHAT_GONE.format(title=texts.html(title)))
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


def _group_route(user_id: int, name: str, group_id: int) -> Route:
    return Route(
        chat_id=group_id, prompt_chat_id=user_id, target_chat_id=group_id, report_chat_id=group_id, shared_by=name
    )
