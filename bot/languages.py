"""Which language each person and chat reads.

A person: their /language choice, else the language their Telegram app is set to (remembered from their last
update, for the messages a pick sends with no update at hand), else English. A group: the language an admin
chose in /settings, else that of whoever added the bot, else English. The Bot API sends the bot-added update
in a queue of its own (tdlib/telegram-bot-api Client.cpp, webhook_queue_id), so a member's first message can
be handled before it: a group still without a language then settles on that member's. A private chat's id is
its person's id.
"""

from __future__ import annotations

from collections import OrderedDict

from bot import i18n, texts
from bot.texts import Speaker
from storage.languages import LanguageRepository

REMEMBERED = 10_000  # people whose last stored language_code is kept in memory (a write only when it changes)


class Languages:
    def __init__(self, repo: LanguageRepository) -> None:
        self._repo = repo
        self._stored: OrderedDict[int, str] = OrderedDict()

    async def of_user(self, user_id: int, telegram: str | None) -> Speaker:
        """The person an update comes from; `telegram`: its language_code."""
        if telegram:
            await self._remember(user_id, telegram)
        row = await self._repo.of_user(user_id)
        return texts.speaker(_first(row.chosen if row else None, telegram))

    async def of_chat(self, chat_id: int) -> Speaker:
        """What a chat reads with no update at hand: a private chat's person, or a group's language."""
        if chat_id < 0:
            return texts.speaker(_first(await self._repo.of_chat(chat_id)))
        row = await self._repo.of_user(chat_id)
        return texts.speaker(_first(row.chosen, row.telegram) if row else i18n.SOURCE)

    async def of_group(self, chat_id: int, speaking: str) -> Speaker:
        """A group's language where a member's update is at hand; `speaking`: that member's, which the group
        settles on if it has none yet."""
        stored = await self._repo.of_chat(chat_id)
        if stored is None:
            await self._repo.set_chat(chat_id, speaking, unless_set=True)
            stored = await self._repo.of_chat(chat_id)  # another update may have settled it first
        return texts.speaker(_first(stored))

    async def choose(self, user_id: int, language: str | None) -> None:
        """A person's choice; None: as their Telegram app."""
        await self._repo.choose(user_id, language)

    async def choose_for_group(self, chat_id: int, language: str) -> None:
        await self._repo.set_chat(chat_id, language)

    async def group_joined(self, chat_id: int, user_id: int, telegram: str | None) -> None:
        """The bot was added to a group: it speaks the adder's language there until an admin chooses one."""
        adder = await self.of_user(user_id, telegram)
        await self._repo.set_chat(chat_id, adder.language, unless_set=True)

    async def _remember(self, user_id: int, telegram: str) -> None:
        if self._stored.get(user_id) == telegram:
            self._stored.move_to_end(user_id)
            return
        await self._repo.seen(user_id, telegram)
        self._stored[user_id] = telegram
        if len(self._stored) > REMEMBERED:
            self._stored.popitem(last=False)


def _first(*tags: str | None) -> str:
    """The first of `tags` that names a supported language, else English."""
    return next((found for found in map(i18n.match, tags) if found is not None), i18n.SOURCE)
