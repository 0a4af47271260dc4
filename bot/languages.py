"""Which language each person and chat reads."""

from __future__ import annotations

from bot import texts
from bot.texts import Speaker


class Languages:
    async def of_chat(self, chat_id: int) -> Speaker:
        """The language of what a chat reads: a private chat's person, or a group's language."""
        return texts.ENGLISH
