"""Per-chat preferences."""

from __future__ import annotations

from typing import Literal

from storage.database import Database

DeliveryMode = Literal["photos", "originals", "archive"]  # archive: ZIP files of the originals
_MODES: dict[str, DeliveryMode] = {"photos": "photos", "originals": "originals", "archive": "archive"}
Captions = Literal["none", "date", "camera"]  # camera: the date and the camera
CAPTIONS: dict[str, Captions] = {"none": "none", "date": "date", "camera": "camera"}


class ChatSettingsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_delivery_mode(self, chat_id: int) -> DeliveryMode:
        row = await self._db.fetchone("SELECT delivery_mode FROM chat_settings WHERE chat_id = ?", (chat_id,))
        return _MODES.get(row["delivery_mode"], "photos") if row is not None else "photos"

    async def set_delivery_mode(self, chat_id: int, mode: DeliveryMode) -> None:
        await self._db.execute(
            "INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET delivery_mode = excluded.delivery_mode",
            (chat_id, mode),
        )

    async def get_captions(self, chat_id: int) -> Captions:
        row = await self._db.fetchone("SELECT captions FROM chat_settings WHERE chat_id = ?", (chat_id,))
        return CAPTIONS.get(row["captions"], "none") if row is not None else "none"

    async def set_captions(self, chat_id: int, captions: Captions) -> None:
        await self._db.execute(
            "INSERT INTO chat_settings (chat_id, delivery_mode, captions) VALUES (?, 'photos', ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET captions = excluded.captions",
            (chat_id, captions),
        )
