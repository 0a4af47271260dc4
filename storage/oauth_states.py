"""Pending OAuth authorisations: single-use `state` values bound to a user and chat.

Only a SHA-256 of the state is stored, so a leaked database cannot complete anyone's flow.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from bot.crypto import Cipher
from storage.database import Database


@dataclass(frozen=True)
class OAuthState:
    user_id: int
    chat_id: int
    code_verifier: str
    expires_at: float
    then_pick_chat_id: int | None = None  # linked from a group's /pick: offer to continue it

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class OAuthStateRepository:
    def __init__(self, db: Database, cipher: Cipher) -> None:
        self._db = db
        self._cipher = cipher

    async def save_oauth_state(
        self,
        state: str,
        user_id: int,
        chat_id: int,
        code_verifier: str,
        expires_at: float,
        then_pick_chat_id: int | None = None,
    ) -> None:
        await self._db.execute("DELETE FROM oauth_states WHERE expires_at < ? OR user_id = ?", (time.time(), user_id))
        await self._db.execute(
            "INSERT INTO oauth_states (state_hash, user_id, chat_id, code_verifier, expires_at, then_pick_chat_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(state), user_id, chat_id, self._cipher.encrypt(code_verifier), expires_at, then_pick_chat_id),
        )

    async def pop_oauth_state(self, state: str) -> OAuthState | None:
        """Remove and return the state (expired ones too, so the caller can say so); None if unknown."""
        row = await self._db.fetchone(
            "DELETE FROM oauth_states WHERE state_hash = ?"
            " RETURNING user_id, chat_id, code_verifier, expires_at, then_pick_chat_id",
            (_digest(state),),
        )
        if row is None:
            return None
        return OAuthState(
            user_id=row["user_id"],
            chat_id=row["chat_id"],
            code_verifier=self._cipher.decrypt(row["code_verifier"]),
            expires_at=row["expires_at"],
            then_pick_chat_id=row["then_pick_chat_id"],
        )
