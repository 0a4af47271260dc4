"""Pending OAuth authorisations, in two steps. A sign-in starts as a single-use page id (the bot's own page
saying whose account is being linked); its Continue turns it into a single-use OAuth `state` for Google.

Only SHA-256 digests of the id and the state are stored, so a leaked database cannot open the page or
complete anyone's flow.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from bot.crypto import Cipher
from storage.database import Database, Row


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


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in page not yet continued: whose Telegram account it links."""

    user_id: int
    user_label: str
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


_COLUMNS = "user_id, chat_id, code_verifier, expires_at, then_pick_chat_id"


class OAuthStateRepository:
    def __init__(self, db: Database, cipher: Cipher) -> None:
        self._db = db
        self._cipher = cipher

    async def save_sign_in(
        self,
        start_id: str,
        user_id: int,
        chat_id: int,
        user_label: str,
        code_verifier: str,
        expires_at: float,
        then_pick_chat_id: int | None = None,
    ) -> None:
        """A new sign-in page for the user; any earlier one of theirs stops working."""
        await self._db.execute("DELETE FROM oauth_states WHERE expires_at < ? OR user_id = ?", (time.time(), user_id))
        await self._db.execute(
            "INSERT INTO oauth_states"
            " (start_hash, user_id, chat_id, user_label, code_verifier, expires_at, then_pick_chat_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                _digest(start_id),
                user_id,
                chat_id,
                self._cipher.encrypt(user_label),
                self._cipher.encrypt(code_verifier),
                expires_at,
                then_pick_chat_id,
            ),
        )

    async def peek_sign_in(self, start_id: str) -> PendingSignIn | None:
        """The sign-in page not yet continued (expired ones too); None if unknown or already continued."""
        row = await self._db.fetchone(
            "SELECT user_id, user_label, expires_at FROM oauth_states WHERE start_hash = ?", (_digest(start_id),)
        )
        if row is None:
            return None
        return PendingSignIn(row["user_id"], self._cipher.decrypt(row["user_label"]), row["expires_at"])

    async def continue_sign_in(self, start_id: str, state: str) -> str | None:
        """Trade a live, not yet continued page id for `state`, in one statement (a page continues once);
        returns the PKCE verifier, or None."""
        row = await self._db.fetchone(
            "UPDATE oauth_states SET start_hash = NULL, state_hash = ?"
            " WHERE start_hash = ? AND expires_at > ? RETURNING code_verifier",
            (_digest(state), _digest(start_id), time.time()),
        )
        return None if row is None else self._cipher.decrypt(row["code_verifier"])

    async def cancel_sign_in(self, start_id: str) -> OAuthState | None:
        """Remove a sign-in page not yet continued ("This isn't me"); None if unknown or continued."""
        row = await self._db.fetchone(
            f"DELETE FROM oauth_states WHERE start_hash = ? RETURNING {_COLUMNS}", (_digest(start_id),)
        )
        return None if row is None else self._state(row)

    async def pop_oauth_state(self, state: str, user_id: int | None = None) -> OAuthState | None:
        """Remove and return the state (expired ones too, so the caller can say so); None if unknown, or not
        `user_id`'s when given (then it is left alone)."""
        if user_id is None:
            row = await self._db.fetchone(
                f"DELETE FROM oauth_states WHERE state_hash = ? RETURNING {_COLUMNS}", (_digest(state),)
            )
        else:
            row = await self._db.fetchone(
                f"DELETE FROM oauth_states WHERE state_hash = ? AND user_id = ? RETURNING {_COLUMNS}",
                (_digest(state), user_id),
            )
        return None if row is None else self._state(row)

    def _state(self, row: Row) -> OAuthState:
        return OAuthState(
            user_id=row["user_id"],
            chat_id=row["chat_id"],
            code_verifier=self._cipher.decrypt(row["code_verifier"]),
            expires_at=row["expires_at"],
            then_pick_chat_id=row["then_pick_chat_id"],
        )
