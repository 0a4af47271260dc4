"""Who reads which language: a person's choice and what their Telegram app says, a group's language."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True)
class UserLanguage:
    chosen: str | None  # the /language choice (a Babel identifier such as "pt_BR"); None: as their Telegram app
    telegram: str | None  # the language_code Telegram last sent with their updates ("pt-br")


class LanguageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_user(self, user_id: int) -> UserLanguage | None:
        row = await self._db.fetchone("SELECT chosen, telegram FROM user_languages WHERE user_id = ?", (user_id,))
        return None if row is None else UserLanguage(row["chosen"], row["telegram"])

    async def seen(self, user_id: int, telegram: str) -> None:
        await self._db.execute(
            "INSERT INTO user_languages (user_id, telegram) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET telegram = excluded.telegram",
            (user_id, telegram),
        )

    async def choose(self, user_id: int, chosen: str | None) -> None:
        await self._db.execute(
            "INSERT INTO user_languages (user_id, chosen) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET chosen = excluded.chosen",
            (user_id, chosen),
        )

    async def of_chat(self, chat_id: int) -> str | None:
        row = await self._db.fetchone("SELECT language FROM chat_languages WHERE chat_id = ?", (chat_id,))
        return None if row is None else str(row["language"])

    async def set_chat(self, chat_id: int, language: str, *, unless_set: bool = False) -> None:
        """The group's language; `unless_set`: only when it has none yet (the default its adder's language sets)."""
        keep = "NOTHING" if unless_set else "UPDATE SET language = excluded.language"
        await self._db.execute(
            f"INSERT INTO chat_languages (chat_id, language) VALUES (?, ?) ON CONFLICT (chat_id) DO {keep}",
            (chat_id, language),
        )
