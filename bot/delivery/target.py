"""Where a delivery goes: the session's target chat, which may move while it runs (the bot lost the right to
post there, or a group became a supergroup), and the "Shared by" caption a group delivery starts with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from telegram import Bot, Message

from bot.chat_rights import posting_problem
from bot.outcomes import Code
from bot.pick_messages import PickMessages
from storage.picks import PickItem, PickRepository, PickSession

if TYPE_CHECKING:
    from bot.delivery.archives import ArchiveRange  # archives → fetching → target: no import at run time

log = logging.getLogger(__name__)

ChatMigratedListener = Callable[[int, int], Awaitable[None]]


class DeliveryTarget:
    def __init__(
        self,
        session: PickSession,
        *,
        repo: PickRepository,
        messages: PickMessages,
        bot: Bot,
        on_migrated: ChatMigratedListener,
    ) -> None:
        self.session = session
        self._repo = repo
        self._messages = messages
        self._bot = bot
        self._on_migrated = on_migrated
        self.credited = False  # the "Shared by" credit was posted (by this run, or before a restart)
        self.posted: Message | None = None  # the first message posted into a forwarding destination

    @property
    def chat_id(self) -> int:
        return self.session.target_chat_id

    @property
    def private(self) -> bool:
        return self.session.target_chat_id == self.session.prompt_chat_id

    @property
    def thread_id(self) -> int | None:
        """The forum topic of the target chat the photos go to (None: not a forum, or its General topic)."""
        return self.session.thread_id

    async def refresh(self) -> PickSession:
        session = await self._repo.get_session(self.session.id)
        assert session is not None
        self.session = session
        return session

    async def check(self) -> None:
        """Rights are checked again before delivering: a destination that can no longer take the photos is
        replaced by the picker's private chat, so nothing is lost."""
        if self.private:
            return
        if await posting_problem(self._bot, self.chat_id, self.session.user_id) is not None:
            await self.fall_back_to_private()

    async def fall_back_to_private(self) -> None:
        session = self.session
        log.info("pick %s: chat %s no longer takes posts; delivering privately", session.id, session.target_chat_id)
        await self._messages.delete(session.report_chat_id, session.status_message_id)
        await self._repo.redirect(session.id, session.prompt_chat_id, session.prompt_chat_id)
        await self.refresh()
        await self._messages.say(session.prompt_chat_id, Code.TARGET_LOST)

    async def leave_topic(self) -> None:
        """The topic was deleted or closed: the rest goes to the group's General topic (and from there, should
        the group refuse too, privately)."""
        log.info(
            "pick %s: topic %s of chat %s is gone; delivering in General", self.session.id, self.thread_id, self.chat_id
        )
        await self._repo.leave_topic(self.session.id)
        await self.refresh()

    async def follow_migration(self, new_chat_id: int) -> None:
        await self._on_migrated(self.chat_id, new_chat_id)
        await self.refresh()

    async def caption(self) -> str | None:
        """Who shared them, in the group's language, on the first item posted into a group."""
        session = self.session
        if session.shared_by is None or self.private or self.credited:
            return None
        return await self._messages.caption(self.chat_id, session.user_id, session.shared_by)

    async def captions(self, items: Sequence[PickItem]) -> list[str | None]:
        """Each item's caption: its date (and camera) when the chat asked for them, and the credit on the first
        item posted into a group."""
        style = self.session.captions
        lines = await self._messages.item_captions(self.chat_id, style, [(i.taken_at, i.camera) for i in items])
        credit = await self.caption()
        if credit is not None and lines:
            lines[0] = credit if lines[0] is None else f"{lines[0]}\n{credit}"
        return lines

    async def archive_caption(self, held: ArchiveRange) -> str:
        """An archive's caption: which items it holds, then the credit as on an album's first item."""
        line = await self._messages.archive_caption(self.chat_id, held.first, held.last, held.total, held.kind)
        credit = await self.caption()
        return line if credit is None else f"{line}\n{credit}"

    def delivered(self, messages: list[Message]) -> None:
        """Messages arrived in the target: the credit is given, and a forwarding destination's first
        message is remembered for the summary's link."""
        self.credited = True
        if self.posted is None and self.chat_id != self.session.report_chat_id and messages:
            self.posted = messages[0]
